"""Dashboard pages under Streamlit's AppTest, and the pure chart builders."""

import json
import os
import tomllib

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import page

from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts
from ablab.dashboard.data import band, band_caption, config_labels

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
    assert not any(c.value.startswith("Filtered:") for c in at.caption)
    at.multiselect(key="filter_@model.cell").set_value(["lstm"]).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1 and at.dataframe[0].value["runs"].tolist() == [2]
    # the filter sits in a popover, out of sight once closed: the page says it is on
    assert "Filtered: 1 of 2 configurations shown (see Filter)." in [c.value for c in at.caption]
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
    assert any("The link's hl='cell=gone' is not a choice here" in w.value for w in at.warning)
    assert "hl" not in at.query_params


def test_bad_link_values_are_named_and_taken_out_of_the_link(filled_store, monkeypatch):
    bad = {"study": "dash", "facet": "nosuch", "smooth": "-5", "color": "../x"}
    at = page(filled_store, "results", monkeypatch, bad)
    warnings = " ".join(w.value for w in at.warning)
    assert "The link's facet='nosuch' is not a choice here" in warnings
    assert "smooth='-5' is not a choice here, so it was left out (choices: a whole number from 1 to 25)" in warnings
    assert "color='../x'" in warnings
    assert not {"facet", "smooth", "color"} & set(at.query_params)  # a re-shared link is clean
    at = page(filled_store, "runs", monkeypatch, {"study": "dash", "seed": "NaN"})
    assert any("seed='NaN' is not a choice here" in w.value for w in at.warning)


def test_unknown_link_keys_are_named_and_taken_out_of_the_link(filled_store, monkeypatch):
    query = {"study": "dash", "smooth": "3", "zzz": "1", "seed": "2", "k" * 300: "v"}  # seed belongs to Runs
    at = page(filled_store, "results", monkeypatch, query)
    (warning,) = [w.value for w in at.warning if "not used by this page" in w.value]
    assert "'zzz'" in warning and "'seed'" in warning and "'" + "k" * 40 + "...'" in warning and len(warning) < 300
    assert dict(at.query_params) == {"study": "dash", "smooth": "3"}  # the keys Results uses stay
    at = page(filled_store, "runs", monkeypatch, {"study": "dash", "seed": "0"})
    assert not any("not used by this page" in w.value for w in at.warning)  # Runs does use seed


