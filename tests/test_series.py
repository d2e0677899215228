"""Chart series from the store's curve statistics: bands over seeds, grouping, log space,
smoothing and diverged runs, each against a direct computation over the runs' values."""

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ablab.core.lab import aggregates
from ablab.core.lab.results import t95
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.dashboard import series
from ablab.dashboard.data import band_caption

STUDY = """
[study]
name = "series"
seeds = [0, 1, 2]

[base]
task = { name = "adding", length = 5 }
model = { cell = "rnn", hidden = 4 }
train = { steps = 10, batch_size = 4 }

[axes]
"model.cell" = ["rnn", "lstm"]
"optimizer.lr" = [0.01, 0.1]
"""


def stored(tmp_path, registry, value, *, seeds=(0, 1, 2), steps=(0,), status=None):
    """A study whose run i logs loss value(i, step) at each step; status(i) -> (status, diverged_step)."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    study = parse_study(STUDY.replace("[0, 1, 2]", str(list(seeds))), "series.toml", registry)
    runs = study.runs(registry)
    store.save_study(study, runs)
    values = {}
    for i, r in enumerate(runs):
        state, diverged = status(i) if status else ("done", None)
        metrics = [{"step": s, "name": "loss", "value": value(i, s)} for s in steps]
        store.write_run(r.key, state, seconds=1.0, metrics=metrics, diverged_step=diverged)
        values[r.key] = (r, metrics)
    return store, values


def per_config(values):
    """point label -> the runs' loss values at step 0, from the written records."""
    out = {}
    for r, metrics in values.values():
        label = f"cell={r.point['model.cell']}, lr={r.point['optimizer.lr']}"
        out.setdefault(label, []).append(metrics[0]["value"])
    return out


def draw(store, **options):
    stats = aggregates.metric_curve(store, "series", "loss")
    configs = series.configurations(list(aggregates.run_counts(store, "series")["point"]))
    return series.curves(stats, configs, **options)


def test_a_configurations_band_is_the_t_interval_of_its_seeds(tmp_path, builtin_registry):
    store, values = stored(tmp_path, builtin_registry, lambda i, s: float(i * i))
    out = draw(store).set_index("config")
    expected = per_config(values)
    assert set(out.index) == set(expected) and (out["n"] == 3).all() and set(out["interval"]) == {"95% CI"}
    for label, v in expected.items():
        half = t95(3) * np.std(v, ddof=1) / math.sqrt(3)
        assert out.loc[label, "mean"] == pytest.approx(np.mean(v), rel=1e-12)
        assert (out.loc[label, "lo"], out.loc[label, "hi"]) == (
            pytest.approx(np.mean(v) - half, rel=1e-12),
            pytest.approx(np.mean(v) + half, rel=1e-12),
        )


def test_two_seeds_band_is_their_range_and_one_seed_has_none(tmp_path, builtin_registry):
    store, values = stored(tmp_path, builtin_registry, lambda i, s: float(i * i), seeds=(0, 1))
    out = draw(store).set_index("config")
    for label, v in per_config(values).items():
        assert (out.loc[label, "lo"], out.loc[label, "hi"]) == (pytest.approx(min(v)), pytest.approx(max(v)))
    assert set(out["interval"]) == {"seed range"}
    one = stored(tmp_path / "one", builtin_registry, lambda i, s: float(i), seeds=(0,))[0]
    solo = draw(one)
    assert set(solo["interval"]) == {"one seed"} and (solo["lo"] == solo["mean"]).all()
    assert "none for a single seed" in band_caption(solo)


def test_grouping_by_fewer_axes_draws_the_mean_over_configurations_without_a_band(tmp_path, builtin_registry):
    store, values = stored(tmp_path, builtin_registry, lambda i, s: float(i))
    expected = per_config(values)
    out = draw(store, colour=["@model.cell"]).set_index("config")
    assert sorted(out.index) == ["cell=lstm", "cell=rnn"] and (out["n"] == 2).all()
    assert (out["lo"] == out["mean"]).all() and set(out["interval"]) == {"mean over 2 configurations"}
    rnn = np.mean([np.mean(v) for k, v in expected.items() if k.startswith("cell=rnn")])
    assert out.loc["cell=rnn", "mean"] == pytest.approx(rnn)
    assert "not noise" in band_caption(out)
    faceted = draw(store, colour=[], facet="@optimizer.lr")
    assert set(faceted["facet"]) == {"lr=0.01", "lr=0.1"} and set(faceted["config"]) == {"all runs"}


def test_filtered_configurations_are_left_out(tmp_path, builtin_registry):
    store, _ = stored(tmp_path, builtin_registry, lambda i, s: float(i))
    assert store.study_names() == ["series"]  # what the study picker reads
    stats = aggregates.metric_curve(store, "series", "loss")
    configs = series.configurations(list(stats["point"]))
    only_rnn = configs[configs["@model.cell"] == "rnn"]
    out = series.curves(stats, only_rnn)
    assert set(out["config"]) == {"lr=0.01", "lr=0.1"}  # the cell no longer varies: not in the label


