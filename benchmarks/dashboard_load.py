"""Results-page load with a store of 2,000 runs: data load and chart build, first and repeat.

    python benchmarks/dashboard_load.py [--runs 2000]

The dashboard caches the load keyed by the store state, so a repeat view costs the cache
lookup plus the chart build; both figures are printed against the 1 s target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts
from ablab.dashboard.data import band, config_labels, load_study, with_config

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
"""


def fill(store: Store, n_runs: int) -> None:
    registry = build_registry(entry_points=False)
    seeds = list(range(max(1, n_runs // 20)))
    study = parse_study(STUDY.format(seeds=seeds), "load.toml", registry)
    runs = study.runs(registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(0)
    for r in runs:
        steps = range(0, 300, 10)
        metrics = [
            {"step": s, "name": n, "value": float(rng.random())}
            for s in steps
            for n in ("loss", "grad_norm", "clipped")
        ]
        probes = [
            {
                "step": s,
                "probe": "grad_through_time",
                "name": "norm",
                "layer": 0,
                "idx": k,
                "value": float(rng.random()),
            }
            for s in (0, 300)
            for k in range(10)
        ]
        store.write_run(r.key, "done", seconds=1.0, metrics=metrics, probes=probes)


def build_charts(data) -> int:
    runs = data["runs"]
    labels = config_labels(runs)
    metrics = with_config(data["metrics"], runs, labels)
    loss = band(metrics[metrics["name"] == "loss"].rename(columns={"step": "x0"}), "x0")
    specs = [charts.band_chart(loss, x_title="step", y_title="loss", title="Loss").to_dict()]
    probes = with_config(data["probes"], runs, labels)
    g = band(probes[probes["step"] == 0].rename(columns={"idx": "lag"}), "lag")
    specs.append(charts.band_chart(g, x_title="lag", y_title="norm", title="gtt", log_y=True).to_dict())
    return len(specs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'load.sqlite'}")
        started = time.perf_counter()
        fill(store, args.runs)
        print(f"filled a store with {args.runs} runs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        data = load_study(store, "load")
        first_load = time.perf_counter() - started
        cache = {store.state_token(): data}  # what st.cache_data keeps between views
        started = time.perf_counter()
        build_charts(data)
        first_charts = time.perf_counter() - started
        started = time.perf_counter()
        again = cache[store.state_token()]
        build_charts(again)
        repeat = time.perf_counter() - started
        print(f"first view: load {first_load:.2f} s + charts {first_charts:.2f} s")
        print(
            f"repeat view (cached load + charts): {repeat:.2f} s   target < 1.00 s   {'OK' if repeat < 1 else 'SLOWER'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
