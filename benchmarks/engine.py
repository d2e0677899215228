"""Engine speed: ms per training step (forward + BPTT + Adam update), ensembles vs solo runs,
and torch.nn's cells on the same step when torch is installed. One BLAS thread throughout.

    OPENBLAS_NUM_THREADS=1 python benchmarks/engine.py [--repeats N] [--cells lstm,gru,rnn]

The machines this runs on are shared: their speed drifts by tens of percent within a minute.
So the contenders of one row are timed in rounds (solo, ensemble, torch, solo, ...), each
ratio is the median over rounds of that round's ratio, and a slow minute slows both sides.
The default clock is the process's CPU time (--clock cpu), which leaves out the time the
process waits while others hold the cores; --clock wall times elapsed time instead.

Each row also times the step's matrix products alone (the same SGEMM calls on the same
shapes, nothing else): "sgemm GF/s" is the machine's rate on them and "share" the part of
that rate the whole training step achieves (matmul-only time / step time). Last, a fresh
process times its first LSTM training step (numba's import and the cached kernel's load:
the start-up cost, budget 2 s on a warm cache), then trains a medium LSTM ensemble of 16 and
prints its peak resident memory beside the sum of its arrays (parameters, what the forward
pass keeps for BPTT, gradients, Adam state; the resident memory of numba and LLVM, loaded
once per process for the LSTM's forward and backward, apart; training runs forward and backward by
member groups, so one group's cache is held at once).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import subprocess
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
from ablab.core.engine.train import loss_and_grads, member_groups  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402

SIZES = {"small": dict(batch=8, T=50, n_in=4, hidden=32), "medium": dict(batch=32, T=100, n_in=8, hidden=128)}
CELLS = ("lstm", "gru", "rnn")
ENSEMBLE = 16


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def interleaved(fns: dict, repeats: int, clock=time.process_time) -> dict[str, list[float]]:
    """ms per call of each function, timed in rounds so that drift hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up: first-touch page faults and BLAS init are not what we measure
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            samples[name].append((clock() - start) * 1e3)
    return samples


def paired(num: list[float], den: list[float], scale: float = 1.0) -> float:
    """Median over rounds of scale * num / den."""
    return statistics.median(scale * n / d for n, d in zip(num, den))


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.2f} ({min(xs):.2f}-{max(xs):.2f})"


def ablab_setup(registry, cell: str, size: dict, members: int):
    """(net, params, optimiser, its state, x, y) of an ensemble of `members` at `size`."""
    spec = RecurrentSpec(n_in=size["n_in"], n_out=1, hidden=size["hidden"], cell=cell)
    net = RecurrentNet(spec, registry)
    params = net.init(list(range(members)))
    opt = OptimizerSpec(name="adam", lr=1e-3)
    state = init_state(opt, params)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(members, size["T"], size["batch"], size["n_in"])).astype(np.float32)
    y = rng.normal(size=(members, size["batch"], 1)).astype(np.float32)
    return net, params, opt, state, x, y


def ablab_step(registry, cell: str, size: dict, members: int):
    net, params, opt, state, x, y = ablab_setup(registry, cell, size, members)

    def step():  # as train() runs it: forward and backward by member groups
        _, _, grads = loss_and_grads(net, params, x, y, None, mse, None)
        clip(ClipSpec("none"), grads)  # the pre-clip norm is always recorded
        update(opt, params, grads, state, opt.lr)

    return step


