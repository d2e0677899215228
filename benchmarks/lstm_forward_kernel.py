"""Issue 19, engine session 9: would the standard LSTM's forward pay as ONE numba call per layer?

    OPENBLAS_NUM_THREADS=1 python benchmarks/lstm_forward_kernel.py [--repeats N]

A prototype, measured and NOT adopted (NOTES.md, "Engine, session 9"). Three parts:
1. A float32 tanh that LLVM vectorises (numba's scalar tanhf did not: 55x numpy's, session 8):
   |x| < 1: x + x^3 Q(x^2), Q a degree-6 Chebyshev fit; else 1 - 2/(e^{2|x|} + 1), e^y by
   Cody-Waite reduction, a degree-6 polynomial and 2^k built in the exponent bits. Timed per
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

import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from engine import SIZES, ablab_setup, interleaved  # noqa: E402

from ablab.core.engine.clipping import ClipSpec, clip  # noqa: E402
from ablab.core.engine.fused_cell import blocks_of  # noqa: E402
from ablab.core.engine.losses import mse  # noqa: E402
from ablab.core.engine.model import RecurrentNet  # noqa: E402
from ablab.core.engine.optim import update  # noqa: E402
from ablab.core.engine.train import loss_and_grads  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402
from ablab.plugins.cells.lstm_kernel import Tape  # noqa: E402

f32 = np.float32
# Q(s) = (tanh(x) - x) / x^3, s = x^2 in [0, 1]: rel. error 8e-8 with float32 coefficients
Q0, Q1, Q2, Q3, Q4, Q5, Q6 = (
    f32(v)
    for v in (
        -0.3333333134651184,
        0.13333140313625336,
        -0.05393609777092934,
        0.02166561223566532,
        -0.008229399099946022,
        0.002519686706364155,
        -0.00042374819167889655,
    )
)
E2, E3, E4, E5, E6 = (f32(1 / 2), f32(1 / 6), f32(1 / 24), f32(1 / 120), f32(1 / 720))
LOG2E, LN2_HI, LN2_LO = f32(1.4426950408889634), f32(0.693145751953125), f32(1.428606765330187e-06)
MAGIC = f32(12582912.0)  # 1.5 * 2^23: (y + MAGIC) - MAGIC rounds y to an integer
ONE, TWO, HALF, YMAX = f32(1), f32(2), f32(0.5), f32(19.0)  # tanh(9.5) rounds to 1 in float32
# fastmath without reassoc, which would fold the MAGIC rounding away
FM = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
JIT = dict(fastmath=FM, error_model="numpy", boundscheck=False)  # "numpy": no zero-division check, which blocks SIMD


@numba.njit(inline="always", **JIT)
def tanh32(x):  # pragma: no cover (compiled)
    ax = abs(x)
    x2 = x * x
    q = Q6 * x2 + Q5
    q = q * x2 + Q4
    q = q * x2 + Q3
    q = q * x2 + Q2
    q = q * x2 + Q1
    q = q * x2 + Q0
    small = x + x * x2 * q
    y = min(TWO * ax, YMAX)
    k = (y * LOG2E + MAGIC) - MAGIC
    r = (y - k * LN2_HI) - k * LN2_LO
    e = E6 * r + E5
    e = e * r + E4
    e = e * r + E3
    e = e * r + E2
    e = e * r + ONE
    e = e * r + ONE
    e = e * np.int32((np.int32(k) + 127) << 23).view(np.float32)
    big = ONE - TWO / (e + ONE)
    big = big if x >= 0 else -big
    return small if ax < ONE else big


@numba.njit(**JIT)
def vtanh(x, out):  # pragma: no cover (compiled)
    for j in range(x.size):
        out[j] = tanh32(x[j])


@numba.njit(**JIT)
def vsigmoid(x, out):  # pragma: no cover (compiled)
    for j in range(x.size):
        out[j] = HALF + HALF * tanh32(HALF * x[j])


@numba.njit(**JIT)
def forward_steps(A, U, XH, D, gates, g, c, psi_c):  # pragma: no cover (compiled)
    """A (S, 4, T, B, H) = x W + b by block, U (S, 4, H, H); h_t into XH[:, t+1, :, D+1:]."""
    S, _, T, B, H = A.shape
    zb = np.empty((4, B, H), A.dtype)
    h = np.zeros((B, H), A.dtype)
    for s in range(S):
        h[:] = 0
        for t in range(T):
            for blk in range(4):
                np.dot(h, U[s, blk], zb[blk])
            for b in range(B):
                for k in range(H):
                    i = HALF + HALF * tanh32(HALF * (A[s, 0, t, b, k] + zb[0, b, k]))
                    f = HALF + HALF * tanh32(HALF * (A[s, 1, t, b, k] + zb[1, b, k]))
                    o = HALF + HALF * tanh32(HALF * (A[s, 2, t, b, k] + zb[2, b, k]))
                    gg = tanh32(A[s, 3, t, b, k] + zb[3, b, k])
                    cc = f * c[t, s, b, k] + i * gg
                    pc = tanh32(cc)
                    gates[t, s, 0, b, k] = i
                    gates[t, s, 1, b, k] = f
                    gates[t, s, 2, b, k] = o
                    g[t, s, b, k] = gg
                    c[t + 1, s, b, k] = cc
                    psi_c[t, s, b, k] = pc
                    h[b, k] = o * pc
            XH[s, t + 1, :, D + 1 :] = h


class KernelNet(RecurrentNet):
    """One layer of the standard LSTM, readout 'last', float32: the forward by forward_steps.
    Its cache holds what the compiled backward reads (tape, rows, top), no per-step caches."""

    def forward(self, params, x):
        S, T, B, D = x.shape
        H = self.spec.hidden
        p = self.layer(params, 0)
        XH = np.empty((S, T + 1, B, D + 1 + H), dtype=x.dtype)
        XH[:, :T, :, :D] = x
        XH[:, T, :, :D] = 0.0
        XH[..., D] = 1.0
        XH[:, 0, :, D + 1 :] = 0.0
        Wb = np.concatenate([p["W"], p["b"][:, None, :]], axis=1)
        X = XH[:, :T, :, : D + 1].reshape(S, T * B, D + 1)
        A = np.matmul(X[:, None], blocks_of(Wb, H)).reshape(S, 4, T, B, H)
        tape = Tape(S, T, B, H, x.dtype)
        forward_steps(A, np.ascontiguousarray(blocks_of(p["U"], H)), XH, D, tape.gates, tape.g, tape.c, tape.psi_c)
        top = XH[:, 1:, :, D + 1 :]
        y = np.matmul(top[:, -1], params["out.V"]) + params["out.c"][:, None, :]
        return y, {"steps": [[]], "rows": [XH[:, :T]], "top": top, "tokens": None, "tapes": [tape]}


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
        np.multiply(x, HALF, out=out)
        np.tanh(out, out=out)
        np.multiply(out, HALF, out=out)
        np.add(out, HALF, out=out)

    print("per call, 20,480 float32 values, CPU us (best of 7):")
    numpy_us, numba_us = per_call_us(lambda: np.tanh(x, out=out)), per_call_us(lambda: vtanh(x, out))
    print(f"  numpy np.tanh {numpy_us:.2f}, numba tanh32 {numba_us:.2f}")
    print(
        f"  numpy sigmoid {per_call_us(numpy_sigmoid):.2f}, numba sigmoid {per_call_us(lambda: vsigmoid(x, out)):.2f}"
    )
    tiny = np.float32(10.0) ** -np.arange(1, 38, 0.25, dtype=np.float32)
    grid = np.concatenate([np.linspace(-10, 10, 4_000_001).astype(np.float32), tiny, -tiny, f32([0, 50, -50, 1e30])])
    want = np.tanh(grid.astype(np.float64)).astype(np.float32)
    got = np.empty_like(grid)
    vtanh(grid, got)
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
    old = RecurrentNet(ablab_setup(registry, "lstm", size, 1)[0].spec, registry)
    new = KernelNet(old.spec, registry)
    y_old, y_new = old.forward(params, x)[0], new.forward(params, x)[0]
    g_old = loss_and_grads(old, params, x, y, None, mse, None)[2]
    g_new = loss_and_grads(new, params, x, y, None, mse, None)[2]
    diff = max(np.abs(g_old[k] - g_new[k]).max() / (np.abs(g_old[k]).max() + 1e-30) for k in g_old)

    def step(model):
        def run():
            _, _, grads = loss_and_grads(model, params, x, y, None, mse, None)
            clip(ClipSpec("none"), grads)
            update(opt, params, grads, state, opt.lr)

        return run

    fwd = interleaved({"old": lambda: old.forward(params, x), "new": lambda: new.forward(params, x)}, repeats)
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
