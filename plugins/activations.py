"""Built-in activation functions, each with its exact derivative."""

import numpy as np

from ablab.core.engine.activation import Activation
from ablab.plugin import hookimpl

SELU_ALPHA = 1.6732632423543772  # Klambauer et al. (2017)
SELU_SCALE = 1.0507009873554805
GELU_C = np.sqrt(2.0 / np.pi)


def _sigmoid(x):
    # one tanh call: no overflow for large |x| and about 3x faster than an exp/where form;
    # in place after the first product, so one array is allocated
    y = np.multiply(x, 0.5)
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def _sigmoid_deriv(x, y):
    d = 1.0 - y
    d *= y  # y (1 - y)
    return d


def _tanh_deriv(x, y):
    d = np.multiply(y, y)
    np.subtract(1.0, d, out=d)  # 1 - y^2
    return d


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x**3)))


def _gelu_deriv(x, y):
    u = GELU_C * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * x * x)


def _softplus(x):
    return np.logaddexp(0, x).astype(x.dtype, copy=False)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu(x):
    return SELU_SCALE * _elu(x, SELU_ALPHA)


BUILTINS = [
    Activation("identity", lambda x: x, lambda x, y: np.ones_like(x), "f(x) = x; keeps a deep net linear"),
    Activation(
        "sigmoid", _sigmoid, _sigmoid_deriv, "logistic 1/(1+e^-x), range (0, 1)", bounded=True, deriv_from_output=True
    ),
    Activation(
        "hard_sigmoid",
        lambda x: np.clip(x / 6 + 0.5, 0, 1),
        lambda x, y: ((x > -3) & (x < 3)).astype(x.dtype) / 6,
        "piecewise-linear sigmoid clip(x/6 + 1/2, 0, 1), zero slope beyond |x| = 3",
        bounded=True,
    ),
    Activation("tanh", np.tanh, _tanh_deriv, "hyperbolic tangent, range (-1, 1)", bounded=True, deriv_from_output=True),
    Activation(
        "relu", lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype), "max(x, 0); zero slope for x <= 0"
    ),
    Activation(
        "leaky_relu",
        lambda x, alpha: np.where(x > 0, x, alpha * x),
        lambda x, y, alpha: np.where(x > 0, 1, alpha).astype(x.dtype),
        "x for x > 0, alpha*x otherwise (Maas et al. 2013)",
        defaults={"alpha": 0.01},
    ),
    Activation(
        "elu",
        _elu,
        lambda x, y, alpha: np.where(x > 0, 1, y + alpha).astype(x.dtype),
        "x for x > 0, alpha*(e^x - 1) otherwise (Clevert et al. 2016)",
        defaults={"alpha": 1.0},
    ),
    Activation(
        "selu",
        _selu,
        lambda x, y: np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA).astype(x.dtype),
        "scaled ELU with self-normalising constants (Klambauer et al. 2017)",
    ),
    Activation("gelu", _gelu, _gelu_deriv, "GELU, tanh approximation (Hendrycks & Gimpel 2016)"),
    Activation("softplus", _softplus, lambda x, y: _sigmoid(x), "log(1 + e^x), a smooth ReLU"),
    Activation(
        "swish",
        lambda x: x * _sigmoid(x),
        lambda x, y: _sigmoid(x) + y * (1 - _sigmoid(x)),
        "x * sigmoid(x) (Ramachandran et al. 2017)",
    ),
]


@hookimpl
def register_activations(register):
    for activation in BUILTINS:
        register(activation.name, activation)
