"""Adam's update of one parameter array as ONE compiled pass, the same arithmetic as
optim.update's numpy code operation for operation, so the same bits: each multiply, add,
divide and square root rounded in the array's dtype, in numpy's order, never fused (no
fast-math). numpy takes ~14 passes over each array (4% of the medium LSTM ensemble's step,
NOTES.md session 10); this one pass reads p, g, m and v once.

Imported on the first Adam update of a large array (optim.COMPILED_ADAM_SIZE): numba's import
(~0.3 s) is paid once per process, and not at all by studies of small nets.
"""

from __future__ import annotations

import numpy as np

from ablab.core.engine.jit import numba


@numba.njit(cache=True, error_model="numpy")
def adam_rows(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps, lr, keep):  # pragma: no cover
    """p, g, m, v: (S, n) views of one parameter, its gradient and Adam's moments; the scalars
    in their dtype: c1 = 1 - beta1^t, c2 = 1 - beta2^t; keep (S,): 1, or 0 for a frozen member
    (numpy multiplies the update by it; x * 1 is x exactly)."""
    S, n = p.shape
    for s in range(S):
        k = keep[s]
        for i in range(n):
            gi = g[s, i]
            mi = m[s, i] * beta1  # m *= beta1; m += (1 - beta1) * g
            mi = mi + one_minus_beta1 * gi
            vi = v[s, i] * beta2  # v *= beta2; v += (1 - beta2) * g * g
            vi = vi + one_minus_beta2 * gi * gi
            step = (mi / c1) / (np.sqrt(vi / c2) + eps)  # mhat / (sqrt(vhat) + eps)
            p[s, i] = p[s, i] - (lr * step) * k
            m[s, i] = mi
            v[s, i] = vi


def update_adam(spec, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr, active) -> bool:
    """Adam's step for one array in one pass; False (nothing done) where the compiled pass
    could not promise numpy's bits: mixed or non-float dtypes, arrays that are not contiguous,
    or hyper-parameters that are not plain Python numbers (numpy treats a numpy scalar as a
    strong type and would compute in its precision)."""
    dtype = p.dtype
    if dtype not in (np.float32, np.float64) or any(a.dtype != dtype for a in (g, m, v)):
        return False
    if not all(a.flags.c_contiguous for a in (p, g, m, v)) or p.ndim == 0:
        return False
    numbers = (lr, spec.beta1, spec.beta2, spec.eps)
    if not all(type(x) in (int, float) for x in numbers):
        return False
    S = p.shape[0]
    keep = np.ones(S, dtype) if active is None else active.astype(dtype)
    c = dtype.type
    rows = [a.reshape(S, -1) for a in (p, g, m, v)]
    adam_rows(
        *rows,
        c(spec.beta1),
        c(1 - spec.beta1),
        c(spec.beta2),
        c(1 - spec.beta2),
        c(1 - spec.beta1**t),
        c(1 - spec.beta2**t),
        c(spec.eps),
        c(lr),
        keep,
    )
    return True
