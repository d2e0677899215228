"""Reliability under concurrent runs, dying processes, odd stores and changed plugin code:
two `ablab run`s share a study without computing a run twice, workers die with their run,
an incomplete study exits non-zero, newer/foreign/damaged/read-only stores, 64-bit seeds."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ablab.core.errors import ConfigError
from ablab.core.lab import study as study_module
from ablab.core.lab.leases import LEASE_SECONDS
from ablab.core.lab.migrations import MIGRATIONS
from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store, StoreError
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
ROOT = Path(__file__).resolve().parent.parent

STUDY = """
[study]
name = "rel"
seeds = [0, 1]

[base]
task = { name = "adding", length = 6 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, batch_size = 4, log_every = 5 }

[axes]
"model.cell" = ["rnn", "gru", "lstm"]
"""
SLOW = STUDY.replace("steps = 20", "steps = 1500").replace('"lstm"]', '"lstm", "lstm-cifg"]')


def cli(*args, **kw):
    kw.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "ablab.core.cli", *args], text=True, **kw)


def popen(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "ablab.core.cli", *args], text=True, **kw)


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(cond, seconds: float = 60.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


# -- names ---------------------------------------------------------------------------------


def test_store_and_cli_refuse_unsafe_study_names(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    study = parse_study(STUDY, "rel.toml", REGISTRY)
    object.__setattr__(study, "name", "../../victim")
    with pytest.raises(ConfigError, match="is not allowed"):
        store.save_study(study, [])
    with pytest.raises(ConfigError, match="is not allowed"):
        store.add_review("a/b", "me", "note", "holds")
    out = cli("results", "../../etc/passwd", "--store", store.url)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "is not allowed" in out.stderr


# -- concurrent runs -------------------------------------------------------------------------


def test_two_runs_of_one_new_study_share_it_and_compute_each_run_once(tmp_path, any_store_url):
    path = tmp_path / "rel.toml"
    path.write_text(STUDY.replace("steps = 20", "steps = 200"))
    procs = [
        popen("run", str(path), "--store", any_store_url, "--workers", "1", stderr=subprocess.PIPE) for _ in range(2)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    runs = Store(any_store_url).runs_of("rel")
    assert len(runs) == 6 and all(r["status"] == "done" for r in runs)
    assert [r["attempts"] for r in runs] == [1] * 6, "a run was computed twice"


def test_a_dead_owners_lease_expires_and_a_live_one_is_waited_for(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    study = parse_study(STUDY, "rel.toml", REGISTRY)
    keys = [r.key for r in study.runs(REGISTRY)]
    store.save_study(study, study.runs(REGISTRY))
    runs = store.t["runs"]
    with store.engine.begin() as conn:  # another machine's run: one lease long gone, one live for 2 s
        conn.execute(
            runs.update()
            .where(runs.c.key == keys[0])
            .values(status="running", owner="elsewhere:1:x", lease_until=time.time() - 1)
        )
        conn.execute(
            runs.update()
            .where(runs.c.key == keys[1])
            .values(status="running", owner="elsewhere:2:y", lease_until=time.time() + 2)
        )
    assert store.claim(keys[:2], "me:1:z") == [keys[0]]  # the live lease is not taken
    store.release("me:1:z")
    t0 = time.time()
    progress = run_study(study, REGISTRY, store, workers=0, poll_seconds=0.2)
    assert progress.done == 6 and progress.left == 0 and time.time() - t0 >= 1.5  # waited the live lease out
    assert all(r["status"] == "done" for r in store.runs_of("rel"))


def test_a_lease_that_runs_out_while_this_process_works_is_still_claimed(tmp_path):
    """The run's group was tried (held) before the lease ran out; once nothing is held, what is
    left is claimed once more instead of ending the study with a run left (seen under load)."""
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    study = parse_study(STUDY, "rel.toml", REGISTRY)
    keys = [r.key for r in study.runs(REGISTRY)]
    store.save_study(study, study.runs(REGISTRY))
    runs = store.t["runs"]
    with store.engine.begin() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.key == keys[1])
            .values(status="running", owner="elsewhere:2:y", lease_until=time.time() + 0.3)
        )

    def slow(progress):  # this process's own work outlasts the other lease
        if progress.done == 1:
            time.sleep(0.5)

    progress = run_study(study, REGISTRY, store, workers=0, poll_seconds=0.2, on_progress=slow)
    assert progress.done == 6 and progress.left == 0
    assert all(r["status"] == "done" for r in store.runs_of("rel"))


def test_a_lost_lease_writes_nothing(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    study = parse_study(STUDY, "rel.toml", REGISTRY)
    store.save_study(study, study.runs(REGISTRY))
    key = study.runs(REGISTRY)[0].key
    assert store.claim([key], "a:1:x") == [key]
    assert not store.write_run(key, "done", seconds=1.0, owner="b:2:y")
    assert store.statuses([key])[key] == "running" and LEASE_SECONDS > 10


# -- dying processes -------------------------------------------------------------------------


def start_mid_flight(tmp_path, store_url, **kw):
    path = tmp_path / "slow.toml"
    path.write_text(SLOW)
    proc = popen("run", str(path), "--store", store_url, "--workers", "2", **kw)
    store = Store(store_url)

    def busy():
        counts = {s["name"]: s["counts"] for s in store.studies()}.get("rel", {})
        return counts.get("running", 0) >= 2 and len(children(proc.pid)) >= 2

    assert wait_until(busy, 120), "the study never got going"
    return proc, path, store


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_run(tmp_path, sig):
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    proc, path, store = start_mid_flight(tmp_path, store_url, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = children(proc.pid)
    assert workers
    proc.send_signal(sig)  # the main process alone, as `kill PID` does
    _, err = proc.communicate(timeout=60)
    assert wait_until(lambda: not any(alive(w) for w in workers), 20), "workers outlived their run"
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and "interrupted:" in err and "left" in err and "Traceback" not in err
    # a dead (or stopped) run's leases are no obstacle: the next run finishes at once
    out = cli("run", str(path), "--store", store_url, "--workers", "2")
    assert out.returncode == 0, out.stderr
    assert all(r["status"] == "done" for r in store.runs_of("rel"))


def test_ctrl_c_prints_no_thread_exception(tmp_path):
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    proc, _, _ = start_mid_flight(tmp_path, store_url, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted:" in err
    assert "Exception in thread" not in err and "InvalidStateError" not in err and "Traceback" not in err
    assert wait_until(lambda: not any(alive(w) for w in workers), 20)


def test_a_killed_worker_makes_the_run_exit_nonzero_saying_how_many_are_left(tmp_path):
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"
    proc, _, store = start_mid_flight(tmp_path, store_url, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worker = next(w for w in children(proc.pid) if "resource_tracker" not in Path(f"/proc/{w}/cmdline").read_text())
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    left = sum(r["status"] != "done" for r in store.runs_of("rel"))
    assert left > 0 and f"the study is not complete: {left} runs left" in err
    assert "a job failed (BrokenProcessPool" in err


def test_a_worker_dying_while_another_is_spawned_never_hangs_the_run(tmp_path, monkeypatch):
    """CPython's broken-pool cleanup terminates the workers it knows of, then joins them all: a
    worker that submit() was still spawning when the other died was joined forever (CI hung in
    the test above). Here the second spawn kills the first worker and waits for the pool to break."""
    from concurrent.futures.process import _process_worker as process_worker

    from ablab.core.lab import runner

    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    study = parse_study(SLOW, "rel.toml", REGISTRY)
    workers: list[int] = []

    def make_executor(n):
        pool = real_make(n)
        real_spawn = pool._spawn_process

        def spawn():  # CPython's _spawn_process, with the first worker dying between start and registration
            if not pool._processes:
                real_spawn()
                workers.extend(pool._processes)
                return
            args = (pool._call_queue, pool._result_queue, pool._initializer, pool._initargs, pool._max_tasks_per_child)
            second = pool._mp_context.Process(target=process_worker, args=args)
            second.start()
            workers.append(second.pid)
            assert wait_until(lambda: pool.ablab_started.value >= 1, 120), "the first worker never started"
            os.kill(workers[0], signal.SIGKILL)
            assert wait_until(lambda: pool._broken, 30), "the pool never noticed"
            time.sleep(0.5)  # its manager thread terminates the workers it knows of
            pool._processes[second.pid] = second

        pool._spawn_process = spawn
        return pool

    real_make = runner.make_executor
    monkeypatch.setattr(runner, "make_executor", make_executor)
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(run_study(study, REGISTRY, store, workers=2)), daemon=True)
    thread.start()
    thread.join(timeout=120)
    for pid in set(workers):  # never leave a hung pool's worker behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not thread.is_alive(), "run_study hung after a worker died"
    assert len(set(workers)) == 2 and outcome[0].left == len(study.runs(REGISTRY))  # nothing finished: 8 left


def test_dashboard_stops_with_its_pid(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = popen(
        "dashboard",
        "--port",
        str(port),
        "--store",
        f"sqlite:///{tmp_path / 's.sqlite'}",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def serving():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    assert wait_until(serving, 120), "the dashboard never served"
    family = [proc.pid, *children(proc.pid)]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert wait_until(lambda: not any(alive(p) for p in family) and not serving(), 20)


# -- stores ----------------------------------------------------------------------------------


def test_a_newer_store_is_refused_naming_both_versions(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    store = Store(url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO ablab_migrations VALUES ('m999_future', 0)"))
        conn.execute(sa.text("UPDATE ablab_meta SET value = '9.9' WHERE key = 'ablab_version'"))
    known = len(MIGRATIONS)
    newer = rf"by ablab 9\.9 \(schema {known + 1}, up to m999_future\), newer than this ablab \S+ \(schema {known}\)"
    with pytest.raises(StoreError, match=newer):
        Store(url)
    out = cli("studies", "--store", url)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "upgrade ablab" in out.stderr


def test_a_foreign_database_gets_one_line_from_every_command(tmp_path):
    path = tmp_path / "foreign.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (id INTEGER PRIMARY KEY, km FLOAT)"))
    study = tmp_path / "rel.toml"
    study.write_text(STUDY)
    url = f"sqlite:///{path}"
    for args in (["studies"], ["results", "rel"], ["run", str(study)]):
        out = cli(*args, "--store", url)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert "is not an ablab store: it has a table 'runs'" in out.stderr


def test_a_damaged_store_gets_one_line_and_is_not_written(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    study = tmp_path / "rel.toml"
    study.write_text(STUDY)
    assert cli("run", str(study), "--store", url, "--workers", "0").returncode == 0
    store = Store(url)
    with store.engine.begin() as conn:  # flipped bytes in a text column
        conn.execute(sa.text("UPDATE runs SET status = CAST(X'ff00fe' AS TEXT)"))
    store.engine.dispose()
    for args in (["studies"], ["results", "rel"]):
        out = cli(*args, "--store", url)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr
    raw = bytearray((tmp_path / "s.sqlite").read_bytes())
    for i in range(4096 * 3, len(raw), 97):  # damage the b-tree pages themselves
        raw[i] ^= 0x5A
    (tmp_path / "s.sqlite").write_bytes(bytes(raw))
    out = cli("run", str(study), "--store", url, "--workers", "0", "--rerun")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr


def _read_only(paths: list[Path], on: bool) -> None:
    """Root writes through any mode bits, so as root the files are made immutable instead."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True)
    else:
        for p in paths:
            p.chmod((0o555 if p.is_dir() else 0o444) if on else 0o755)


