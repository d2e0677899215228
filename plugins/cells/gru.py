"""Gated recurrent unit, in the Cho et al. (2014) form or the PyTorch/cuDNN reset-after form."""

import numpy as np

from ablab.core.engine.activation import resolve
from ablab.core.engine.cell import RecurrentParam
from ablab.core.engine.fused_cell import FusedCell, blocks_of
from ablab.plugin import hookimpl


class GRU(FusedCell):
    """GRU (Cho et al. 2014). The update gate u weighs the OLD state, as in Cho et al. and
    PyTorch: h_t = u_t * h_{t-1} + (1 - u_t) * n_t.

    With a_t = W x_t + b (blocks [r, u, n]) computed before the time loop:
        [z_r, z_u] = a_{r,u} + h_{t-1} U_ru
        r_t = sigma(z_r);  u_t = sigma(z_u)
        Cho form (default):   z_n = a_n + (r_t * h_{t-1}) U_n
        reset_after (cuDNN):  z_n = a_n + r_t * (h_{t-1} U_n + b_hn)
        n_t = phi(z_n)
        h_t = u_t * h_{t-1} + (1 - u_t) * n_t
    The backward step runs these lines in reverse; dU_ru = sum_t h_{t-1}^T [dz_r, dz_u] is
    hoisted out of the loop into one matmul. a_t and da_t are block-major, (S, 3, B, H) with
    blocks [r, u, n]: each a contiguous array.
    """

    summary = "GRU, Cho et al. (2014) form; reset_after = true gives the PyTorch/cuDNN form"
    activation_option = "candidate_activation"
    defaults = {"reset_after": False, "gate_activation": "sigmoid", "candidate_activation": "tanh"}
    state_names = ("h",)
    block_major = True

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        self.sigma = resolve(registry, self.options["gate_activation"])
        self.phi = resolve(registry, self.options["candidate_activation"])
        self.reset_after = self.options["reset_after"]

    @property
    def n_blocks(self):
        return 3

    def recurrent_params(self, hidden):
        params = {"U_ru": RecurrentParam("matrix", 2), "U_n": RecurrentParam("matrix", 1)}
        if self.reset_after:
            params["b_hn"] = RecurrentParam("vector")
        return params

    def hoisted(self, hidden):
        return {"U_ru": slice(0, 2 * hidden)}

    def step(self, p, a, state):
        (h_prev,) = state  # (S,B,H)
        H = h_prev.shape[-1]
        zru = np.matmul(h_prev[:, None], blocks_of(p["U_ru"], H))  # (S,2,B,H): h U_r, h U_u
        zru += a[:, :2]
        zr, zu = zru[:, 0], zru[:, 1]
        r = self.sigma(zr)  # (S,B,H)
        u = self.sigma(zu)  # (S,B,H)
        if self.reset_after:
            hn = np.matmul(h_prev, p["U_n"]) + p["b_hn"][:, None, :]  # (S,B,H)
            zn = a[:, 2] + r * hn
            rh = None
        else:
            rh = r * h_prev  # (S,B,H)
            zn = a[:, 2] + np.matmul(rh, p["U_n"])
            hn = None
        n = self.phi(zn)  # (S,B,H)
        h = u * h_prev + (1.0 - u) * n  # (S,B,H)
        return (h,), (h_prev, zr, r, zu, u, rh, hn, zn, n)

    def backward_step(self, p, dstate, cache, grads, out):
        (dh,) = dstate
        h_prev, zr, r, zu, u, rh, hn, zn, n = cache
        H = h_prev.shape[-1]
        hT = h_prev.transpose(0, 2, 1)
        # h = u * h_prev + (1 - u) * n
        da = out  # (S, 3, B, H): [dz_r, dz_u, dz_n]
        np.multiply(dh * (h_prev - n), self.sigma.deriv(zu, u), out=da[:, 1])  # dz_u
        dzn = np.multiply(dh * (1.0 - u), self.phi.deriv(zn, n), out=da[:, 2])
        dh_prev = dh * u
        if self.reset_after:
            # z_n = a_n + r * (h_prev U_n + b_hn)
            np.multiply(dzn * hn, self.sigma.deriv(zr, r), out=da[:, 0])  # dz_r
            dhn = dzn * r
            grads["U_n"] += np.matmul(hT, dhn)
            grads["b_hn"] += dhn.sum(axis=1)
            dh_prev += np.matmul(dhn, p["U_n.T"])
        else:
            # z_n = a_n + (r * h_prev) U_n
            grads["U_n"] += np.matmul(rh.transpose(0, 2, 1), dzn)
            drh = np.matmul(dzn, p["U_n.T"])
            np.multiply(drh * h_prev, self.sigma.deriv(zr, r), out=da[:, 0])  # dz_r
            dh_prev += drh * r
        # [z_r, z_u] = a_ru + h_prev U_ru: dh_prev += dz_r U_r^T + dz_u U_u^T (U_ru^T's row blocks)
        UT = p["U_ru.T"]
        dh_prev += np.matmul(da[:, :2], UT.reshape(UT.shape[0], 2, H, H)).sum(axis=1)
        return da, (dh_prev,)

    def gate_values(self, cache):
        h_prev, zr, r, zu, u, rh, hn, zn, n = cache
        return {"reset": r, "update": u}

    def activation_values(self, cache):
        h_prev, zr, r, zu, u, rh, hn, zn, n = cache
        return [("reset_gate", self.sigma, zr, r), ("update_gate", self.sigma, zu, u), ("candidate", self.phi, zn, n)]


@hookimpl
def register_cells(register):
    register("gru", GRU)
