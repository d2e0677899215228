"""A diverged run beside converged ones spans many decades: the Compare page, the Runs page and
the HTML report start such a chart on a log axis, as the Results page does, instead of drawing
everything else as a flat line at 0 (found by a newcomer's walk)."""

import json

import pytest
from dashboard_helpers import page

from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts, report

REGISTRY = build_registry(entry_points=False)
STUDY = """
[study]
name = "NAME"
seeds = [0, 1]

[base]
task = { name = "adding", length = 5 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, log_every = 10 }
"""


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    """Two studies: 'calm' (losses near 0.1) and 'blowup', whose seed 1 reaches 1e12."""
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'store.sqlite'}"
    store = Store(url)
    for name, top in (("calm", 0.2), ("blowup", 1e12)):
        study = parse_study(
            STUDY.replace("NAME", name).replace("hidden = 4", f"hidden = {4 if top < 1 else 5}"), name, REGISTRY
        )
        runs = study.runs(REGISTRY)
        store.save_study(study, runs)
        for i, r in enumerate(runs):
            last = top if i == 1 else 0.1
            metrics = [{"step": s, "name": "loss", "value": v} for s, v in ((0, 0.3), (10, 0.2), (19, last))]
            store.write_run(r.key, "diverged" if last > 1 else "done", seconds=0.1, metrics=metrics)
    return url


def y_scales(at) -> list:
    def find(spec):
        if isinstance(spec, dict):
            if "y" in spec and isinstance(spec["y"], dict) and "scale" in spec["y"]:
                yield spec["y"]["scale"].get("type", "linear")
            for v in spec.values():
                yield from find(v)
        elif isinstance(spec, list):
            for v in spec:
                yield from find(v)

    return [list(find(json.loads(c.proto.spec))) for c in at.get("vega_lite_chart")]


def test_compare_starts_on_a_log_axis_and_the_choice_lives_in_the_link(store_url, monkeypatch):
    at = page(store_url, "compare", monkeypatch, {"studies": ["blowup", "calm"]})
    assert at.toggle(key="compare_log").value is True
    assert any("log" in scales for scales in y_scales(at))
    at.toggle(key="compare_log").set_value(False).run()
    assert at.query_params["log"] in ("off", ["off"]) and not any("log" in s for s in y_scales(at))


def test_runs_page_draws_a_seed_that_exploded_on_a_log_axis(store_url, monkeypatch):
    at = page(store_url, "runs", monkeypatch, {"study": "blowup"})
    assert any("log" in scales for scales in y_scales(at))
    at = page(store_url, "runs", monkeypatch, {"study": "calm"})
    assert not any("log" in scales for scales in y_scales(at))


def test_the_report_draws_an_exploding_loss_on_a_log_axis(store_url, monkeypatch):
    drawn = []
    real = charts.band_chart

    def recording(frame, **kw):  # the real chart, with its log choice noted
        drawn.append((kw["title"], kw.get("log_y", False)))
        return real(frame, **kw)

    monkeypatch.setattr(charts, "band_chart", recording)
    store = Store(store_url)
    report.build_report(store, "blowup")
    report.build_report(store, "calm")
    assert drawn[0] == ("Training loss", True) and ("Training loss", False) in drawn[1:]
