"""numba, imported for ablab's compiled kernels with AVX-512's full vector width.

    from ablab.core.engine.jit import numba

LLVM tunes its Intel AVX-512 server cores (skylake-avx512 to emeraldrapids) with
"prefer-256-bit": loops are vectorised 8 float32 lanes wide, not 16, because early AVX-512
cores lowered their clock for 512-bit instructions. The LSTM kernels are elementwise loops over
tanh/sigmoid polynomials, and MKL's sgemm already runs 512-bit instructions on the same core,
so the clock cost is paid either way: 16 lanes take the medium forward's elementwise part from
~2.3 to ~1.55 ms (benchmarks/numba_width.py). The width changes no result: the loops have no
reductions, and their fast-math flags leave out reassociation (tested bit for bit).

Before numba's first import this sets NUMBA_CPU_NAME and NUMBA_CPU_FEATURES to the host's
own, with "-prefer-256-bit" added. It leaves numba's defaults alone when the CPU has no
AVX-512F, when the user set either variable, when numba was imported before ablab's kernels
(numba reads them at import), or when ABLAB_NUMBA_WIDTH=256. numba keys its on-disk cache by
CPU name and features, so code compiled either way never mixes.
"""

from __future__ import annotations

import os
import sys

WIDTH_CHOICES = ("256", "512")


def requested_width() -> str:
    """ABLAB_NUMBA_WIDTH, validated: "512" when unset."""
    value = os.environ.get("ABLAB_NUMBA_WIDTH", "").strip() or "512"
    if value not in WIDTH_CHOICES:
        raise ValueError(f"ABLAB_NUMBA_WIDTH={os.environ['ABLAB_NUMBA_WIDTH']!r} is not one of 256, 512 (or unset)")
    return value


def wide_vector_settings() -> dict[str, str]:
    """The environment that lets numba use 512-bit vectors here; {} when it would not apply."""
    if requested_width() == "256" or "numba" in sys.modules:
        return {}
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        return {}
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f"):
        return {}
    return {"NUMBA_CPU_NAME": llvm.get_host_cpu_name(), "NUMBA_CPU_FEATURES": features.flatten() + ",-prefer-256-bit"}


os.environ.update(wide_vector_settings())

import numba  # noqa: E402  (after the settings: numba reads them at import)

__all__ = ["numba"]