def test_log_curves_take_mean_and_band_in_log_space(tmp_path, builtin_registry):
    store, values = stored(tmp_path, builtin_registry, lambda i, s: 10.0 ** -(i % 3 * 2 + 2))
    out = draw(store, log=True).set_index("config")
    for label, v in per_config(values).items():
        logs = np.log10(v)
        half = t95(3) * np.std(logs, ddof=1) / math.sqrt(3)
        assert out.loc[label, "mean"] == pytest.approx(10 ** np.mean(logs))  # the geometric mean
        assert out.loc[label, "lo"] == pytest.approx(10 ** (np.mean(logs) - half))  # symmetric on the log axis
        assert out.loc[label, "lo"] * out.loc[label, "hi"] == pytest.approx(out.loc[label, "mean"] ** 2)


def test_non_positive_values_are_left_out_of_log_curves_and_bands_are_clamped(tmp_path, builtin_registry):
    store, _ = stored(tmp_path, builtin_registry, lambda i, s: [0.0, 0.05, 1.0][i % 3])
    stats = aggregates.metric_curve(store, "series", "loss")
    assert series.bounds("accuracy", stats) == (0.0, 1.0) and series.bounds("loss", stats) == (0.0, None)
    out = draw(store, bounds=(0.0, 1.0))
    assert (out["lo"] >= 0).all() and (out["hi"] <= 1).all() and (out["lo"] == 0).any()
    logged = draw(store, log=True)
    assert (logged["n"] == 2).all()  # the zero of each configuration cannot be drawn on a log axis
    assert series.starts_on_log(stats) == (False, True)


def test_an_exploding_quantity_starts_on_a_log_axis(tmp_path, builtin_registry):
    store, _ = stored(tmp_path, builtin_registry, lambda i, s: 10.0 ** (s / 2), steps=range(10))
    assert series.starts_on_log(aggregates.metric_curve(store, "series", "loss")) == (True, True)


def test_smoothing_is_a_rolling_mean_of_each_curve_and_its_band(tmp_path, builtin_registry):
    store, _ = stored(tmp_path, builtin_registry, lambda i, s: float((i + 1) * (s % 2)), steps=range(6))
    raw = draw(store).sort_values(["config", "x"])
    smooth = draw(store, window=2).sort_values(["config", "x"])
    for label, group in raw.groupby("config"):
        got = smooth[smooth["config"] == label]
        for c in ("mean", "lo", "hi"):
            expected = group[c].rolling(2, min_periods=1).mean().to_numpy()
            np.testing.assert_allclose(got[c].to_numpy(), expected)


def test_a_diverged_run_counts_up_to_its_divergence(tmp_path, builtin_registry):
    """Its overflowed values from the divergence on would flatten every other curve."""

    def value(i, s):
        return 1e30 if (i == 0 and s >= 3) else 1.0

    def status(i):
        return ("diverged", 3) if i == 0 else ("done", None)

    store, values = stored(tmp_path, builtin_registry, value, steps=range(6), status=status)
    stats = aggregates.metric_curve(store, "series", "loss")
    assert stats["max"].max() == 1.0
    first = next(r for r, _ in values.values() if r.seed == 0)
    mine = stats[stats["point"].map(lambda p: p == first.point)].set_index("step")["n"]
    assert list(mine.loc[[0, 1, 2]]) == [3, 3, 3] and list(mine.loc[[3, 4, 5]]) == [2, 2, 2]


def test_an_older_store_gains_log_statistics_when_migrated(tmp_path, builtin_registry):
    store, _ = stored(tmp_path, builtin_registry, lambda i, s: 10.0 ** -(i % 3))
    before = draw(store, log=True)
    with store.engine.begin() as conn:  # back to the schema before m005, with its rows zeroed
        conn.execute(sa.text("UPDATE curve_stats SET n_pos = 0, lshift = 0, l1 = 0, l2 = 0"))
        conn.execute(sa.text("DELETE FROM ablab_migrations WHERE name = 'm005_curve_log_stats'"))
        for column in ("n_pos", "lshift", "l1", "l2"):
            conn.execute(sa.text(f"ALTER TABLE curve_stats DROP COLUMN {column}"))
    reopened = Store(store.url)
    assert "m005_curve_log_stats" in reopened.applied_migrations()
    pd.testing.assert_frame_equal(draw(reopened, log=True), before)


def test_the_t_table_agrees_with_scipy():
    """results.T95 is a table so the Results page need not import scipy; it must be scipy's quantile."""
    from scipy.special import stdtrit

    from ablab.core.lab.results import T95

    for n in range(2, 32):
        assert t95(n) == pytest.approx(stdtrit(n - 1, 0.975), abs=6e-4), n
    assert math.isnan(t95(1)) and len(T95) == 30


@pytest.mark.parametrize("configs, points", [(1, 300), (10, 300), (20, 150), (24, 125), (100, 60), (5_000, 60)])
def test_curves_thin_at_many_configurations(configs, points):
    """Up to 10 configurations a curve keeps the store's 300 steps; past that a chart holds about
    CHART_POINTS points, never fewer than MIN_CURVE_POINTS per curve."""
    assert series.points_per_curve(configs) == points
