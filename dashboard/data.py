"""Loading and shaping results for the dashboard. Pure functions of their arguments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ablab.core.results import axis_columns, run_tables, t95


def config_labels(runs: pd.DataFrame, by: list[str] | None = None) -> pd.Series:
    """A readable configuration label per run from the axes that vary (or the chosen ones)."""
    axes = [c for c in axis_columns(runs) if runs[c].astype(str).nunique() > 1]
    chosen = [a for a in (by or axes) if a in runs.columns] or axes
    if not chosen:
        return pd.Series("all runs", index=runs.index)
    return runs[chosen].astype(str).apply(lambda r: ", ".join(f"{c.lstrip('@').split('.')[-1]}={v}" for c, v in r.items()), axis=1)


def band(values: pd.DataFrame, x: str, value: str = "value") -> pd.DataFrame:
    """Mean over seeds and 95% CI per (config, x). values has columns config, x, value."""
    grouped = values.dropna(subset=[value]).groupby(["config", x])[value]
    out = grouped.agg(["mean", "std", "count"]).reset_index().rename(columns={x: "x", "count": "n"})
    half = out.apply(lambda r: t95(int(r["n"])) * r["std"] / math.sqrt(r["n"]) if r["n"] > 1 else 0.0, axis=1)
    out["lo"] = out["mean"] - half
    out["hi"] = out["mean"] + half
    return out.drop(columns="std")


def load_study(store, study: str) -> dict:
    """Everything the Results page shows for one study."""
    runs, metrics, probes = run_tables(store, study)
    return {"runs": runs, "metrics": metrics, "probes": probes}


def with_config(frame: pd.DataFrame, runs: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    lookup = pd.Series(labels.values, index=runs["key"].values)
    out = frame.copy()
    out["config"] = out["run_key"].map(lookup)
    return out.dropna(subset=["config"])


def filter_runs(runs: pd.DataFrame, filters: dict[str, list[str]]) -> pd.DataFrame:
    mask = pd.Series(True, index=runs.index)
    for col, allowed in filters.items():
        if allowed and col in runs.columns:
            mask &= runs[col].astype(str).isin(allowed)
    return runs[mask]


def probe_series(probes: pd.DataFrame, probe: str, name: str, *, index: int = -1) -> pd.DataFrame:
    """Records of one probe quantity, averaged over layers, as (run_key, step, value)."""
    sel = probes[(probes["probe"] == probe) & (probes["name"] == name) & (probes["idx"] == index)]
    return sel.groupby(["run_key", "step"], as_index=False)["value"].mean()


def positive(values: pd.Series) -> pd.Series:
    """For log-scale charts: non-positive values cannot be drawn."""
    return values.where(values > 0, np.nan)
