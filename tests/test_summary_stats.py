"""The per-configuration summary statistics the store keeps (summary_stats, migration m007) equal
the direct computation over the run table (results.summary of run_frame), on SQLite and
PostgreSQL: after merges, a run written again, a run claimed again and rewritten, a study saved
with fewer seeds, and when an old store is filled by the migration."""

import math

import numpy as np
import pytest
import sqlalchemy as sa

from ablab.core.lab.results import config_summary, result_columns, run_frame, summary
from ablab.core.lab.run_summaries import column_order
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study

STUDY = """
[study]
name = "ss"
seeds = [0, 1, 2, 3, 4]

[base]
task = { name = "adding", length = 5 }
model = { cell = "rnn", hidden = 4 }
train = { steps = 10, batch_size = 4 }

[axes]
"model.cell" = ["rnn", "gru"]
"""
NAMES = ["final_loss", "mean_loss", "steps_to_0.5x_baseline", "baseline", "grad_through_time.norm@init"]


def metrics(rng, offset: float = 1000.0, never: bool = False) -> list[dict]:
    """Losses near offset with a 1e-3 spread (a sum-of-squares variance would lose its digits),
    with a dip below half the baseline at steps 3 to 7 (or none: the target is never reached)."""
    dip = range(3, 8) if not never else ()
    out = [
        {"step": s, "name": "loss", "value": (1.0 if s in dip else offset) + 1e-3 * float(rng.random())}
        for s in range(12)
    ]
    return out + [{"step": 0, "name": "baseline", "value": 1.5 * offset + float(rng.random())}]


def probes(rng) -> list[dict]:
    return [
        {"step": 0, "probe": "grad_through_time", "name": "norm", "layer": 0, "idx": -1, "value": float(rng.random())}
    ]


@pytest.fixture
def written(any_store_url, builtin_registry):
    """Each configuration's first run written is a failed one (its derived values do not count:
    the statistics start empty), then done runs one at a time and two in one batch, one
    diverged, one whose target is never reached (inf)."""
    store = Store(any_store_url)
    study = parse_study(STUDY, "ss.toml", builtin_registry)
    runs = study.runs(builtin_registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(3)
    by_cell: dict[str, list] = {}
    for r in runs:
        by_cell.setdefault(r.point["model.cell"], []).append(r)
    for group in by_cell.values():
        store.write_run(group[0].key, "failed", seconds=1.0, metrics=metrics(rng), probes=probes(rng), error="x")
        store.write_run(group[1].key, "done", seconds=1.0, metrics=metrics(rng), probes=probes(rng))
        store.write_run(group[2].key, "diverged", seconds=1.0, metrics=metrics(rng), probes=probes(rng))
        store.write_run(group[3].key, "done", seconds=1.0, metrics=metrics(rng, never=True), probes=probes(rng))
        store.write_run(group[4].key, "done", seconds=1.0, metrics=metrics(rng), probes=probes(rng))
    return store, runs


def assert_same(store, study: str = "ss") -> None:
    expected = summary(run_frame(store, study, NAMES)).sort_values("model.cell").reset_index(drop=True)
    names = [c for c in expected.columns if c in NAMES]  # in the run table's order, headline first
    got = config_summary(Store(store.url), study, names).drop(columns="point")
    got = got.sort_values("model.cell").reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    for c in got.columns:
        a, b = got[c].to_numpy(), expected[c].to_numpy()
        if got[c].dtype.kind in "fi":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, equal_nan=True, err_msg=c)
        else:
            assert list(a) == list(b), c
    assert result_columns(store, study) == column_order(store.summary_names(study))


def test_kept_statistics_equal_the_run_table(written):
    store, _ = written
    assert_same(store)
    got = config_summary(store, "ss", NAMES)
    assert (got["final_loss ±95%"] > 0).all()  # the 1e-3 spread survived the offset of 1000
    assert got["steps_to_0.5x_baseline"].map(math.isinf).all()  # one done run never got there
    assert config_summary(store, "ss", ["steps_to_0.2x_baseline"])["steps_to_0.2x_baseline"].map(math.isinf).all()


