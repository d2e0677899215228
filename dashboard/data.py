"""Loading and shaping results for the dashboard. Pure functions of their arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablab.core.lab.results import axis_columns, run_frame, t95


def short_name(column: str) -> str:
    """'@model.cell' -> 'cell'; a joint axis '@a.b+c.d' -> 'b+d'."""
    return "+".join(part.split(".")[-1] for part in column.lstrip("@").split("+"))


def varying_axes(runs: pd.DataFrame) -> list[str]:
    return [c for c in axis_columns(runs) if runs[c].astype(str).nunique() > 1]


def default_facet(runs: pd.DataFrame) -> str | None:
    """Past ten configurations, one small multiple per value of the axis with the most values
    (the cell, in the mission's study); fewer configurations read well in one chart."""
    axes = varying_axes(runs)
    if len(axes) < 2 or runs[axes].astype(str).drop_duplicates().shape[0] <= 10:
        return None
    return max(axes, key=lambda a: runs[a].astype(str).nunique())  # the first of equals


def config_labels(runs: pd.DataFrame, by: list[str] | None = None) -> pd.Series:
    """A readable configuration label per run from the axes that vary (or the chosen ones;
    an empty choice gives every run the label "all runs")."""
    axes = varying_axes(runs)
    chosen = axes if by is None else [a for a in by if a in runs.columns]
    if not chosen:
        return pd.Series("all runs", index=runs.index)
    label = None
    for c in chosen:  # column by column: a row-wise apply takes seconds at 2,000 runs
        part = short_name(c) + "=" + runs[c].astype(str)
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


def value_bounds(quantity: str, values: pd.Series) -> tuple[float | None, float | None]:
    """The range a quantity can take, for clamping bands: [0, 1] for shares (their name says so
    and every value lies there), [0, inf) when no value was ever negative, else unbounded."""
    v = values.dropna()
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    low = 0.0 if (v >= 0).all() else None
    high = 1.0 if low == 0.0 and (v <= 1).all() and any(w in quantity for w in SHARE_WORDS) else None
    return low, high


def curves(
    values: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    colour: list[str] | None = None,
    facet: str | None = None,
    x: str = "step",
    log: bool = False,
    bounds: tuple[float | None, float | None] = (None, None),
) -> pd.DataFrame:
    """Curves to draw from per-run records (columns run_key, x, value).

    A configuration is one combination of the varying axes. Each configuration's curve is the
    mean over its seeds with a band over those seeds (see band()). When colour and facet cover
    fewer axes than vary, a drawn series holds several configurations: its curve is the mean of
    their curves, labelled "mean over k configurations", with no band (pooling configurations
    into one band would call their differences noise). With log=True means and bands are taken
    of log10(value) (non-positive values cannot be drawn and are left out), then turned back,
    so a band is symmetric on the log axis it is drawn on. Bands are clamped to `bounds`.
    """
    axes = varying_axes(runs)
    colour = axes if colour is None else [c for c in colour if c in axes]
    grouped_by = set(colour) | ({facet} if facet else set())
    keys = runs["key"].to_numpy()
    full = pd.Series(config_labels(runs, axes).to_numpy(), index=keys)
    frame = values[["run_key", x, "value"]].copy()
    if log:
        frame = frame[frame["value"] > 0]
        frame["value"] = np.log10(frame["value"])
    frame["config"] = frame["run_key"].map(full)
    per_config = band(frame.dropna(subset=["config"]), x)
    series = pd.Series(config_labels(runs, [c for c in colour if c != facet]).to_numpy(), index=full.to_numpy())
    series = series[~series.index.duplicated()]
    facets = pd.Series(config_labels(runs, [facet]).to_numpy(), index=full.to_numpy()) if facet else None
    if facets is not None:
        facets = facets[~facets.index.duplicated()]
    if grouped_by >= set(axes):
        out = per_config.assign(config=per_config["config"].map(series))
    else:
        parts = per_config.assign(series=per_config["config"].map(series))
        keys = ["series", "x"] + (["facet"] if facets is not None else [])
        if facets is not None:
            parts["facet"] = per_config["config"].map(facets)
        out = parts.groupby(keys, as_index=False).agg(mean=("mean", "mean"), n=("mean", "size"))
        out = out.rename(columns={"series": "config"})
        out["lo"] = out["hi"] = out["mean"]
        out["interval"] = "mean over " + out["n"].astype(str) + " configurations"
        return _finish(out, log, bounds)
    if facets is not None:
        out["facet"] = per_config["config"].map(facets)
    return _finish(out, log, bounds)


def _finish(out: pd.DataFrame, log: bool, bounds) -> pd.DataFrame:
    if log:
        for c in ("mean", "lo", "hi"):
            out[c] = np.power(10.0, out[c])
    low, high = bounds
    out["lo"] = out["lo"].clip(lower=low, upper=high)
    out["hi"] = out["hi"].clip(lower=low, upper=high)
    return out


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
    if "one seed" in kinds:
        parts.append("none for a single seed")
    if any(k.startswith("mean over") for k in kinds):
        parts.append(
            "none where a curve is the mean over several configurations (grouped by fewer axes than vary): "
            "their spread is a difference between configurations, not noise"
        )
    return (f"{noun}: " + "; ".join(parts) + ".") if parts else ""


def evidence_rows(frame: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """One row per configuration (every varying axis in its label) of a check's quantity: the
    mean over seeds and its band, for the Claims page's evidence chart."""
    from ablab.core.lab.verdicts import quantity_values

    values = frame.assign(config=config_labels(frame), value=quantity_values(frame, quantity), x=0)
    values = values[np.isfinite(values["value"].astype(float))]
    return band(values, "x")


def load_study(store, study: str) -> dict:
    """Everything the Results page shows for one study."""
    runs = run_frame(store, study)  # per-run values from the store's run summaries
    if runs.empty:
        return {"runs": runs, "metrics": pd.DataFrame(), "probes": pd.DataFrame()}
    keys = list(runs["key"])
    return {"runs": runs, "metrics": store.metrics_of(keys), "probes": store.probes_of(keys)}


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


# Cells name their activations differently (rnn "h", the LSTM's "cell_input" and "cell_output",
# the GRU's "candidate"): this quantity, the mean over a run's activations other than gates, puts
# every cell on one chart of dead units, mean shift or saturation.
ACROSS_CELLS = "activations but gates"


def probe_quantities(probes: pd.DataFrame) -> tuple[list, list]:
    """Every probe quantity in the records, generically: (scalars, profiles).

    scalars: (probe, name, frame of run_key, step, value) for quantities with one number per
    checkpoint (records without an index), averaged over layers. profiles: (probe, name, frame of
    run_key, step, idx, value) for quantities recorded only along an index (a lag), averaged over
    layers. A quantity with both (a summary and per-unit values) is a scalar: units have no order
    a curve could follow."""
    scalars, profiles = [], []
    mean = probes.groupby(["probe", "name", "run_key", "step", "idx"], as_index=False, sort=True)["value"].mean()
    gated = mean[mean["name"].str.contains("gate")]["probe"].unique()  # probes that read cell activations
    activations = mean[(mean["idx"] == -1) & ~mean["name"].str.contains("gate") & mean["probe"].isin(gated)]
    for probe, group in activations.groupby("probe", sort=True):  # a view across cells, see ACROSS_CELLS
        if group["name"].nunique() > 1:
            across = group.groupby(["run_key", "step"], as_index=False)["value"].mean()
            scalars.append((probe, ACROSS_CELLS, across))
    for (probe, name), group in mean.groupby(["probe", "name"], sort=True):
        summary = group[group["idx"] == -1]
        if len(summary):
            scalars.append((probe, name, summary[["run_key", "step", "value"]]))
        else:
            profiles.append((probe, name, group[["run_key", "step", "idx", "value"]]))
    return scalars, profiles


def smooth(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Rolling mean of value over `window` logged points, per run (and per metric name), in step order."""
    if window <= 1 or frame.empty:
        return frame
    keys = ["run_key", "name"] if "name" in frame.columns else ["run_key"]
    out = frame.sort_values(keys + ["step"]).reset_index(drop=True)
    rolled = out.groupby(keys, sort=False)["value"].rolling(window, min_periods=1).mean()
    out["value"] = rolled.reset_index(level=list(range(len(keys))), drop=True)
    return out


def positive(values: pd.Series) -> pd.Series:
    """For log-scale charts: non-positive values cannot be drawn."""
    return values.where(values > 0, np.nan)
