"""Row-major matrix products for compiled kernels, through the BLAS that blas.register() binds.

    mm(a, b, out, beta)     out = a @ b + beta * out
    mm_tn(a, b, out, beta)  out = a.T @ b + beta * out

a, b and out are 2-D arrays, all float32 or all float64 (anything else is refused when the
caller compiles), whose rows are contiguous and do not overlap (a row stride is allowed, as for
slices of a wider array). Row-major C = A B is column-major C^T = B^T A^T, so the Fortran call
passes b first. beta = 1 adds into `out` in the product's own pass, which spares the kernels a
temporary and an add per call.

numba stamps a cached function with its own source file only, yet a kernel that calls mm holds
a compiled copy of this module's code: a kernel module calls track(kernel, ...) at import, which
drops the kernel's cache entries when this file changed since they were written.

Imports numba: only the compiled kernels import this module (see lstm_kernel.py's docstring).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ablab.core.engine import blas
from ablab.core.engine.jit import numba

types = numba.types

blas.register()  # before any kernel below is compiled or loaded from the cache

_P = types.voidptr
_sgemm = types.ExternalFunction("ablab_sgemm", types.void(_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P))
_dgemm = types.ExternalFunction("ablab_dgemm", types.void(_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P))
_N, _T = 78, 84  # 'N', 'T'
_INT_MAX = 2**31 - 1  # BLAS's LP64 integers


def _one_float_dtype(a, b, out):  # the Python body never runs: numba resolves it when compiling
    raise NotImplementedError


@numba.extending.overload(_one_float_dtype)
def _one_float_dtype_typed(a, b, out):
    dtypes = {a.dtype, b.dtype, out.dtype}
    if len(dtypes) != 1 or not dtypes <= {types.float32, types.float64}:
        raise numba.core.errors.TypingError(
            f"gemm: a, b and out must all be float32 or all float64, got {a.dtype}, {b.dtype}, {out.dtype}"
        )
    return lambda a, b, out: None


@numba.njit(cache=True, inline="always")
def _rows(x):  # pragma: no cover (compiled)
    """x's leading dimension for BLAS: its row stride in elements (any value for one row)."""
    if x.shape[1] > 1 and x.strides[1] != x.itemsize:
        raise ValueError("gemm: every operand needs contiguous rows")
    if x.shape[0] <= 1:
        return max(x.shape[1], 1)
    if x.strides[0] % x.itemsize or x.strides[0] < x.shape[1] * x.itemsize:
        raise ValueError("gemm: rows must not overlap (a row stride of at least the row's length)")
    ld = x.strides[0] // x.itemsize
    if ld > _INT_MAX:
        raise ValueError("gemm: a row stride past BLAS's 32-bit integers")
    return ld


@numba.extending.intrinsic
def _by_address(typingctx, value):
    """The address of a copy of `value` in the calling function's stack frame (its entry block:
    one slot however often a loop passes here). Fortran takes every argument by address; heap
    arrays for them cost three allocations a call, ~0.15 us each."""

    def codegen(context, builder, signature, args):
        slot = numba.core.cgutils.alloca_once(builder, context.get_value_type(signature.args[0]))
        builder.store(args[0], slot)
        return builder.bitcast(slot, numba.core.cgutils.voidptr_t)

    return types.voidptr(value), codegen


@numba.njit(cache=True, inline="always")
def _call(trans_first, trans_second, n, m, k, first, second, out, beta):  # pragma: no cover (compiled)
    """Fortran gemm on column-major views: out^T (n x m) = op(first) (n x k) op(second) (k x m)."""
    if max(n, m, k) > _INT_MAX:
        raise ValueError("gemm: a dimension past BLAS's 32-bit integers")
    # (transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), every one by address
    ta, tb = _by_address(np.uint8(trans_first)), _by_address(np.uint8(trans_second))
    dims = _by_address(np.int32(n)), _by_address(np.int32(m)), _by_address(np.int32(k))
    lds = _by_address(np.int32(_rows(first))), _by_address(np.int32(_rows(second))), _by_address(np.int32(_rows(out)))
    f, g, o = first.ctypes.data, second.ctypes.data, out.ctypes.data
    if out.itemsize == 4:
        one, scale = _by_address(np.float32(1.0)), _by_address(np.float32(beta))
        _sgemm(ta, tb, dims[0], dims[1], dims[2], one, f, lds[0], g, lds[1], scale, o, lds[2])
    else:
        one, scale = _by_address(np.float64(1.0)), _by_address(np.float64(beta))
        _dgemm(ta, tb, dims[0], dims[1], dims[2], one, f, lds[0], g, lds[1], scale, o, lds[2])


@numba.njit(cache=True, inline="always")
def _scale(out, beta):  # pragma: no cover (compiled)
    if beta == 0:
        out[:] = 0
    else:
        out *= beta


@numba.njit(cache=True, inline="always")
def _product(trans_a, m, k, a, b, out, beta):  # pragma: no cover (compiled)
    """out = op(a) b + beta out, op(a) (m x k): a itself ('N') or a.T ('T')."""
    _one_float_dtype(a, b, out)
    n = b.shape[1]
    if b.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("gemm: shapes do not match (op(a): m x k, b: k x n, out: m x n)")
    if m == 0 or n == 0:
        return
    if k == 0:  # an empty sum: beta * out, and 0 where beta = 0 (as BLAS: never 0 * nan)
        _scale(out, beta)
        return
    # out^T = b^T op(a)^T: b as stored is column-major b^T ('N'); a as stored is column-major
    # a^T, which 'N' takes as op(a)^T = a^T and 'T' turns into op(a)^T = a
    _call(_N, trans_a, n, m, k, b, a, out, beta)


@numba.njit(cache=True)
def mm(a, b, out, beta):  # pragma: no cover (compiled)
    _product(_N, a.shape[0], a.shape[1], a, b, out, beta)


@numba.njit(cache=True)
def mm_tn(a, b, out, beta):  # pragma: no cover (compiled)
    _product(_T, a.shape[1], a.shape[0], a, b, out, beta)


_SOURCE_STAMP = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def track(*kernels, stamp: str = _SOURCE_STAMP) -> None:
    """Drop each numba-cached kernel's on-disk entries when they were compiled against another
    version of this file (a stamp file beside numba's index records which)."""
    for kernel in kernels:
        cache = getattr(kernel, "_cache", None)  # numba's Cache, or NullCache when caching is off
        if not isinstance(cache, numba.core.caching.Cache):
            continue
        fn = kernel.py_func
        mark = Path(cache.cache_path) / f"{fn.__module__}.{fn.__qualname__}.gemm-stamp"
        try:
            if mark.read_text() == stamp:
                continue
        except OSError:
            pass
        cache.flush()  # an empty index: the next call compiles and saves again
        try:
            mark.parent.mkdir(parents=True, exist_ok=True)
            part = mark.with_name(f"{mark.name}.{os.getpid()}")
            part.write_text(stamp)
            part.replace(mark)  # atomic: a process starting now reads the old stamp or this one
        except OSError:  # a read-only cache: numba then does not save either
            pass
