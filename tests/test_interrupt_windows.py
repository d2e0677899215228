"""Ctrl-C (or the dashboard's Stop) at ANY moment of `ablab run` ends with the "interrupted"
line and exit code 130, never a raw KeyboardInterrupt traceback. A profile hook sends this
process a real SIGINT on entering one function of the run, so each window is hit every time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablab.core.cli.main import main

STUDY = """
[study]
name = "sig"
seeds = [0, 1]

[base]
task = { name = "adding", length = 6 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 10, batch_size = 4, log_every = 5 }

[axes]
"model.cell" = ["rnn", "gru"]
"""

# (where the signal lands, function entered, its nth call in the main thread)
PHASES = [
    ("loading the study", "load_study", 1),
    ("opening the store", "Store.check_integrity", 1),
    ("before the runner", "run_by_need", 1),
    ("saving the study", "plan", 1),
    ("starting the heartbeat thread", "Event.wait", 1),  # the flaky dashboard test's traceback
    ("claiming", "Leases.claim", 1),
    ("making the executor", "make_executor", 1),
    ("writing results", "Store.write_runs", 1),
    ("between jobs", "Leases.claim", 2),
    ("inside a claim's transaction", "Leases.claim.<locals>.<setcomp>", 2),
    ("reporting progress", "progress_line", 3),
    ("giving leases back", "_release", 1),
    ("stopping the heartbeat", "Heartbeat.close", 1),
    ("shutting the executor down", "Executor.shutdown", 1),
    ("counting what is left", "Store.statuses", 2),
]


def sigint_on(qualname: str, nth: int):
    calls = 0

    def hook(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code.co_qualname == qualname:
            calls += 1
            if calls == nth:
                sys.setprofile(None)
                os.kill(os.getpid(), signal.SIGINT)

    return hook


def run_with_sigint_on(tmp_path, qualname: str, nth: int) -> tuple[list[str], int | str, bool]:
    """`ablab run` in this process, with a SIGINT on the nth call of qualname; (argv, exit code, hit)."""
    path = tmp_path / "sig.toml"
    path.write_text(STUDY)
    args = ["run", str(path), "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--workers", "0"]
    sys.setprofile(sigint_on(qualname, nth))
    try:
        code = main(args)
    except KeyboardInterrupt:  # the bug: caught here so that pytest itself is not stopped
        code = "a raw KeyboardInterrupt"
    finally:
        hit = sys.getprofile() is None
        sys.setprofile(None)
    return args, code, hit


@pytest.mark.parametrize("phase,qualname,nth", PHASES, ids=[p[0] for p in PHASES])
def test_sigint_at_any_moment_ends_with_the_interrupted_line(tmp_path, capsys, phase, qualname, nth):
    args, code, hit = run_with_sigint_on(tmp_path, qualname, nth)
    err = capsys.readouterr().err
    assert hit, f"the run never entered {qualname} (call {nth}): the phase list is out of date"
    assert code == 130 and "interrupted:" in err, f"{phase}: {code}\n{err}"
    # finished runs stay and no lease is left behind: the same command finishes the rest
    assert main(args) == 0
    assert "done:" in capsys.readouterr().err


def test_sigint_once_the_study_is_done_changes_nothing(tmp_path, capsys):
    """Every run finished and was counted: a Ctrl-C while the last lines print is no failure."""
    _, code, hit = run_with_sigint_on(tmp_path, "_report", 1)
    err = capsys.readouterr().err
    assert hit and code == 0 and "done: 4 finished" in err and "interrupted" not in err, err


def importing_worker(pid: int) -> int | None:
    """A pool worker of `ablab run` (pid) that is importing: Python has installed its Ctrl-C
    handler (SigCgt) and _worker_init has not yet ignored SIGINT (SigIgn); None if none is."""
    sigint = 1 << (signal.SIGINT - 1)
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid or b"spawn_main" not in (entry / "cmdline").read_bytes():
                continue
            masks = dict(line.split(":\t") for line in (entry / "status").read_text().splitlines() if ":\t" in line)
            if int(masks["SigCgt"], 16) & sigint and not int(masks["SigIgn"], 16) & sigint:
                return int(entry.name)
        except (OSError, ValueError, IndexError, KeyError):
            continue
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the worker start")
def test_stop_while_a_worker_is_still_starting_prints_no_traceback(tmp_path):
    """The dashboard's Stop signals the whole process group: a worker still importing got the
    SIGINT too and printed a KeyboardInterrupt traceback into the log."""
    path = tmp_path / "sig.toml"
    path.write_text(STUDY.replace("steps = 10", "steps = 100000"))
    argv = [sys.executable, "-m", "ablab.core.cli", "run", str(path), "--store", f"sqlite:///{tmp_path / 's.sqlite'}"]
    proc = subprocess.Popen(
        [*argv, "--workers", "1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while importing_worker(proc.pid) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the run ended before its worker was seen starting"
        os.killpg(proc.pid, signal.SIGINT)  # as launcher.stop does, while the worker imports
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted:" in err and "Traceback" not in err, err