def matmul_shapes(cell: str, size: dict) -> list[tuple[int, int, int, int]]:
    """The (m, k, n, count) float32 matrix products of one solo training step of `cell`
    (input_grad=False, readout "last"; the readout's (B, H) x (H, 1) products left out)."""
    B, T, D, H = size["batch"], size["T"], size["n_in"], size["hidden"]
    R = D + 1 + H  # rows of [x_t, 1, h_{t-1}]
    if cell == "lstm":  # z_t = [x_t, 1, h_{t-1}] [W; b; U], the gate blocks side by side; dh_{t-1} = sum_k dz_k U_k^T;
        # [dW; db; dU]_k += [x_t, 1, h_{t-1}]^T dz_k step by step (FusedCell promise 8)
        return [(B, R, 4 * H, T), (B, H, H, 4 * T), (R, B, H, 4 * T)]
    if cell == "rnn":
        return [(B, R, H, T), (B, H, H, T), (R, T * B, H, 1)]
    # gru (block-major): a = [x, 1] [W; b] per block before the loop; per step h U_r, h U_u, (r h) U_n,
    # their backward and dU_n; [dW; db; dU_ru] block by block over all steps
    return [
        (T * B, D + 1, H, 3),
        (B, H, H, 2 * T),
        (B, H, H, T),
        (H, B, H, T),
        (B, H, H, T),
        (B, H, H, 2 * T),
        (R, T * B, H, 3),
    ]


def sgemm_step(shapes: list[tuple[int, int, int, int]], compiled: bool = False):
    """The products alone (-> fn, GFLOP per call): compiled, through gemm.mm from a numba
    loop, as the LSTM's kernels call them (MKL where installed); else as np.matmul runs them."""
    rng = np.random.default_rng(0)
    pairs = [
        (rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32), count)
        for m, k, n, count in shapes
    ]
    gflop = sum(2 * m * k * n * count for m, k, n, count in shapes) / 1e9
    if compiled:
        from ablab.core.engine.gemm import mm
        from ablab.core.engine.jit import numba

        @numba.njit
        def products(a, b, out, count):
            for _ in range(count):
                mm(a, b, out, 0.0)

        outs = [np.empty((a.shape[0], b.shape[1]), dtype=np.float32) for a, b, _ in pairs]

        def step():
            for (a, b, count), out in zip(pairs, outs):
                products(a, b, out, count)

        return step, gflop

    def step():
        for a, b, count in pairs:
            out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
            for _ in range(count):
                np.matmul(a, b, out=out)

    return step, gflop


