"""The WordNet task's prepared corpus and word lists, kept on disk between processes.

Preparing them reads and parses ~28 MB of WordNet files (about 6 s on one core), and every
process that reads a study of this task needs them: the memory check of `ablab run` and
`ablab claims` asks for the vocabulary size, each worker trains on the corpus, the dashboard's
Claims page reads the built-in studies. A file per (data folder, options) in the user's cache
folder makes that a read of a few MB after the first time.

The key covers what the result depends on: the data files (path, size, modification time), the
options, and the source of the modules that compute it, so an edited file or a new ablab
computes afresh. The cache is this user's own folder (pickle is read from nowhere else); a file
that cannot be read is recomputed and replaced, and a cache that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

from ablab.plugins.tasks import wordnet_files


def folder() -> Path:
    """$XDG_CACHE_HOME/ablab/wordnet (~/.cache/ablab/wordnet)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ablab" / "wordnet"


def key(directory: str, options: tuple, sources: list[str]) -> str:
    digest = hashlib.sha256(repr((os.path.abspath(directory), options)).encode())
    for pos in wordnet_files.POS:
        for kind in ("data", "index"):
            stat = os.stat(os.path.join(directory, f"{kind}.{pos}"))
            digest.update(f"{kind}.{pos}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for path in sources:  # the code that computes the value
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:32]


def cached(directory: str, options: tuple, sources: list[str], compute: Callable[[], object]):
    """compute(), or its value stored under the key of (directory, options, sources)."""
    path = folder() / f"{key(directory, options, sources)}.pickle"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        pass  # not there yet, or unreadable: compute it again
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f.name, path)  # whole or not at all: a reader never sees half a file
        _prune(path.parent)
    except OSError:
        pass  # a read-only home: the value is still returned, only not kept
    return value


KEEP = 4  # files kept: a new key per code change would otherwise pile up ~14 MB each


def _prune(where: Path) -> None:
    files = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
