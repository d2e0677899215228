"""The Results page past MANY_CONFIGS configurations: by default each chart colours by the axis
that moves the final loss most and draws the mean over the other axes, labelled, without a band
(100 lines with bands in one chart are not reviewable); any grouping stays one pick away, and
the link keeps it. The chart's data reaches the browser inline as CSV (charts.inline)."""

import io
import json
import re

import pandas as pd
import vl_convert
from dashboard_helpers import page, stored_study

from ablab.dashboard import charts
from ablab.dashboard.data import MANY_CONFIGS, strongest_axis

WIDE = """
[study]
name = "wide"
seeds = [0, 1]

[base]
task = { name = "adding", length = 5 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, log_every = 5 }

[axes]
"model.cell" = ["rnn", "lstm", "gru"]
"model.hidden" = [4, 8, 16]
"optimizer.lr" = [0.001, 0.01, 0.1, 0.3]
"""


def loss_rows(point: dict, seed: int) -> list[dict]:
    """The hidden size moves the loss most (by 1 a size), the cell a little, the seed less."""
    level = {4: 3.0, 8: 2.0, 16: 1.0}[point["model.hidden"]] + 0.1 * ["rnn", "lstm", "gru"].index(point["model.cell"])
    return [{"step": s, "name": "loss", "value": level + 0.01 * seed - 0.001 * s} for s in range(0, 20, 5)]


def chart_rows(element) -> pd.DataFrame:
    """A Results chart's data as the browser gets it: one CSV string one level down."""
    spec = json.loads(element.proto.spec)
    assert "datasets" not in spec and "data" not in spec and not element.proto.datasets  # nothing for Arrow
    data = spec["vconcat"][0]["data"]
    assert data["format"]["type"] == "csv"
    return pd.read_csv(io.StringIO(data["values"]))


def wide_store(tmp_path, rows_of=None) -> str:
    """The WIDE study in a fresh store, each run's records from rows_of(point, seed) (default:
    loss_rows); returns the store's URL."""
    url, runs = stored_study(tmp_path, WIDE, lambda r: (rows_of or loss_rows)(r.point, r.seed))
    assert len({json.dumps(r.point, sort_keys=True) for r in runs}) == 36 > MANY_CONFIGS
    return url


def test_many_configurations_colour_by_the_strongest_axis_and_say_so(tmp_path, monkeypatch):
    url = wide_store(tmp_path)

    at = page(url, "results", monkeypatch, {"study": "wide"})
    assert at.selectbox(key="facet").value == "optimizer.lr"  # the axis with most values
    assert at.multiselect(key="color_by").value == ["model.hidden"]
    said = " ".join(c.value for c in at.caption)
    assert "36 configurations: each chart colours by model.hidden" in said and "mean over model.cell" in said
    rows = chart_rows(at.get("vega_lite_chart")[0])
    assert set(rows["config"]) == {"hidden=4", "hidden=8", "hidden=16"}
    assert (rows["n"] == 3).all() and (rows["lo"] == rows["mean"]).all()  # 3 cells averaged, no band
    layers = json.loads(at.get("vega_lite_chart")[0].proto.spec)["vconcat"][0]["spec"]["layer"]
    assert "area" not in {v["mark"]["type"] for v in layers}  # and no band of zero width drawn
    first = rows[(rows["config"] == "hidden=16") & (rows["x"] == 0) & (rows["facet"] == "lr=0.001")]
    assert first["mean"].tolist() == [1.105]  # (1.0 + 1.1 + 1.2) / 3 + the seeds' 0.005

    at = page(url, "results", monkeypatch, {"study": "wide", "color": ["model.cell", "model.hidden"]})
    assert at.multiselect(key="color_by").value == ["model.cell", "model.hidden"]
    assert at.query_params["color"] == ["model.cell", "model.hidden"]  # a choice other than the default
    assert "each chart colours by" not in " ".join(c.value for c in at.caption)
    rows = chart_rows(at.get("vega_lite_chart")[0])
    assert rows["config"].nunique() == 9 and (rows["hi"] > rows["lo"]).all()  # every configuration, its band


def test_the_axis_the_small_multiples_leave_joins_colour_by(tmp_path, monkeypatch):
    """Moving the facet to another axis must not average the old facet axis away silently."""
    url = wide_store(tmp_path)
    at = page(url, "results", monkeypatch, {"study": "wide", "color": ["model.cell", "model.hidden"]})
    at.selectbox(key="facet").set_value("model.cell").run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert at.multiselect(key="color_by").value == ["model.hidden", "optimizer.lr"]  # cell out, lr in
    assert set(chart_rows(at.get("vega_lite_chart")[0])["facet"]) == {"cell=rnn", "cell=lstm", "cell=gru"}
    at.selectbox(key="facet").set_value("none").run()
    assert at.multiselect(key="color_by").value == ["model.hidden", "optimizer.lr", "model.cell"]
    assert at.query_params["color"] == ["model.hidden", "optimizer.lr", "model.cell"]


def test_the_strongest_axis_is_the_one_whose_values_move_the_value_most():
    table = pd.DataFrame(
        {"a": ["x", "x", "y", "y"], "b": [1, 2, 1, 2], "c": [1, 1, 1, 1], "final_loss": [1.0, 1.1, 3.0, 3.1]}
    )
    assert strongest_axis(table, ["b", "a"]) == "a"
    assert strongest_axis(table.assign(final_loss=float("nan")), ["c", "b"]) == "b"  # no loss: most values
    assert strongest_axis(table.drop(columns="final_loss"), ["a", "b"]) == "a"  # equals: the first
    assert strongest_axis(table, []) is None


def test_inline_data_draws_the_chart_altair_would():
    """charts.inline moves the data one level down as CSV and keeps title, legend selection and
    size on top: Vega renders the same texts (title, axis, legend) from either spec."""
    rows = [
        {"config": c, "x": x, "mean": 0.5 + x / 10, "lo": 0.4, "hi": 0.9, "n": 3}
        for c in ("a=1", "a, b")
        for x in (0, 5)
    ]
    chart = charts.band_chart(pd.DataFrame(rows), x_title="step", y_title="loss", title="Loss", baseline=0.3)
    spec = chart.to_dict()
    wrapped = charts.inline(spec)
    assert set(wrapped) == {"$schema", "config", "autosize", "params", "title", "vconcat"}
    back = pd.read_csv(io.StringIO(wrapped["vconcat"][0]["data"]["values"]))
    assert back.to_dict("records") == next(iter(spec["datasets"].values()))  # a label with a comma survives

    def texts(s):
        return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", vl_convert.vegalite_to_svg(s)))

    assert texts(wrapped) == texts(spec) and "Loss" in texts(spec) and "a, b" in texts(spec)


def test_without_a_final_loss_the_default_colour_is_the_axis_with_most_values(tmp_path, monkeypatch):
    def norms(point, seed):  # no loss logged
        return [dict(row, name="grad_norm") for row in loss_rows(point, seed)]

    url = wide_store(tmp_path, norms)
    at = page(url, "results", monkeypatch, {"study": "wide"})
    assert at.multiselect(key="color_by").value == ["model.cell"]  # 3 values, as many as hidden: the first
    said = " ".join(c.value for c in at.caption)
    assert "colours by model.cell (the axis with most values)" in said and "final loss" not in said
