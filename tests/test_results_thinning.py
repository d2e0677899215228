"""The Results page at many configurations: curves thinned to fewer steps for the browser, and
the page says so in its caption (a reader must not take 60 drawn steps for all that was logged)."""

import io
import json

import pandas as pd
from dashboard_helpers import page, stored_study

from ablab.dashboard import series

RATES = [round(0.001 * (k + 1), 3) for k in range(34)]
MANY = f"""
[study]
name = "many"
seeds = [0]

[base]
task = {{ name = "adding", length = 5 }}
model = {{ kind = "recurrent", cell = "rnn", hidden = 4 }}
train = {{ steps = 80, log_every = 1 }}

[axes]
"model.cell" = ["rnn", "lstm", "gru"]
"optimizer.lr" = {RATES}
"""


STEPS = range(80)  # more logged steps than a curve keeps at 102 lines


def many_store(tmp_path) -> tuple[str, int]:
    """The MANY study (102 configurations, one seed) with a loss at every step: (url, runs)."""
    loss = [{"step": s, "name": "loss", "value": 1.0 / (1 + s)} for s in STEPS]
    url, runs = stored_study(tmp_path, MANY, lambda r: loss)
    return url, len(runs)


def test_many_configurations_draw_thinned_curves_and_say_so(tmp_path, monkeypatch):
    url, n_runs = many_store(tmp_path)
    points = series.points_per_curve(n_runs)
    assert points < len(STEPS)
    at = page(url, "results", monkeypatch, {"study": "many"})
    captions = [c.value for c in at.caption]
    assert any(
        f"102 lines in a chart each curve over steps shows at most {points} evenly spaced" in c for c in captions
    )


def test_curves_keep_more_steps_when_fewer_lines_are_drawn(tmp_path, monkeypatch):
    """Thinning counts the lines a chart draws, not the study's configurations: grouped into 3
    lines (colour by cell, no small multiples), each curve keeps every logged step."""
    url, _ = many_store(tmp_path)
    at = page(url, "results", monkeypatch, {"study": "many", "facet": "none", "color": "model.cell"})
    assert not at.exception
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    rows = pd.read_csv(io.StringIO(spec["vconcat"][0]["data"]["values"]))
    assert rows["config"].nunique() == 3 and rows["x"].nunique() == 80  # 3 lines: nothing thinned
    assert not any("evenly spaced" in c.value for c in at.caption)
