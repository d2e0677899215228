"""The standard LSTM's backward elementwise step as one compiled loop (numba).

With sigmoid gates, tanh for phi and psi, all three gates learned, no peepholes and no
coupling (the `lstm` cell's defaults), backward_step's arithmetic between dh, dc_{t+1} and
dz_t is a fixed formula of the cached outputs. numpy runs it as ~16 passes over (S, B, H)
arrays; this loop reads each input once and writes dz_t and dc_{t-1} once (measured 0.47x
numpy's time per step at the small size, 0.63x at medium; NOTES.md, engine session 7). It has
no transcendental function, so numba's lack of a vector tanh (no SVML in PyPI's llvmlite)
costs nothing here. Any other option set runs the general numpy code in lstm.py.

numba is imported on the first backward step, not with ablab: commands that never train an
LSTM do not pay its import. cache=True keeps the compiled code on disk (numba's __pycache__),
so a process after the first loads it instead of compiling.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _kernel():
    from ablab.core.engine.jit import numba  # lazy: see the module docstring

    @numba.njit(cache=True, boundscheck=False, error_model="numpy")
    def lstm_backward(one, dh, dc_next, gates, g, c_prev, psi_c, dz, dc_prev):  # pragma: no cover (compiled)
        S, B, H = dh.shape
        for s in range(S):
            for b in range(B):
                for k in range(H):
                    i = gates[s, 0, b, k]
                    f = gates[s, 1, b, k]
                    o = gates[s, 2, b, k]
                    gg = g[s, b, k]
                    pc = psi_c[s, b, k]
                    d = dh[s, b, k]
                    # h = o psi(c), c = f c_prev + i g; psi' = 1 - psi^2, sigma' = y (1 - y), phi' = 1 - g^2
                    dc = d * o * (one - pc * pc) + dc_next[s, b, k]
                    dz[s, 0, b, k] = dc * gg * (i * (one - i))
                    dz[s, 1, b, k] = dc * c_prev[s, b, k] * (f * (one - f))
                    dz[s, 2, b, k] = d * pc * (o * (one - o))
                    dz[s, 3, b, k] = dc * i * (one - gg * gg)
                    dc_prev[s, b, k] = dc * f

    return lstm_backward


def backward_elementwise(dh: np.ndarray, dc_next: np.ndarray, cache, dz: np.ndarray) -> np.ndarray:
    """Write dz_t (S, 4, B, H), blocks [i, f, o, g], into `dz` and return dc_{t-1} (S, B, H)."""
    dc_prev = np.empty_like(dh)
    # `one` in the arrays' dtype: a float literal would promote float32 arithmetic to float64
    _kernel()(
        dh.dtype.type(1.0), dh, dc_next, cache.gates.swapaxes(1, 2), cache.g, cache.c_prev, cache.psi_c, dz, dc_prev
    )
    return dc_prev


class Tape:
    """The forward pass's outputs for a whole layer, stacked over time, so that the backward
    runs every step of a chunk in ONE compiled call (backward_steps) instead of one Python-level
    step each. Time-major, so that step t's slot is one contiguous array for numpy's ufuncs
    (member-major slots were 8% slower at S = 16, small size): gates (T, S, 3, B, H) in
    [i, f, o], g and psi_c (T, S, B, H), c (T+1, S, B, H) with c[0] = c_0 = 0, so that c[t]
    is c_{t-1} of step t. step_z writes step t's arrays into slot t (they are the step's cache
    too, for the probes and the per-step backward)."""

    __slots__ = ("gates", "g", "c", "psi_c")

    def __init__(self, S: int, T: int, B: int, H: int, dtype):
        self.gates = np.empty((T, S, 3, B, H), dtype)
        self.g = np.empty((T, S, B, H), dtype)
        self.c = np.empty((T + 1, S, B, H), dtype)
        self.c[0] = 0.0
        self.psi_c = np.empty((T, S, B, H), dtype)


def _steps_kernel():
    from ablab.plugins.cells import lstm_backward  # lazy: see the module docstring

    return lstm_backward.lstm_backward_steps


def backward_steps(
    UT: np.ndarray, dstate: tuple, tape: Tape, start: int, end: int, dhs, window, da: np.ndarray, rows=None, sums=None
):
    """Steps end-1 down to start of the standard LSTM's backward: writes dz_t into
    da[:, :, t - start] (da (S, 4, chunk, B, H), C-contiguous), adds dhs[:, t] (S, T, B, H) to
    dh before step t when given, zeroes the state after step t when t % window == 0, and
    returns (dh_{start-1}, dc_{start-1}). UT is the contiguous U^T, (S, 4H, H). Given rows (S, T,
    B, R), row t [x_t, 1, h_{t-1}], it adds rows[:, t]^T dz_k into sums[:, k] (S, 4, R, H)."""
    dh0, dc0 = (np.ascontiguousarray(x) for x in dstate)
    S, B, H = dh0.shape
    dh_out, dc_out = np.empty_like(dh0), np.empty_like(dc0)
    no_dhs = dhs is None
    dhs = np.empty((S, 0, B, H), dh0.dtype) if no_dhs else np.ascontiguousarray(dhs)
    _steps_kernel()(
        dh0.dtype.type(1.0),
        dh0,
        dc0,
        dhs,
        not no_dhs,
        tape.gates,
        tape.g,
        tape.c,
        tape.psi_c,
        UT.reshape(S, 4, H, H),
        da,
        start,
        end,
        window or 0,
        dh_out,
        dc_out,
        np.empty((S, 0, B, 0), dh0.dtype) if rows is None else rows,
        np.empty((S, 4, 0, H), dh0.dtype) if sums is None else sums,
        sums is not None,
    )
    return dh_out, dc_out


def forward_steps(WbU: np.ndarray, XH: np.ndarray, tape: Tape) -> tuple:
    """The whole forward of a standard LSTM layer from a zero state in one compiled call
    (lstm_forward.py): reads [x_t, 1] from XH[:, t, :, :D+1], writes h_t into
    XH[:, t+1, :, D+1:] and every step's slots of the tape; returns the last state (h_T, c_T).
    WbU is [W; b; U], (S, D+1+H, 4H), blocks [i, f, o, g], C-contiguous."""
    from ablab.plugins.cells import lstm_forward  # lazy: see the module docstring

    S, B, H = XH.shape[0], XH.shape[2], WbU.shape[2] // 4
    h_last = np.empty((S, B, H), XH.dtype)
    lstm_forward.lstm_forward_steps(WbU, XH, XH.shape[3] - 1 - H, tape.gates, tape.g, tape.c, tape.psi_c, h_last)
    return h_last, tape.c[-1]
