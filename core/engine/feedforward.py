"""Deep feedforward network with optional batch normalisation and skip connections, for the
depth studies.

Shapes carry the ensemble axis S first: x (S, B, D), W_l (S, in, width).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.activation import resolve
from ablab.core.engine.gradcheck import check_feedforward
from ablab.core.engine.initializer import draw
from ablab.core.engine.model import _init_spec
from ablab.core.engine.spec import from_dict, positive_int
from ablab.core.engine.train import fit_by_gradient
from ablab.core.errors import ConfigError

BN_EPS = 1e-5


@dataclass(frozen=True)
class FeedForwardSpec:
    """depth hidden layers of `width` units: h_l = f(BN(h_{l-1} W_l + b_l)), then a linear
    readout. He init is the default because it keeps a ReLU stack's activation scale constant
    with depth (He et al. 2015); the question the lab asks is whether that is enough.

    residual = true adds a skip connection around every hidden layer after the first (the
    first maps n_in to width). The skips carry pre-activations, u_l = u_{l-1} + a_l v_l with
    v_l = BN(h_{l-1} W_l + b_l) and h_l = f(u_l): each branch is f, W, BN, the "ReLU-only
    pre-activation" unit of He et al. (2016b, Fig. 4d) with one weight layer. A branch ending
    in BN (or in a symmetric W) adds zero-mean terms, so the stream does not drift with depth
    the way h + f(h) with f = ReLU does. a_l is 1, or with skipinit = true a learnable scalar
    per layer starting at 0 (SkipInit, De and Smith 2020), so that a deep residual net starts
    as a shallow one instead of doubling its variance at every layer, which it does without
    batch norm."""

    n_in: int
    n_out: int
    depth: int = 50
    width: int = 64
    activation: Any = "relu"
    init: Any = "he"
    batchnorm: bool = False
    residual: bool = False
    skipinit: bool = False

    def __post_init__(self):
        positive_int(self.n_in, "model.n_in")
        positive_int(self.n_out, "model.n_out")
        positive_int(self.depth, "model.depth")
        positive_int(self.width, "model.width")
        if not isinstance(self.batchnorm, bool):
            raise ConfigError(f"model.batchnorm must be true or false, got {self.batchnorm!r}")
        if not isinstance(self.residual, bool):
            raise ConfigError(f"model.residual must be true or false, got {self.residual!r}")
        if not isinstance(self.skipinit, bool):
            raise ConfigError(f"model.skipinit must be true or false, got {self.skipinit!r}")
        if self.skipinit and not self.residual:
            raise ConfigError("model.skipinit scales residual branches: it needs model.residual = true")

    def skip(self, layer: int) -> bool:
        """Whether hidden layer `layer` has a skip connection (every one after the first)."""
        return self.residual and layer > 0


class FeedForwardNet:
    """Forward and exact backward of a deep MLP, with batch statistics when batchnorm is on."""

    kind = "feedforward"
    recurrent = False
    readout = "vector"
    embedding = None  # vector inputs: never tokens

    @classmethod
    def from_config(cls, model: dict, task, registry) -> FeedForwardNet:
        if task.readout != "vector":
            raise ConfigError(f'the task is a sequence task (readout {task.readout!r}); use model.kind = "recurrent"')
        return cls(from_dict(FeedForwardSpec, {**model, "n_in": task.n_in, "n_out": task.n_out}, "model"), registry)

    def fit(self, task, spec, seeds, probes):
        return fit_by_gradient(self, task, spec, seeds, probes)

    def gradcheck(self, tol: float, seed: int = 0) -> dict[str, float]:
        return check_feedforward(self, tol=tol, seed=seed)

    def __init__(self, spec: FeedForwardSpec, registry):
        self.spec = spec
        self.f = resolve(registry, spec.activation)
        self.init_spec = _init_spec(registry, spec.init, "model.init")

    def init_member(self, seed: int) -> dict[str, np.ndarray]:
        rng = streams.rng(seed, streams.INIT)
        spec, params = self.spec, {}
        init, opts = self.init_spec
        n_in = spec.n_in
        for l in range(spec.depth):
            params[f"l{l}.W"] = draw(init, opts, rng, n_in, spec.width)
            if spec.batchnorm:  # BN subtracts the batch mean, so a bias would do nothing
                params[f"l{l}.gamma"] = np.ones(spec.width)
                params[f"l{l}.beta"] = np.zeros(spec.width)
            else:
                params[f"l{l}.b"] = np.zeros(spec.width)
            if spec.skip(l) and spec.skipinit:
                params[f"l{l}.alpha"] = np.zeros(1)  # (S, 1) once stacked
            n_in = spec.width
        params["out.V"] = draw(init, opts, rng, n_in, spec.n_out) * np.sqrt(0.5)  # linear readout
        params["out.c"] = np.zeros(spec.n_out)
        return params

    def init(self, seeds: list[int], dtype=np.float32) -> dict[str, np.ndarray]:
        members = [self.init_member(s) for s in seeds]
        return {k: np.stack([m[k] for m in members]).astype(dtype) for k in members[0]}

    def forward(self, params: dict, x: np.ndarray, train: bool = False):  # train: as RecurrentNet.forward's
        """x (S,B,D) -> y (S,B,O)."""
        h, u, layers = x, None, []
        for l in range(self.spec.depth):
            z = np.matmul(h, params[f"l{l}.W"])  # (S,B,W)
            if self.spec.batchnorm:
                mu = z.mean(axis=1, keepdims=True)  # (S,1,W) batch statistics
                inv_std = 1.0 / np.sqrt(z.var(axis=1, keepdims=True) + BN_EPS)
                zhat = (z - mu) * inv_std
                v = params[f"l{l}.gamma"][:, None, :] * zhat + params[f"l{l}.beta"][:, None, :]
            else:
                zhat = inv_std = None
                v = z + params[f"l{l}.b"][:, None, :]
            if self.spec.skip(l):  # u_l = u_{l-1} + alpha_l v_l
                alpha = params.get(f"l{l}.alpha")
                u = u + (v if alpha is None else alpha[:, :, None] * v)
            else:
                u = v
            out = self.f(u)  # (S,B,W)
            layers.append((h, zhat, inv_std, v, u, out))
            h = out
        y = np.matmul(h, params["out.V"]) + params["out.c"][:, None, :]
        return y, {"layers": layers, "top": h}

    def backward(
        self, params: dict, dy: np.ndarray, cache: dict, window=None, trace: dict | None = None, input_grad: bool = True
    ):
        """Gradients for every parameter and dx (None with input_grad=False); the same
        signature as RecurrentNet.backward, where window and trace have no use here."""
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        top = cache["top"]
        grads["out.V"][:] = np.matmul(top.transpose(0, 2, 1), dy)
        grads["out.c"][:] = dy.sum(axis=1)
        dh = np.matmul(dy, params["out.V"].transpose(0, 2, 1))  # (S,B,W)
        du_skip = None  # dL/du_l through the skip of layer l + 1
        for l in reversed(range(self.spec.depth)):
            h_in, zhat, inv_std, v, u, out = cache["layers"][l]
            du = dh * self.f.deriv(u, out)  # out = f(u)
            if du_skip is not None:
                du += du_skip
            if self.spec.skip(l):  # u_l = u_{l-1} + alpha_l v_l
                du_skip = du
                if f"l{l}.alpha" in params:
                    grads[f"l{l}.alpha"][:] = (du * v).sum(axis=(1, 2))[:, None]
                    dv = params[f"l{l}.alpha"][:, :, None] * du
                else:
                    dv = du
            else:
                du_skip, dv = None, du
            if self.spec.batchnorm:
                # v = gamma * zhat + beta;  zhat = (z - mean_B z) / sqrt(var_B z + eps)
                grads[f"l{l}.gamma"][:] = (dv * zhat).sum(axis=1)
                grads[f"l{l}.beta"][:] = dv.sum(axis=1)
                dzhat = dv * params[f"l{l}.gamma"][:, None, :]
                dz = inv_std * (
                    dzhat - dzhat.mean(axis=1, keepdims=True) - zhat * (dzhat * zhat).mean(axis=1, keepdims=True)
                )
            else:
                grads[f"l{l}.b"][:] = dv.sum(axis=1)
                dz = dv
            grads[f"l{l}.W"][:] = np.matmul(h_in.transpose(0, 2, 1), dz)  # z = h_in W
            if l == 0 and not input_grad:
                return grads, None
            dh = np.matmul(dz, params[f"l{l}.W"].transpose(0, 2, 1))
        return grads, dh

    def activations(self, cache: dict):
        """(layer, name, activation, pre, out) per hidden layer, arrays (S, B, W)."""
        return [(l, "h", self.f, u, out) for l, (*_, u, out) in enumerate(cache["layers"])]
