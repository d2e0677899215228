"""Starts studies in a background process that writes to the store: never inside Streamlit.

One launch per study name at a time: a pid file next to the study file says whether a
launched run is still alive, so a browser refresh or a second tab cannot start it twice.
Every file it writes is `launch_dir() / NAME.{toml,pid,log}` with NAME checked by the one
study-name rule (a plain slug), so nothing can land outside the launch folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ablab.core.lab.names import check_study_name


def launch_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ablab" / "launched"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _path(name: str, suffix: str) -> Path:
    """The launch folder's file for a study: raises ConfigError for a name that is not a slug."""
    check_study_name(name)
    folder = launch_dir().resolve()
    path = (folder / f"{name}{suffix}").resolve()
    if path.parent != folder:  # the slug rule already excludes this; a second lock on the door
        raise ValueError(f"study file {path} would be outside {folder}")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child that nobody waited for is a zombie: not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def running(name: str) -> int | None:
    pid_file = _path(name, ".pid")
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def launch(
    name: str, study_path: str | Path, store_url: str, workers: int | None = None, scheduler: str | None = None
) -> tuple[int, bool]:
    """(pid, started): started is False when the study is already running."""
    pid = running(name)
    if pid is not None:
        return pid, False
    # --replace: the Run page asked before launching over a stored study of that name ("resume it"),
    # and the Claims page runs the built-in file, which is the claim's definition
    command = [sys.executable, "-m", "ablab.core.cli", "run", str(study_path), "--store", store_url, "--replace"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if scheduler:
        command += ["--scheduler", scheduler]
    with open(_path(name, ".log"), "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    _path(name, ".pid").write_text(str(proc.pid))
    return proc.pid, True


def stop(name: str) -> bool:
    """Interrupt a launched study as Ctrl-C would (its whole process group, workers included):
    runs finished so far stay in the store and a relaunch does the rest. False if not running."""
    pid = running(name)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGINT)  # start_new_session made the pid its group's id
    except ProcessLookupError:
        return False
    return True


def write_study(name: str, text: str) -> Path:
    path = _path(name, ".toml")
    path.write_text(text, encoding="utf-8")
    return path
