"""The standard LSTM's backward over a whole chunk of steps as ONE compiled call (FusedCell
promise 6): per member and step, the elementwise formula of lstm_kernel.lstm_backward, then
dh_{t-1} = sum_k dz_k U_k^T as four BLAS calls that add into dh (gemm.mm, MKL's where
installed: core/engine/blas.py), and, given `sums`, the input-side gradients
[dW; db; dU]_k += [x_t, 1, h_{t-1}]^T dz_k as four more, while the step's operands are still in
cache (FusedCell.chunk_input_grads: at the medium size ~25% faster than one product per chunk
over rows that have left the cache, benchmarks/engine.py).

A module of its own, imported on the first backward (see lstm_kernel.py's docstring), so that
the kernel is a module-level function: numba's on-disk cache keys a function defined inside
another by its closure too, and a closure holding a compiled function never matches again.
"""

from __future__ import annotations

import numpy as np

from ablab.core.engine import gemm
from ablab.core.engine.gemm import mm, mm_tn
from ablab.core.engine.jit import numba


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def lstm_backward_steps(
    one, dh0, dc0, dhs, has_dhs, gates, g, c, psi_c, UT, da, start, end, window, dh_out, dc_out, rows, sums, has_sums
):  # pragma: no cover (compiled)
    S, B, H = dh0.shape
    dh = np.empty((B, H), dh0.dtype)
    dc = np.empty((B, H), dh0.dtype)  # dL/dc_t coming in from step t+1 (dc_next)
    dcp = np.empty((B, H), dh0.dtype)  # dL/dc_{t-1} going out
    for s in range(S):  # member by member, each exactly as a solo run
        dh[:] = dh0[s]
        dc[:] = dc0[s]
        for t in range(end - 1, start - 1, -1):
            j = t - start
            if has_dhs:
                dh += dhs[s, t]
            for b in range(B):
                for k in range(H):
                    i = gates[t, s, 0, b, k]
                    f = gates[t, s, 1, b, k]
                    o = gates[t, s, 2, b, k]
                    gg = g[t, s, b, k]
                    pc = psi_c[t, s, b, k]
                    d = dh[b, k]
                    # as in lstm_kernel.lstm_backward: h = o psi(c), c = f c_prev + i g
                    dct = d * o * (one - pc * pc) + dc[b, k]
                    da[s, 0, j, b, k] = dct * gg * (i * (one - i))
                    da[s, 1, j, b, k] = dct * c[t, s, b, k] * (f * (one - f))
                    da[s, 2, j, b, k] = d * pc * (o * (one - o))
                    da[s, 3, j, b, k] = dct * i * (one - gg * gg)
                    dcp[b, k] = dct * f
            # dh_{t-1} = sum_k dz_k U_k^T, one BLAS gemm per block, each adding into dh
            for blk in range(4):
                mm(da[s, blk, j], UT[s, blk], dh, 0.0 if blk == 0 else 1.0)
            if has_sums:  # [dW; db; dU]_k += [x_t, 1, h_{t-1}]^T dz_k while both are in cache
                for blk in range(4):
                    mm_tn(rows[s, t], da[s, blk, j], sums[s, blk], 1.0)
            dc[:] = dcp
            if window > 0 and t % window == 0:  # truncated BPTT: nothing crosses to t-1
                dh[:] = 0
                dc[:] = 0
        dh_out[s] = dh
        dc_out[s] = dc


gemm.track(lstm_backward_steps)  # its cached code holds a copy of gemm.py's