def test_a_key_given_twice_and_log_values_naming_no_chart(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": ["nope", "dash"], "log": ["nope", "loss", "loss"]})
    warnings = " ".join(w.value for w in at.warning)
    assert "The link gives study 2 times ('nope', 'dash'); it holds one, so the last is used." in warnings
    assert "log='nope' is not a choice here" in warnings
    assert at.query_params["study"] in ("dash", ["dash"]) and at.query_params["log"] in ("loss", ["loss"])


def test_missing_study_in_link_is_explained(filled_store, monkeypatch):
    at = page(filled_store, "results", monkeypatch, {"study": "gone"})
    assert "not in this store" in texts(at)
    at = page(filled_store, "results", monkeypatch, {"study": "x" * 10_000})  # cut, not printed whole
    (warning,) = [w.value for w in at.warning if "not in this store" in w.value]
    assert "'" + "x" * 40 + "...'" in warning and len(warning) < 200


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
    assert metrics["estimated time"].startswith("~")
    at.multiselect(key="b_cells").set_value(["lstm"]).run()
    assert {m.label: m.value for m in at.metric}["configurations"] == "1"


def test_run_form_builds_the_mission_study(filled_store, monkeypatch):
    """3 cells x ReLU/tanh x clipping none/norm x 2 initialisers = 24 configurations, from the form."""
    at = page(filled_store, "run", monkeypatch)
    at.multiselect(key="b_cell_acts").set_value(["relu", "tanh"])
    at.multiselect(key="b_clip").set_value(["none", "norm"])
    at.multiselect(key="b_inits").set_value(["orthogonal", "normal"])
    at.text_input(key="b_lr").set_value("0.01, 0.1")
    at.text_input(key="b_thr").set_value("0.5")
    at.number_input(key="b_seeds").set_value(2)
    at.number_input(key="b_steps").set_value(20).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["configurations"] == "48" and metrics["runs (configurations x seeds)"] == "96"  # x 2 rates
    text = at.expander[0].children[0].value if at.expander else ""
    assert '"model.activation" = [' in text and '"optimizer.lr" = [' in text and "threshold = 0.5" in text


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("b_seeds", 0, "seeds must be from 1 to 64, got 0"),
        ("b_steps", 0, "steps must be from 1 to 1000000, got 0"),
        ("b_hidden", -3, "hidden units must be from 1 to 1024, got -3"),
        ("b_lr", "-1", "Learning rate must be a finite number above 0, got -1"),
        ("b_lr", "nan", "Learning rate must be a finite number above 0, got nan"),
        ("b_lr", "1e999", "Learning rate must be a finite number above 0, got 1e999"),
        ("b_lr", "fast", "Learning rate: 'fast' is not a number"),
        ("b_thr", "0", "Clip threshold must be a finite number above 0, got 0"),
        ("b_name", "../evil", "study name '../evil' is not allowed"),
        ("b_name", "x" * 300, "a study name has at most 64 characters, got 300"),
        ("b_name", "study-\U0001f600", "is not allowed: use letters, digits"),
    ],
)
def test_every_bad_run_form_value_gets_a_message(filled_store, monkeypatch, key, value, message):
    at = page(filled_store, "run", monkeypatch)
    widget = at.number_input(key=key) if key in ("b_seeds", "b_steps", "b_hidden") else at.text_input(key=key)
    widget.set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric and not [b for b in at.button if b.key == "launch"]  # nothing to launch


