"""How long a study will take, from measured speed, for the Run page.

Each distinct model shape (task, cell, size, batch, probes: what sets the cost of a step) is
timed once with a few real training steps and remembered, so a rerun of the page or a change
of learning rate, clipping, initialiser or study name measures nothing. The study's time is
then the sum of its configurations' costs spread over the worker processes, plus the start-up
measured by a real `ablab run` of a one-step copy of its first configuration (once per task
and cells).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ablab.core.lab.study import build, canonical

SPEED_KEYS = ("task", "probes")  # with model minus what does not change a step's cost, and batch size


def shape_key(config: dict) -> str:
    """The part of a configuration that sets the cost of a training step."""
    # Initialisers and the activation function change the numbers, not the work per step.
    model = {
        k: v for k, v in config.get("model", {}).items() if k not in ("input_init", "recurrent_init", "activation")
    }
    train = config.get("train", {})
    return canonical(
        {
            **{k: config.get(k) for k in SPEED_KEYS},
            "model": model,
            "batch": train.get("batch_size"),
            "window": train.get("bptt_window"),
        }
    )


@dataclass(frozen=True)
class Speed:
    step: float  # seconds per training step of the ensemble
    checkpoint: float  # seconds per probe checkpoint
    job: float = 0.0  # seconds per job (one configuration's ensemble) besides training


def measure(config: dict, n_seeds: int, registry) -> Speed:
    """Time a few real steps of one configuration's ensemble (short runs: 2 and 6 steps, after a
    warm-up); the difference gives the step, the rest the probe checkpoints."""
    from ablab.core.engine.train import train

    task, net, spec, probes = build(config, registry)
    seeds = list(range(n_seeds))
    if net.kind == "word2vec":  # no training steps to sample: one seed's whole fit is the unit
        started = time.perf_counter()
        net.fit(task, spec, seeds[:1], [])
        return Speed(step=(time.perf_counter() - started) * n_seeds, checkpoint=0.0)

    def timed(steps: int, with_probes: bool) -> float:
        short = type(spec)(**{**spec.__dict__, "steps": steps, "probe_every": 0})
        started = time.perf_counter()
        train(net, task, short, seeds, probes=probes if with_probes else ())
        return time.perf_counter() - started

    timed(1, False)  # warm-up: first calls allocate and import
    two, ten = timed(2, True), timed(10, True)
    step = max((ten - two) / 8, 1e-6)
    checkpoint = max(two - 2 * step, 0.0) / 2  # 2 checkpoints: init and end
    return Speed(step=step, checkpoint=checkpoint, job=job_overhead(config, n_seeds, registry, step, checkpoint))


def job_overhead(config: dict, n_seeds: int, registry, step: float, checkpoint: float) -> float:
    """What a worker spends on a job besides training: building the model, the baseline, marking
    the runs and writing every record (one transaction per run). Measured by running a 2-step
    copy of the job for real into a throwaway SQLite store, less its training."""
    from tomli_w import dumps

    from ablab.core.lab import runner
    from ablab.core.lab.runner import Job, run_job
    from ablab.core.lab.store import Store
    from ablab.core.lab.study import parse_study

    short = copy.deepcopy(config)
    short["train"] = {**short.get("train", {}), "steps": 2, "probe_every": 0}
    study = parse_study(
        dumps({"study": {"name": "estimate", "seeds": list(range(n_seeds))}, "base": short}), "", registry
    )
    runs = study.runs(registry)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'estimate.sqlite'}"
        Store(url).save_study(study, runs)  # the runner's own bookkeeping, outside the timing
        started = time.perf_counter()
        run_job(url, Job(runs[0].config, [r.seed for r in runs], [r.key for r in runs], {}))
        total = time.perf_counter() - started
        runner._STORES.pop(url).engine.dispose()  # the runner keeps a store per URL; this one is gone
    return max(total - 2 * step - 2 * checkpoint, 0.0)


def startup_seconds(config: dict) -> float:
    """Seconds a study pays once whatever its length: a real `ablab run`, launched as the Run page
    launches one, of a throwaway study of one run of one step of `config` (the study's first
    configuration, so a plugin's import and a cell's compiled kernels count) into a throwaway
    store: the launcher's imports, the study, the store, a worker's spawn, the job's bookkeeping."""
    from tomli_w import dumps

    from ablab.core.errors import AblabError
    from ablab.core.lab.store import Store

    base = copy.deepcopy(config)
    base["train"] = {**base.get("train", {}), "steps": 1, "probe_every": 0}
    base.pop("gradcheck", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "startup.toml"
        path.write_text(dumps({"study": {"name": "startup", "seeds": [0]}, "base": base}))
        url = f"sqlite:///{Path(tmp) / 'startup.sqlite'}"
        Store(url).engine.dispose()  # the page launches into a store that exists: its creation is not counted
        command = [sys.executable, "-m", "ablab.core.cli", "run", str(path), "--store", url, "--workers", "1"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AblabError(f"timing the start-up of a run of this study failed: {last}")
    return seconds


def startup_key(configurations) -> str:
    """What sets a study's start-up: its task and the cells it uses (their imports and kernels)."""
    cells = sorted({str(config.get("model", {}).get("cell")) for _, config in configurations})
    tasks = sorted({str(config.get("task", {}).get("name")) for _, config in configurations})
    return canonical({"tasks": tasks, "cells": cells})


def config_seconds(config: dict, speed: Speed) -> float:
    train = config.get("train", {})
    if config.get("model", {}).get("kind") == "word2vec":
        return speed.step
    steps = int(train.get("steps", 300))
    every = int(train.get("probe_every", 0)) or steps
    return speed.job + speed.step * steps + speed.checkpoint * (steps // every + 1)


def study_estimate(configurations, n_seeds: int, speed_of, startup: float, workers: int) -> float:
    """The Run page's figure: each configuration's cost from its shape's speed (speed_of(config,
    n_seeds): the page caches it per shape), spread over the workers the load leaves free."""
    costs = [config_seconds(config, speed_of(config, n_seeds)) for _, config in configurations]
    return study_seconds(costs, startup, min(workers, free_cores()))


def study_seconds(costs: list[float], startup: float, workers: int) -> float:
    """Configurations run one per worker process at a time: the work spread over the workers, but
    never less than the longest configuration; plus the start-up (startup_seconds)."""
    if not costs:
        return 0.0
    parallel = max(1, min(workers, len(costs)))
    return startup + max(sum(costs) / parallel, max(costs))


def default_workers() -> int:
    return os.cpu_count() or 1


def free_cores() -> int:
    """Worker processes that will really run side by side: the cores the machine's load leaves
    free (a busy shared machine gives two workers on two cores the speed of one), at least one."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not on every platform
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))
