"""Loading and shaping results for the dashboard. Pure functions of their arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablab.core.lab.results import axis_columns, run_tables, t95


def config_labels(runs: pd.DataFrame, by: list[str] | None = None) -> pd.Series:
    """A readable configuration label per run from the axes that vary (or the chosen ones)."""
    axes = [c for c in axis_columns(runs) if runs[c].astype(str).nunique() > 1]
    chosen = [a for a in (by or axes) if a in runs.columns] or axes
    if not chosen:
        return pd.Series("all runs", index=runs.index)
    return (
        runs[chosen]
        .astype(str)
        .apply(lambda r: ", ".join(f"{c.lstrip('@').split('.')[-1]}={v}" for c, v in r.items()), axis=1)
    )


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


def band_caption(*bands: pd.DataFrame | None) -> str:
    """One sentence saying what the shaded bands in these band frames are."""
    kinds = set().union(*(set(b["interval"]) for b in bands if b is not None and len(b)))
    parts = []
    if "95% CI" in kinds:
        parts.append("the 95% interval of the mean over seeds")
    if "seed range" in kinds:
        parts.append(
            f"the range between the seeds where there are fewer than {MIN_SEEDS_FOR_CI} (too few for a 95% interval)"
        )
    if "one seed" in kinds:
        parts.append("none for a single seed")
    return ("Bands: " + "; ".join(parts) + ".") if parts else ""


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
