"""Built-in weight initialisers. Each returns a float64 (fan_in, fan_out) matrix."""

import numpy as np

from ablab.core.engine.initializer import Initializer
from ablab.plugin import hookimpl


def _normal(rng, fan_in, fan_out, std):
    return rng.normal(0.0, std, (fan_in, fan_out))


def _uniform(rng, fan_in, fan_out, scale):
    return rng.uniform(-scale, scale, (fan_in, fan_out))


def _xavier(rng, fan_in, fan_out, gain):
    # Glorot & Bengio (2010): Var = 2 / (fan_in + fan_out), uniform form
    limit = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def _he(rng, fan_in, fan_out, gain):
    # He et al. (2015): Var = 2 / fan_in keeps ReLU activations' second moment constant
    return rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), (fan_in, fan_out))


def _orthogonal(rng, fan_in, fan_out, gain):
    # Saxe et al. (2014): QR of a Gaussian matrix, signs fixed so Q is Haar-distributed
    a = rng.normal(0.0, 1.0, (max(fan_in, fan_out), min(fan_in, fan_out)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    q = q if fan_in >= fan_out else q.T
    return gain * q[:fan_in, :fan_out]


def _identity(rng, fan_in, fan_out, scale):
    # Le et al. (2015) IRNN
    return scale * np.eye(fan_in, fan_out)


BUILTINS = [
    Initializer("normal", _normal, "N(0, std^2) entries", {"std": 0.1}),
    Initializer("uniform", _uniform, "U(-scale, scale) entries", {"scale": 0.1}),
    Initializer("xavier", _xavier, "Glorot uniform, Var = 2/(fan_in+fan_out)", {"gain": 1.0}),
    Initializer("he", _he, "He/Kaiming normal, Var = 2/fan_in", {"gain": 1.0}),
    Initializer("orthogonal", _orthogonal, "gain times a random orthogonal matrix", {"gain": 1.0}),
    Initializer("identity", _identity, "scale times the identity (IRNN)", {"scale": 1.0}),
]


@hookimpl
def register_initializers(register):
    for init in BUILTINS:
        register(init.name, init)