def peak_rss_mib() -> float:
    """This process's peak resident memory. /proc's VmHWM belongs to the running program alone;
    ru_maxrss also counts the parent's memory at fork, which a child started by exec inherits."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(members: int) -> None:
    """Run in a fresh process: train a medium LSTM ensemble a few steps and print peak RSS
    beside the sum of its arrays (arrays seen through views are counted once)."""
    tune_allocator()
    registry = build_registry(entry_points=False)
    baseline = peak_rss_mib()
    # A tiny LSTM's step first: it loads numba, LLVM and the compiled backward (lstm_kernel.py),
    # a fixed cost per process that is printed apart from the arrays' share
    tiny = ablab_setup(registry, "lstm", dict(batch=2, T=2, n_in=1, hidden=2), 1)
    wall, cpu = time.perf_counter(), time.process_time()
    loss_and_grads(tiny[0], tiny[1], tiny[4], tiny[5], None, mse, None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    libs = peak_rss_mib() - baseline
    print(
        f"start-up: the first LSTM training step of a process (numba's import and the cached compiled "
        f"kernels' load; budget 2 s on a warm cache) {wall:.2f} s wall, {cpu:.2f} CPU-s",
        flush=True,
    )
    net, params, opt, state, x, y = ablab_setup(registry, "lstm", SIZES["medium"], members)
    for _ in range(3):  # as the training loop runs: one member group's cache alive at a time
        _, _, grads = loss_and_grads(net, params, x, y, None, mse, None)
        update(opt, params, grads, state, opt.lr)
    group = member_groups(params, members)[0]
    _, cache = net.forward({k: v[group] for k, v in params.items()}, x[group])  # the cache held at once
    owners = {}

    def collect(obj):
        if isinstance(obj, np.ndarray):
            while isinstance(obj.base, np.ndarray):
                obj = obj.base
            owners[id(obj)] = obj
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                collect(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                collect(item)
        elif isinstance(obj, functools.partial):  # a cache's recompute() holds its operands
            collect(obj.args)

    collect([params, grads, state, cache, x, y])
    arrays = sum(a.nbytes for a in owners.values()) / 2**20
    peak = peak_rss_mib()
    print(
        f"memory: medium LSTM ensemble of {members} (member groups of {group.stop - group.start}): "
        f"peak RSS {peak:.0f} MiB ({peak - baseline:.0f} MiB above the "
        f"{baseline:.0f} MiB of the process before the model), its arrays {arrays:.0f} MiB: "
        f"peak / arrays {peak / arrays:.2f}, (peak - start) / arrays {(peak - baseline) / arrays:.2f}; "
        f"of the {peak - baseline:.0f} MiB, {libs:.0f} MiB are numba and LLVM (the compiled LSTM forward and backward, "
        f"once per process): (peak - start - numba) / arrays {(peak - baseline - libs) / arrays:.2f}",
        flush=True,
    )


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
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="cpu",
        help="cpu (default): the process's CPU time, so time spent waiting for the cores while other processes "
        "run is not counted (every contender runs on one thread); wall: elapsed time",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory run of an LSTM ensemble")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)  # the fresh process of that run
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
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
    print(
        f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, repeats {args.repeats}, "
        f"clock {args.clock}"
    )
    if "lstm" in args.cells.split(","):
        from ablab.core.engine import blas
        from ablab.core.engine.jit import numba

        backend = blas.register()
        width = "512" if (numba.config.CPU_FEATURES or "").endswith("-prefer-256-bit") else "numba's default"
        print(
            f"LSTM kernels: BLAS {backend.name} ({backend.detail}), vector width {width}; the lstm rows' sgemm "
            f"rate is through that BLAS, the others' through numpy's matmul"
        )
    header = (
        f"{'cell':5} {'size':6} {'ablab ms (min-max)':>22} {'torch ms (min-max)':>22} {'ablab/torch':>11} "
        f"{'16 solo ms':>11} {'ens16 ms':>9} {'ens speed-up':>12} {'ens16/torch x16':>15} {'sgemm GF/s':>10} "
        f"{'share':>6}"
    )
    print(header)
    summary = []
    for size_name, size in SIZES.items():
        for cell in args.cells.split(","):
            mm, gflop = sgemm_step(matmul_shapes(cell, size), compiled=cell == "lstm")
            fns = {
                "solo": ablab_step(registry, cell, size, 1),
                "ens": ablab_step(registry, cell, size, ENSEMBLE),
                "sgemm": mm,
            }
            if have_torch:
                fns["torch"] = torch_step(cell, size)
            t = interleaved(fns, args.repeats, CLOCKS[args.clock])
            speedup = paired(t["solo"], t["ens"], ENSEMBLE)
            ratio = paired(t["solo"], t["torch"]) if have_torch else float("nan")
            ens_vs_torch = paired(t["ens"], t["torch"], 1 / ENSEMBLE) if have_torch else float("nan")
            tcol = spread(t["torch"]) if have_torch else "n/a"
            rate = gflop / (statistics.median(t["sgemm"]) / 1e3)
            share = paired(t["sgemm"], t["solo"])
            print(
                f"{cell:5} {size_name:6} {spread(t['solo']):>22} {tcol:>22} {ratio:11.2f} "
                f"{ENSEMBLE * statistics.median(t['solo']):11.1f} {statistics.median(t['ens']):9.1f} "
                f"{speedup:11.2f}x {ens_vs_torch:15.2f} {rate:10.1f} {share:6.0%}",
                flush=True,
            )
            summary.append((cell, size_name, ratio, speedup, ens_vs_torch, share))
    parts = [
        f"{c}/{s}: step {r:.2f}x torch, ensemble {sp:.1f}x solo, ens16 {e:.2f}x torch-seq, {sh:.0%} of sgemm"
        for c, s, r, sp, e, sh in summary
    ]
    print("SUMMARY " + "; ".join(parts), flush=True)
    if not args.no_memory:  # a fresh process, so its peak is the ensemble's alone
        subprocess.run([sys.executable, __file__, "--memory-child", str(ENSEMBLE)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
