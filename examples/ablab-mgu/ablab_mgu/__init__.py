"""Minimal Gated Unit cell plugin for ablab."""

import numpy as np

from ablab.plugin import Cell, RecurrentParam, hookimpl


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


class MGU(Cell):
    """Minimal Gated Unit (Zhou et al. 2016): one forget gate does the work of GRU's two.

    With a_t = W x_t + b (blocks [f, n]) computed by ablab before the time loop:
        f_t = sigmoid(a_f + h_{t-1} U_f)
        n_t = tanh(a_n + (f_t * h_{t-1}) U_n)
        h_t = (1 - f_t) * h_{t-1} + f_t * n_t
    """

    summary = "Minimal Gated Unit (Zhou et al. 2016), a one-gate GRU"
    defaults = {}
    state_names = ("h",)

    @property
    def n_blocks(self):
        return 2

    def recurrent_params(self, hidden):
        return {"U_f": RecurrentParam("matrix"), "U_n": RecurrentParam("matrix")}

    def step(self, p, a, state):
        (h_prev,) = state  # (S,B,H)
        H = h_prev.shape[-1]
        f = _sigmoid(a[..., :H] + np.matmul(h_prev, p["U_f"]))  # (S,B,H)
        fh = f * h_prev
        n = np.tanh(a[..., H:] + np.matmul(fh, p["U_n"]))  # (S,B,H)
        h = (1.0 - f) * h_prev + f * n
        return (h,), (h_prev, f, fh, n)

    def backward_step(self, p, dstate, cache, grads):
        (dh,) = dstate
        h_prev, f, fh, n = cache
        # h = (1 - f) * h_prev + f * n
        df = dh * (n - h_prev)
        dh_prev = dh * (1.0 - f)
        # n = tanh(a_n + fh U_n)
        dzn = dh * f * (1.0 - n * n)
        grads["U_n"] += np.matmul(fh.transpose(0, 2, 1), dzn)
        dfh = np.matmul(dzn, p["U_n"].transpose(0, 2, 1))
        df += dfh * h_prev
        dh_prev += dfh * f
        # f = sigmoid(a_f + h_prev U_f)
        dzf = df * f * (1.0 - f)
        grads["U_f"] += np.matmul(h_prev.transpose(0, 2, 1), dzf)
        dh_prev += np.matmul(dzf, p["U_f"].transpose(0, 2, 1))
        return np.concatenate([dzf, dzn], axis=-1), (dh_prev,)

    def gate_values(self, cache):
        return {"forget": cache[1]}


@hookimpl
def register_cells(register):
    register("mgu", MGU)
