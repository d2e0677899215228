"""Aggregates from the store equal pandas' over the raw rows, on SQLite and PostgreSQL."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ablab.core.lab import aggregates
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study

STUDY = """
[study]
name = "agg"
seeds = [0, 1, 2, 3, 4]

[base]
task = { name = "adding", length = 5 }
model = { cell = "rnn", hidden = 4 }
train = { steps = 10, batch_size = 4 }

[axes]
"model.cell" = ["rnn", "gru"]
"optimizer.lr" = [0.01, 0.1]
"""


@pytest.fixture
def filled(any_store_url, builtin_registry):
    """A store whose metric values are random with a large offset and a small spread: the case
    where a sum-of-squares variance loses its digits. One run diverged, one failed."""
    store = Store(any_store_url)
    study = parse_study(STUDY, "agg.toml", builtin_registry)
    runs = study.runs(builtin_registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(7)
    for i, r in enumerate(runs):
        n_steps = 23 if i % 3 else 17  # runs of one configuration need not log the same steps
        metrics = [{"step": s, "name": "loss", "value": 1000.0 + 1e-3 * float(rng.random())} for s in range(n_steps)]
        metrics += [{"step": s, "name": "grad_norm", "value": float(rng.random())} for s in range(n_steps)]
        if i == 4:  # a missing value (NaN is stored as NULL or NaN by the database)
            metrics[n_steps - 1]["value"] = None
        probes = [
            {
                "step": s,
                "probe": "grad_through_time",
                "name": "norm",
                "layer": layer,
                "idx": k,
                "value": float(rng.random()),
            }
            for s in (0, 10)
            for layer in (0, 1)
            for k in (-1, 0, 1, 2)
        ]
        status = {7: "diverged", 9: "failed"}.get(i, "done")
        store.write_run(r.key, status, seconds=1.0, metrics=metrics, probes=probes)
    return store


def raw(store, table):
    runs = store.runs_of("agg")
    keys = [r["key"] for r in runs]
    point = {r["key"]: json.dumps(r["point"], sort_keys=True) for r in runs}
    status = {r["key"]: r["status"] for r in runs}
    frame = store.metrics_of(keys) if table == "metrics" else store.probes_of(keys)
    frame["point"] = frame["run_key"].map(point)
    finished = frame["run_key"].map(status).isin(["done", "diverged"])
    return frame[finished & np.isfinite(frame["value"].astype(float))]


def exact_var(values) -> float:
    """Two-pass variance in float64: pandas' groupby var is a running update that keeps only
    about 9 digits when the spread is 1e-6 of the mean, too coarse to judge a 1e-9 claim."""
    v = np.asarray(values, dtype=float)
    return float(np.sum((v - v.mean()) ** 2) / (len(v) - 1)) if len(v) > 1 else float("nan")


def close(a, b):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=0, equal_nan=True)


def test_metric_curve_equals_pandas(filled):
    got = aggregates.metric_curve(filled, "agg", "loss")
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    rows = raw(filled, "metrics")
    rows = rows[(rows["name"] == "loss") & rows["value"].notna()]
    want = rows.groupby(["point", "step"])["value"].agg(["count", "mean", exact_var, "min", "max"]).reset_index()
    want = want.rename(columns={"exact_var": "var"})
    merged = want.merge(got, on=["point", "step"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == 4 * 23
    assert (merged["count"] == merged["n"]).all()
    assert close(merged["mean_x"], merged["mean_y"]) and close(merged["var_x"], merged["var_y"])
    assert close(merged["min_x"], merged["min_y"]) and close(merged["max_x"], merged["max_y"])
    assert merged["var_y"].dropna().gt(0).all()  # the 1e-3 spread survived the offset of 1000


def test_probe_curve_averages_layers_within_a_run_first(filled):
    got = aggregates.probe_curve(filled, "agg", "grad_through_time", "norm")
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    rows = raw(filled, "probes")
    rows = rows[(rows["idx"] == -1)]
    per_run = rows.groupby(["point", "run_key", "step"])["value"].mean().reset_index()
    want = per_run.groupby(["point", "step"])["value"].agg(["count", "mean", exact_var]).reset_index()
    want = want.rename(columns={"exact_var": "var"})
    merged = want.merge(got, on=["point", "step"])
    assert len(merged) == len(want) == len(got) == 4 * 2
    assert (merged["count"] == merged["n"]).all() and close(merged["mean_x"], merged["mean_y"])
    assert close(merged["var_x"], merged["var_y"])


def test_probe_profile_at_one_step(filled):
    got = aggregates.probe_profile(filled, "agg", "grad_through_time", "norm", step=10)
    rows = raw(filled, "probes")
    rows = rows[(rows["idx"] >= 0) & (rows["step"] == 10)]
    want = rows.groupby(["point", "run_key", "idx"])["value"].mean().groupby(["point", "idx"]).agg(["mean", exact_var])
    want = want.rename(columns={"exact_var": "var"})
    assert sorted(got["idx"].unique()) == [0, 1, 2] and len(got) == len(want) == 4 * 3
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    merged = want.reset_index().merge(got, on=["point", "idx"])
    assert close(merged["mean_x"], merged["mean_y"]) and close(merged["var_x"], merged["var_y"])


def test_curves_are_thinned_to_the_requested_points_keeping_first_and_last(filled):
    got = aggregates.metric_curve(filled, "agg", "loss", max_points=5)
    steps = sorted(got["step"].unique())
    assert len(steps) == 5 and steps[0] == 0 and steps[-1] == 22


def test_an_unknown_study_gives_empty_tables(filled):
    assert aggregates.metric_curve(filled, "nope", "loss").empty
    assert aggregates.run_counts(filled, "nope").empty


def test_read_only_use_does_not_need_pandas_rows_of_other_studies(filled, any_store_url, builtin_registry):
    other = parse_study(
        STUDY.replace('name = "agg"', 'name = "other"').replace("length = 5", "length = 6"), "o.toml", builtin_registry
    )
    runs = other.runs(builtin_registry)
    filled.save_study(other, runs)
    for r in runs:
        filled.write_run(r.key, "done", seconds=1.0, metrics=[{"step": 0, "name": "loss", "value": 5.0}])
    again = Store(any_store_url)
    got = aggregates.metric_curve(again, "agg", "loss")
    assert got["mean"].lt(1001).all() and len(got) == 4 * 23  # no row of "other" mixed in
    assert pd.api.types.is_integer_dtype(got["n"])


def test_a_rerun_replaces_the_runs_values_in_the_curves(filled):
    run = filled.runs_of("agg")[0]
    filled.write_run(run["key"], "done", seconds=1.0, metrics=[{"step": 0, "name": "loss", "value": -5.0}])
    got = aggregates.metric_curve(filled, "agg", "loss")
    rows = raw(filled, "metrics")
    rows = rows[rows["name"] == "loss"]
    want = rows.groupby(["point", "step"])["value"].agg(["count", "mean", exact_var]).reset_index()
    want = want.rename(columns={"exact_var": "var"})
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    merged = want.merge(got, on=["point", "step"], how="outer")
    assert len(merged) == len(got) and (merged["count"] == merged["n"]).all()
    assert close(merged["mean_x"], merged["mean_y"]) and close(merged["var_x"], merged["var_y"])
    assert got["min"].min() == -5.0


def test_fewer_seeds_in_a_saved_study_shrink_its_curves(filled, builtin_registry):
    fewer = parse_study(STUDY.replace("seeds = [0, 1, 2, 3, 4]", "seeds = [0, 1]"), "agg.toml", builtin_registry)
    filled.save_study(fewer, fewer.runs(builtin_registry))
    got = aggregates.metric_curve(filled, "agg", "loss")
    assert got["n"].max() == 2
    rows = raw(filled, "metrics")
    rows = rows[rows["name"] == "loss"]
    want = rows.groupby(["point", "step"])["value"].mean().reset_index()
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    merged = want.merge(got, on=["point", "step"])
    assert len(merged) == len(got) and close(merged["value"], merged["mean"])


def test_a_store_from_before_the_curve_statistics_is_filled_by_the_migration(tmp_path, builtin_registry, monkeypatch):
    from ablab.core.lab import migrations

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    import ablab.core.lab.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", migrations.MIGRATIONS)
    old = Store.__new__(Store)  # the schema as an older ablab left it: no curve_stats table
    old.url = url
    import sqlalchemy as sa

    old.engine = sa.create_engine(url)
    old.migrate()
    monkeypatch.undo()
    md = sa.MetaData()
    md.reflect(old.engine)
    assert "curve_stats" not in md.tables
    with old.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO studies VALUES ('agg', 'h', '{}', 'agg.toml', 0, 0)"))
        conn.execute(
            sa.text(
                "INSERT INTO runs (key, config_key, config, seed, status, versions, attempts) "
                "VALUES ('r1', 'c', '{}', 0, 'done', '{}', 1), ('r2', 'c', '{}', 1, 'done', '{}', 1)"
            )
        )
        conn.execute(sa.text("INSERT INTO study_runs VALUES ('agg', 'r1', '{}'), ('agg', 'r2', '{}')"))
        conn.execute(sa.text("INSERT INTO metrics VALUES ('r1', 0, 'loss', 1.0), ('r2', 0, 'loss', 3.0)"))
    new = Store(url)
    got = aggregates.metric_curve(new, "agg", "loss")
    assert got[["step", "n", "mean", "var"]].values.tolist() == [[0, 2, 2.0, 2.0]]


def test_the_quantities_held_and_whether_each_is_a_profile(filled):
    held = aggregates.quantities(filled, "agg")  # on PostgreSQL too: one GROUP BY expression, not two
    rows = {(k, n, p): s for k, n, p, s in held.itertuples(index=False)}
    assert rows == {
        ("metric", "grad_norm", False): 23,
        ("metric", "loss", False): 23,
        ("probe", "grad_through_time.norm", False): 2,
        ("probe", "grad_through_time.norm", True): 2,
    }


def test_run_counts_are_per_configuration_and_status(filled):
    counts = aggregates.run_counts(filled, "agg")
    assert counts["runs"].sum() == 20 and len({json.dumps(p, sort_keys=True) for p in counts["point"]}) == 4
    by_status = counts.groupby("status")["runs"].sum().to_dict()
    assert by_status == {"done": 18, "diverged": 1, "failed": 1}


def test_the_configuration_summary_from_the_store_equals_the_one_from_run_rows(filled):
    """results.config_summary (one GROUP BY) against results.summary over run_frame (a row per
    run): means, intervals, counts; infinities (a target never reached) and missing values."""
    from ablab.core.lab.results import config_summary, run_frame, summary

    with filled.engine.begin() as conn:
        runs = filled.t["runs"]
        keys = sorted(r[0] for r in conn.execute(sa.select(runs.c.key).where(runs.c.status == "done")))
    # one run written again with an infinite loss early on: its mean_loss is inf (the store's
    # statistics of its configuration are recomputed, not merged twice)
    loss = [{"step": s, "name": "loss", "value": math.inf if s == 0 else 1000.0 + 1e-4 * s} for s in range(23)]
    filled.write_run(keys[0], "done", seconds=1.0, metrics=loss)
    names = ["final_loss", "mean_loss", "final_grad_norm", "grad_through_time.norm@init"]
    frame = run_frame(filled, "agg", names)
    expected = summary(frame)
    got = config_summary(filled, "agg", names).drop(columns="point")
    key = ["cell", "lr"]
    expected = expected.rename(columns={"model.cell": "cell", "optimizer.lr": "lr"}).sort_values(key)
    got = got.rename(columns={"model.cell": "cell", "optimizer.lr": "lr"}).sort_values(key)
    assert list(got.columns) == list(expected.columns)
    for c in got.columns:
        a, b = got[c].to_numpy(), expected[c].to_numpy()
        if got[c].dtype.kind in "fi":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, equal_nan=True)
        else:
            assert list(a) == list(b)
    assert np.isinf(got["mean_loss"]).sum() == 1 and got["mean_loss ±95%"].isna().sum() >= 1


def test_a_run_claimed_again_and_rewritten_counts_once_in_the_curves(filled):
    """`ablab run --rerun` claims finished runs (status running) before writing them again: their
    old values must be replaced in the curves, not merged a second time."""
    done = [r["key"] for r in filled.runs_of("agg") if r["status"] == "done"][:2]
    assert filled.claim(done, "me", rerun_before=math.inf) == done
    from ablab.core.lab.store import RunResult

    loss = [{"step": s, "name": "loss", "value": 1000.0 + 1e-4 * s} for s in range(23)]
    filled.write_runs([RunResult(k, "done", 1.0, loss) for k in done], owner="me")
    got = aggregates.metric_curve(filled, "agg", "loss")
    rows = raw(filled, "metrics")
    rows = rows[rows["name"] == "loss"]
    want = rows.groupby(["point", "step"])["value"].agg(["count", "mean"]).reset_index()
    got["point"] = got["point"].map(lambda p: json.dumps(p, sort_keys=True))
    merged = want.merge(got, on=["point", "step"], how="outer")
    assert len(merged) == len(got) and (merged["count"] == merged["n"]).all()
    assert close(merged["mean_x"], merged["mean_y"])
