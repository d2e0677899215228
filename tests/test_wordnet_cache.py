"""The WordNet task's disk cache: a value computed once is read back equal by later processes,
and recomputed when the data, the options or the code change, or when its file is damaged; a
cache folder that cannot be written costs only the time."""

import os
import shutil
from pathlib import Path

import pytest

from ablab.plugins.tasks import wordnet_cache

DATA = Path(__file__).parent / "data" / "wordnet"


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "wordnet"
    shutil.copytree(DATA, folder)
    return str(folder)


def counting():
    calls = []

    def compute():
        calls.append(1)
        return {"words": [".", "good", "bad"], "n": len(calls)}

    return calls, compute


def test_a_value_is_computed_once_and_read_back_equal(data):
    calls, compute = counting()
    first = wordnet_cache.cached(data, (10, 50), [__file__], compute)
    again = wordnet_cache.cached(data, (10, 50), [__file__], compute)
    assert first == again == {"words": [".", "good", "bad"], "n": 1} and len(calls) == 1
    wordnet_cache.cached(data, (10, 60), [__file__], compute)  # other options: another value
    assert len(calls) == 2


def test_changed_data_or_code_computes_afresh(data, tmp_path):
    calls, compute = counting()
    wordnet_cache.cached(data, (10, 50), [__file__], compute)
    with open(os.path.join(data, "data.adj"), "a") as f:
        f.write("\n")  # an edited (or reinstalled) database
    wordnet_cache.cached(data, (10, 50), [__file__], compute)
    code = tmp_path / "code.py"
    code.write_text("# another version of the code\n")
    wordnet_cache.cached(data, (10, 50), [__file__, str(code)], compute)
    assert len(calls) == 3


def test_a_damaged_file_is_recomputed_and_replaced(data):
    calls, compute = counting()
    wordnet_cache.cached(data, (10, 50), [__file__], compute)
    (path,) = wordnet_cache.folder().glob("*.pickle")
    path.write_bytes(b"not a pickle")
    assert wordnet_cache.cached(data, (10, 50), [__file__], compute)["n"] == 2
    assert wordnet_cache.cached(data, (10, 50), [__file__], compute)["n"] == 2 and len(calls) == 2


def test_a_cache_folder_that_cannot_be_written_costs_only_time(data, tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # mkdir under a file fails
    calls, compute = counting()
    assert wordnet_cache.cached(data, (10, 50), [__file__], compute)["n"] == 1
    assert wordnet_cache.cached(data, (10, 50), [__file__], compute)["n"] == 2  # computed again, not kept


def test_only_the_newest_files_are_kept(data):
    _, compute = counting()
    for min_count in range(wordnet_cache.KEEP + 3):
        wordnet_cache.cached(data, (min_count, 50), [__file__], compute)
    assert len(list(wordnet_cache.folder().glob("*.pickle"))) == wordnet_cache.KEEP
