"""Where a page's script spends its time, for benchmarks/dashboard_load.py --breakdown: with
ABLAB_TIMINGS set to a file, lap("what") appends one line "page<TAB>what<TAB>seconds since the last
lap" (the first lap counts from start()). Unset, a lap costs one dictionary look-up."""

from __future__ import annotations

import os
import time

_last: list[float] = [0.0]


def start() -> None:
    _last[0] = time.perf_counter()


def lap(what: str, page: str = "results") -> None:
    path = os.environ.get("ABLAB_TIMINGS")
    if not path:
        return
    now = time.perf_counter()
    with open(path, "a") as f:
        f.write(f"{page}\t{what}\t{now - _last[0]:.4f}\n")
    _last[0] = time.perf_counter()  # the write itself is not counted
