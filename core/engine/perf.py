"""Process-level speed settings for training processes (workers, CLI, benchmarks)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


@functools.cache
def tune_allocator() -> bool:
    """Keep freed memory in the process instead of returning it to the OS.

    BPTT keeps every step's cache alive until the backward pass, then frees it all; glibc's
    defaults hand that memory back and the next training step page-faults it in again,
    which costs about as much as the arithmetic at these sizes (the forward pass of an LSTM
    at batch 32, T 100, hidden 128 halves with this). Same effect as the MALLOC_*_ variables.
    Returns False where glibc's mallopt is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    ok &= mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
    ok &= mallopt(_M_TOP_PAD, 128 * 1024 * 1024)
    return bool(ok)
