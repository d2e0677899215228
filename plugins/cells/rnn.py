"""Elman (vanilla) RNN cell."""

import numpy as np

from ablab.core.engine.activation import resolve
from ablab.core.engine.cell import RecurrentParam
from ablab.core.engine.fused_cell import FusedCell
from ablab.plugin import hookimpl


class RNN(FusedCell):
    """Elman RNN: h_t = f(W x_t + U h_{t-1} + b).

    Forward, with a_t = W x_t + b computed before the time loop:
        z_t = a_t + h_{t-1} U
        h_t = f(z_t)
    Backward (mirrors it, bottom-up):
        dz_t      = dh_t * f'(z_t)
        dh_{t-1}  = dz_t U^T
        da_t      = dz_t
        dU        = sum_t h_{t-1}^T dz_t    (hoisted: one matmul after the loop)
    """

    summary = "Elman RNN h = f(W x + U h + b), f any registered activation"
    defaults = {"activation": "tanh"}
    state_names = ("h",)
    fused_matrix = "U"  # z_t = a_t + h_{t-1} U: step() comes from FusedCell, dU is hoisted

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        self.f = resolve(registry, self.options["activation"])

    @property
    def n_blocks(self):
        return 1

    def recurrent_params(self, hidden):
        return {"U": RecurrentParam("matrix", 1)}

    def step_z(self, p, z, state, recompute):
        (h_prev,) = state
        h = self.f(z)  # (S,B,H); z is kept: f' may need it (relu)
        return (h,), (h_prev, z, h)

    def backward_step(self, p, dstate, cache, grads, out):
        (dh,) = dstate
        h_prev, z, h = cache
        dz = np.multiply(dh, self.f.deriv(z, h), out=out)  # (S,B,H)
        dh_prev = np.matmul(dz, p["U.T"])  # (S,B,H)
        return dz, (dh_prev,)

    def activation_values(self, cache):
        _, z, h = cache
        return [("h", self.f, z, h)]


@hookimpl
def register_cells(register):
    register("rnn", RNN)
