"""Issue 19, engine session 9: the standard LSTM's training forward as ONE numba call per layer.

    OPENBLAS_NUM_THREADS=1 python benchmarks/lstm_forward_kernel.py [--repeats N]

plugins/cells/lstm_forward.py (FusedCell promise 7) against the step-by-step forward it
replaces in training (NOTES.md, "Engine, session 9"). Three parts:
1. A float32 tanh that LLVM vectorises (numba's scalar tanhf did not: 55x numpy's, session 8):
   |x| < 1: x + x^3 Q(x^2), Q a degree-6 Chebyshev fit; else 1 - 2/(e^{2|x|} + 1), e^y by
   Cody-Waite reduction, a degree-6 polynomial and 2^k built in the exponent bits; the gates'
   sigmoid32 = 1 / (1 + e^-x) with the same exp. Timed per
   call over 20,480 values (one medium step's gates and cell) against numpy's np.tanh and the
   sigmoid as the `sigmoid` plugin computes it (0.5 + 0.5 tanh(x/2)), then its error in ulps
   against float64's tanh rounded to float32 over a dense grid of [-10, 10] and tiny values.
2. The layer's forward: the present loop (one matmul per step, the taped step_z) against the
   kernel (x W + b for the layer in one matmul, then per member and step four np.dot h U_k
   into the blocks and the gates, c, tanh(c), h in vectorised loops, the tape written inside).
3. The whole training step (forward, backward, Adam) with that forward against the present one.
Every ratio is new/old, the median over interleaved rounds of CPU time, with its IQR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from engine import SIZES, ablab_setup, interleaved  # noqa: E402

from ablab.core.engine.clipping import ClipSpec, clip  # noqa: E402
from ablab.core.engine.losses import mse  # noqa: E402
from ablab.core.engine.model import RecurrentNet  # noqa: E402
from ablab.core.engine.optim import update  # noqa: E402
from ablab.core.engine.train import loss_and_grads  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402
from ablab.plugins.cells.lstm_forward import vsigmoid32, vtanh32  # noqa: E402


class StepByStep(RecurrentNet):
    """The model as before this lever: training's forward runs step_z step by step too."""

    def forward(self, params, x, train=False):
        return super().forward(params, x)


def ratio(samples: dict, new: str, old: str) -> str:
    r = [n / o for n, o in zip(samples[new], samples[old])]
    q = statistics.quantiles(r, n=4)
    return f"{statistics.median(r):.2f} (IQR {q[0]:.2f}-{q[2]:.2f})"


def per_call_us(fn, n: int = 2000) -> float:
    fn()
    best = float("inf")
    for _ in range(7):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n)
    return best * 1e6


def transcendentals() -> None:
    x = (np.random.default_rng(0).standard_normal(20480) * 3).astype(np.float32)
    out = np.empty_like(x)

    def numpy_sigmoid():
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        np.multiply(out, 0.5, out=out)
        np.add(out, 0.5, out=out)

    print("per call, 20,480 float32 values, CPU us (best of 7):")
    numpy_us, numba_us = per_call_us(lambda: np.tanh(x, out=out)), per_call_us(lambda: vtanh32(x, out))
    print(f"  numpy np.tanh {numpy_us:.2f}, numba tanh32 {numba_us:.2f}")
    numpy_us, numba_us = per_call_us(numpy_sigmoid), per_call_us(lambda: vsigmoid32(x, out))
    print(f"  numpy sigmoid as 0.5 + 0.5 tanh(x/2) {numpy_us:.2f}, numba sigmoid32 {numba_us:.2f}")
    tiny = np.float32(10.0) ** -np.arange(1, 38, 0.25, dtype=np.float32)
    grid = np.concatenate(
        [np.linspace(-10, 10, 4_000_001).astype(np.float32), tiny, -tiny, np.float32([0, 50, -50, 1e30])]
    )
    want = np.tanh(grid.astype(np.float64)).astype(np.float32)
    got = np.empty_like(grid)
    vtanh32(grid, got)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    numpy_ulps = np.abs(np.tanh(grid).view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    print(
        f"  ulps from float64's tanh rounded, {grid.size} inputs: "
        f"tanh32 max {ulps.max()} ({(ulps > 0).mean():.1%} off), "
        f"numpy's max {numpy_ulps.max()} ({(numpy_ulps > 0).mean():.1%} off)"
    )


def layer_forward(registry, size_name: str, members: int, repeats: int) -> None:
    size = SIZES[size_name]
    _, params, opt, state, x, y = ablab_setup(registry, "lstm", size, members)
    new = RecurrentNet(ablab_setup(registry, "lstm", size, 1)[0].spec, registry)
    old = StepByStep(new.spec, registry)
    y_old, y_new = old.forward(params, x)[0], new.forward(params, x, train=True)[0]
    g_old = loss_and_grads(old, params, x, y, None, mse, None)[2]
    g_new = loss_and_grads(new, params, x, y, None, mse, None)[2]
    diff = max(np.abs(g_old[k] - g_new[k]).max() / (np.abs(g_old[k]).max() + 1e-30) for k in g_old)

    def step(model):
        def run():
            _, _, grads = loss_and_grads(model, params, x, y, None, mse, None)
            clip(ClipSpec("none"), grads)
            update(opt, params, grads, state, opt.lr)

        return run

    fwd = interleaved(
        {"old": lambda: old.forward(params, x), "new": lambda: new.forward(params, x, train=True)}, repeats
    )
    steps = interleaved({"old": step(old), "new": step(new)}, repeats)
    med = statistics.median
    print(
        f"{size_name} S{members}: forward new/old {ratio(fwd, 'new', 'old')} "
        f"({med(fwd['old']):.2f} -> {med(fwd['new']):.2f} ms); "
        f"training step {ratio(steps, 'new', 'old')} ({med(steps['old']):.2f} -> {med(steps['new']):.2f} ms); "
        f"max |dy| {np.abs(y_old - y_new).max():.1e}, grads rel. {diff:.1e}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="interleaved rounds per A/B (default 15)")
    args = ap.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), CPU-time clock")
    transcendentals()
    registry = build_registry(strict=False)
    for size_name, members in (("small", 1), ("small", 16), ("medium", 1), ("medium", 2)):
        layer_forward(registry, size_name, members, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
