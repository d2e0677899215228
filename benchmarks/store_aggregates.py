"""Store aggregates at scale: write rate, and the time to answer the Results page's questions.

    python benchmarks/store_aggregates.py [--runs 2000,20000,100000] [--postgres]

For each size it fills a fresh store through `Store.write_runs` in jobs of 20 seeds (as the
runner writes an ensemble job) and prints runs written per second; then it times the curve,
profile and final-value queries the pages make, and the run table (`results.run_frame` from the
per-run summaries: every column, and the headline columns `ablab results` shows), beside the old
way (every raw row loaded into pandas and summarised there, as `run_tables` did and migration
m004's backfill does), which it skips above 20,000 runs (minutes).
--postgres also runs every size against a throwaway PostgreSQL server (needs initdb/pg_ctl).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ablab.core.lab import aggregates, run_summaries
from ablab.core.lab.results import assemble, run_frame, run_meta
from ablab.core.lab.store import RunResult, Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry

STUDY = """
[study]
name = "load"
seeds = {seeds}

[base]
task = {{ name = "adding", length = 10 }}
model = {{ kind = "recurrent", cell = "rnn", hidden = 8 }}
train = {{ steps = 300, batch_size = 8, log_every = 10 }}

[axes]
"model.cell" = ["rnn", "lstm", "gru", "lstm-cifg"]
"optimizer.lr" = [0.001, 0.003, 0.01, 0.03, 0.1]
"model.hidden" = {hidden}
"""
STEPS = range(0, 300, 10)
JOB = 20  # runs written per transaction


def fill(store: Store, n_runs: int) -> float:
    """Write n_runs synthetic runs (30 logged steps of 3 metrics and a baseline, a 10-lag profile
    and two scalar probe values at 2 steps);
    returns runs written per second."""
    registry = build_registry(entry_points=False)
    # 20 configurations up to 20,000 runs; above, more hidden sizes (a study has at most 1,000 seeds)
    hidden = list(range(8, 8 + -(-n_runs // 20000)))
    configs = 20 * len(hidden)
    study = parse_study(
        STUDY.format(seeds=list(range(max(1, n_runs // configs))), hidden=hidden), "load.toml", registry
    )
    runs = study.runs(registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(0)
    started, batch = time.perf_counter(), []
    for r in runs:
        v = rng.random((len(STEPS), 3))
        metrics = [
            {"step": s, "name": n, "value": float(v[i, j])}
            for i, s in enumerate(STEPS)
            for j, n in enumerate(("loss", "grad_norm", "clipped"))
        ]
        profile = rng.random((2, 10))
        probes = [
            {
                "step": s,
                "probe": "grad_through_time",
                "name": "norm",
                "layer": 0,
                "idx": k,
                "value": float(profile[i, k]),
            }
            for i, s in enumerate((0, 300))
            for k in range(10)
        ]
        metrics.append({"step": 0, "name": "baseline", "value": 0.5})
        probes += [
            {"step": s, "probe": "gates", "name": n, "layer": 0, "idx": -1, "value": float(rng.random())}
            for s in (0, 300)
            for n in ("forget_mean", "input_mean")
        ]
        batch.append(RunResult(r.key, "done", 1.0, metrics, probes))
        if len(batch) == JOB:
            store.write_runs(batch)
            batch = []
    if batch:
        store.write_runs(batch)
    return len(runs) / (time.perf_counter() - started)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def old_run_frame(store: Store, study: str):
    """The run table the old way: every metric and probe record into pandas, summarised there."""
    keys = [r[0] for r in store.run_rows(study)]
    values = run_summaries.summarize(store.metrics_of(keys), store.probes_of(keys))
    return assemble(run_meta(store, study), values)


def measure(url: str, n_runs: int, label: str) -> None:
    store = Store(url)
    rate = fill(store, n_runs)
    store = Store(url)  # a fresh connection, as a new dashboard process has
    t_curve, curve = timed(lambda: aggregates.metric_curve(store, "load", "loss"))
    t_profile, _ = timed(lambda: aggregates.probe_profile(store, "load", "grad_through_time", "norm", step=0))
    line = (
        f"{label:10} {n_runs:>7} runs  write {rate:6.0f} runs/s  curve {t_curve:6.3f} s ({len(curve)} rows)  "
        f"profile {t_profile:6.3f} s"
    )
    t_frame, frame = timed(lambda: run_frame(store, "load"))
    t_head, _ = timed(lambda: run_frame(store, "load", columns=["final_loss", "final_accuracy"]))
    line += f"\n{'':10} run_frame {t_frame:6.2f} s ({frame.shape[1]} columns)  headline columns {t_head:6.2f} s"
    if n_runs <= 20000:
        t_old, _ = timed(lambda: old_run_frame(store, "load"))
        line += f"  | raw rows into pandas: {t_old:6.2f} s"
    print(line, flush=True)


def parse_sizes(parser: argparse.ArgumentParser, text: str) -> list[int]:
    """--runs: comma-separated study sizes, each 20 to 1,000,000 (else the parser's error)."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        parser.error(f"--runs takes whole numbers separated by commas, got {text!r}")
    if any(s < 20 or s > 1_000_000 for s in sizes):
        parser.error("each --runs size must be between 20 and 1,000,000")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000,20000", help="comma-separated study sizes (default 2000,20000)")
    parser.add_argument("--postgres", action="store_true", help="also measure a PostgreSQL store")
    args = parser.parse_args(argv)
    sizes = parse_sizes(parser, args.runs)
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from postgres_server import PostgresServer, find_bin

        if not find_bin():
            parser.error("--postgres needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql)")
        server = PostgresServer(find_bin()).start()
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                measure(f"sqlite:///{Path(tmp) / 'load.sqlite'}", n, "sqlite")
            if server is not None:
                measure(server.create_database(f"load_{n}"), n, "postgresql")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