def test_a_huge_learning_rate_is_flagged(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.text_input(key="b_lr").set_value("1e9").run()
    assert not at.exception and any(
        "these runs will explode, and are counted as diverged" in w.value for w in at.warning
    )


def test_an_existing_study_name_asks_resume_or_rename(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.text_input(key="b_name").set_value("dash").run()
    (launch,) = [b for b in at.button if b.key == "launch"]
    assert launch.disabled and "already in the store (4 runs)" in at.radio(key="existing_dash").label
    assert "dash-2" in texts(at) and not at.get("progress")  # no stale "4/9 runs" before launching
    at.radio(key="existing_dash").set_value(at.radio(key="existing_dash").options[0]).run()
    (launch,) = [b for b in at.button if b.key == "launch"]
    assert not launch.disabled


def test_launcher_refuses_names_that_leave_its_folder(tmp_path, monkeypatch):
    from ablab.core.errors import ConfigError
    from ablab.dashboard import launcher

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for bad in ("../evil", "x" * 300, "a/b", "study-\U0001f600", ""):
        with pytest.raises(ConfigError):
            launcher.write_study("sqlite://", bad, "x")
        with pytest.raises(ConfigError):
            launcher.launch("sqlite://", bad, tmp_path / "s.toml")
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing written anywhere, no folder made
    assert launcher.write_study("sqlite://", "ok-name", "x").parent == launcher.launch_dir("sqlite://")
    assert launcher.stop("sqlite://", "ok-name") is False  # not running


def test_review_notes_are_stored(filled_store, monkeypatch):
    at = page(filled_store, "review", monkeypatch, {"study": "dash"})
    assert [b.label for b in at.get("download_button")] == ["Export HTML report"]  # built only on click
    assert "final_loss" in at.multiselect(key="report_columns").value  # a compact table by default
    at.text_input[0].set_value("Ada")
    at.text_area[0].set_value("LSTM clearly wins at lag 3.")
    at.button[0].click().run()
    assert not at.exception
    (review,) = Store(filled_store).reviews_of("dash")
    assert review["author"] == "Ada" and review["verdict"] == "convincing"
    # corrected on the page: the form starts from the note's text; the table says it was edited
    text, save = f"edit_text_{review['id']}", f"FormSubmitter:edit_{review['id']}-Save changes"
    assert at.text_area(key=text).value == "LSTM clearly wins at lag 3."
    at.text_area(key=text).set_value(" ")
    at.button(key=save).click().run()
    assert "A note cannot be empty." in [e.value for e in at.error]
    at.text_area(key=text).set_value("LSTM wins at lag 3; GRU close.")
    at.button(key=save).click().run()
    assert not at.exception
    (review,) = Store(filled_store).reviews_of("dash")
    assert review["note"] == "LSTM wins at lag 3; GRU close." and review["edited_at"] is not None
    assert at.dataframe[0].value["edited"].iloc[0] != ""
    assert "LSTM wins at lag 3; GRU close." in [t.value for t in at.text]  # whole, under "Notes in full"
    assert any(" · edited " in c.value for c in at.caption)  # there too
    assert at.text_input[0].value == "Ada"  # the next note's form keeps the reviewer's name


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
    assert spec["title"] == "Loss" and len(spec["layer"]) == 4 and spec["height"] >= 150  # area, line, rule, label
    line = spec["layer"][1]
    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["scale"]["type"] == "log"
    assert any(p.get("bind") == "legend" for p in spec.get("params", []))  # legend click highlights
    assert {t["field"] for t in line["encoding"]["tooltip"]} >= {"config", "mean", "lo", "hi"}
    legend = line["encoding"]["color"]["legend"]
    assert legend["orient"] == "right" and legend["symbolLimit"] == 0 and legend["labelLimit"] == 0  # nothing cut


def test_24_configurations_get_24_distinct_colour_and_dash_pairs():
    labels = [f"cell={c}, act={a}, clip={k}, init={i}" for c in "abc" for a in "rt" for k in "nm" for i in "oh"]
    style = charts.styles(labels)
    pairs = {(c, tuple(d)) for c, d in zip(style["colour"], style["dash"])}
    assert len(labels) == 24 and len(pairs) == 24
    assert len(set(style["colour"])) == 10  # colours first; the dash separates the 11th and on


def test_faceted_chart_grows_with_facets_and_shares_its_y_scale():
    rows = [
        {"x": s, "config": f"clip={k}", "facet": f"cell={c}", "mean": 1.0 + s, "lo": 0.5, "hi": 2.0 + s, "n": 3}
        for c in ("rnn", "lstm", "gru", "mgu")
        for k in ("none", "norm")
        for s in (0, 1)
    ]
    data = pd.DataFrame(rows).assign(interval="95% CI")
    spec = charts.band_chart(data, x_title="step", y_title="loss", title="Loss", facet_title="cell").to_dict()
    assert spec["facet"]["field"] == "facet" and spec["columns"] == charts.FACET_COLUMNS
    assert spec["spec"]["height"] == charts.PLOT_HEIGHT >= 150  # per facet: 4 facets make two rows, not a squeeze
    assert spec["resolve"]["scale"]["y"] == "shared"
    line = spec["spec"]["layer"][1]
    assert line["encoding"]["y"]["scale"] == {"zero": False}  # the domain follows the data


def test_band_is_a_t_interval_from_three_seeds():
    values = pd.DataFrame({"config": ["a"] * 3, "step": [0] * 3, "value": [1.0, 2.0, 6.0]})
    (row,) = band(values, "step").to_dict("records")
    half = 4.303 * np.std([1.0, 2.0, 6.0], ddof=1) / np.sqrt(3)  # t quantile for 2 degrees of freedom
    assert row["mean"] == pytest.approx(3.0) and row["interval"] == "95% CI"
    assert (row["lo"], row["hi"]) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))
    assert row["lo"] < 1.0  # wider than the seeds' range here, as an interval of the mean from 3 seeds is
    two = band(values.iloc[:2], "step")
    assert band_caption(band(values, "step"), two, None) == (
        "Bands: the 95% interval of the mean over seeds of one configuration; the range between the seeds where "
        "there are fewer than 3 (too few for a 95% interval)."
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
    assert [layer["mark"]["type"] for layer in bars["layer"]] == ["rule", "point"]


def test_html_report_is_self_contained(filled_store):
    from ablab.dashboard.report import build_report

    store = Store(filled_store)
    store.add_review("dash", "Grace", "Gates help <a lot>.\nSecond line.", "convincing")
    page_html = build_report(store, "dash")
    assert page_html.count("<svg") >= 3 and "<table" in page_html
    for figure in page_html.split("<figure>")[1:]:  # every chart draws something: a line path with points
        assert figure.count("<path") >= 2 and "NaN" not in figure
    assert "Gates help &lt;a lot&gt;.<br>Second line." in page_html and "Grace" in page_html
    table = page_html.split("<table")[1].split("</table>")[0]
    assert table.count("<th") <= 9 and "columns; the dashboard" in page_html  # compact, not 142 columns
    picked = build_report(store, "dash", ["model.cell", "runs"])  # the Review page's column picker
    assert picked.split("<table")[1].split("</table>")[0].count("<th>") == 2
    assert "<script" not in page_html and "http://" not in page_html.replace("http://www.w3.org", "")
    assert "rnn" in page_html and "lstm" in page_html
    versions = page_html.split("<h2>Plugin versions</h2>")[1].split("</ul>")[0]  # one DISTINCT, not every run
    assert versions.count("<li>") == len({f"{k} {v}" for found in store.versions_of("dash") for k, v in found.items()})
    assert "<li>cell:lstm ablab==" in versions and "<li>cell:rnn ablab==" in versions
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
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    pid, started = launcher.launch(url, "gone", tmp_path / "missing.toml")
    log = launcher.log_path(url, "gone")
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


def test_embeddings_page_on_wordnet_text(filled_store, monkeypatch, wordnet_data):
    at = page(filled_store, "embeddings", monkeypatch)
    at.number_input(key="e_epochs").set_value(1)
    at.selectbox(key="e_corpus").select("wordnet").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "WordNet 3.0" in texts(at) and len(at.get("vega_lite_chart")) == 2
    assert {"good", "bad", "hot", "cold"} <= set(at.multiselect(key="e_words").value)
    assert len(at.dataframe[0].value) == 8  # neighbours of "hot"


def test_embeddings_page_says_how_to_install_a_missing_corpus(filled_store, monkeypatch, tmp_path):
    from ablab.plugins.tasks.wordnet import WordNetText

    monkeypatch.setitem(WordNetText.defaults, "data", str(tmp_path))
    at = page(filled_store, "embeddings", monkeypatch)
    at.selectbox(key="e_corpus").select("wordnet").run()
    assert "apt-get install wordnet-base" in " ".join(e.value for e in at.error)


FAKE = """
[study]
name = "fake"
seeds = [0, 1, 2]

[base]
task = { name = "adding", length = 5 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 20, log_every = 10 }

[axes]
"model.cell" = ["rnn", "lstm"]
"""


CHECK = """
[[checks]]
what = "the LSTM ends lower than the RNN"
quantity = "final_loss"
where = { "model.cell" = "lstm" }
op = "<"
than = { "model.cell" = "rnn" }
"""


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory):
    """Stored records written directly (no training): a plugin's probe quantity and a failed run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fake') / 'store.sqlite'}"
    store = Store(url)
    study = parse_study(FAKE, "fake.toml", REGISTRY)
    runs = study.runs(REGISTRY)
    store.save_study(study, runs)
    for i, r in enumerate(runs):
        metrics = [{"step": s, "name": "loss", "value": 1.0 / (1 + s + i)} for s in (0, 10, 19)]
        probes = [
            {"step": s, "probe": "wiggle", "name": "amplitude", "layer": 0, "idx": -1, "value": 0.1 * i + s}
            for s in (0, 20)
        ]
        if i == len(runs) - 1:
            store.write_run(r.key, "failed", seconds=0.1, error="Traceback (most recent call last):\nValueError: boom")
        else:
            store.write_run(r.key, "done", seconds=0.1, metrics=metrics, probes=probes)
    other = parse_study(
        FAKE.replace('name = "fake"', 'name = "fake2"').replace('"rnn", "lstm"', '"rnn"'), "f2", REGISTRY
    )
    store.save_study(other, other.runs(REGISTRY))  # the same rnn runs, under a second study
    checked = FAKE.replace('name = "fake"', 'name = "fakecheck"') + CHECK
    checked_study = parse_study(checked, "fakecheck.toml", REGISTRY)
    store.save_study(checked_study, checked_study.runs(REGISTRY))  # a stored study with a check
    return url


def chart_titles(at) -> list[str]:
    titles = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        title = spec.get("title")
        titles.append(title.get("text") if isinstance(title, dict) else title)
    return titles


def test_a_plugin_probe_gets_its_chart_without_dashboard_code(fake_store, monkeypatch):
    at = page(fake_store, "results", monkeypatch, {"study": "fake"})
    assert "wiggle: amplitude" in chart_titles(at) and "Loss" in chart_titles(at)


def test_view_state_lives_in_the_link(fake_store, monkeypatch):
    at = page(fake_store, "results", monkeypatch, {"study": "fake", "smooth": "3", "cols": "final_loss"})
    assert at.slider(key="smooth").value == 3 and at.multiselect(key="columns").value == ["final_loss"]
    assert list(at.dataframe[0].value.columns) == ["final_loss"]
    at.multiselect(key="columns").set_value(["model.cell", "runs"]).run()
    assert list(at.dataframe[0].value.columns) == ["model.cell", "runs"] and at.query_params["cols"] == [
        "model.cell",
        "runs",
    ]
    at.toggle(key="log_loss").set_value(True).run()
    assert at.query_params["log"] in ("loss", ["loss"])
    at.slider(key="smooth").set_value(1).run()
    assert "smooth" not in at.query_params  # the default stays out of the link


def test_runs_page_shows_a_failed_runs_traceback(fake_store, monkeypatch):
    at = page(fake_store, "runs", monkeypatch, {"study": "fake", "config": "cell=lstm"})
    assert at.selectbox(key="run_config").value == "cell=lstm"
    failed = [o for o in at.selectbox(key="run_key").options if "failed" in o]
    assert failed
    at.selectbox(key="run_key").set_value(failed[0]).run()
    assert not at.exception
    assert any("ValueError: boom" in c.value for c in at.code) and any("failed" in e.value for e in at.error)
    assert any('"cell": "lstm"' in c.value for c in at.code)  # its configuration


def test_claims_evidence_has_one_row_per_configuration():
    from ablab.dashboard.data import evidence_rows

    frame = pd.DataFrame(
        {
            "key": list("abcdef"),
            "status": ["done", "diverged", "done", "done", "done", "diverged"],
            "@clip.kind": ["none", "none", "none", "norm", "norm", "norm"],
            "@model.activation": ["elu", "elu", "relu", "relu", "elu", "relu"],
        }
    )
    rows = evidence_rows(frame, "diverged")
    assert sorted(rows["config"]) == [  # "kind" alone says nothing: its section stays
        "clip.kind=none, activation=elu",
        "clip.kind=none, activation=relu",
        "clip.kind=norm, activation=elu",
        "clip.kind=norm, activation=relu",
    ]
    # a rate's bar is its exact 95% interval, never a zero-width t-interval of 0/1 values
    one = rows[rows["config"] == "clip.kind=none, activation=elu"].iloc[0]  # 1 of 2 runs diverged
    assert one["n"] == 2 and one["mean"] == 0.5 and one["interval"] == "exact 95% CI of a rate"
    assert (one["lo"], one["hi"]) == pytest.approx((0.0126, 0.9874), abs=1e-4)  # Clopper-Pearson, 1 of 2
    none = rows[rows["config"] == "clip.kind=norm, activation=elu"].iloc[0]  # 0 of 1
    assert none["mean"] == 0 and none["lo"] == 0 and none["hi"] == pytest.approx(0.975)
    assert "Clopper-Pearson" in band_caption(rows, noun="Bars")
    # a loss: the geometric mean and its interval in log space, as the check computes it
    losses = frame.assign(status="done", final_loss=[0.01, 1.0, 0.1, 0.1, 0.1, 0.1])
    loss = evidence_rows(losses, "final_loss")
    elu = loss[loss["config"] == "clip.kind=none, activation=elu"].iloc[0]
    assert elu["mean"] == pytest.approx(0.1) and (elu["lo"], elu["hi"]) == pytest.approx((0.01, 1.0))  # seed range
    assert "geometric mean" in band_caption(evidence_rows(pd.concat([losses] * 2), "final_loss"), noun="Bars")
    spec = charts.bar_chart(rows, value_title="diverged", title="t").to_dict()
    assert spec["height"] >= charts.ROW_HEIGHT * 4 and spec["layer"][0]["encoding"]["y"]["axis"]["labelLimit"] == 0
    assert "format" not in spec["layer"][0]["encoding"]["x"].get("axis", {})  # shares read as plain ticks


def test_short_axis_names_keep_what_tells_them_apart():
    from ablab.dashboard.data import short_name, short_names

    assert short_name("@model.cell") == "cell" and short_name("@task.name") == "task.name"
    assert short_name("@model.residual+model.skipinit") == "residual+skipinit"
    assert short_names(["@model.init", "@embedding.init", "@model.cell"]) == {
        "@model.init": "model.init",
        "@embedding.init": "embedding.init",
        "@model.cell": "cell",
    }


@pytest.mark.parametrize("scale, expected", [(1e-8, "~e"), (1e7, "~e"), (1.0, None), (0.01, None)])
def test_evidence_ticks_use_exponents_only_for_tiny_or_huge_values(scale, expected):
    """bptt_exact's gradient errors near 2e-8 read "0.000000020" on plain ticks."""
    rows = pd.DataFrame({"config": ["a", "b"], "mean": [2 * scale, 3 * scale], "lo": [scale, 2 * scale]})
    rows["hi"] = rows["mean"] * 1.5
    axis = charts.bar_chart(rows, value_title="error", title="t").to_dict()["layer"][0]["encoding"]["x"].get("axis", {})
    assert axis.get("format") == expected


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
    # no run button: the store holds no path to run; "Run with new seeds" copies the stored spec
    assert len(labels) == 15 and len(at.button) == 15 and at.button[-1].key == "new_seeds_my_claim"
    (mine,) = [label for label in labels if label.startswith("`my_claim`: My own claim")]  # named as the CLI takes it
    assert "**holds**" in mine
    table = at.table[0].value
    assert "n = 4 runs" in " ".join(table.iloc[:, -1].astype(str))


