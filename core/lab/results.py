"""Tidy result tables: one row per run, then configurations grouped over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

FINAL_FRACTION = 0.1  # final loss = mean of the last 10% of logged values
SPEED_FRACTIONS = (0.5, 0.2, 0.1)  # steps_to_0.2x_baseline: first step the loss is 0.2 x baseline
# two-sided 95% Student t quantiles for 1..30 degrees of freedom; 1.96 beyond
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


def _final_values(m: pd.DataFrame) -> pd.Series:
    """Per run: mean of the last 10% of logged values, NaN if any of them is NaN.
    m holds one metric, sorted by run_key and step."""
    g = m.groupby("run_key", sort=False)
    n = g["value"].transform("size")
    from_end = g.cumcount(ascending=False)
    tail = m[from_end < np.maximum(np.ceil(n * FINAL_FRACTION), 1)]
    has_nan = tail["value"].isna().groupby(tail["run_key"]).any()
    return tail.groupby("run_key")["value"].mean().where(~has_nan)


def _steps_to(loss: pd.DataFrame, baselines: pd.Series, fraction: float) -> pd.Series:
    """Per run: first logged step at which the loss, smoothed over 5 logs, is <= fraction x
    baseline; inf when it never gets there (slower than any run that did, not missing)."""
    smooth = (
        loss.groupby("run_key", sort=False)["value"].rolling(5, min_periods=1).mean().reset_index(level=0, drop=True)
    )
    threshold = loss["run_key"].map(baselines) * fraction
    hit = loss[(smooth.reindex(loss.index) <= threshold).to_numpy()]
    first = hit.groupby("run_key")["step"].min().astype(float)
    runs = pd.Index(loss["run_key"].unique())
    out = first.reindex(runs).fillna(np.inf)
    return out.where(runs.isin(baselines.index), np.nan)


def run_frame(store, study: str) -> pd.DataFrame:
    """One row per run: seed, status, the axis values, final metrics and probe summaries."""
    return run_tables(store, study)[0]


def run_tables(store, study: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(run frame, metric records, probe records) of a study, loaded once."""
    runs = store.runs_of(study)
    if not runs:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    keys = [r["key"] for r in runs]
    metrics = store.metrics_of(keys)
    probes = store.probes_of(keys)
    rows = []
    for r in runs:
        row = {
            "key": r["key"],
            "seed": r["seed"],
            "status": r["status"],
            "diverged_step": r["diverged_step"],
            "seconds": r["seconds"],
            **{f"@{k}": label(v) for k, v in r["point"].items()},
        }
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("key")
    if len(metrics):
        m = metrics.sort_values(["run_key", "step"])
        for name, group in m.groupby("name"):
            if name in ("gradcheck_error", "baseline"):
                frame[name] = group.groupby("run_key")["value"].max()
                continue
            frame[f"final_{name}"] = _final_values(group)
            if name == "loss":  # area under the loss curve: how fast it fell, not only where it ended
                frame["mean_loss"] = group.groupby("run_key")["value"].mean()
                base = m[m["name"] == "baseline"].groupby("run_key")["value"].max()
                for f in SPEED_FRACTIONS:
                    frame[f"steps_to_{f}x_baseline"] = _steps_to(group, base, f)
    derived = [c for c in frame.columns if c.startswith(("final_", "steps_to_")) or c == "mean_loss"]
    frame.loc[frame["status"] != "done", derived] = np.nan
    if len(probes):
        scalar = probes[probes["idx"] == -1]
        if len(scalar):
            first = scalar.groupby("run_key")["step"].transform("min")
            last = scalar.groupby("run_key")["step"].transform("max")
            for when, mask in (("init", scalar["step"] == first), ("final", scalar["step"] == last)):
                sub = scalar[mask]
                table = sub.groupby(["run_key", "probe", "name"])["value"].mean().unstack(["probe", "name"])
                table.columns = [f"{p}.{n}@{when}" for p, n in table.columns]
                frame = frame.join(table)
    return frame.reset_index(), metrics, probes


def label(value) -> str | float | int | bool:
    """Axis values as table cells: tables become their TOML-ish text."""
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, dict):  # {name = "he", gain = 0.7} -> "he(gain=0.7)"; key order does not matter
        rest = ", ".join(f"{k}={label(v)}" for k, v in sorted(value.items()) if k != "name")
        return f"{value['name']}({rest})" if "name" in value and rest else str(value.get("name", rest))
    if isinstance(value, list):
        return " / ".join(str(label(v)) for v in value)
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
