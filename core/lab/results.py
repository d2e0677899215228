"""Tidy result tables: one row per run, then configurations grouped over seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ablab.core.lab.run_summaries import column_order, is_derived

# two-sided 95% Student t quantiles for 1..30 degrees of freedom; 1.96 beyond. A table, not
# scipy.special.stdtrit: importing scipy would add 0.4 s to the Results page's first view.
T95 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def t95(n: int) -> float:
    return float("nan") if n < 2 else (T95[n - 2] if n - 2 < len(T95) else 1.96)


def run_frame(store, study: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One row per run of the study's current runs: key, seed, status, diverged_step, seconds,
    the axis values (`@AXIS`), then its summary values (see run_summaries), only `columns` of
    them when given (unknown names are left out: see `result_columns`)."""
    meta = run_meta(store, study)
    if meta.empty:
        return pd.DataFrame()
    return assemble(meta, store.summaries_of(study, columns))


def run_meta(store, study: str) -> pd.DataFrame:
    """The run table's first columns, indexed by key. Each configuration's point is decoded
    once, not once per run (a study of 100,000 runs has a few dozen)."""
    rows = store.run_rows(study)
    if not rows:
        return pd.DataFrame()
    points: dict[str, int] = {}
    for r in rows:
        points.setdefault(r[5], len(points))
    meta = pd.DataFrame(
        {
            "key": [r[0] for r in rows],
            "seed": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "diverged_step": [r[3] for r in rows],
            "seconds": [r[4] for r in rows],
            "_point": [points[r[5]] for r in rows],
        }
    )
    axes = pd.DataFrame([{f"@{k}": label(v) for k, v in json.loads(p).items()} for p in points])
    if len(axes.columns):
        meta = meta.join(axes, on="_point")
    return meta.drop(columns="_point").set_index("key")


def assemble(meta: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """meta (run_meta) joined with long summary values (run_key, name, value), in the run
    table's column order; curve-derived values of runs not done are blanked."""
    frame = meta
    if len(values):
        wide = values.pivot(index="run_key", columns="name", values="value")
        wide = wide[column_order(wide.columns)].astype(float)
        wide.columns.name = None
        frame = meta.join(wide)
        derived = [c for c in wide.columns if is_derived(c)]
        frame.loc[frame["status"] != "done", derived] = np.nan
    return frame.reset_index()


def result_columns(store, study: str) -> list[str]:
    """Every summary column the study's runs have, in the run table's order."""
    from ablab.core.lab import aggregates

    return column_order(aggregates.summary_names(store, study))


def label(value) -> str | float | int | bool:
    """Axis values as table cells: tables become their TOML-ish text."""
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, dict):  # {name = "he", gain = 0.7} -> "he(gain=0.7)"; key order does not matter
        rest = ", ".join(f"{k}={label(v)}" for k, v in sorted(value.items()) if k != "name")
        return f"{value['name']}({rest})" if "name" in value and rest else str(value.get("name", rest))
    if isinstance(value, list):  # a zipped axis's parts: an empty table among them says nothing
        parts = [v for v in value if v != {}] or value
        return " / ".join(str(label(v)) for v in parts)
    return value


def axis_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("@")]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Configurations grouped over seeds: runs, status counts, and mean / 95% CI half-width
    of every numeric result column. Only the axes that vary appear."""
    if frame.empty:
        return frame
    axes = [c for c in axis_columns(frame) if frame[c].astype(str).nunique() > 1] or []
    numeric = [
        c
        for c in frame.columns
        if c not in ("key", "seed", "diverged_step", "seconds", "baseline")
        and not c.startswith("@")
        and pd.api.types.is_numeric_dtype(frame[c])
    ]
    first = ["final_loss", "final_accuracy", "mean_loss"]  # the headline numbers lead
    numeric = [c for c in first if c in numeric] + [c for c in numeric if c not in first]
    keyed = frame.assign(_cfg=frame[axes].astype(str).agg("|".join, axis=1) if axes else "all")
    out = []
    for _, group in keyed.groupby("_cfg", sort=False):
        row = {a.lstrip("@"): group[a].iloc[0] for a in axes}
        row["runs"] = len(group)
        row["diverged"] = int((group["status"] == "diverged").sum())
        row["failed"] = int((group["status"] == "failed").sum())
        for c in numeric:
            values = group[c].dropna().to_numpy(dtype=float)
            row[c] = float(values.mean()) if len(values) else float("nan")
            spreadable = len(values) > 1 and np.isfinite(values).all()  # inf: a target never reached
            row[c + " ±95%"] = (
                float(t95(len(values)) * values.std(ddof=1) / math.sqrt(len(values))) if spreadable else float("nan")
            )
        out.append(row)
    return pd.DataFrame(out)


def point_key(point: dict) -> str:
    """A configuration's axis values as one comparable text (the table's `point` column)."""
    return json.dumps(point, sort_keys=True)


def config_summary(store, study: str, names: list[str], counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """summary(run_frame(store, study, names)) answered by the store: the statistics it keeps per
    configuration (summary_stats), never a row per run, so it costs the same at 100 runs or
    100,000. Column `point` holds each configuration's axis values (as JSON) for filtering.
    counts: aggregates.run_counts of the study, when the caller has them already."""
    from ablab.core.lab import aggregates

    counts = aggregates.run_counts(store, study) if counts is None else counts
    if counts.empty:
        return pd.DataFrame()
    keys = counts["point"].map(point_key)
    by_status = (
        counts.assign(key=keys).pivot_table(index="key", columns="status", values="runs", aggfunc="sum").fillna(0)
    )
    stats = aggregates.summary_stats(store, study, names)
    stats["key"] = stats["point"].map(point_key)
    by_key = {(k, name): row for k, name, row in zip(stats["key"], stats["name"], stats.itertuples(index=False))}
    points = dict(zip(keys, counts["point"]))
    axes = [a for a in next(iter(points.values())) if len({repr(label(p.get(a))) for p in points.values()}) > 1]
    out = []
    for key, point in points.items():
        status = by_status.loc[key]
        row = {a: label(point.get(a)) for a in axes}
        row["runs"] = int(status.sum())
        row["diverged"] = int(status.get("diverged", 0))
        row["failed"] = int(status.get("failed", 0))
        for name in names:
            mean, spread = float("nan"), float("nan")
            s = by_key.get((key, name))
            if s is not None:
                n, finite = int(s.n), int(s.n_finite)
                if s.pos_inf and s.neg_inf:
                    mean = float("nan")
                elif s.pos_inf or s.neg_inf:
                    mean = math.inf if s.pos_inf else -math.inf
                elif finite:
                    mean = float(s.mean)
                if n == finite > 1:  # inf: a target never reached; no spread
                    spread = t95(n) * math.sqrt(float(s.m2) / (n - 1)) / math.sqrt(n)
            row[name], row[f"{name} ±95%"] = mean, spread
        row["point"] = key
        out.append(row)
    return pd.DataFrame(out)
