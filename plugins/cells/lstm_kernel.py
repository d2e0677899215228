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
    import numba  # lazy: see the module docstring

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
