"""Issue 19, engine session 10: the two levers of core/engine/blas.py and core/engine/jit.py.

    OPENBLAS_NUM_THREADS=1 python benchmarks/lstm_blas_width.py [--repeats N]

1. BLAS. The medium LSTM step's per-step products, timed as the compiled kernels run them
   (T = 100 steps, member by member), through numba's np.dot (scipy's OpenBLAS: what the
   kernels called before) and through gemm.mm (this process's binding: MKL where the `mkl`
   package is installed). Shapes: the forward's [x_t, 1, h_{t-1}] [W; b; U], (32 x 137) x
   (137 x 512), the four gate blocks side by side (the kernel's since session 10; "per block"
   times the four (137 x 128) products it replaced, through gemm.mm); the backward's dz_k U_k^T,
   (32 x 128) x (128 x 128), added into dh; the input-side sums [x_t, 1, h_{t-1}]^T dz_k,
   (137 x 32) x (32 x 128), added up over the steps (FusedCell promise 8). Rounds interleave
   the two, CPU time, medians.
2. Vector width. The compiled forward's elementwise part (gates, c, tanh(c), h and the tape:
   the whole forward minus the same products alone) in fresh processes, numba's 256-bit
   vectors (ABLAB_NUMBA_WIDTH=256) and 512-bit (the default on an AVX-512 CPU) alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

B, D, H, T = 32, 8, 128, 100
R = D + 1 + H

CHILD = """
import json, statistics, time, numpy as np
from ablab.core.engine.jit import numba
from ablab.core.engine.gemm import mm
from ablab.plugins.cells import lstm_kernel
B, D, H, T, repeats = {B}, {D}, {H}, {T}, {repeats}
rng = np.random.default_rng(0)
WbU = (rng.standard_normal((1, D + 1 + H, 4 * H)) * 0.1).astype(np.float32)
XH = np.zeros((1, T + 1, B, D + 1 + H), np.float32)
XH[..., :D] = rng.standard_normal((1, T + 1, B, D))
XH[..., D] = 1
tape = lstm_kernel.Tape(1, T, B, H, np.float32)
z = np.empty((B, 4 * H), np.float32)

@numba.njit
def products(WbU, XH, z):
    for t in range(XH.shape[1] - 1):
        mm(XH[0, t], WbU[0], z, 0.0)

lstm_kernel.forward_steps(WbU, XH, tape)
products(WbU, XH, z)
whole, alone = [], []
for _ in range(repeats):
    start = time.process_time(); lstm_kernel.forward_steps(WbU, XH, tape); whole.append(time.process_time() - start)
    start = time.process_time(); products(WbU, XH, z); alone.append(time.process_time() - start)