def test_claims_page_lists_new_seed_runs_of_any_shift_under_their_claim_judged_over_its_looks(tmp_path, monkeypatch):
    """`ablab claims --new-seeds 7` and the page's own + 1000 both show under the claim; a seed
    plan's verdict splits its error rate over its looks here as `ablab claims` does."""
    from ablab.core.lab.seed_shift import shifted_text

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    planned = parse_study(
        USER_CLAIM.replace("seeds = 4", "seeds = { start = 4, add = 2, max = 8 }"), "m.toml", REGISTRY
    )
    assert planned.looks == 3
    mine = USER_CLAIM.replace('name = "my_claim"', 'name = "other-s2"').replace("0.9", "0.95")  # not a shifted copy
    for study in [
        planned,
        *(parse_study(shifted_text(planned.data, shift), "s.toml", REGISTRY) for shift in (7, 1000)),
        parse_study(mine, "o.toml", REGISTRY),
    ]:
        run_study(study, REGISTRY, Store(url), workers=0)
    at = page(url, "claims", monkeypatch)
    labels = [e.label for e in at.expander]
    assert len(labels) == 16 and sum(label.startswith("`my_claim`") for label in labels) == 1
    assert any(label.startswith("`other-s2`") for label in labels)  # its checks differ: a claim of its own
    shown = texts(at)
    assert "**New seeds** (my_claim-s7)" in shown and "**New seeds** (my_claim-s1000)" in shown
    columns = [list(t.value.columns) for t in at.table]
    assert ["check", "seeds 0-3", "seeds 7-10", "seeds 7-10: effect [interval], n"] in columns
    assert ["check", "seeds 0-3", "seeds 1000-1003", "seeds 1000-1003: effect [interval], n"] in columns
    verdicts = {t.value.iloc[0, 0]: t.value for t in at.table if "verdict" in t.value.columns}
    assert "3 looks" in verdicts["eta is below 0.9"].iloc[0, -1]  # 5% / 3 looks, as `ablab claims` judges it
    assert "looks" not in verdicts["eta is below 0.95"].iloc[0, -1]  # other-s2: seeds = 4, one look


