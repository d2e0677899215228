"""Gated recurrent unit, in the Cho et al. (2014) form or the PyTorch/cuDNN reset-after form."""

import numpy as np

from ablab.core.engine.activation import resolve
from ablab.core.engine.cell import RecurrentParam
from ablab.core.engine.fused_cell import FusedCell
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
    hoisted out of the loop into one matmul.
    """

    summary = "GRU, Cho et al. (2014) form; reset_after = true gives the PyTorch/cuDNN form"
    defaults = {"reset_after": False, "gate_activation": "sigmoid", "candidate_activation": "tanh"}
    state_names = ("h",)

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
        zru = a[..., : 2 * H] + np.matmul(h_prev, p["U_ru"])  # (S,B,2H)
        zr, zu = zru[..., :H], zru[..., H:]
        r = self.sigma(zr)  # (S,B,H)
        u = self.sigma(zu)  # (S,B,H)
        if self.reset_after:
            hn = np.matmul(h_prev, p["U_n"]) + p["b_hn"][:, None, :]  # (S,B,H)
            zn = a[..., 2 * H :] + r * hn
            rh = None
        else:
            rh = r * h_prev  # (S,B,H)
            zn = a[..., 2 * H :] + np.matmul(rh, p["U_n"])
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
        dzu = dh * (h_prev - n) * self.sigma.deriv(zu, u)
        dzn = dh * (1.0 - u) * self.phi.deriv(zn, n)
        dh_prev = dh * u
        if self.reset_after:
            # z_n = a_n + r * (h_prev U_n + b_hn)
            dzr = dzn * hn * self.sigma.deriv(zr, r)
            dhn = dzn * r
            grads["U_n"] += np.matmul(hT, dhn)
            grads["b_hn"] += dhn.sum(axis=1)
            dh_prev += np.matmul(dhn, p["U_n.T"])
        else:
            # z_n = a_n + (r * h_prev) U_n
            grads["U_n"] += np.matmul(rh.transpose(0, 2, 1), dzn)
            drh = np.matmul(dzn, p["U_n.T"])
            dzr = drh * h_prev * self.sigma.deriv(zr, r)
            dh_prev += drh * r
        # [z_r, z_u] = a_ru + h_prev U_ru
        da = out
        da[..., :H] = dzr
        da[..., H : 2 * H] = dzu
        da[..., 2 * H :] = dzn
        dzru = da[..., : 2 * H]
        dh_prev += np.matmul(dzru, p["U_ru.T"])
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