ms = 1e3 * statistics.median(w - a for w, a in zip(whole, alone))
print(json.dumps({{"features": numba.config.CPU_FEATURES, "ms": ms}}))
"""


def blas_part(repeats: int) -> None:
    from ablab.core.engine import blas
    from ablab.core.engine.gemm import mm, mm_tn
    from ablab.core.engine.jit import numba

    backend = blas.register()
    rng = np.random.default_rng(0)
    XH = rng.standard_normal((T, B, R)).astype(np.float32)
    WbU = rng.standard_normal((R, 4 * H)).astype(np.float32)
    WbU_blocks = np.ascontiguousarray(WbU.reshape(R, 4, H).transpose(1, 0, 2))
    dz = rng.standard_normal((T, 4, B, H)).astype(np.float32)
    UT = rng.standard_normal((4, H, H)).astype(np.float32)
    z, dh, tmp, sums = (np.empty((B, 4 * H), np.float32), np.empty((B, H), np.float32),
                        np.empty((B, H), np.float32), np.zeros((4, R, H), np.float32))  # fmt: skip

    @numba.njit
    def forward_dot(XH, WbU, z):
        for t in range(XH.shape[0]):
            np.dot(XH[t], WbU, z)

    @numba.njit
    def forward_mm(XH, WbU, z):
        for t in range(XH.shape[0]):
            mm(XH[t], WbU, z, 0.0)

    @numba.njit
    def forward_blocks(XH, WbU_blocks, z):
        for t in range(XH.shape[0]):
            for k in range(4):
                mm(XH[t], WbU_blocks[k], z[:, k * WbU_blocks.shape[2] : (k + 1) * WbU_blocks.shape[2]], 0.0)

    @numba.njit
    def backward_dot(dz, UT, dh, tmp):
        for t in range(dz.shape[0]):
            np.dot(dz[t, 0], UT[0], dh)
            for k in range(1, 4):
                np.dot(dz[t, k], UT[k], tmp)
                dh += tmp

    @numba.njit
    def backward_mm(dz, UT, dh):
        for t in range(dz.shape[0]):
            for k in range(4):
                mm(dz[t, k], UT[k], dh, 0.0 if k == 0 else 1.0)

    @numba.njit
    def sums_dot(XH, dz, sums):
        part = np.empty(sums.shape[1:], sums.dtype)
        for t in range(XH.shape[0]):
            for k in range(4):
                np.dot(XH[t].T, dz[t, k], part)  # a transposed view: BLAS's trans flag, no copy
                sums[k] += part

    @numba.njit
    def sums_mm(XH, dz, sums):
        for t in range(XH.shape[0]):
            for k in range(4):
                mm_tn(XH[t], dz[t, k], sums[k], 1.0)

    per_k = 2 * B * H * 4 * T  # flops per unit of the products' inner dimension
    rows = [
        ("forward [x,1,h][W;b;U]", per_k * R, lambda: forward_dot(XH, WbU, z), lambda: forward_mm(XH, WbU, z)),
        (
            "forward, per block (mm)",
            per_k * R,
            lambda: forward_blocks(XH, WbU_blocks, z),
            lambda: forward_mm(XH, WbU, z),
        ),
        ("backward dz_k U_k^T", per_k * H, lambda: backward_dot(dz, UT, dh, tmp), lambda: backward_mm(dz, UT, dh)),
        ("sums [x,1,h]^T dz_k", per_k * R, lambda: sums_dot(XH, dz, sums), lambda: sums_mm(XH, dz, sums)),
    ]
    print(f"1. BLAS: the medium LSTM step's per-step products, {T} steps; gemm.mm calls {backend.name}")
    print(f"   ({backend.detail})")
    print(f"   {'products':26s} {'np.dot (OpenBLAS)':>22s} {'gemm.mm (' + backend.name + ')':>22s} {'ratio':>7s}")
    for name, flop, old, new in rows:
        old(), new()
        samples = {"old": [], "new": []}
        for _ in range(repeats):
            for key, fn in (("old", old), ("new", new)):
                start = time.process_time()
                fn()
                samples[key].append(time.process_time() - start)
        o, n = (statistics.median(samples[k]) for k in ("old", "new"))
        ratio = statistics.median(a / b for a, b in zip(samples["new"], samples["old"]))
        cells = [f"{m * 1e3:6.2f} ms {flop / m / 1e9:5.0f} GF/s" for m in (o, n)]
        print(f"   {name:26s} {cells[0]:>22s} {cells[1]:>22s} {ratio:7.2f}")


def width_part(rounds: int, repeats: int) -> None:
    code = CHILD.format(B=B, D=D, H=H, T=T, repeats=repeats)
    found = {"256": [], "512": []}
    features = {}
    for _ in range(rounds):
        for width in ("256", "512"):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CPU_", "ABLAB_NUMBA_WIDE"))}
            done = subprocess.run([sys.executable, "-c", code], env={**env, "ABLAB_NUMBA_WIDTH": width},
                                  capture_output=True, text=True, timeout=900)  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            result = json.loads(done.stdout)
            found[width].append(result["ms"])
            features[width] = result["features"]
    print(f"2. Vector width: the compiled forward's elementwise part, medium size, {rounds} processes each")
    if features["512"] is None:
        print("   this CPU has no AVX-512F: both runs use numba's defaults")
    for width in ("256", "512"):
        ms = found[width]
        print(f"   {width}-bit vectors: {statistics.median(ms):6.2f} ms (runs: {', '.join(f'{m:.2f}' for m in ms)})")
    print(f"   512 / 256: {statistics.median(found['512']) / statistics.median(found['256']):.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per vector width (default 3)")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats must be at least 2, got {args.repeats}")
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    blas_part(args.repeats)
    width_part(args.processes, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
