"""What a newcomer reads first on the Runs and Compare pages, and what a page's link holds when
the study changes (AppTest). The link in a real browser, read from the address bar: test_browser.py."""

import json

import pandas as pd
import pytest
from dashboard_helpers import DIVERGED_SEED, page, two_studies


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    return two_studies(f"sqlite:///{tmp_path_factory.mktemp('links') / 'store.sqlite'}")


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_runs_table_sorts_seeds_as_numbers_and_says_what_its_seconds_are(store_url, monkeypatch):
    at = page(store_url, "runs", monkeypatch, {"study": "cells", "config": "cell=rnn"})
    table = at.dataframe[0].value
    assert list(table["seed"]) == [0, 2, 10]  # as text, 10 would come before 2
    assert "seconds" not in table.columns and "seconds (share of the ensemble job)" in table.columns
    diverged = dict(zip(table["seed"], table["diverged_step"]))
    assert diverged == {0: "", DIVERGED_SEED: "7", 10: ""}  # blank, never "None"


def test_runs_charts_order_seeds_as_numbers_and_give_a_share_a_0_to_1_axis(store_url, monkeypatch):
    at = page(store_url, "runs", monkeypatch, {"study": "cells", "config": "cell=lstm"})
    by_title = {s["title"]: s for s in specs(at)}
    loss, accuracy = by_title["loss, each seed"], by_title["accuracy, each seed"]
    assert loss["encoding"]["color"]["sort"] == ["0", "2", "10"]
    assert accuracy["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert "domain" not in loss["encoding"]["y"]["scale"]  # a loss is no share: its axis follows the data


def test_runs_link_holds_the_run_and_curves_shown(store_url, monkeypatch):
    at = page(store_url, "runs", monkeypatch, {"study": "cells", "config": "cell=lstm", "seed": "10"})
    run = at.selectbox(key="run_key")
    assert run.options[run.index].startswith("seed 10 ")
    at.multiselect(key="run_curves").set_value(["loss"]).run()
    assert at.query_params["curves"] in ("loss", ["loss"]) and at.query_params["seed"] in ("10", ["10"])


@pytest.mark.parametrize("name", ["results", "runs"])
def test_another_study_opens_at_its_own_default_view_and_the_link_says_so(store_url, monkeypatch, name):
    """Choices made on one study (a filter, a configuration) name its values: picking another
    study drops them from the widgets and the link at once, instead of filtering the new study
    by what both happen to share."""
    old = {"results": {"f.model.cell": "rnn", "smooth": "3"}, "runs": {"config": "cell=lstm", "seed": "10"}}[name]
    at = page(store_url, name, monkeypatch, {"study": "cells", **old})
    at.selectbox(key="study_picker").set_value("rates").run()
    assert not at.exception
    assert dict(at.query_params) == {"study": "rates"}
    # New widget keys: the browser would otherwise send the old study's choices back with the next
    # change (it keeps a widget's last value under its key); tests/test_browser.py sees that happen.
    if name == "results":
        assert at.multiselect(key="filter_@model.cell~1").value == ["gru", "rnn"]  # every value of the new study
        assert len(at.dataframe[0].value) == 4 and at.slider(key="smooth~1").value == 1
    else:
        assert at.selectbox(key="run_config~1").value == "cell=gru, lr=0.01"


def test_compare_puts_every_studys_axes_first(store_url, monkeypatch):
    at = page(store_url, "compare", monkeypatch, {"studies": ["cells", "rates"]})
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["study", "model.cell", "optimizer.lr"]  # rates' lr is not off to the right
    assert len(table[["study", "model.cell", "optimizer.lr"]].astype(str).drop_duplicates()) == len(table) == 6
    # cells neither varies nor sets lr: a dash, explained under the table, never "None"
    assert set(table[table["study"] == "cells"]["optimizer.lr"]) == {"—"}
    assert "None" not in table.astype(str).to_numpy()
    assert any("—: neither varied nor set by that study" in c.value for c in at.caption)


def test_compare_splits_a_zipped_axis_and_shows_a_base_value_where_a_study_does_not_vary_a_path():
    from ablab.core.lab.results import point_key
    from ablab.dashboard import compare_table

    zipped = "model.cell+model.cell_options"
    points = [{zipped: ["rnn", {}]}, {zipped: ["gated", {"gate_bias": -1.0}]}]
    summary = pd.DataFrame(
        {zipped: ["rnn / {}", "gated / gate_bias=-1.0"], "runs": [4, 4], "final_loss": [0.16, 0.14]}
    ).assign(point=[point_key(p) for p in points])
    split, axes = compare_table.split_axes(summary)
    assert axes == ["model.cell", "model.cell_options"] and list(split["model.cell"]) == ["rnn", "gated"]
    assert list(split["model.cell_options"]) == ["{}", "gate_bias=-1.0"]
    other = pd.DataFrame({"model.cell": [None], "optimizer.lr": [0.1], "runs": [2], "final_loss": [0.2]})
    table = pd.concat([split.assign(study="gated"), other.assign(study="rates")], ignore_index=True)
    specs = {
        "gated": {"base": {"model": {"cell": "rnn"}, "optimizer": {"lr": 0.05}}},
        "rates": {"base": {"model": {"cell": "lstm"}}},
    }
    filled = compare_table.fill_unvaried(table, ["model.cell", "model.cell_options", "optimizer.lr"], specs)
    assert list(filled["model.cell"]) == ["rnn", "gated", "lstm (base)"]  # rows line up by cell
    assert list(filled["optimizer.lr"]) == ["0.05 (base)", "0.05 (base)", 0.1]
    assert filled.loc[2, "model.cell_options"] == "—"  # rates' base leaves it to the default
    note = compare_table.caption(filled, ["model.cell", "model.cell_options", "optimizer.lr"])
    assert "(base): not an axis of that study" in note and "—: neither varied nor set" in note


def test_compare_gives_each_study_its_step_axis_and_colours_and_filters_as_results_does(store_url, monkeypatch):
    at = page(store_url, "compare", monkeypatch, {"studies": ["cells", "rates"]})

    def drawn() -> tuple[dict, set[tuple[str, str]]]:
        import pyarrow as pa

        (chart,) = at.get("vega_lite_chart")
        frames = [pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets]
        rows = pd.concat([f for f in frames if "config" in f.columns])
        return json.loads(chart.proto.spec), rows

    def lines(rows) -> set[tuple[str, str]]:
        return set(zip(rows["facet"], rows["config"]))

    spec, rows = drawn()
    assert spec["resolve"]["scale"]["x"] == "independent" and spec["resolve"]["scale"]["y"] == "shared"
    assert len(lines(rows)) == 2 + 4  # every configuration of each study
    at.multiselect(key="compare_color").set_value(["cell"]).run()
    spec, rows = drawn()  # rates' two rates averaged into one line per cell
    rates = rows[rows["facet"] == "study=rates"]
    assert (rates["lo"] == rates["hi"]).all()  # a mean over configurations: no band
    assert lines(rows) == {(f"study={s}", f"cell={c}") for s, c in [("cells", "rnn"), ("cells", "lstm")]} | {
        ("study=rates", "cell=rnn"),
        ("study=rates", "cell=gru"),
    }
    at.multiselect(key="compare_color").set_value(["cell", "lr"]).run()
    at.multiselect(key="compare_filter_lr").set_value(["0.1"]).run()
    spec, rows = drawn()  # lr=0.1 only: rates' lines are single configurations; cells (no lr axis) stays whole
    assert lines(rows) == {("study=cells", "cell=rnn"), ("study=cells", "cell=lstm")} | {
        ("study=rates", "cell=rnn"),
        ("study=rates", "cell=gru"),
    }
    rates = rows[rows["facet"] == "study=rates"]
    assert (rates["lo"] < rates["hi"]).any()  # one configuration a line: its band over the seeds again
    assert dict(at.query_params)["f.lr"] in ("0.1", ["0.1"])
