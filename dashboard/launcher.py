"""Starts studies in a background process that writes to the store: never inside Streamlit.

One launch per (store, study name) at a time: a pid file says whether a launched run is
still alive, so a browser refresh or a second tab cannot start it twice. Launches are kept
per store (`launch_dir(store_url)`: a folder named by a short hash of the store's URL, never
the URL itself), so a dashboard on another store neither sees nor stops this store's runs.
Every file it writes is `launch_dir(store_url) / NAME.{toml,pid,log}` with NAME checked by the
one study-name rule (a plain slug), so nothing can land outside the launch folder.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from ablab.core.lab.names import check_study_name


def launch_dir(store_url: str) -> Path:
    """This store's launch folder. Records from before launches were kept per store (files
    directly in `launched/`) are ignored: nobody can tell which store they ran on."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ablab" / "launched"
    folder = base / hashlib.sha256(_store_key(store_url).encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _store_key(store_url: str) -> str:
    """A SQLite file by its resolved path, so two spellings of one file share their launches."""
    if store_url.startswith("sqlite:///") and "?" not in store_url and store_url != "sqlite:///:memory:":
        return "sqlite:///" + str(Path(store_url.removeprefix("sqlite:///")).expanduser().resolve())
    return store_url


def _path(store_url: str, name: str, suffix: str) -> Path:
    """The launch folder's file for a study: raises ConfigError for a name that is not a slug."""
    check_study_name(name)  # before any path is built or folder made
    folder = launch_dir(store_url).resolve()
    path = (folder / f"{name}{suffix}").resolve()
    if path.parent != folder:  # the slug rule already excludes this; a second lock on the door
        raise ValueError(f"study file {path} would be outside {folder}")
    return path


def log_path(store_url: str, name: str) -> Path:
    return _path(store_url, name, ".log")


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


def running(store_url: str, name: str) -> int | None:
    """The pid of the study NAME launched on this store, if it is still running."""
    pid_file = _path(store_url, name, ".pid")
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def launch(
    store_url: str,
    name: str,
    study_path: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    rerun: bool = False,
) -> tuple[int, bool]:
    """(pid, started): started is False when the study is already running on this store."""
    pid = running(store_url, name)
    if pid is not None:
        return pid, False
    # --replace: the Run page asked before launching over a stored study of that name ("resume it"),
    # and the Claims page runs the built-in file, which is the claim's definition
    command = [sys.executable, "-m", "ablab.core.cli", "run", str(study_path), "--store", store_url, "--replace"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if scheduler:
        command += ["--scheduler", scheduler]
    if rerun:
        command.append("--rerun")
    with open(log_path(store_url, name), "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    _path(store_url, name, ".pid").write_text(str(proc.pid))
    return proc.pid, True


def stop(store_url: str, name: str) -> bool:
    """Interrupt a study launched on this store as Ctrl-C would (its whole process group, workers
    included): runs finished so far stay in the store and a relaunch does the rest. False if not running."""
    pid = running(store_url, name)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGINT)  # start_new_session made the pid its group's id
    except ProcessLookupError:
        return False
    return True


def study_file(store_url: str, name: str) -> Path:
    """The study file last launched as NAME on this store (it may not exist)."""
    return _path(store_url, name, ".toml")


def write_study(store_url: str, name: str, text: str) -> Path:
    path = study_file(store_url, name)
    path.write_text(text, encoding="utf-8")
    return path