def test_two_studies_compare_in_one_table_and_one_chart_per_study(fake_store, monkeypatch):
    at = page(fake_store, "compare", monkeypatch, {"studies": ["fake", "fake2"]})
    assert at.multiselect(key="compare_studies").value == ["fake", "fake2"]
    table = at.dataframe[0].value
    assert sorted(set(table["study"])) == ["fake", "fake2"] and len(table) == 3  # 2 + 1 configurations
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["facet"]["field"] == "facet" and spec["spec"]["height"] >= 150
    at.multiselect(key="compare_studies").set_value(["fake"]).run()
    assert "Pick at least two studies" in texts(at)


def test_the_estimate_times_each_model_shape_once_and_spreads_configurations_over_workers():
    from ablab.dashboard import estimate

    base = {"task": {"name": "adding", "length": 5}, "model": {"cell": "rnn", "hidden": 4}, "train": {"steps": 20}}
    other_lr = {**base, "optimizer": {"lr": 1.0}, "model": {**base["model"], "activation": "relu"}}
    bigger = {**base, "model": {**base["model"], "hidden": 64}}
    assert estimate.shape_key(base) == estimate.shape_key(other_lr) != estimate.shape_key(bigger)
    speed = estimate.measure(base, 2, REGISTRY)
    assert speed.step > 0 and speed.checkpoint >= 0 and speed.job >= 0
    cost = estimate.config_seconds({**base, "train": {"steps": 20, "probe_every": 5}}, speed)
    assert cost == pytest.approx(speed.job + 20 * speed.step + 5 * speed.checkpoint)
    assert estimate.study_seconds([4.0, 4.0, 4.0, 4.0], startup=1.0, workers=2) == 1 + 8  # 16 s of work on 2
    assert estimate.study_seconds([9.0, 1.0], startup=0.0, workers=2) == 9  # never below the longest
    assert 1 <= estimate.free_cores() <= (os.cpu_count() or 1)


