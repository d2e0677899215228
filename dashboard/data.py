"""Loading and shaping results for the dashboard. Pure functions of their arguments."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from ablab.core.lab.results import axis_columns, t95


def stamp(t: float) -> str:
    """A stored time (seconds since the epoch) as the local minute a reader sees."""
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


# last parts that say nothing alone: "kind=none" of what? (clip.kind, task.name keep their section)
GENERIC = {"kind", "name", "type", "mode", "value", "options"}


def short_name(column: str) -> str:
    """'@model.cell' -> 'cell'; '@clip.kind' -> 'clip.kind'; a joint axis '@a.b+c.d' -> 'b+d'."""
    parts = [part.split(".") for part in column.lstrip("@").split("+")]
    return "+".join(".".join(p[-2:]) if p[-1] in GENERIC else p[-1] for p in parts)


def short_names(columns: list[str]) -> dict[str, str]:
    """short_name of each column, or its whole name where two would read the same."""
    short = {c: short_name(c) for c in columns}
    clash = {n for n in short.values() if list(short.values()).count(n) > 1}
    return {c: c.lstrip("@") if n in clash else n for c, n in short.items()}


def varying_axes(runs: pd.DataFrame) -> list[str]:
    return [c for c in axis_columns(runs) if runs[c].astype(str).nunique() > 1]


def default_facet(runs: pd.DataFrame) -> str | None:
    """Past ten configurations, one small multiple per value of the axis with the most values
    (the cell, in the mission's study); fewer configurations read well in one chart."""
    axes = varying_axes(runs)
    if len(axes) < 2 or runs[axes].astype(str).drop_duplicates().shape[0] <= 10:
        return None
    return max(axes, key=lambda a: runs[a].astype(str).nunique())  # the first of equals


# Past this many configurations one chart of every configuration is not reviewable (100 lines
# with bands) and is slow to draw: the Results page then colours by one axis by default.
MANY_CONFIGS = 24


def strongest_axis(table: pd.DataFrame, names: list[str], value: str = "final_loss") -> str | None:
    """Of the axes `names` (columns of table, one row per configuration), the one whose values
    move `value` most: the largest range of its per-value means, each the mean over the other
    axes' configurations. Without a finite `value`, the axis with most values; the first of
    equals; None when there is no axis."""
    if not names:
        return None
    finite = value in table.columns and bool(np.isfinite(table[value].astype(float)).any())
    if not finite:
        return max(names, key=lambda n: table[n].astype(str).nunique())

    def spread(n: str) -> float:
        means = table.groupby(table[n].astype(str))[value].mean()
        r = float(means.max() - means.min())
        return r if np.isfinite(r) else -1.0

    return max(names, key=spread)


def config_labels(runs: pd.DataFrame, by: list[str] | None = None) -> pd.Series:
    """A readable configuration label per run from the axes that vary (or the chosen ones;
    an empty choice gives every run the label "all runs")."""
    axes = varying_axes(runs)
    chosen = axes if by is None else [a for a in by if a in runs.columns]
    if not chosen:
        return pd.Series("all runs", index=runs.index)
    label, names = None, short_names(chosen)
    for c in chosen:  # column by column: a row-wise apply takes seconds at 2,000 runs
        part = names[c] + "=" + runs[c].astype(str)
        label = part if label is None else label + ", " + part
    return label


# Below this many seeds the band is the seeds' range: a 95% t-interval from two seeds spans
# +-12.7 standard errors and sends a loss band far below zero.
MIN_SEEDS_FOR_CI = 3


def band(values: pd.DataFrame, x: str, value: str = "value") -> pd.DataFrame:
    """Mean over seeds per (config, x) with a band lo..hi, and what the band is (column interval).

    values has columns config, x, value. With MIN_SEEDS_FOR_CI seeds or more the band is the 95%
    t-interval of the mean; with two seeds it is their range; with one seed there is no band.
    """
    grouped = values.dropna(subset=[value]).groupby(["config", x])[value]
    out = grouped.agg(["mean", "std", "count", "min", "max"]).reset_index().rename(columns={x: "x", "count": "n"})
    ci = out["n"] >= MIN_SEEDS_FOR_CI
    half = out["n"].map(t95) * out["std"] / np.sqrt(out["n"])  # NaN below two seeds; unused there
    out["lo"] = np.where(ci, out["mean"] - half, out["min"])  # one seed: min == max == mean
    out["hi"] = np.where(ci, out["mean"] + half, out["max"])
    out["interval"] = np.where(ci, "95% CI", np.where(out["n"] > 1, "seed range", "one seed"))
    return out.drop(columns=["std", "min", "max"])


SHARE_WORDS = ("accuracy", "fraction", "rate", "share", "clipped", "saturation", "gates")


def band_caption(*bands: pd.DataFrame | None, noun: str = "Bands") -> str:
    """One sentence saying what the shaded bands in these curve frames are."""
    kinds = set().union(*(set(b["interval"]) for b in bands if b is not None and len(b)))
    parts = []
    if "95% CI" in kinds:
        parts.append("the 95% interval of the mean over seeds of one configuration")
    if "seed range" in kinds:
        parts.append(
            f"the range between the seeds where there are fewer than {MIN_SEEDS_FOR_CI} (too few for a 95% interval)"
        )
    if GEOMETRIC in kinds:
        parts.append("the 95% interval of the geometric mean over seeds (computed in log space, as the check is)")
    if EXACT_RATE in kinds:
        parts.append("the exact (Clopper-Pearson) 95% interval of the share of runs, over seeds")
    if "one seed" in kinds:
        parts.append("none for a single seed")
    if any("mean over" in k for k in kinds):
        parts.append(
            "none where a curve is the mean over several configurations (a geometric mean on a log axis; "
            "grouped by fewer axes than vary): "
            "their spread is a difference between configurations, not noise"
        )
    return (f"{noun}: " + "; ".join(parts) + ".") if parts else ""


EXACT_RATE = "exact 95% CI of a rate"
GEOMETRIC = "95% CI of the geometric mean"


def evidence_rows(frame: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """One row per configuration (every varying axis in its label) of a check's quantity: the
    mean over seeds and its band, for the Claims page's evidence chart. A positive scale quantity
    (a loss, a step count) gets the geometric mean and its interval, as its check uses. A rate (diverged,
    solved: 0 or 1 per run) gets the exact Clopper-Pearson interval of its share: a t-interval
    of 0/20 would be a bar of width zero, claiming a certainty 20 runs do not give."""
    from ablab.core.lab.verdicts import quantity_values
    from ablab.core.lab.verdicts.quantities import kind

    values = frame.assign(config=config_labels(frame), value=quantity_values(frame, quantity), x=0)
    values = values[np.isfinite(values["value"].astype(float))]
    if kind(quantity) == "scale" and len(values) and (values["value"] > 0).all():
        # the check compares geometric means (a loss or a step count spans decades): so does the chart
        logged = band(values.assign(value=np.log(values["value"].astype(float))), "x")
        logged[["mean", "lo", "hi"]] = np.exp(logged[["mean", "lo", "hi"]])
        logged["interval"] = logged["interval"].replace("95% CI", GEOMETRIC)
        return logged
    if kind(quantity) != "rate":
        return band(values, "x")
    from scipy.stats import binomtest

    out = values.groupby(["config", "x"])["value"].agg(["sum", "count"]).reset_index()
    out = out.rename(columns={"count": "n"}).assign(mean=lambda o: o["sum"] / o["n"])
    bounds = [binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95) for k, n in zip(out["sum"], out["n"])]
    out["lo"], out["hi"] = [b.low for b in bounds], [b.high for b in bounds]
    out["interval"] = EXACT_RATE
    return out.drop(columns="sum")


def filter_runs(runs: pd.DataFrame, filters: dict[str, list[str]]) -> pd.DataFrame:
    mask = pd.Series(True, index=runs.index)
    for col, allowed in filters.items():
        if allowed and col in runs.columns:
            mask &= runs[col].astype(str).isin(allowed)
    return runs[mask]
