"""Row-major matrix products for compiled kernels, through the BLAS that blas.register() binds.

    mm(a, b, out, beta)     out = a @ b + beta * out
    mm_tn(a, b, out, beta)  out = a.T @ b + beta * out

a, b and out are 2-D float32 or float64 arrays of one dtype whose rows are contiguous (a row
stride is allowed, as for slices of a wider array). Row-major C = A B is column-major
C^T = B^T A^T, so the Fortran call passes b first. beta = 1 adds into `out` in the product's own
pass, which spares the kernels a temporary and an add per call.

Imports numba: only the compiled kernels import this module (see lstm_kernel.py's docstring).
"""

from __future__ import annotations

import numpy as np

from ablab.core.engine import blas
from ablab.core.engine.jit import numba

types = numba.types

blas.register()  # before any kernel below is compiled or loaded from the cache

_P = types.voidptr
_sgemm = types.ExternalFunction("ablab_sgemm", types.void(_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P))
_dgemm = types.ExternalFunction("ablab_dgemm", types.void(_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P))
_N, _T = 78, 84  # 'N', 'T'


@numba.njit(cache=True, inline="always")
def _rows(x):  # pragma: no cover (compiled)
    """x's leading dimension for BLAS: its row stride in elements, at least its row length."""
    if x.shape[1] > 1 and x.strides[1] != x.itemsize or x.strides[0] < 0:
        raise ValueError("gemm: every operand needs contiguous rows and a positive row stride")
    return max(x.strides[0] // x.itemsize, x.shape[1], 1)


@numba.njit(cache=True, inline="always")
def _call(trans_first, trans_second, n, m, k, first, second, out, beta):  # pragma: no cover (compiled)
    """Fortran gemm on column-major views: out^T (n x m) = op(first) (n x k) op(second) (k x m)."""
    ints = np.empty(6, np.int32)
    ints[0], ints[1], ints[2] = n, m, k
    ints[3], ints[4], ints[5] = _rows(first), _rows(second), _rows(out)
    chars = np.empty(2, np.uint8)
    chars[0], chars[1] = trans_first, trans_second
    scalars = np.empty(2, out.dtype)
    scalars[0], scalars[1] = 1.0, beta
    p, c, s = ints.ctypes.data, chars.ctypes.data, scalars.ctypes.data
    f, g, o = first.ctypes.data, second.ctypes.data, out.ctypes.data
    # (transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), every one by address
    if out.itemsize == 4:
        _sgemm(c, c + 1, p, p + 4, p + 8, s, f, p + 12, g, p + 16, s + 4, o, p + 20)
    else:
        _dgemm(c, c + 1, p, p + 4, p + 8, s, f, p + 12, g, p + 16, s + 8, o, p + 20)
    # numba frees an array after its last use in the code, and a raw pointer is no use: without
    # this read after the call, the arguments' memory could be freed (and reused) before it
    return ints[0] + chars[0] + scalars[0] + first[0, 0] + second[0, 0]


@numba.njit(cache=True)
def mm(a, b, out, beta):  # pragma: no cover (compiled)
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("mm: shapes do not match (a: m x k, b: k x n, out: m x n)")
    if m == 0 or n == 0:
        return
    if k == 0:  # BLAS leaves beta * out, as numpy's zero-length sum would give 0 + beta * out
        out *= beta
        return
    _call(_N, _N, n, m, k, b, a, out, beta)


@numba.njit(cache=True)
def mm_tn(a, b, out, beta):  # pragma: no cover (compiled)
    k, m = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("mm_tn: shapes do not match (a: k x m, b: k x n, out: m x n)")
    if m == 0 or n == 0:
        return
    if k == 0:
        out *= beta
        return
    # out^T = b^T a: b as stored is column-major b^T ('N'), a is column-major a^T ('T' gives a)
    _call(_N, _T, n, m, k, b, a, out, beta)
