"""Starts studies in a background process that writes to the store: never inside Streamlit.

One launch per study name at a time: a pid file next to the study file says whether a
launched run is still alive, so a browser refresh or a second tab cannot start it twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def launch_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ablab" / "launched"
    base.mkdir(parents=True, exist_ok=True)
    return base


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
    pid_file = launch_dir() / f"{name}.pid"
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
    command = [sys.executable, "-m", "ablab.core.cli", "run", str(study_path), "--store", store_url]
    if workers is not None:
        command += ["--workers", str(workers)]
    if scheduler:
        command += ["--scheduler", scheduler]
    with open(launch_dir() / f"{name}.log", "ab") as log:  # the child keeps its own copy of the file
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (launch_dir() / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid, True


def write_study(name: str, text: str) -> Path:
    path = launch_dir() / f"{name}.toml"
    path.write_text(text)
    return path
