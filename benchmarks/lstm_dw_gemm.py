"""Issue 19, engine session 9 (`engine5`): the LSTM's weight-gradient products as ONE GEMM?

    OPENBLAS_NUM_THREADS=1 python benchmarks/lstm_dw_gemm.py [--repeats N]

The backward computes [dW; db; dU] = sum_t [x_t, 1, h_{t-1}]^T dz_t per chunk of steps and per
gate block (RecurrentNet._input_side_grads_blocks: four (D+1+H) x n*B by n*B x H products per
chunk). The lever measured here: one (D+1+H) x T*B by T*B x 4H product per layer, from a
time-major dz buffer with the four blocks side by side. Two parts, CPU time, interleaved rounds:
1. Micro at medium shapes (T100 B32 D8 H128, float32): the present products (with their +=)
   against the one big product and against four whole-layer block products; us and GF/s.
2. Its best case in a real training step (loss_and_grads, medium, solo and a group of 2): the
   present chunk products against one big product per member on a preallocated buffer that
   costs the kernel nothing to fill (the gradients are wrong there: only the time counts).
   new/old is the most the lever could save; NOTES.md, "Engine, session 9", has the verdict.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from engine import SIZES, ablab_setup, interleaved  # noqa: E402

from ablab.core.engine.losses import mse  # noqa: E402
from ablab.core.engine.model import RecurrentNet  # noqa: E402
from ablab.core.engine.perf import tune_allocator  # noqa: E402
from ablab.core.engine.train import loss_and_grads  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402

T, B, D, H = (SIZES["medium"][k] for k in ("T", "batch", "n_in", "hidden"))
R = D + 1 + H  # rows of [x_t, 1, h_{t-1}]
CHUNK = 32  # the model's chunk at medium size: DA_CHUNK_BYTES // (B * 4H * 4 bytes)


def micro(repeats: int):
    rng = np.random.default_rng(0)
    XH = rng.standard_normal((T + 1, B, R)).astype(np.float32)
    da = rng.standard_normal((4, CHUNK, B, H)).astype(np.float32)  # the present chunk, block-major
    dz = rng.standard_normal((T * B, 4 * H)).astype(np.float32)  # time-major, blocks side by side
    dzb = rng.standard_normal((4, T * B, H)).astype(np.float32)  # block-major, whole layer
    G, G1 = np.zeros((4, R, H), np.float32), np.empty((R, 4 * H), np.float32)
    X = XH[:T].reshape(T * B, R)

    def present():
        for start in range(0, T, CHUNK):
            n = min(CHUNK, T - start)
            G[...] += np.matmul(
                XH[start : start + n].reshape(1, n * B, R).transpose(0, 2, 1), da[:, :n].reshape(4, -1, H)
            )

    fns = {
        "four per chunk (present)": present,
        "one per layer": lambda: np.matmul(X.T, dz, out=G1),
        "four per layer": lambda: np.matmul(X.T[None], dzb),
    }
    samples = interleaved(fns, repeats)
    flop = 2 * R * T * B * 4 * H
    for name, ms in samples.items():
        m = statistics.median(ms)
        print(f"  {name:26s} {m * 1e3:7.0f} us  {flop / m / 1e6:6.1f} GF/s")


def in_step(members: int, repeats: int):
    net, params, _, _, x, y = ablab_setup(build_registry(), "lstm", SIZES["medium"], members)
    # measured (session 9) before the kernel summed dW step by step (promise 8): compare the
    # per-chunk products as they were
    net.cells[0].chunk_input_grads = False
    present = RecurrentNet._input_side_grads_blocks
    dz = np.random.default_rng(0).standard_normal((members, T * B, 4 * H)).astype(np.float32)

    def one_big(grads, l, hoisted_cols, rows, daf):
        if rows.shape[1] < CHUNK:  # the layer's last chunk (steps 0-3): one product per member
            XH = rows.base if rows.base is not None else rows
            for s in range(members):
                G = np.matmul(XH[s, :T].reshape(T * B, R).T, dz[s])
                grads["l0.W"][s] += G[:D]
                grads["l0.b"][s] += G[D]
                grads["l0.U"][s] += G[D + 1 :]

    def step(isg):
        def run():
            RecurrentNet._input_side_grads_blocks = staticmethod(isg)
            try:
                loss_and_grads(net, params, x, y, None, mse, None)
            finally:
                RecurrentNet._input_side_grads_blocks = staticmethod(present)

        return run

    samples = interleaved({"old": step(present), "new": step(one_big)}, repeats)
    r = [n / o for n, o in zip(samples["new"], samples["old"])]
    q = statistics.quantiles(r, n=4)
    old, new = (statistics.median(samples[k]) for k in ("old", "new"))
    print(f"  S{members}: old {old:.2f} ms, best case {new:.2f} ms, new/old {statistics.median(r):.3f}", end="")
    print(f" (IQR {q[0]:.3f}-{q[2]:.3f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21, help="interleaved rounds (default 21)")
    args = ap.parse_args()
    if args.repeats < 2:  # the IQR needs two rounds
        ap.error(f"--repeats must be at least 2, got {args.repeats}")
    tune_allocator()  # as train() and benchmarks/engine.py run
    print(f"1. dW/db/dU products at medium size, float32, one thread, {args.repeats} rounds (CPU time, median):")
    micro(args.repeats)
    print("2. training step (loss_and_grads, medium), present products vs the one product's best case:")
    for members in (1, 2):
        in_step(members, args.repeats)


if __name__ == "__main__":
    main()