def test_the_estimates_start_up_is_a_real_run_of_the_first_configuration_and_says_why_it_failed():
    from ablab.core.errors import AblabError
    from ablab.dashboard import estimate

    base = {"task": {"name": "adding", "length": 5}, "model": {"kind": "recurrent", "cell": "rnn", "hidden": 4}}
    assert estimate.startup_seconds(base) > 0.1  # a Python process with numpy imported, at the least
    longer = {**base, "task": {"name": "adding", "length": 50}, "train": {"steps": 900}}
    gru = {**base, "model": {**base["model"], "cell": "gru"}}
    key = estimate.startup_key
    assert key([({}, base), ({}, longer)]) == key([({}, longer)]) != key([({}, base), ({}, gru)])
    with pytest.raises(AblabError, match="start-up of a run of this study failed: .*'length' must be"):
        estimate.startup_seconds({**base, "task": {"name": "adding", "length": -1}})


def test_run_form_names_a_cell_without_an_activation_and_builds_feedforward_studies(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.multiselect(key="b_cells").set_value(["rnn", "mgu"])
    at.multiselect(key="b_cell_acts").set_value(["relu"]).run()
    assert any("cell(s) mgu take no activation choice" in e.value for e in at.error)
    at.selectbox(key="b_task").set_value("teacher").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["configurations"] == "2"  # relu and tanh, the default axis


def test_run_form_compares_skip_connections(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.selectbox(key="b_task").set_value("teacher").run()
    at.multiselect(key="b_skips").set_value(["none", "residual + SkipInit"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["configurations"] == "4"  # 2 activations x 2 skip choices
    study = tomllib.loads(at.expander[0].children[0].value)
    assert study["axes"]["model.residual+model.skipinit"] == [[False, False], [True, True]]
    at.multiselect(key="b_skips").set_value([]).run()
    assert any("Skip connections: pick at least one" in e.value for e in at.error)


def test_run_form_asks_for_gradient_checks(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    assert "gradcheck" not in tomllib.loads(at.expander[0].children[0].value)["base"]  # off by default
    at.checkbox(key="b_gradcheck").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert tomllib.loads(at.expander[0].children[0].value)["base"]["gradcheck"] is True


def test_claims_evidence_chart_has_a_row_per_configuration_and_whole_labels(fake_store, monkeypatch):
    at = page(fake_store, "claims", monkeypatch)
    import pyarrow as pa

    (element,) = [c for c in at.get("vega_lite_chart") if "the LSTM ends lower" in c.proto.spec]
    evidence = json.loads(element.proto.spec)
    rows = {c for d in element.proto.datasets for c in pa.ipc.open_stream(d.data.data).read_all()["config"].to_pylist()}
    assert rows == {"cell=rnn", "cell=lstm"} and evidence["height"] >= 2 * charts.ROW_HEIGHT
    assert evidence["layer"][0]["encoding"]["y"]["axis"]["labelLimit"] == 0
    assert any("One row per configuration" in c.value for c in at.caption)


def test_run_form_sets_each_cells_own_options(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.checkbox(key="b_cellopts").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "cell_options" not in at.expander[0].children[0].value  # shown, untouched: nothing written
    assert not [w for w in at.selectbox if w.key == "b_cellopt_lstm_cell_activation"]  # the activation field's job
    at.number_input(key="b_cellopt_lstm_forget_bias").set_value(0.0)
    at.selectbox(key="b_cellopt_gru_gate_activation").set_value("hard_sigmoid").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    study = tomllib.loads(at.expander[0].children[0].value)
    assert study["axes"]["model.cell+model.cell_options"] == [
        ["rnn", {}],
        ["lstm", {"forget_bias": 0.0}],
        ["gru", {"gate_activation": "hard_sigmoid"}],
    ]
    assert {m.label: m.value for m in at.metric}["configurations"] == "3"
    at.multiselect(key="b_cells").set_value(["lstm"]).run()  # one cell: its options go in the model
    assert tomllib.loads(at.expander[0].children[0].value)["base"]["model"]["cell_options"] == {"forget_bias": 0.0}


def test_a_bad_cell_option_is_named_by_the_cell(filled_store, monkeypatch):
    at = page(filled_store, "run", monkeypatch)
    at.multiselect(key="b_cells").set_value(["lstm"])
    at.checkbox(key="b_cellopts").check().run()
    at.checkbox(key="b_cellopt_lstm_coupled").check()
    at.checkbox(key="b_cellopt_lstm_no_input_gate").check().run()
    assert not at.exception
    assert any("cell 'lstm'" in e.value and "drop no_input_gate" in e.value for e in at.error), [
        e.value for e in at.error
    ]
    assert not [b for b in at.button if b.key == "launch"]
