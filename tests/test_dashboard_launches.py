"""Studies launched from the dashboard: kept per (store, study), found again after a refresh,
stopped from the page, and a claim's rerun recomputes (found by a newcomer's walk)."""

import os
import time

from dashboard_helpers import page, two_studies

from ablab.core.lab.store import Store
from ablab.dashboard import launcher

STUDY = """
[study]
name = "NAME"
seeds = [0]

[base]
task = { name = "adding", length = 4 }
model = { kind = "recurrent", cell = "rnn", hidden = 3 }
optimizer = { name = "sgd", lr = 0.1 }
train = { steps = STEPS, batch_size = 2, log_every = 1 }

[axes]
"model.hidden" = [3, 4]
"""


def study(name: str, steps: int) -> str:
    return STUDY.replace("NAME", name).replace("STEPS", str(steps))


def wait_for(condition, seconds: float = 120) -> bool:
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.5)
    return condition()


def test_a_refreshed_run_page_shows_the_launch_and_stops_it_and_another_store_sees_none(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url, other = f"sqlite:///{tmp_path / 'store.sqlite'}", f"sqlite:///{tmp_path / 'other.sqlite'}"
    path = launcher.write_study(url, "long", study("long", 1_000_000))
    pid, started = launcher.launch(url, "long", path, workers=1)
    assert started and launcher.running(url, "long") == pid
    assert launcher.launch(url, "long", path)[1] is False  # one launch per (store, name) at a time
    # another store's dashboard neither sees this launch nor stops it
    assert launcher.running(other, "long") is None and launcher.stop(other, "long") is False
    assert launcher.launch_dir(url) != launcher.launch_dir(other)
    assert launcher.launch_dir(f"sqlite:///{tmp_path}/./store.sqlite") == launcher.launch_dir(url)
    assert "store.sqlite" not in str(launcher.launch_dir(url))  # a hash names the folder, never the URL
    log = launcher.log_path(url, "long")
    assert wait_for(lambda: "runs" in log.read_text())  # its progress line: the runner is up
    elsewhere = page(other, "run", monkeypatch, {"study": "long"})
    assert not [b for b in elsewhere.button if b.key in ("stop", "stop_linked")] and not elsewhere.get("progress")
    # the page opened afresh (as after a refresh) from its link: the launched study, its progress and Stop
    at = page(url, "run", monkeypatch, {"study": "long"})
    assert any("Launched from this page: `long`" in m.value for m in at.markdown)
    assert "0/2 runs" in at.get("progress")[0].proto.text
    (stop,) = [b for b in at.button if b.key == "stop_linked"]
    stop.click().run()
    assert wait_for(lambda: launcher.running(url, "long") is None)
    assert "interrupted" in log.read_text()


def test_a_rerun_recomputes_every_stored_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    path = launcher.write_study(url, "again", study("again", 3))
    for rerun in (False, False, True):
        pid, started = launcher.launch(url, "again", path, workers=0, rerun=rerun)
        assert started
        os.waitpid(pid, 0)
    lines = [line for line in launcher.log_path(url, "again").read_text().splitlines() if line.startswith("done:")]
    assert "done: 0 finished" in lines[1] and "2 already in the store" in lines[1]  # a plain relaunch: nothing
    assert "done: 2 finished" in lines[2] and "0 already in the store" in lines[2]  # --rerun: both again


def test_a_refused_review_note_keeps_its_text_and_a_saved_one_clears(tmp_path, monkeypatch):
    url = two_studies(f"sqlite:///{tmp_path / 's.sqlite'}")
    at = page(url, "review", monkeypatch, {"study": "cells"})
    note = "The LSTM holds lag 3; the RNN diverged once."
    at.text_area[0].set_value(note)
    at.button[0].click().run()
    assert "Give your name and a note." in [e.value for e in at.error]
    assert at.text_area[0].value == note and Store(url).reviews_of("cells") == []
    at.text_input[0].set_value("Ada")
    at.button[0].click().run()
    assert [r["note"] for r in Store(url).reviews_of("cells")] == [note]
    new = [t for t in at.text_area if t.key.startswith("review_note_")]
    assert [t.value for t in new] == [""]  # saved: the form is empty again


def test_a_claim_runs_with_new_seeds_and_shows_both_verdicts(tmp_path, monkeypatch):
    """The Claims page says which seeds a verdict rests on; "Run with new seeds" launches the
    study with every seed + 1000 as NAME-s1000, and its verdict then shows beside the original."""
    from test_new_seeds import TINY

    from ablab.core.lab.runner import run_study
    from ablab.core.lab.study import parse_study
    from ablab.core.plugin_system.registry import build_registry

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    registry = build_registry(entry_points=False)
    run_study(parse_study(TINY, "tiny.toml", registry), registry, Store(url), workers=0)
    at = page(url, "claims", monkeypatch)
    assert "This verdict rests on the runs of seeds 0-3 (4 seeds)." in [c.value for c in at.caption]
    (button,) = [b for b in at.button if b.key == "new_seeds_tiny_radius"]
    button.click().run()
    assert wait_for(lambda: launcher.running(url, "tiny_radius-s1000") is None)
    log = launcher.log_path(url, "tiny_radius-s1000").read_text()
    assert "done: 8 finished" in log, log
    at = page(url, "claims", monkeypatch)
    assert not [e for e in at.expander if "tiny_radius-s1000" in e.label]  # listed under its claim only
    stability = [m.value for m in at.markdown if m.value.startswith("**New seeds**")]
    assert stability == ["**New seeds** (tiny_radius-s1000): holds on seeds 0-3 and 1000-1003"]
    (table,) = [t.value for t in at.table if "seeds 1000-1003" in t.value.columns]  # under the claim's own checks
    assert list(table["seeds 0-3"]) == ["holds", "holds"] and list(table["seeds 1000-1003"]) == ["holds", "holds"]
