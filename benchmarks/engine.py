"""Engine speed: ms per training step (forward + BPTT + Adam update), ensembles vs solo runs,
and torch.nn's cells on the same step when torch is installed. One BLAS thread throughout.

    OPENBLAS_NUM_THREADS=1 python benchmarks/engine.py [--repeats N] [--cells lstm,gru,rnn]

The machines this runs on are shared: their speed drifts by tens of percent within a minute.
So the contenders of one row are timed in rounds (solo, ensemble, torch, solo, ...), each
ratio is the median over rounds of that round's ratio, and a slow minute slows both sides.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from ablab.core.engine.clipping import ClipSpec, clip  # noqa: E402
from ablab.core.engine.losses import mse  # noqa: E402
from ablab.core.engine.model import RecurrentNet, RecurrentSpec  # noqa: E402
from ablab.core.engine.optim import OptimizerSpec, init_state, update  # noqa: E402
from ablab.core.engine.perf import tune_allocator  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402

SIZES = {"small": dict(batch=8, T=50, n_in=4, hidden=32), "medium": dict(batch=32, T=100, n_in=8, hidden=128)}
CELLS = ("lstm", "gru", "rnn")
ENSEMBLE = 16


def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """ms per call of each function, timed in rounds so that drift hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up: first-touch page faults and BLAS init are not what we measure
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def paired(num: list[float], den: list[float], scale: float = 1.0) -> float:
    """Median over rounds of scale * num / den."""
    return statistics.median(scale * n / d for n, d in zip(num, den))


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.2f} ({min(xs):.2f}-{max(xs):.2f})"


def ablab_step(registry, cell: str, size: dict, members: int):
    spec = RecurrentSpec(n_in=size["n_in"], n_out=1, hidden=size["hidden"], cell=cell)
    net = RecurrentNet(spec, registry)
    params = net.init(list(range(members)))
    opt = OptimizerSpec(name="adam", lr=1e-3)
    state = init_state(opt, params)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(members, size["T"], size["batch"], size["n_in"])).astype(np.float32)
    y = rng.normal(size=(members, size["batch"], 1)).astype(np.float32)

    def step():
        out, cache = net.forward(params, x)
        _, dy = mse(out, y)
        grads, _ = net.backward(params, dy, cache, input_grad=False)
        clip(ClipSpec("none"), grads)  # the pre-clip norm is always recorded
        update(opt, params, grads, state, opt.lr)

    return step


def torch_step(cell: str, size: dict):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](size["n_in"], size["hidden"])
    head = torch.nn.Linear(size["hidden"], 1)
    opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(size["T"], size["batch"], size["n_in"])
    y = torch.randn(size["batch"], 1)

    def step():
        opt.zero_grad()
        out, _ = rnn(x)
        loss = torch.nn.functional.mse_loss(head(out[-1]), y)
        loss.backward()
        opt.step()

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per row (default 15)")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells to time (default all)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cells.split(",") if c not in CELLS]
    if unknown:  # torch.nn has a counterpart for these three only
        parser.error(f"--cells: unknown {', '.join(unknown)}; choose from {', '.join(CELLS)}")
    registry = build_registry(entry_points=False)
    print(f"allocator tuned: {tune_allocator()}")
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed: `pip install torch==2.13.0` (CPU build) adds the torch.nn columns")
    print(f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, repeats {args.repeats}")
    header = (
        f"{'cell':5} {'size':6} {'ablab ms (min-max)':>22} {'torch ms (min-max)':>22} {'ablab/torch':>11} "
        f"{'16 solo ms':>11} {'ens16 ms':>9} {'ens speed-up':>12} {'ens16/torch x16':>15}"
    )
    print(header)
    summary = []
    for size_name, size in SIZES.items():
        for cell in args.cells.split(","):
            fns = {"solo": ablab_step(registry, cell, size, 1), "ens": ablab_step(registry, cell, size, ENSEMBLE)}
            if have_torch:
                fns["torch"] = torch_step(cell, size)
            t = interleaved(fns, args.repeats)
            speedup = paired(t["solo"], t["ens"], ENSEMBLE)
            ratio = paired(t["solo"], t["torch"]) if have_torch else float("nan")
            ens_vs_torch = paired(t["ens"], t["torch"], 1 / ENSEMBLE) if have_torch else float("nan")
            tcol = spread(t["torch"]) if have_torch else "n/a"
            print(
                f"{cell:5} {size_name:6} {spread(t['solo']):>22} {tcol:>22} {ratio:11.2f} "
                f"{ENSEMBLE * statistics.median(t['solo']):11.1f} {statistics.median(t['ens']):9.1f} "
                f"{speedup:11.2f}x {ens_vs_torch:15.2f}",
                flush=True,
            )
            summary.append((cell, size_name, ratio, speedup, ens_vs_torch))
    parts = [
        f"{c}/{s}: step {r:.2f}x torch, ensemble {sp:.1f}x solo, ens16 {e:.2f}x torch-seq" for c, s, r, sp, e in summary
    ]
    print("SUMMARY " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
