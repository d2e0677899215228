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
own, with "-prefer-256-bit" added (numba reads them at import and at each compilation, so they
stay set, and child processes inherit them). It leaves numba's defaults alone when the CPU
has no AVX-512F, when the user set either variable, when numba was imported before ablab's
kernels, or when ABLAB_NUMBA_WIDTH=256. numba keys its on-disk cache by CPU name and
features, so code compiled either way never mixes.
"""

from __future__ import annotations

import hashlib
import os
import sys

WIDTH_CHOICES = ("256", "512")


def requested_width(environ=os.environ) -> str:
    """ABLAB_NUMBA_WIDTH, validated: "512" when unset."""
    value = environ.get("ABLAB_NUMBA_WIDTH", "").strip() or "512"
    if value not in WIDTH_CHOICES:
        raise ValueError(f"ABLAB_NUMBA_WIDTH={environ['ABLAB_NUMBA_WIDTH']!r} is not one of 256, 512 (or unset)")
    return value


def host_wide_settings() -> dict[str, str]:
    """NUMBA_CPU_NAME / NUMBA_CPU_FEATURES for this CPU with 512-bit vectors; {} without AVX-512F."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f"):
        return {}
    return {"NUMBA_CPU_NAME": llvm.get_host_cpu_name(), "NUMBA_CPU_FEATURES": features.flatten() + ",-prefer-256-bit"}


MARK = "ABLAB_NUMBA_WIDE_FOR"  # says that NUMBA_CPU_* are ablab's, and for which CPU


def _fingerprint(settings: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()[:16]


def configure(environ, numba_imported: bool) -> None:
    """Set (or, for ABLAB_NUMBA_WIDTH=256, take back) the wide settings in `environ`. A child
    process inherits its parent's settings, marked as ablab's by MARK: it keeps them when they
    were made for its own CPU and width, and drops them otherwise (a launcher may copy the
    environment to a node with another CPU, whose numba would then emit instructions the node
    cannot run). A user's own NUMBA_CPU_* values (no MARK) are never touched."""
    if numba_imported:
        return
    wide = host_wide_settings() if requested_width(environ) == "512" else {}
    if MARK in environ:  # ablab's settings, from this process's parent
        if wide and environ[MARK] == _fingerprint(wide) and all(environ.get(k) == v for k, v in wide.items()):
            return
        for key in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", MARK):
            environ.pop(key, None)
    if wide and not any(environ.get(k) for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")):
        environ.update(wide)
        environ[MARK] = _fingerprint(wide)


configure(os.environ, "numba" in sys.modules)

import numba  # noqa: E402  (after the settings: numba reads them at import)

__all__ = ["numba"]
