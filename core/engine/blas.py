"""Which BLAS the compiled kernels call: Intel MKL when it is installed, else scipy's OpenBLAS.

Why: the standard LSTM's step is made of small products per step and gate block: at the
benchmark's medium size (32 x 137) x (137 x 128) in the forward, (32 x 128) x (128 x 128) added
into dh and (137 x 32) x (32 x 128) added into dW in the backward. On the backward's, MKL's
single-thread sgemm runs at ~150 and ~140 GFLOP/s on this Emerald Rapids core against ~86 and
~70 for the OpenBLAS 0.3.30 that scipy and numba's np.dot use; on the forward's both reach ~163
(OpenBLAS ~110 in some processes). benchmarks/lstm_blas_width.py prints them side by side.

How: compiled code calls two external symbols, `ablab_sgemm` and `ablab_dgemm`, with the
Fortran BLAS interface (column-major, every argument by pointer). register() binds them once
per process, before any kernel is compiled or loaded from numba's cache: to MKL's sgemm/dgemm
(LP64 interface, sequential threading layer: ablab runs one worker per core) or to scipy's
cython_blas sgemm/dgemm, the functions numba's own np.dot calls. Cached machine code names the
symbol, not the library, so one on-disk cache serves both.

ABLAB_BLAS=openblas makes a process use scipy's OpenBLAS even where MKL is installed;
ABLAB_BLAS=mkl makes it an error when MKL cannot be loaded (unset: MKL if it loads).

MKL's layers are global to its library: a numpy built on the same libmkl_rt (a conda install)
would become single-threaded too, and where another library has already computed with MKL,
the layers can no longer be set and ablab takes OpenBLAS (Backend.detail says why). MKL loads
its core and threading libraries only at the first product, and exits the process when one is
missing, so _load_mkl checks first that they are installed beside it (else OpenBLAS takes over).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

CHOICES = ("mkl", "openblas")
SYMBOLS = ("ablab_sgemm", "ablab_dgemm")
MKL_INTERFACE_LP64 = 0  # 32-bit integers, as scipy's cython_blas and the kernels pass them
MKL_THREADING_SEQUENTIAL = 1
# what libmkl_rt loads for the LP64 interface and the sequential layer (Linux, Windows names)
MKL_LAYER_LIBRARIES = (
    ("libmkl_core.so", "mkl_core"),
    ("libmkl_sequential.so", "mkl_sequential"),
    ("libmkl_intel_lp64.so", "mkl_intel_lp64"),
)


class BlasError(RuntimeError):
    pass


@dataclass(frozen=True)
class Backend:
    name: str  # "mkl" or "openblas"
    detail: str  # the library's file, or why MKL was not used


def requested() -> str | None:
    """ABLAB_BLAS, validated: None when unset or empty."""
    value = os.environ.get("ABLAB_BLAS", "").strip().lower()
    if not value:
        return None
    if value not in CHOICES:
        raise BlasError(f"ABLAB_BLAS={os.environ['ABLAB_BLAS']!r} is not one of {', '.join(CHOICES)} (or unset)")
    return value


def mkl_library_path() -> str | None:
    """libmkl_rt from the `mkl` wheel (it installs into the environment's lib/ or Library/bin/)."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        name = f.name.lower()
        if name.startswith(("libmkl_rt.so", "mkl_rt")) and not name.endswith((".lib", ".a")):
            path = str(f.locate().resolve())
            if os.path.exists(path):
                return path
    return None


def _load_mkl(path: str):
    """(sgemm, dgemm) addresses of MKL's Fortran interface, its layers set first."""
    folder = Path(path).parent
    for names in MKL_LAYER_LIBRARIES:  # MKL would exit() at the first product without them
        if not any(f.name.startswith(names) for f in folder.iterdir()):
            raise BlasError(f"{folder}: no {names[0]}* beside {Path(path).name} (a partial MKL install?)")
    lib = ctypes.CDLL(path)
    # before any other MKL call: the layers are fixed by the first computation
    if lib.MKL_Set_Interface_Layer(MKL_INTERFACE_LP64) != MKL_INTERFACE_LP64:
        raise BlasError(f"{path}: MKL refused the LP64 interface layer (is MKL_INTERFACE_LAYER set to ILP64?)")
    if lib.MKL_Set_Threading_Layer(MKL_THREADING_SEQUENTIAL) != MKL_THREADING_SEQUENTIAL:
        raise BlasError(f"{path}: MKL refused the sequential threading layer")
    return tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in ("sgemm", "dgemm"))


def _scipy_openblas():
    """(sgemm, dgemm) addresses of scipy.linalg.cython_blas, which numba's np.dot calls too."""
    import scipy.linalg.cython_blas as cython_blas

    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    capsules = (cython_blas.__pyx_capi__[name] for name in ("sgemm", "dgemm"))
    return tuple(get_pointer(c, get_name(c)) for c in capsules)


def choose() -> tuple[Backend, tuple[int, int]]:
    """The backend ABLAB_BLAS and the installed packages give, and its (sgemm, dgemm) addresses."""
    choice = requested()
    path = mkl_library_path() if choice != "openblas" else None
    if path is not None:
        try:
            return Backend("mkl", path), _load_mkl(path)
        except (OSError, AttributeError, BlasError) as exc:
            if choice == "mkl":
                raise BlasError(f"ABLAB_BLAS=mkl, but MKL did not load: {exc}") from exc
            why = f"MKL did not load ({exc})"
    elif choice == "mkl":
        raise BlasError("ABLAB_BLAS=mkl, but the `mkl` package is not installed (pip install mkl)")
    else:
        why = "ABLAB_BLAS=openblas" if choice == "openblas" else "the `mkl` package is not installed"
    return Backend("openblas", why), _scipy_openblas()


@functools.cache
def register() -> Backend:
    """Bind ablab_sgemm / ablab_dgemm for this process (once) and say to what."""
    import llvmlite.binding as llvm

    backend, addresses = choose()
    for symbol, address in zip(SYMBOLS, addresses):
        llvm.add_symbol(symbol, address)
    return backend
