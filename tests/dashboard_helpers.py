"""A store with two studies whose axes differ, written directly (no training, about a second):
for the AppTest and browser checks of the Runs page and of links when the study changes."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ablab.core.lab.store import RunResult, Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry

CELLS = """
[study]
name = "cells"
seeds = [10, 2, 0]

[base]
task = { name = "recall", max_lag = 3 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, log_every = 10 }

[axes]
"model.cell" = ["rnn", "lstm"]
"""

RATES = """
[study]
name = "rates"
seeds = [0, 1]

[base]
task = { name = "recall", max_lag = 3 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, log_every = 10 }

[axes]
"model.cell" = ["rnn", "gru"]
"optimizer.lr" = [0.1, 0.01]
"""


def stored_study(tmp_path, text: str, rows_of) -> tuple[str, list]:
    """The study `text` in a fresh store under tmp_path, every run done with the records
    rows_of(run) (no training): (the store's URL, the runs)."""
    registry = build_registry(entry_points=False)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    study = parse_study(text, "study.toml", registry)
    runs = study.runs(registry)
    store.save_study(study, runs)
    store.write_runs([RunResult(r.key, "done", 0.1, rows_of(r)) for r in runs])
    return url, runs


DIVERGED_SEED = 2  # in the study "cells", configuration cell=rnn: diverged at step 7


def two_studies(url: str) -> str:
    """Fill the store at url with the studies "cells" and "rates"; returns url."""
    registry = build_registry(entry_points=False)
    store = Store(url)
    for text in (CELLS, RATES):
        study = parse_study(text, "helper.toml", registry)
        runs = study.runs(registry)
        store.save_study(study, runs)
        for i, r in enumerate(runs):
            metrics = [{"step": s, "name": "loss", "value": 1.0 / (1 + s + i)} for s in (0, 10, 19)]
            metrics += [{"step": s, "name": "accuracy", "value": 0.2 + 0.01 * s} for s in (0, 10, 19)]
            if r.point.get("model.cell") == "rnn" and r.seed == DIVERGED_SEED and study.name == "cells":
                store.write_run(r.key, "diverged", seconds=0.3, metrics=metrics[:1], diverged_step=7)
            else:
                store.write_run(r.key, "done", seconds=0.3, metrics=metrics)
    return url


APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def page(url: str, name: str, monkeypatch, query: dict | None = None) -> AppTest:
    """The dashboard on `url`, switched to views/NAME.py with the link's query; no exception."""
    monkeypatch.setenv("ABLAB_STORE", url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()  # the Home page, which uses no link keys (it would take them out)
    at.switch_page(f"views/{name}.py")
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