def test_a_read_only_store_can_be_read(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path, study = folder / "s.sqlite", tmp_path / "rel.toml"
    study.write_text(STUDY)
    url = f"sqlite:///{path}"
    assert cli("run", str(study), "--store", url, "--workers", "0").returncode == 0
    locked = [*folder.iterdir(), folder]
    _read_only(locked, True)
    try:
        assert not os.access(path, os.W_OK)
        listing = cli("studies", "--store", url)
        assert listing.returncode == 0 and "rel" in listing.stdout, listing.stderr
        table = cli("results", "rel", "--store", url)
        assert table.returncode == 0 and "final_loss" in table.stdout, table.stderr
        run = cli("run", str(study), "--store", url)
        assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    finally:
        _read_only(locked, False)


def test_a_review_note_is_corrected_in_place_on_both_stores(any_store_url):
    store = Store(any_store_url)
    store.add_review("rel", "Ada", "LSTM wins", "convincing")
    store.add_review("other", "Bob", "untouched", "convincing")
    (note,) = store.reviews_of("rel")
    before = store.state_token()
    store.edit_review("rel", note["id"], "LSTM wins at lag 3 only", "needs more seeds")
    (edited,) = store.reviews_of("rel")
    assert (edited["author"], edited["created_at"]) == (note["author"], note["created_at"])  # who and when stay
    assert (edited["note"], edited["verdict"]) == ("LSTM wins at lag 3 only", "needs more seeds")
    assert edited["edited_at"] >= note["created_at"] and note["edited_at"] is None
    assert store.state_token() != before  # readers that cache on the token see the change
    assert store.reviews_of("other")[0]["note"] == "untouched"
    with pytest.raises(StoreError, match=r"study 'other' has no review note \d+"):  # ids are per store, not per study
        store.edit_review("other", note["id"], "hijack", "convincing")
    with pytest.raises(ConfigError, match="review note must be text without NUL"):
        store.edit_review("rel", note["id"], "a\x00b", "convincing")
    assert store.reviews_of("rel")[0]["note"] == "LSTM wins at lag 3 only"  # nothing lost by a refused edit


def test_64_bit_seeds_and_long_names_on_both_stores(any_store_url):
    with pytest.raises(ConfigError, match="review author must be text without NUL"):
        Store(any_store_url).add_review("rel", "a\x00b", "note", "holds")
    name = "n" * 64
    text = STUDY.replace('name = "rel"', f'name = "{name}"').replace("seeds = [0, 1]", f"seeds = [{2**63 - 1}]")
    study = parse_study(text.replace('"lstm"]', "]"), "big.toml", REGISTRY)
    store = Store(any_store_url)
    progress = run_study(study, REGISTRY, store, workers=0)
    assert progress.done == 2 and progress.left == 0
    assert {r["seed"] for r in store.runs_of(name)} == {2**63 - 1}


# -- changed plugin code -----------------------------------------------------------------------


def test_changed_plugin_code_makes_new_runs_and_old_ones_stay_stale(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    study = parse_study(STUDY, "rel.toml", REGISTRY)
    store = Store(url)
    assert run_study(study, REGISTRY, store, workers=0).done == 6
    old = {r["key"] for r in store.runs_of("rel")}
    # the rnn cell's source "changes": its fingerprint does
    real = study_module._module_fingerprint
    monkeypatch.setattr(
        study_module,
        "_module_fingerprint",
        lambda module: "edited" if module.endswith("cells.rnn") else real(module),
    )
    again = run_study(study, REGISTRY, store, workers=0)
    assert (again.done, again.skipped) == (2, 4)  # only the rnn configuration reruns
    current = {r["key"] for r in store.runs_of("rel")}
    stale = store.runs_of("rel", stale=True)
    assert len(stale) == 2 and {r["key"] for r in stale} == old - current
    assert [s["stale"] for s in store.studies()] == [2]
    from ablab.core.lab import aggregates

    curve = aggregates.metric_curve(store, "rel", "loss")
    assert set(curve["n"]) == {2}  # each configuration's curve counts its current seeds only
    listing = cli("studies", "--store", url)
    assert "stale" in listing.stdout and listing.stdout.splitlines()[2].split()[-1] == "2"


def test_rerun_recomputes_on_purpose(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    path = tmp_path / "rel.toml"
    path.write_text(STUDY)
    assert cli("run", str(path), "--store", url, "--workers", "0").returncode == 0
    out = cli("run", str(path), "--store", url, "--workers", "0", "--rerun")
    assert out.returncode == 0 and "done: 6 finished" in out.stderr, out.stderr
    assert [r["attempts"] for r in Store(url).runs_of("rel")] == [2] * 6


def test_builtin_fingerprint_is_the_hash_of_the_plugin_module():
    versions = study_module.plugin_versions({"task": {"name": "adding"}, "model": {"cell": "gru"}}, REGISTRY)
    import hashlib

    source = (ROOT / "plugins" / "cells" / "gru.py").read_bytes()
    assert versions["cell:gru"].endswith("#" + hashlib.sha256(source).hexdigest()[:12])
    # the LSTM's compiled kernels live in modules of their own, imported inside functions: they count
    files = [p.name for p in study_module._package_sources("ablab.plugins.cells.lstm")]
    assert files == ["lstm.py", "lstm_kernel.py", "lstm_backward.py", "lstm_forward.py"]


def test_an_edit_to_a_plugins_helper_module_changes_its_fingerprint(tmp_path, monkeypatch):
    package = tmp_path / "helperplug"
    package.mkdir()
    (package / "__init__.py").write_text("from helperplug import cell, other  # the package imports every module\n")
    (package / "cell.py").write_text(
        "def step(x):\n    from .kernel import fast  # lazy, relative\n    return fast(x)\n"
    )
    (package / "kernel.py").write_text("def fast(x):\n    return x\n")
    (package / "other.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sources = study_module._package_sources("helperplug.cell")
    assert [p.name for p in sources] == ["cell.py", "kernel.py"]  # not the package's __init__, nor other.py
    before = study_module._module_fingerprint("helperplug.cell")
    (package / "other.py").write_text("X = 2\n")
    study_module._module_fingerprint.cache_clear()
    assert study_module._module_fingerprint("helperplug.cell") == before
    (package / "kernel.py").write_text("def fast(x):\n    return 2 * x\n")
    study_module._module_fingerprint.cache_clear()
    assert study_module._module_fingerprint("helperplug.cell") != before
    study_module._module_fingerprint.cache_clear()


# -- plugins -----------------------------------------------------------------------------------


def test_a_plugin_calling_sys_exit_at_import_is_recorded_not_fatal(tmp_path):
    site = tmp_path / "site"
    (site / "exitplug-0.1.dist-info").mkdir(parents=True)
    (site / "exitplug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: exitplug\nVersion: 0.1\n")
    (site / "exitplug-0.1.dist-info" / "entry_points.txt").write_text("[ablab]\nexiting = exitplug_mod\n")
    (site / "exitplug_mod.py").write_text("import sys\nsys.exit(3)\n")
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); "
        "from ablab.core.cli.main import main; sys.exit(main(['plugins', '--json']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    failed = [r for r in json.loads(out.stdout) if r["status"] == "failed"]
    assert failed[0]["provider"] == "exitplug" and "SystemExit(3)" in failed[0]["summary"]


def test_a_full_disk_leaves_the_study_incomplete_and_says_so(tmp_path):
    from ablab.core.lab import runner

    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    study = parse_study(STUDY.replace("log_every = 5", "log_every = 1"), "rel.toml", REGISTRY)
    store = Store(url)
    store.save_study(study, study.runs(REGISTRY))
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    full = Store(url)  # the workers' view of the store: a disk with no page left (SQLITE_FULL)
    full.engine.dispose()
    sa.event.listen(full.engine, "connect", lambda c, _: c.execute(f"PRAGMA max_page_count = {pages}"))
    runner._STORES[url] = full
    try:
        progress = run_study(study, REGISTRY, store, workers=0)
    finally:
        del runner._STORES[url]
    statuses = [r["status"] for r in store.runs_of("rel")]
    assert progress.left >= 4 and progress.left == statuses.count("pending")  # given back, redone next time
    assert set(statuses) <= {"pending", "done"}


def test_ctrl_c_stops_a_run_started_with_sigint_ignored(tmp_path):
    """A background job of a script inherits SIGINT ignored; the dashboard's Stop sends SIGINT."""
    store_url = f"sqlite:///{tmp_path / 's.sqlite'}"

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc, _, _ = start_mid_flight(
        tmp_path, store_url, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=ignore_sigint
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted:" in err, err


GATED = '''"""A plugin cell for the changed-code test: the built-in rnn under another name."""
from ablab.plugin import hookimpl
from ablab.plugins.cells.rnn import RNN


class Gated(RNN):
    pass


@hookimpl
def register_cells(register):
    register("gated", Gated)
'''


def test_run_says_when_a_plugins_code_changed_since_its_runs_were_stored(tmp_path, monkeypatch, capsys):
    """A comment-only edit of a real plugin file: `ablab run` names the plugin and the runs set aside."""
    import importlib

    from ablab.core.cli.main import main
    from ablab.core.lab.plugin_changes import changed_plugins
    from ablab.core.plugin_system import registry as registry_module

    (tmp_path / "gated_cells.py").write_text(GATED)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = registry_module.registry_with(importlib.import_module("gated_cells"))
    monkeypatch.setattr(registry_module, "default_registry", lambda: registry)  # the CLI sees the plugin
    path = tmp_path / "rel.toml"
    path.write_text(STUDY.replace('"model.cell" = ["rnn", "gru", "lstm"]', '"model.cell" = ["rnn", "gated"]'))
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    assert main(["run", str(path), "--store", url, "--workers", "0"]) == 0
    again = capsys.readouterr().err
    assert main(["run", str(path), "--store", url, "--workers", "0"]) == 0
    assert "changed" not in capsys.readouterr().err and "changed" not in again  # nothing changed: no note
    (tmp_path / "gated_cells.py").write_text(GATED + "# a comment\n")
    study_module._module_fingerprint.cache_clear()  # a new process would read the file afresh
    assert changed_plugins(Store(url), parse_study(path.read_text(), "rel.toml", registry), registry) == [
        ("cell 'gated'", "its code", 2)
    ]
    assert main(["run", str(path), "--store", url, "--workers", "0"]) == 0
    err = capsys.readouterr().err
    assert "note: cell 'gated' changed (its code) since 2 runs were stored: those runs are kept aside as stale" in err
    assert "done: 2 finished, 0 diverged, 0 failed, 2 already in the store" in err
    assert main(["run", str(path), "--store", url, "--workers", "0"]) == 0
    assert "changed" not in capsys.readouterr().err  # said once: the recomputed runs are current now
    released = registry_module.build_registry(
        entry_points=False, extra=[(importlib.import_module("gated_cells"), "gated_cells", "2.0")], strict=True
    )
    study = parse_study(path.read_text(), "rel.toml", released)
    assert changed_plugins(Store(url), study, released) == [
        ("cell 'gated'", "version gated_cells==0+test -> gated_cells==2.0", 2)
    ]
