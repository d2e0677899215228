"""Dashboard pages under Streamlit's AppTest, and the pure chart builders."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts
from ablab.dashboard.data import band, band_caption, config_labels

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
REGISTRY = build_registry(entry_points=False)
STUDY = """
[study]
name = "dash"
seeds = [0, 1]

[base]
task = { name = "recall", max_lag = 3 }
model = { kind = "recurrent", cell = "rnn", hidden = 6 }
train = { steps = 30, batch_size = 8, log_every = 5, probe_every = 10 }
probes = ["grad_through_time", "dead_fraction", "saturation", "jacobian", "gates", "memory_span", "clipping"]

[axes]
"model.cell" = ["rnn", "lstm"]
"""


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'store.sqlite'}"
    run_study(parse_study(STUDY, "dash.toml", REGISTRY), REGISTRY, Store(url), workers=0)
    return url


def page(url: str, name: str, monkeypatch, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("ABLAB_STORE", url)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"views/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    parts = (
        [m.value for m in at.markdown]
        + [m.value for m in at.caption]
        + [m.value for m in at.info]
        + [m.value for m in at.warning]
        + [m.value for m in at.error]
    )
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("name", ["home", "results", "claims", "review"])
def test_empty_store_says_what_to_do(tmp_path, monkeypatch, name):
    at = page(f"sqlite:///{tmp_path / 'empty.sqlite'}", name, monkeypatch)
    if name != "claims":
        assert "has no results yet" in texts(at)
    else:
        assert "not run yet" in " ".join(e.label for e in at.expander)


def test_unopenable_store_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    at = page(f"sqlite:///{blocker / 'sub' / 'db.sqlite'}", "results", monkeypatch)
    assert "cannot open the results store" in texts(at)


def test_results_page_shows_charts_and_reacts_to_filters(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": "dash"})
    assert at.selectbox(key="study_picker").value == "dash"
    table = at.dataframe[0].value
    assert set(table["model.cell"]) == {"rnn", "lstm"} and "final_loss" in table.columns
    assert len(at.get("vega_lite_chart")) >= 6
    assert len(at.get("download_button")) >= 6
    assert any("range between the seeds" in c.value for c in at.caption)  # two seeds per configuration
    at.multiselect(key="filter_@model.cell").set_value(["lstm"]).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1 and at.dataframe[0].value["runs"].tolist() == [2]
    assert at.query_params["f.model.cell"] in ("lstm", ["lstm"])  # one value or a list of one


def test_a_shared_link_reopens_the_same_view(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": "dash", "f.model.cell": "rnn"})
    assert at.multiselect(key="filter_@model.cell").value == ["rnn"]
    assert len(at.dataframe[0].value) == 1


def test_a_highlight_spans_every_chart_and_the_link(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": "dash", "hl": "cell=lstm"})
    assert at.selectbox(key="highlight").value == "cell=lstm"
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    starts = [p.get("value") for spec in specs for p in spec.get("params", []) if p.get("name") == "pick"]
    assert len(starts) >= 6 and all(v == [{"config": "cell=lstm"}] for v in starts)
    at.selectbox(key="highlight").set_value("none").run()
    assert "hl" not in at.query_params
    assert not [
        p for c in at.get("vega_lite_chart") for p in json.loads(c.proto.spec).get("params", []) if "value" in p
    ]
    at = page(filled_store, "results", monkeypatch, {"study": "dash", "hl": "cell=gone"})  # a stale link
    assert at.selectbox(key="highlight").value == "none" and not at.exception


def test_missing_study_in_link_is_explained(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": "gone"})
    assert "not in this store" in texts(at)


def test_claims_page_lists_every_builtin_claim(filled_store, monkeypatch):
    at = page(filled_store, "claims", monkeypatch)
    assert len(at.expander) == 14 and len(at.button) == 14


def test_plugins_page_lists_kinds(filled_store, monkeypatch):
    at = page(filled_store, "plugins", monkeypatch)
    assert "lstm" in set(at.dataframe[0].value["name"])
    at.radio(key="plugin_kind").set_value("probe").run()
    assert "memory_span" in set(at.dataframe[0].value["name"])


def test_run_page_expands_and_estimates(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["configurations"] == "3" and metrics["runs (configurations x seeds)"] == "9"
    at.multiselect(key="b_cells").set_value(["lstm"]).run()
    assert {m.label: m.value for m in at.metric}["configurations"] == "1"
    at.text_input(key="b_name").set_value("bad name").run()
    assert "without spaces" in texts(at)


def test_review_notes_are_stored(filled_store, monkeypatch):
    at = page(filled_store, "review", monkeypatch, {"study": "dash"})
    assert [b.label for b in at.get("download_button")] == ["Export HTML report"]  # built only on click
    at.text_input[0].set_value("Ada")
    at.text_area[0].set_value("LSTM clearly wins at lag 3.")
    at.button[0].click().run()
    assert not at.exception
    (review,) = Store(filled_store).reviews_of("dash")
    assert review["author"] == "Ada" and review["verdict"] == "convincing"


def test_band_chart_spec():
    runs = pd.DataFrame({"key": ["a", "b", "c"], "@model.cell": ["rnn", "rnn", "lstm"]})
    labels = config_labels(runs)
    values = pd.DataFrame(
        {"config": labels.repeat(2).values, "step": [0, 1] * 3, "value": [1.0, 0.5, 1.2, 0.7, 0.9, 0.1]}
    )
    data = band(values, "step")
    rnn0 = data[(data["config"] == "cell=rnn") & (data["x"] == 0)].iloc[0]
    # two seeds: the band is their range, not a t-interval 12.7 standard errors wide
    assert rnn0["mean"] == pytest.approx(1.1) and (rnn0["lo"], rnn0["hi"]) == (1.0, 1.2) and rnn0["n"] == 2
    assert rnn0["interval"] == "seed range"
    lstm0 = data[data["config"] == "cell=lstm"].iloc[0]
    assert lstm0["lo"] == lstm0["hi"] == lstm0["mean"] and lstm0["interval"] == "one seed"
    spec = charts.band_chart(data, x_title="step", y_title="loss", title="Loss", baseline=0.5, log_y=True).to_dict()
    assert spec["title"] == "Loss" and len(spec["layer"]) == 3
    line = spec["layer"][1]
    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["scale"]["type"] == "log"
    assert any(p.get("bind") == "legend" for p in spec.get("params", []))  # legend click highlights
    assert {t["field"] for t in line["encoding"]["tooltip"]} >= {"config", "mean", "lo", "hi"}


def test_band_is_a_t_interval_from_three_seeds():
    values = pd.DataFrame({"config": ["a"] * 3, "step": [0] * 3, "value": [1.0, 2.0, 6.0]})
    (row,) = band(values, "step").to_dict("records")
    half = 4.303 * np.std([1.0, 2.0, 6.0], ddof=1) / np.sqrt(3)  # t quantile for 2 degrees of freedom
    assert row["mean"] == pytest.approx(3.0) and row["interval"] == "95% CI"
    assert (row["lo"], row["hi"]) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))
    assert row["lo"] < 1.0  # wider than the seeds' range here, as an interval of the mean from 3 seeds is
    two = band(values.iloc[:2], "step")
    assert band_caption(band(values, "step"), two, None) == (
        "Bands: the 95% interval of the mean over seeds; the range between the seeds where there are "
        "fewer than 3 (too few for a 95% interval)."
    )
    assert band_caption(None) == ""


def test_heatmap_and_bar_specs():
    heat = pd.DataFrame({"config": ["a", "a", "b"], "lag": [1, 2, 1], "accuracy": [1.0, 0.5, 0.2]})
    spec = charts.heatmap(
        heat, x="lag", y="config", value="accuracy", title="t", x_title="lag", y_title="cfg", value_title="acc"
    ).to_dict()
    assert spec["mark"]["type"] == "rect" and spec["encoding"]["color"]["scale"]["domain"] == [0, 1]
    bars = charts.bar_chart(
        pd.DataFrame({"config": ["a"], "mean": [1.0], "lo": [0.9], "hi": [1.1]}), value_title="v", title="t"
    ).to_dict()
    assert [layer["mark"]["type"] for layer in bars["layer"]] == ["bar", "rule"]


def test_html_report_is_self_contained(filled_store):
    from ablab.dashboard.report import build_report

    store = Store(filled_store)
    store.add_review("dash", "Grace", "Gates help <a lot>.", "convincing")
    page_html = build_report(store, "dash")
    assert page_html.count("<svg") >= 2 and "<table" in page_html
    assert "Gates help &lt;a lot&gt;." in page_html and "Grace" in page_html
    assert "<script" not in page_html and "http://" not in page_html.replace("http://www.w3.org", "")
    assert "rnn" in page_html and "lstm" in page_html
    with pytest.raises(ValueError, match="no runs"):
        build_report(store, "nope")


def test_html_report_shows_an_inconclusive_verdict_as_inconclusive(tmp_path):
    from ablab.dashboard.report import build_report

    study = (
        '[study]\nname = "unsure"\nseeds = [0]\n[base]\ntask = { name = "adding", length = 4 }\n'
        'model = { cell = "rnn", hidden = 2 }\ntrain = { steps = 2, batch_size = 2 }\n'
        '[[checks]]\nwhat = "gates stay open"\nquantity = "gates.forget_mean@final"\nop = ">"\nvalue = 0.5\n'
    )
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    run_study(parse_study(study, "unsure.toml", REGISTRY), REGISTRY, store, workers=0)
    page_html = build_report(store, "unsure")  # no gates probe ran: the check cannot be measured
    assert "<span class='inconclusive'>inconclusive</span>" in page_html and "class='fails'" not in page_html


def test_launch_leaves_no_log_file_open_in_the_dashboard(tmp_path, monkeypatch):
    import os

    from ablab.dashboard import launcher

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    pid, started = launcher.launch("gone", tmp_path / "missing.toml", f"sqlite:///{tmp_path / 's.sqlite'}")
    log = launcher.launch_dir() / "gone.log"
    open_here = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert started and str(log.resolve()) not in open_here
    os.waitpid(pid, 0)  # the child wrote its error to the log all the same
    assert "missing.toml" in log.read_text()


def test_embeddings_page_shows_similarities_and_neighbours(filled_store, monkeypatch):
    at = page(filled_store, "embeddings", monkeypatch)
    assert len(at.get("vega_lite_chart")) == 2
    neighbours = at.dataframe[0].value
    assert "cold" in list(neighbours["word"])[:3]  # an antonym is among the nearest: relatedness
    at.text_input(key="e_query").set_value("zebra").run()
    assert "not in the corpus vocabulary" in texts(at)


USER_CLAIM = """
[study]
name = "my_claim"
claim = "My own claim: at radius 0.5 gradients vanish."
seeds = 4

[base]
task = { name = "adding", length = 10 }
model = { kind = "recurrent", cell = "rnn", hidden = 6, spectral_radius = 0.5 }
train = { steps = 2, batch_size = 4, probe_batch = 8 }
probes = ["grad_through_time"]

[[checks]]
what = "eta is below 0.9"
quantity = "grad_through_time.eta@init"
op = "<"
value = 0.9
"""


def test_claims_page_lists_a_users_study_with_checks(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    run_study(parse_study(USER_CLAIM, "mine.toml", REGISTRY), REGISTRY, Store(url), workers=0)
    at = page(url, "claims", monkeypatch)
    labels = [e.label for e in at.expander]
    assert len(labels) == 15 and len(at.button) == 14  # no run button: the store holds no path to run
    (mine,) = [label for label in labels if label.startswith("My own claim")]
    assert "**holds**" in mine
    table = at.table[0].value
    assert "n = 4 runs" in " ".join(table.iloc[:, -1].astype(str))
