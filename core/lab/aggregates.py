"""Aggregates answered by the store, not by pandas over raw rows: what the pages ask for.

A study of 100,000 runs holds millions of metric rows; loading them to aggregate in Python takes
minutes. Curves come from the statistics the store keeps as runs finish (ablab.core.lab.curves):
one row per configuration and step, whatever the number of seeds. Per-run values (final loss,
steps to a target, probe summaries) are in the run_summaries table (results.run_frame). Both go
through SQLAlchemy Core, so SQLite and PostgreSQL answer alike.
"""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa

from ablab.core.lab import curves

CURVE_POINTS = 300  # at most this many steps per curve: a chart cannot show more
COLUMNS = ["point", "n", "mean", "min", "max", "var", "n_pos", "lmean", "lvar"]


def _stats(store, study: str, kind: str, name: str, where, x: str, max_points: int | None) -> pd.DataFrame:
    """Rows of curve_stats for one quantity of one study, as a frame with `x` (step or idx)."""
    t = store.t["curve_stats"]
    base = [t.c.study == study, t.c.kind == kind, t.c.name == name, *where]
    if max_points is not None:
        with store.engine.connect() as conn:
            steps = [r[0] for r in conn.execute(sa.select(t.c.step).where(*base).distinct().order_by(t.c.step))]
        if len(steps) > max_points:  # evenly spaced, always the first and the last
            stride = (len(steps) - 1) / (max_points - 1)
            base.append(t.c.step.in_(sorted({steps[round(i * stride)] for i in range(max_points)})))
    sums = [t.c[c] for names in curves.SUMS for c in names]
    q = sa.select(t.c.point, t.c[x], *sums, t.c.min, t.c.max).where(*base)
    with store.engine.connect() as conn:
        rows = conn.execute(q.order_by(t.c.point_hash, t.c[x])).fetchall()
    out = pd.DataFrame.from_records(rows, columns=["point", x, *(c.name for c in sums), "min", "max"])
    for (n, shift, s1, s2), (mean, var) in zip(curves.SUMS, (("mean", "var"), ("lmean", "lvar"))):
        out[mean] = (out[shift] + out[s1] / out[n]).where(out[n] > 0)
        m2 = (out[s2] - out[s1] ** 2 / out[n]).clip(lower=0.0)  # sums of squares are >= 0
        out[var] = (m2 / (out[n] - 1)).where(out[n] > 1)
    out["point"] = out["point"].map(json.loads)
    return out[["point", x, *COLUMNS[1:]]]


def metric_curve(store, study: str, metric: str, *, max_points: int = CURVE_POINTS) -> pd.DataFrame:
    """Per configuration and step, over the study's finished runs' finite values of one metric:
    n, mean, min, max and variance (ddof 1), and over the positive ones n_pos and the mean and
    variance of log10 (lmean, lvar). Columns: point (dict of axis values), step, then COLUMNS[1:]."""
    t = store.t["curve_stats"]
    return _stats(store, study, "metric", metric, [t.c.idx == curves.SCALAR], "step", max_points)


def probe_curve(store, study: str, probe: str, name: str, *, max_points: int = CURVE_POINTS) -> pd.DataFrame:
    """Like metric_curve for a scalar probe quantity, averaged over layers within each run first."""
    t = store.t["curve_stats"]
    return _stats(store, study, "probe", f"{probe}.{name}", [t.c.idx == curves.SCALAR], "step", max_points)


def probe_profile(store, study: str, probe: str, name: str, *, step: int) -> pd.DataFrame:
    """A profile probe (one value per idx, e.g. the gradient norm per lag) at one step: per
    configuration and idx, n, mean, min, max, var."""
    t = store.t["curve_stats"]
    return _stats(store, study, "probe", f"{probe}.{name}", [t.c.idx >= 0, t.c.step == step], "idx", None)


def quantities(store, study: str) -> pd.DataFrame:
    """Which quantities the study's curves hold: kind, name, profile (bool), steps."""
    t = store.t["curve_stats"]
    # a literal 0, not a parameter: PostgreSQL takes `idx >= $1` and `idx >= $2` for two
    # expressions and refuses the GROUP BY
    profile = t.c.idx >= sa.literal_column("0")
    q = (
        sa.select(t.c.kind, t.c.name, profile.label("profile"), sa.func.count(sa.distinct(t.c.step)))
        .where(t.c.study == study)
        .group_by(t.c.kind, t.c.name, profile)
        .order_by(t.c.kind, t.c.name)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).fetchall()
    return pd.DataFrame.from_records(rows, columns=["kind", "name", "profile", "steps"]).astype({"profile": bool})


def _runs_of_study(store, study: str):
    links = store.t["study_runs"]
    return (
        sa.select(links.c.run_key, links.c.point)
        .where(links.c.study == study, curves.current(links))
        .subquery("study_runs_sel")
    )


def run_counts(store, study: str) -> pd.DataFrame:
    """Per configuration and status, how many of the study's current runs: columns point
    (dict of axis values), status, runs. One GROUP BY, whatever the number of runs."""
    runs = store.t["runs"]
    sel = _runs_of_study(store, study)
    q = (
        sa.select(sel.c.point, runs.c.status, sa.func.count().label("runs"))
        .join(runs, runs.c.key == sel.c.run_key)
        .group_by(sel.c.point, runs.c.status)
        .order_by(sel.c.point, runs.c.status)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).fetchall()
    out = pd.DataFrame.from_records(rows, columns=["point", "status", "runs"])
    out["point"] = out["point"].map(json.loads)
    return out


def profile_steps(store, study: str, name: str) -> list[int]:
    """The checkpoints at which a probe profile (idx >= 0) was recorded."""
    t = store.t["curve_stats"]
    q = (
        sa.select(t.c.step)
        .where(t.c.study == study, t.c.kind == "probe", t.c.name == name, t.c.idx >= 0)
        .distinct()
        .order_by(t.c.step)
    )
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(q)]


def summary_stats(store, study: str, names: list[str]) -> pd.DataFrame:
    """Per configuration and per-run summary value (run_summaries), over the study's current
    runs, curve-derived values of done runs only: n (values present), n_finite, pos_inf,
    neg_inf, mean and m2 (the sum of squared deviations from it) of the finite ones. Columns:
    point (dict), name, then those. Read from the statistics the store keeps
    (ablab.core.lab.summary_stats): one row per configuration and name, whatever the runs."""
    columns = ["point", "name", "n", "n_finite", "pos_inf", "neg_inf", "mean", "m2"]
    if not names:
        return pd.DataFrame(columns=columns)
    t = store.t["summary_stats"]
    q = sa.select(t.c.point, t.c.name, t.c.n, t.c.n_finite, t.c.pos_inf, t.c.neg_inf, t.c.shift, t.c.s1, t.c.s2).where(
        t.c.study == study, t.c.name.in_(list(names)), t.c.n > 0
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).fetchall()
    out = pd.DataFrame.from_records(
        rows, columns=["point", "name", "n", "n_finite", "pos_inf", "neg_inf", "shift", "s1", "s2"]
    )
    finite = out["n_finite"].astype(float)
    out["mean"] = (out["shift"].astype(float) + out["s1"].astype(float) / finite).where(finite > 0)
    out["m2"] = (out["s2"].astype(float) - out["s1"].astype(float) ** 2 / finite).clip(lower=0.0).where(finite > 0)
    out["point"] = out["point"].map(json.loads)
    return out[columns]


def summary_names(store, study: str) -> list[str]:
    """Every summary name some current run of the study has (the kept statistics' names)."""
    t = store.t["summary_stats"]
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(t.c.name).where(t.c.study == study).distinct())]
