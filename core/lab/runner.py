"""Runs a study: expand, skip what the store already has, train each configuration's seeds
as one ensemble job on an executor, write each run's results in one transaction."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from ablab.core.lab.leases import LEASE_SECONDS, new_owner
from ablab.core.lab.status import FINISHED
from ablab.core.lab.store import RunResult, Store


@dataclass
class Job:
    """All seeds of one configuration: trained together as one ensemble."""

    config: dict
    seeds: list[int]
    keys: list[str]
    versions: dict
    owner: str | None = None  # the lease owner: results are written only while it holds the runs


@dataclass
class Progress:
    total: int
    skipped: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    started: float = field(default_factory=time.time)
    interrupted: bool = False
    left: int = 0  # runs not finished when the run stopped (a worker died, the store failed)

    @property
    def finished(self) -> int:
        return self.done + self.diverged + self.failed

    def eta_seconds(self) -> float | None:
        ran = self.finished
        if not ran:
            return None
        left = self.total - self.skipped - ran
        return (time.time() - self.started) / ran * left


PR_SET_PDEATHSIG = 1


def _worker_init(parent: int, started=None) -> None:
    # Ctrl-C belongs to the parent, which stops the study cleanly (BLAS threads: make_executor).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked since the spawn (sigint_blocked_for_workers): drop it now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent)
    if started is not None:  # past spawn's bootstrap: terminating this worker is now silent
        with started.get_lock():
            started.value += 1


def die_with_parent(parent: int) -> None:
    """A worker must not outlive the `ablab run` that started it (SIGKILL leaves no chance to
    clean up): on Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG);
    elsewhere, and as a second guard, a thread polls the parent pid."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="ablab-parent-watch", daemon=True).start()


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
    store.mark_running(job.keys, job.versions, job.owner)
    started = time.time()
    try:
        registry = default_registry()
        task, net, spec, probes = build(job.config, registry)
        result = net.fit(task, spec, job.seeds, probes)
        extra: list[dict] = []
        if result.baseline is not None:
            extra.append({"step": 0, "name": "baseline", "value": result.baseline})
        # each run checked at its own seed: copies of one number would count as independent seeds
        checked = {
            seed: max(net.gradcheck(tol=math.inf, seed=seed).values())  # the claim judges the number
            for seed in (job.seeds if job.config.get("gradcheck") else [])
        }
    except Exception:
        error = traceback.format_exc()
        for key in job.keys:
            store.write_run(key, "failed", seconds=time.time() - started, error=error, owner=job.owner)
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
        if seed in checked:
            metrics.append({"step": 0, "name": "gradcheck_error", "value": checked[seed]})
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
    store.write_runs(results, owner=job.owner)  # the job's seeds in one transaction, while it holds them
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
    context = multiprocessing.get_context("spawn")
    started = context.Value("i", 0)
    pool = ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=context,
        initializer=_worker_init,
        initargs=(os.getpid(), started),
    )
    pool.ablab_started = started  # see _terminate
    return pool


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C and SIGTERM until the block ends; yields the list of those that came. The
    caller decides what they mean (signals_deferred: stop now; cleanup: the run is stopped)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signals are delivered to the main thread only
        return
    previous = {
        s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_deferred():
    """Hold Ctrl-C and SIGTERM until the block ends, then stop as they ask. A KeyboardInterrupt
    inside the spawning of a pool worker cuts the data the new process is reading, and it dies
    printing `EOFError: Ran out of input`."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_held() as caught:
        yield
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)  # the handler in force before: usually raises KeyboardInterrupt
        elif handler == signal.SIG_DFL:
            raise KeyboardInterrupt


@contextlib.contextmanager
def sigint_blocked_for_workers():
    """Start workers with SIGINT blocked (the mask survives fork and exec) until _worker_init
    ignores it: Ctrl-C and the dashboard's Stop signal the whole process group, and a worker
    still importing printed a KeyboardInterrupt traceback. multiprocessing starts its resource
    tracker the same way. This process still gets the signal: other threads take it at once."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _terminate(pool: ProcessPoolExecutor, patience: float = 10.0) -> None:
    """End the pool's workers at once (Ctrl-C). A worker still inside spawn's bootstrap when
    its pipe closes prints an EOFError traceback, so wait (briefly) until every spawned worker
    has started before terminating them all."""
    processes = list(getattr(pool, "_processes", {}).values())
    started = getattr(pool, "ablab_started", None)
    deadline = time.time() + patience
    while started is not None and started.value < len(processes) and time.time() < deadline:
        if not any(p.is_alive() for p in processes):
            break
        time.sleep(0.05)
    for proc in processes:
        proc.terminate()


def plan(study, registry, store: Store) -> tuple[dict[str, list], Progress]:
    """Save the study and its runs; group the runs by configuration (one ensemble job each)."""
    runs = study.runs(registry)
    store.save_study(study, runs)
    groups: dict[str, list] = {}
    for r in runs:
        groups.setdefault(r.config_key, []).append(r)
    return groups, Progress(total=len(runs))


DONE = (*FINISHED, "failed")  # a failed run is over too: it keeps its traceback until --rerun-failed


class Heartbeat:
    """Renews this process's leases every quarter lease from a thread, so a long job is never
    taken over while its owner lives; the leases of a dead owner simply expire."""

    def __init__(self, store: Store, owner: str):
        self.store, self.owner = store, owner
        self.keys: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="ablab-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(LEASE_SECONDS / 4):
            with self.lock:
                keys = list(self.keys)
            if keys:
                try:
                    self.store.renew(keys, self.owner)
                except Exception:  # noqa: BLE001 - a store hiccup: the next beat tries again
                    pass

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():  # never started when Ctrl-C came first
            self.thread.join(timeout=5)


def run_study(
    study,
    registry,
    store: Store,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    rerun_failed: bool = False,
    rerun: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    poll_seconds: float = 1.0,
    stop_requested: Callable[[], bool] | None = None,
) -> Progress:
    """Run every run of the study the store does not have. Runs are claimed with a lease a
    configuration at a time, so several `ablab run`s of one study share the work and never
    compute a run twice; runs another live process holds are waited for. rerun: recompute
    every run once, even finished ones. progress.left counts the runs still unfinished.
    stop_requested: checked every loop, for a Ctrl-C whose KeyboardInterrupt a __del__ swallowed."""
    # A Ctrl-C may come at any moment, from the first line on: everything that can take a while
    # runs inside the try, and the cleanup runs with signals held, so it always ends here
    progress = Progress(total=0)
    keys: list[str] = []
    owner = new_owner()
    own = executor is None
    heart = Heartbeat(store, owner)
    error: BaseException | None = None
    broken = False  # a worker or the store failed: finish what runs, claim nothing new
    try:
        groups, planned = plan(study, registry, store)
        progress.total = planned.total
        keys = [r.key for rs in groups.values() for r in rs]
        rerun_before = time.time() if rerun else None
        status = store.statuses(keys)
        if not rerun:
            progress.skipped = sum(
                status.get(k) in FINISHED or (status.get(k) == "failed" and not rerun_failed) for k in keys
            )
        if on_progress:
            on_progress(progress)
        slots = (1 if workers == 0 else workers or os.cpu_count() or 1) if own else len(groups)
        inflight: dict[Future, Job] = {}
        open_groups = list(groups)
        waiting_said = False
        retried: list = []  # the groups last reopened after no one else held a run
        from ablab.core.lab.study import plugin_versions

        heart.start()
        while True:
            if stop_requested is not None and stop_requested():
                raise KeyboardInterrupt
            while len(inflight) < slots and open_groups and not broken:
                runs = groups[open_groups.pop(0)]
                taken = set(
                    store.claim([r.key for r in runs], owner, rerun_failed=rerun_failed, rerun_before=rerun_before)
                )
                if not taken:
                    continue
                mine = [r for r in runs if r.key in taken]
                job = Job(
                    mine[0].config,
                    [r.seed for r in mine],
                    [r.key for r in mine],
                    plugin_versions(mine[0].config, registry),
                    owner,
                )
                executor = executor or make_executor(workers)
                with heart.lock:
                    heart.keys.update(job.keys)
                # submit may spawn a worker: never interrupt that halfway, nor the worker's start
                with signals_deferred(), sigint_blocked_for_workers():
                    inflight[executor.submit(run_job, store.url, job)] = job
            if not inflight:
                if broken:
                    break
                if not store.held_by_others(keys, owner):
                    # a lease that ran out while this process worked frees its run only now, after its
                    # group was tried: claim what is left once more, and stop when that takes nothing
                    now = store.statuses(keys)
                    left = [ck for ck, rs in groups.items() if any(now.get(r.key) not in DONE for r in rs)]
                    if not left or left == retried:
                        break
                    open_groups = retried = left
                    continue
                if not waiting_said:  # another `ablab run` holds some runs: wait for them
                    print("ablab: waiting for runs another ablab run is computing", file=sys.stderr)
                    waiting_said = True
                time.sleep(poll_seconds)
                now = store.statuses(keys)
                open_groups = [ck for ck, rs in groups.items() if any(now.get(r.key) not in DONE for r in rs)]
                continue
            done, _ = wait(inflight, timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                job = inflight.pop(future)
                with heart.lock:
                    heart.keys.difference_update(job.keys)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker died or the store failed: stop claiming
                    if not broken:  # one line, not one per job the broken pool fails
                        print(f"ablab: a job failed ({exc.__class__.__name__}: {str(exc)[:200]})", file=sys.stderr)
                    broken = True
                    _release(store, owner, job.keys)
                    continue
                for _, st in outcome:
                    setattr(progress, st, getattr(progress, st) + 1)  # done, diverged or failed
                if on_progress:
                    on_progress(progress)
    except KeyboardInterrupt:
        progress.interrupted = True
    except BaseException as exc:  # noqa: BLE001 - cleaned up below, then raised again
        error = exc
    with signals_held() as caught:  # a Ctrl-C now only marks the run stopped: the cleanup must finish
        if (progress.interrupted or broken) and own and isinstance(executor, ProcessPoolExecutor):
            # terminate, never cancel: cancelling a future the pool then fails raised
            # InvalidStateError: CANCELLED in the pool's thread. A broken pool too: a worker
            # that submit() was still spawning when another died is missed by CPython's own
            # cleanup, which then joins it forever (`ablab run` hung; test_reliability)
            _terminate(executor)
        heart.close()
        # interrupted: the user waits for the prompt, so give up the store's write lock after a
        # few seconds (this machine's next run claims a dead owner's runs at once anyway). Seen
        # once in ~25 Ctrl-Cs under load: the lock held for the full 60 s busy timeout, by no
        # live worker (py-spy; NOTES "Known problems")
        _release(store, owner, None, RELEASE_WAIT_INTERRUPTED if progress.interrupted or caught else None)
        if own and executor is not None:
            executor.shutdown(wait=True)
        if error is None:
            final = store.statuses(keys)
            progress.left = sum(final.get(k) not in DONE for k in keys)
            progress.skipped = len(keys) - progress.left - progress.finished  # includes runs another process computed
    if error is not None:
        raise error
    progress.interrupted = progress.interrupted or bool(caught)
    return progress


RELEASE_WAIT_INTERRUPTED = 5.0  # seconds


def _release(store: Store, owner: str, keys: list[str] | None, wait_seconds: float | None = None) -> None:
    try:
        store.release(owner, keys, wait_seconds)
    except Exception:  # noqa: BLE001 - the store is failing; the leases expire on their own
        pass


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
