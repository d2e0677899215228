"""The Run page's time estimate against the real time of the same study, launched as the page
launches it (`ablab run FILE --store URL --workers N` in a new process), for a few studies a
user builds from the form: built-in cells, the mission's 24 configurations, a plugin cell.

    python benchmarks/run_estimate.py [--only NAME,...] [--scale F]

Prints, per study, the estimate, the time the page spent measuring speed (a first view; later
views reuse it), the real wall time and their ratio beside issue 15's target (within a factor
of 2). --scale multiplies every study's steps (a quick check of the script itself). The
machine's load average is printed first: the estimate counts the cores the load leaves free,
so both figures move with it.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tomli_w import dumps

from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import estimate

PROBES = ["grad_through_time", "dead_fraction", "mean_shift", "saturation"]  # the Run form's defaults


def form_study(name: str, cells: list[str], seeds: int, steps: int, axes: dict) -> dict:
    """A study as the Run form writes it: adding task, 32 hidden units, Adam at 0.01."""
    base = {
        "task": {"name": "adding", "length": 50},
        "model": {"kind": "recurrent", "hidden": 32, "layers": 1, "recurrent_init": "orthogonal"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "clip": {"kind": "none", "threshold": 1.0},
        "train": {"steps": steps, "batch_size": 32, "probe_every": 50},
        "probes": PROBES,
    }
    if len(cells) == 1:
        base["model"]["cell"] = cells[0]
    else:
        axes = {"model.cell": cells, **axes}
    return {"study": {"name": name, "seeds": list(range(seeds))}, "base": base, "axes": axes}


STUDIES = {
    "three-cells": lambda: form_study("three-cells", ["rnn", "lstm", "gru"], 3, 200, {}),
    "mission": lambda: form_study(
        "mission",
        ["rnn", "lstm", "gru"],
        2,
        60,
        {
            "model.activation": ["relu", "tanh"],
            "clip.kind": ["none", "norm"],
            "model.recurrent_init": ["orthogonal", "normal"],
        },
    ),
    "plugin-cell": lambda: form_study("plugin-cell", ["indrnn"], 3, 200, {"optimizer.lr": [0.01, 0.003]}),
}


def scaled(doc: dict, scale: float) -> dict:
    doc = copy.deepcopy(doc)
    train = doc["base"]["train"]
    train["steps"] = max(2, round(train["steps"] * scale))
    train["probe_every"] = max(1, min(train["probe_every"], train["steps"]))
    return doc


def page_estimate(study, registry, workers: int) -> tuple[float, float]:
    """(estimate, seconds spent measuring), as a first view of the Run page computes it: each
    model shape timed once."""
    started = time.perf_counter()
    speeds: dict[str, estimate.Speed] = {}

    def speed_of(config: dict, n_seeds: int) -> estimate.Speed:
        key = estimate.shape_key(config)
        if key not in speeds:
            speeds[key] = estimate.measure(config, n_seeds, registry)
        return speeds[key]

    configurations = study.configurations()
    startup = estimate.startup_seconds(configurations[0][1])
    seconds = estimate.study_estimate(configurations, len(study.seeds), speed_of, startup, workers)
    return seconds, time.perf_counter() - started


def real_seconds(text: str, name: str, workers: int, folder: Path) -> float:
    path = folder / f"{name}.toml"
    path.write_text(text)
    url = f"sqlite:///{folder / (name + '.sqlite')}"
    Store(url).engine.dispose()  # the page launches into a store that exists: migrations are not the study's
    command = [sys.executable, "-m", "ablab.core.cli", "run", str(path), "--store", url, "--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ablab run {name} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(STUDIES), help=f"studies to time, from {', '.join(STUDIES)}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply each study's steps (default 1)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in STUDIES]
    if unknown or not names:
        parser.error(f"--only: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(STUDIES)}")
    if not 0 < args.scale <= 10:
        parser.error(f"--scale must be above 0 and at most 10, got {args.scale:g}")
    registry = default_registry()
    workers = estimate.default_workers()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, {workers} worker processes")
    print(f"{'study':<12} {'configs':>7} {'runs':>5} {'estimate s':>10} {'timing s':>8} {'real s':>7} {'real/est':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            doc = STUDIES[name]()
            if name == "plugin-cell" and "indrnn" not in registry.names("cell"):
                print(f"{name:<12} skipped: the example plugin ablab-indrnn is not installed (pip install examples/*)")
                continue
            text = dumps(scaled(doc, args.scale))
            study = parse_study(text, f"{name}.toml", registry)
            guess, timing = page_estimate(study, registry, workers)
            real = real_seconds(text, name, workers, Path(tmp))
            n_configs, n_runs = len(study.configurations()), len(study.runs(registry))
            print(
                f"{name:<12} {n_configs:>7} {n_runs:>5} {guess:>10.1f} {timing:>8.1f} {real:>7.1f} "
                f"{real / guess:>8.2f}   (target: 0.5 to 2)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
