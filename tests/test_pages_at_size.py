"""The Review, Compare, Runs and Claims pages, the HTML report and the verdicts on a study too
big to read a row per run: every reader that returns one row per run of a study trips a wire,
so a page that still calls one fails here. The Runs page reads one page of one configuration."""

import json

import numpy as np
import pytest
from dashboard_helpers import page

from ablab.core.lab.store import RunResult, Store
from ablab.core.lab.study import parse_study
from ablab.core.lab.verdicts import stored_verdict
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
SEEDS = 260  # more than two pages of the Runs page (100 runs a page) in one configuration
BIG = f"""
[study]
name = "big"
seeds = {list(range(SEEDS))}
solve = {{ metric = "loss", op = "<=", value = 0.5, of = "baseline" }}

[base]
task = {{ name = "adding", length = 5 }}
model = {{ kind = "recurrent", cell = "rnn", hidden = 4 }}
train = {{ steps = 40, log_every = 10 }}

[axes]
"model.cell" = ["rnn", "lstm"]

[[checks]]
what = "the LSTM solves more often"
quantity = "solved"
where = {{ "model.cell" = "lstm" }}
op = ">"
than = {{ "model.cell" = "rnn" }}

[[checks]]
what = "the LSTM solves sooner"
quantity = "steps_to_solve"
where = {{ "model.cell" = "lstm" }}
op = "<"
than = {{ "model.cell" = "rnn" }}
"""
PER_RUN = ("runs_of", "run_rows", "summaries_of", "records_of", "metrics_of", "probes_of", "run_configs")


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """520 runs written as the runner writes them (no training): the LSTM's loss falls below half
    the baseline in most seeds, the RNN's in few; a second study shares the RNN runs."""
    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'store.sqlite'}"
    store = Store(url)
    study = parse_study(BIG, "big.toml", REGISTRY)
    runs = study.runs(REGISTRY)
    store.save_study(study, runs)
    rng = np.random.default_rng(3)
    results = []
    for r in runs:
        rate = 0.08 if r.point["model.cell"] == "lstm" else 0.01
        speed = rate * rng.uniform(0.5, 1.5)
        metrics = [{"step": s, "name": "loss", "value": float(np.exp(-speed * s))} for s in range(0, 40, 10)]
        metrics.append({"step": 0, "name": "baseline", "value": 1.0})
        results.append(RunResult(r.key, "done", 0.1, metrics))
    for i in range(0, len(results), 100):
        store.write_runs(results[i : i + 100])
    small = BIG.split("[[checks]]")[0].replace('name = "big"', 'name = "small"').replace('"rnn", "lstm"', '"rnn"')
    other = parse_study(small, "small.toml", REGISTRY)
    store.save_study(other, other.runs(REGISTRY))
    return url


@pytest.fixture
def no_row_per_run(monkeypatch):
    """Every per-run reader of the store raises: what still works reads per configuration."""

    def tripwire(name):
        def refuse(self, *args, **kwargs):
            raise AssertionError(f"Store.{name} read a row per run")

        return refuse

    for name in PER_RUN:
        monkeypatch.setattr(Store, name, tripwire(name))


def test_the_report_reads_no_row_per_run(big_store, no_row_per_run):
    from ablab.dashboard.report import build_report, report_columns

    store = Store(big_store)
    columns = report_columns(store, "small")
    assert columns[:3] == ["runs", "diverged", "failed"] and "budget ±95%" in columns  # one configuration: no axis
    html = build_report(store, "small", ["runs", "final_loss", "budget"])
    table = html.split("<table")[1].split("</table>")[0]
    assert table.count("<th>") == 3 and f"<td>{SEEDS}</td>" in table and "<td>31</td>" in table


def test_the_verdict_reads_summaries_only_and_resolves(big_store):
    import sqlalchemy as sa

    from ablab.dashboard.report import build_report

    store = Store(big_store)
    queries = []

    def count(conn, cursor, statement, *args):
        queries.extend(t for t in ("metrics", "probes") if f"FROM {t}" in statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    v = stored_verdict(store, "big")
    assert queries == []  # every run's solve steps were stored when it was written
    assert [c.label for c in v.checks] == ["holds", "holds"]
    assert "<span class='holds'>holds</span>" in build_report(store, "big")


def test_the_review_page_reads_no_row_per_run(big_store, monkeypatch, no_row_per_run):
    at = page(big_store, "review", monkeypatch, {"study": "big"})
    picker = at.multiselect(key="report_columns")
    assert picker.value == ["model.cell", "runs", "diverged", "failed", "final_loss", "final_loss ±95%"]
    assert "steps_to_loss<=0.5x_baseline" in picker.options  # the study's own criterion, kept per run


def test_the_compare_page_reads_no_row_per_run(big_store, monkeypatch, no_row_per_run):
    at = page(big_store, "compare", monkeypatch, {"studies": ["big", "small"]})
    table = at.dataframe[0].value
    assert list(table["study"]) == ["big", "big", "small"] and list(table["runs"]) == [SEEDS] * 3
    assert at.multiselect(key="compare_values").value == ["final_loss"]
    at.multiselect(key="compare_values").set_value(["budget", "mean_loss"]).run()
    table = at.dataframe[0].value
    assert list(table["budget"]) == [31.0] * 3 and "final_loss" not in table.columns
    assert at.query_params["values"] == ["budget", "mean_loss"]


def test_the_runs_page_reads_one_page_of_one_configuration(big_store, monkeypatch, no_row_per_run):
    monkeypatch.setattr(Store, "metrics_of", real_metrics_of)  # the page's own runs' curves
    at = page(big_store, "runs", monkeypatch, {"study": "big", "config": "cell=lstm"})
    table = at.dataframe[0].value
    assert list(table["seed"]) == list(range(100))
    (pager,) = at.number_input
    assert pager.max == 3 and f"{SEEDS} runs in all" in pager.label
    pager.set_value(3).run()
    table = at.dataframe[0].value
    assert list(table["seed"]) == list(range(200, SEEDS)) and at.query_params["page"] in ("3", ["3"])
    run = at.selectbox(key="run_key")
    assert run.options[0].startswith("seed 200 ") and len(run.options) == SEEDS - 200
    assert any('"cell": "lstm"' in c.value for c in at.code)


def real_metrics_of(self, keys):
    assert len(keys) <= 100, "the Runs page read more than one page's curves"
    return Store._frame(self, "metrics", keys)


def test_the_runs_page_says_when_a_link_asks_for_a_page_past_the_end(big_store, monkeypatch):
    at = page(big_store, "runs", monkeypatch, {"study": "big", "config": "cell=rnn", "page": "9"})
    assert at.number_input[0].value == 1 and "page" not in at.query_params  # the first page, and said so
    assert any("page='9' is not a choice here" in w.value and "1 to 3" in w.value for w in at.warning)
    assert json.dumps(list(at.dataframe[0].value["seed"])) == json.dumps(list(range(100)))
