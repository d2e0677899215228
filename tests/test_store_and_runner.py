"""Store migrations and concurrency, the runner's resume rules, and the CLI end to end."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store, StoreError
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)

STUDY = """
[study]
name = "e2e"
seeds = [0, 1]

[base]
task = { name = "adding", length = 6 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
optimizer = { name = "adam", lr = 0.01 }
train = { steps = 20, batch_size = 4, log_every = 5, probe_every = 10 }
probes = ["grad_through_time", "clipping"]

[axes]
"model.cell" = ["rnn", "gru"]
"""


def cli(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "ablab.core.cli", *args], capture_output=True, text=True, env=env, **kw
    )


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def test_migrations_are_recorded_and_idempotent(any_store_url):
    store_url = any_store_url
    from ablab.core.lab.migrations import MIGRATIONS

    names = [name for name, _ in MIGRATIONS]
    assert names[:3] == ["m001_initial", "m002_curve_stats", "m003_leases_stale_bigint"] and names == sorted(names)
    store = Store(store_url)
    assert store.applied_migrations() == names
    assert store.migrate() == []  # nothing left to apply
    assert Store(store_url).applied_migrations() == names


def test_unopenable_store_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the results store"):
        Store(f"sqlite:///{blocker / 'sub' / 'x.sqlite'}")
    with pytest.raises(StoreError, match="cannot open the results store"):
        Store("notadialect://x")


def _write_many(url, worker, n):
    store = Store(url)
    study = parse_study(
        STUDY.replace('name = "e2e"', f'name = "w{worker}"').replace(
            "seeds = [0, 1]", f"seeds = {list(range(worker * 100, worker * 100 + n))}"
        ),
        "x",
        REGISTRY,
    )
    runs = study.runs(REGISTRY)
    store.save_study(study, runs)
    for r in runs:
        store.mark_running([r.key], {})
        store.write_run(
            r.key, "done", seconds=0.1, metrics=[{"step": s, "name": "loss", "value": 1.0 / (s + 1)} for s in range(50)]
        )


def test_concurrent_writers(any_store_url):
    store_url = any_store_url
    Store(store_url)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(store_url, w, 6)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    counts = {s["name"]: s["counts"] for s in Store(store_url).studies()}
    assert all(counts[f"w{w}"] == {"done": 12} for w in range(4))


def test_run_resume_and_rerun_failed(any_store_url):
    store_url = any_store_url
    study = parse_study(STUDY, "e2e.toml", REGISTRY)
    store = Store(store_url)
    first = run_study(study, REGISTRY, store, workers=0)
    assert (first.done, first.skipped) == (4, 0)
    again = run_study(study, REGISTRY, store, workers=0)
    assert (again.done, again.skipped) == (0, 4)
    key = study.runs(REGISTRY)[0].key
    store.write_run(key, "failed", seconds=0.0, error="Traceback: boom")
    assert run_study(study, REGISTRY, store, workers=0).skipped == 4  # failed runs are kept
    redo = run_study(study, REGISTRY, store, workers=0, rerun_failed=True)
    # only the failed seed reruns: an ensemble member equals a solo run with its seed
    assert (redo.done, redo.skipped) == (1, 3) and store.statuses([key])[key] == "done"
    metrics = store.metrics_of([key])
    assert len(metrics) == len(metrics.drop_duplicates(["step", "name"]))


def test_a_raising_run_is_recorded_as_failed_and_the_study_goes_on(any_store_url):
    store_url = any_store_url
    text = STUDY.replace('"model.cell" = ["rnn", "gru"]', '"model.cell" = ["rnn", "gru"]\n"train.bptt_window" = [2]')
    study = parse_study(text, "x.toml", REGISTRY)
    # a plugin whose step raises: registered only in this registry
    from ablab.core.plugin_system.registry import Entry

    rnn = REGISTRY.get("cell", "rnn")

    class Exploding(rnn):
        def step_z(self, p, z, state, recompute):  # the RNN is a FusedCell: its arithmetic is step_z
            raise RuntimeError("cell exploded on purpose")

    registry = build_registry(entry_points=False)
    registry.entries[("cell", "gru")] = Entry("cell", "gru", Exploding, "test", "0")
    store = Store(store_url)
    progress = run_study(study, registry, store, executor=_RegistryExecutor(registry))
    assert (progress.done, progress.failed) == (2, 2)
    failed = [r for r in store.runs_of("e2e") if r["status"] == "failed"]
    assert len(failed) == 2 and all("cell exploded on purpose" in r["error"] for r in failed)


class _RegistryExecutor:
    """Runs jobs inline with a given registry (run_job normally builds the default one)."""

    def __init__(self, registry):
        self.registry = registry

    def submit(self, fn, store_url, job):
        from concurrent.futures import Future
        from unittest import mock

        future = Future()
        with mock.patch("ablab.core.plugin_system.registry.default_registry", lambda: self.registry):
            future.set_result(fn(store_url, job))
        return future

    def shutdown(self, wait=True):
        pass


def test_cli_end_to_end(tmp_path, any_store_url):
    store_url = any_store_url
    path = tmp_path / "e2e.toml"
    path.write_text(STUDY)
    out = cli("run", str(path), "--store", store_url, "--workers", "2")
    assert out.returncode == 0, out.stderr
    assert "4/4 runs" in out.stderr and "done: 4 finished, 0 diverged, 0 failed" in out.stderr
    listing = cli("studies", "--store", store_url)
    assert "e2e" in listing.stdout and "4" in listing.stdout
    table = cli("results", "e2e", "--store", store_url)
    assert table.returncode == 0 and "model.cell" in table.stdout and "final_loss" in table.stdout
    csv = cli("results", "e2e", "--store", store_url, "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert header[:2] == ["model.cell", "runs"] and len(csv.stdout.splitlines()) == 3
    rows = json.loads(cli("results", "e2e", "--store", store_url, "--format", "json").stdout)
    assert {r["model.cell"] for r in rows} == {"rnn", "gru"} and all(r["runs"] == 2 for r in rows)
    missing = cli("results", "nope", "--store", store_url)
    assert missing.returncode == 2 and "no results for study 'nope'" in missing.stderr and "e2e" in missing.stderr


def test_cli_bad_study_stores_nothing(tmp_path, store_url):
    path = tmp_path / "bad.toml"
    path.write_text(STUDY.replace("hidden = 4", "hidden = 0"))
    out = cli("run", str(path), "--store", store_url)
    assert out.returncode == 2 and "model.hidden must be a whole number >= 1" in out.stderr and str(path) in out.stderr
    assert Store(store_url).studies() == []


def start_slow_study_mid_flight(tmp_path, store_url, **popen):
    """Start `ablab run` on a slow study; return (process, path, store) once some runs are
    done and others are in flight."""
    slow = STUDY.replace("steps = 20", "steps = 400").replace(
        '"model.cell" = ["rnn", "gru"]', '"model.cell" = ["rnn", "gru", "lstm", "lstm-cifg"]'
    )
    path = tmp_path / "slow.toml"
    path.write_text(slow)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablab.core.cli", "run", str(path), "--store", store_url, "--workers", "2"], **popen
    )
    store = Store(store_url)
    deadline = time.time() + 60
    while time.time() < deadline:
        counts = {s["name"]: s["counts"] for s in store.studies()}.get("e2e", {})
        if counts.get("done", 0) >= 2 and counts.get("running", 0) >= 1:
            break
        time.sleep(0.05)
    return proc, path, store


def test_sigkill_mid_study_then_rerun_completes_without_duplicates(tmp_path, store_url):
    proc, path, store = start_slow_study_mid_flight(
        tmp_path, store_url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    counts = {s["name"]: s["counts"] for s in store.studies()}["e2e"]
    assert counts.get("done", 0) < 8, "the study finished before it could be killed; make it slower"
    out = cli("run", str(path), "--store", store_url, "--workers", "2")
    assert out.returncode == 0, out.stderr
    runs = store.runs_of("e2e")
    assert len(runs) == 8 and all(r["status"] == "done" for r in runs)
    metrics = store.metrics_of([r["key"] for r in runs])
    assert not metrics.duplicated(["run_key", "step", "name"]).any()
    assert metrics.groupby("run_key").size().nunique() == 1  # every run complete, none half-written


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(tmp_path, store_url):
    proc, path, store = start_slow_study_mid_flight(
        tmp_path, store_url, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert Store(store_url).studies()[0]["counts"].get("done", 0) < 8
    out = cli("run", str(path), "--store", store_url, "--workers", "2")
    assert out.returncode == 0 and all(r["status"] == "done" for r in store.runs_of("e2e"))


def test_each_run_is_gradient_checked_at_its_own_seed(tmp_path):
    """A gradient check's error is one number per run, from that run's seed: copies of one
    job-wide number would count as independent seeds in a verdict, and new seeds would test
    nothing new."""
    from ablab.core.lab.study import build

    text = """
[study]
name = "checked"
seeds = [0, 5]

[base]
task = { name = "adding", length = 4 }
model = { kind = "recurrent", cell = "gru", hidden = 3 }
train = { steps = 2, batch_size = 4 }
gradcheck = true
"""
    study = parse_study(text, "checked.toml", REGISTRY)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    run_study(study, REGISTRY, store, workers=0)
    runs = {r["seed"]: r["key"] for r in store.runs_of("checked")}
    records = store.records_of(list(runs.values()), "metrics", ["gradcheck_error"])
    error = dict(zip(records["run_key"], records["value"]))
    assert len(records) == 2 and error[runs[0]] != error[runs[5]]  # two checks, not one number copied
    assert max(error.values()) < 1e-6
    config = study.configurations()[0][1]
    net = build(config, REGISTRY)[1]
    assert error[runs[5]] == max(net.gradcheck(tol=float("inf"), seed=5).values())  # the run's own seed


def test_releasing_after_ctrl_c_gives_up_a_held_write_lock_after_its_bound(tmp_path):
    """A Ctrl-C'd run gives its leases back, waiting for the store's write lock at most a few
    seconds (RELEASE_WAIT_INTERRUPTED), not SQLite's 60 s busy timeout; the connection keeps
    its 60 s for everything else."""
    import sqlalchemy as sa

    path = tmp_path / "s.sqlite"
    store = Store(f"sqlite:///{path}")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.time()
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            store.release("someone", None, wait_seconds=1)
        assert time.time() - start < 10
    finally:
        holder.kill()
        holder.wait()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
    assert store.release("someone", None, wait_seconds=1) == 0  # the lock is free: it goes through


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(60)
"""