def test_a_run_written_again_replaces_its_values(written):
    store, runs = written
    rng = np.random.default_rng(9)
    store.write_run(runs[1].key, "done", seconds=1.0, metrics=metrics(rng, offset=5.0), probes=probes(rng))
    assert_same(store)
    assert config_summary(store, "ss", ["final_loss"])["final_loss"].min() < 1000


def test_a_run_claimed_again_then_rewritten_counts_once(written):
    store, runs = written
    done = [r.key for r in runs if store.statuses([r.key])[r.key] == "done"][:2]
    assert store.claim(done, "me", rerun_before=math.inf) == done  # `ablab run --rerun`: status running
    assert_same(store)  # while they run again, the table agrees with the run table: their final_* are blank
    rng = np.random.default_rng(11)
    from ablab.core.lab.store import RunResult

    store.write_runs([RunResult(k, "done", 1.0, metrics(rng), probes(rng)) for k in done], owner="me")
    assert_same(store)
    assert config_summary(store, "ss", ["baseline"])["runs"].sum() == 10


def test_a_study_saved_with_fewer_seeds_drops_the_others(written, builtin_registry):
    store, _ = written
    fewer = parse_study(STUDY.replace("seeds = [0, 1, 2, 3, 4]", "seeds = [0, 1, 2]"), "ss.toml", builtin_registry)
    store.save_study(fewer, fewer.runs(builtin_registry))
    assert_same(store)
    assert config_summary(store, "ss", ["baseline"])["runs"].tolist() == [3, 3]


def test_an_old_store_is_filled_by_the_migration(written, any_store_url):
    store, _ = written
    want = config_summary(store, "ss", NAMES)
    with store.engine.begin() as conn:  # the schema as ablab left it before m007
        conn.execute(sa.text("DROP TABLE summary_stats"))
        for index in ("ix_study_runs_study_point", "ix_runs_finished_at", "ix_runs_started_at"):
            conn.execute(sa.text(f"DROP INDEX {index}"))
        conn.execute(sa.text("DELETE FROM ablab_migrations WHERE name = 'm007_summary_stats'"))
    store.engine.dispose()
    upgraded = Store(any_store_url)
    assert "m007_summary_stats" in upgraded.applied_migrations()
    assert_same(upgraded)
    got = config_summary(upgraded, "ss", NAMES)
    np.testing.assert_allclose(
        got.select_dtypes("number").to_numpy(float), want.select_dtypes("number").to_numpy(float), rtol=1e-12
    )


def test_a_solve_criterion_added_later_reaches_the_statistics(written, builtin_registry):
    """Saving the study with its own `solve` gives its finished runs new steps_to_ values
    (solve_criteria.add_missing): the kept statistics have the new column, equal to the run table."""
    store, _ = written
    solved = STUDY.replace(
        "seeds = [0, 1, 2, 3, 4]",
        'seeds = [0, 1, 2, 3, 4]\nsolve = { metric = "loss", op = "<=", value = 0.5, of = "baseline" }',
    )
    study = parse_study(solved, "ss.toml", builtin_registry)
    store.save_study(study, study.runs(builtin_registry))
    name = "steps_to_loss<=0.5x_baseline"
    assert name in result_columns(store, "ss")
    assert_same(store)  # every column list equal to run_summaries' names
    expected = summary(run_frame(store, "ss", [name])).sort_values("model.cell").reset_index(drop=True)
    got = config_summary(Store(store.url), "ss", [name]).sort_values("model.cell").reset_index(drop=True)
    np.testing.assert_allclose(got[name].to_numpy(dtype=float), expected[name].to_numpy(dtype=float), rtol=1e-9)
