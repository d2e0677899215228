"""Runs a study: expand, skip what the store already has, train each configuration's seeds
as one ensemble job on an executor, write each run's results in one transaction."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from ablab.core.lab.status import FINISHED
from ablab.core.lab.store import RunResult, Store


@dataclass
class Job:
    """All seeds of one configuration: trained together as one ensemble."""

    config: dict
    seeds: list[int]
    keys: list[str]
    versions: dict


@dataclass
class Progress:
    total: int
    skipped: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    started: float = field(default_factory=time.time)
    interrupted: bool = False

    @property
    def finished(self) -> int:
        return self.done + self.diverged + self.failed

    def eta_seconds(self) -> float | None:
        ran = self.finished
        if not ran:
            return None
        left = self.total - self.skipped - ran
        return (time.time() - self.started) / ran * left


def _worker_init() -> None:
    # Ctrl-C belongs to the parent, which stops the study cleanly (BLAS threads: make_executor).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_STORES: dict[str, Store] = {}


def _store(url: str) -> Store:
    if url not in _STORES:
        _STORES[url] = Store(url)
    return _STORES[url]


def _clean(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def run_job(store_url: str, job: Job) -> list[tuple[str, str]]:
    """Train one ensemble and store every member's run. Runs in a worker process (or a Dask
    worker); everything it needs comes in its arguments."""
    from ablab.core.lab.study import build
    from ablab.core.plugin_system.registry import default_registry

    store = _store(store_url)
    store.mark_running(job.keys, job.versions)
    started = time.time()
    try:
        registry = default_registry()
        task, net, spec, probes = build(job.config, registry)
        result = net.fit(task, spec, job.seeds, probes)
        extra: list[dict] = []
        if result.baseline is not None:
            extra.append({"step": 0, "name": "baseline", "value": result.baseline})
        if job.config.get("gradcheck"):
            worst = max(net.gradcheck(tol=math.inf).values())  # the claim judges the number
            extra.append({"step": 0, "name": "gradcheck_error", "value": worst})
    except Exception:
        error = traceback.format_exc()
        for key in job.keys:
            store.write_run(key, "failed", seconds=time.time() - started, error=error)
        return [(key, "failed") for key in job.keys]
    seconds = (time.time() - started) / len(job.seeds)
    out = []
    results = []
    for i, (seed, key) in enumerate(zip(job.seeds, job.keys)):
        metrics = [
            {"step": int(step), "name": name, "value": _clean(values[i])}
            for name, series in result.metrics.items()
            for step, values in zip(result.steps, series)
        ] + extra
        probes_rows = [
            {
                "step": r["step"],
                "probe": r["probe"],
                "name": r["name"],
                "layer": r["layer"],
                "idx": r["index"],
                "value": _clean(r["value"]),
            }
            for r in result.probe_records
            if r["seed"] == seed
        ]
        diverged = int(result.diverged_at[i])
        status = "diverged" if diverged >= 0 else "done"
        results.append(RunResult(key, status, seconds, metrics, probes_rows, diverged if diverged >= 0 else None))
        out.append((key, status))
    store.write_runs(results)  # the job's seeds in one transaction
    return out


class InlineExecutor(Executor):
    """Runs jobs in this process, one after another (workers = 0): for debugging."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        return future


def make_executor(workers: int | None) -> Executor:
    if workers == 0:
        return InlineExecutor()
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # inherited by the workers: one BLAS thread each
    os.environ["OMP_NUM_THREADS"] = "1"
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
    )


def plan(study, registry, store: Store, rerun_failed: bool = False) -> tuple[list[Job], Progress]:
    runs = study.runs(registry)
    store.save_study(study, runs)
    status = store.statuses(r.key for r in runs)
    from ablab.core.lab.study import plugin_versions

    todo = [r for r in runs if status.get(r.key) not in FINISHED and (rerun_failed or status.get(r.key) != "failed")]
    groups: dict[str, Job] = {}
    for r in todo:
        job = groups.setdefault(r.config_key, Job(r.config, [], [], plugin_versions(r.config, registry)))
        job.seeds.append(r.seed)
        job.keys.append(r.key)
    return list(groups.values()), Progress(total=len(runs), skipped=len(runs) - len(todo))


def run_study(
    study,
    registry,
    store: Store,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    rerun_failed: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    jobs, progress = plan(study, registry, store, rerun_failed)
    if on_progress:
        on_progress(progress)
    if not jobs:
        return progress
    own = executor is None
    executor = executor or make_executor(workers)
    futures = {executor.submit(run_job, store.url, job): job for job in jobs}
    try:
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # the worker itself died: its runs stay "running", redone next time
                print(
                    f"ablab: a worker failed ({exc.__class__.__name__}: {exc}); "
                    "its runs will be redone on the next run",
                    file=sys.stderr,
                )
                continue
            for _, status in outcome:
                setattr(progress, status, getattr(progress, status) + 1)  # done, diverged or failed
            if on_progress:
                on_progress(progress)
    except KeyboardInterrupt:
        progress.interrupted = True
        for f in futures:
            f.cancel()
        if own and isinstance(executor, ProcessPoolExecutor):
            for proc in list(getattr(executor, "_processes", {}).values()):
                proc.terminate()
            executor.shutdown(wait=False, cancel_futures=True)
            own = False
    finally:
        if own:
            executor.shutdown(wait=True)
    return progress


def progress_line(p: Progress, width: int = 30) -> str:
    total = max(p.total, 1)
    have = p.skipped + p.finished
    filled = int(width * have / total)
    eta = p.eta_seconds()
    eta_text = (
        "--:--" if eta is None else time.strftime("%M:%S", time.gmtime(eta)) if eta < 3600 else f"{eta / 3600:.1f}h"
    )
    bar = f"[{'#' * filled}{'.' * (width - filled)}]"
    return f"{bar} {have}/{p.total} runs  diverged {p.diverged}  failed {p.failed}  ETA {eta_text}"
