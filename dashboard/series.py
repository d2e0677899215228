"""The series a curve chart draws, from the statistics the store keeps per configuration and
step (ablab.core.lab.aggregates): no run's records are read, so a study of 100,000 runs draws
as fast as one of 100.

A configuration is one combination of the varying axes. Its curve is the mean over its seeds
with a band over those seeds (see interval()). When colour and facet cover fewer axes than vary,
a drawn series holds several configurations: its curve is the mean of their curves, labelled
"mean over k configurations", with no band (pooling configurations into one band would call
their differences noise). On a log axis the mean and band are those of log10 of the positive
values (a geometric mean; a band symmetric on the axis it is drawn on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablab.core.lab.results import point_key, t95
from ablab.dashboard.data import MIN_SEEDS_FOR_CI, SHARE_WORDS, config_labels, varying_axes

LOG_SPREAD = 1e3  # a quantity whose values span more than this factor starts on a log axis
# Points one chart draws at most, over all its curves: Vega's work in the browser grows with them
# (at 100 configurations 30 points per curve cost ~0.7 renderer CPU-s over 3 charts against 7).
CHART_POINTS = 3_000
MIN_CURVE_POINTS = 60  # a curve keeps its shape: never fewer than this many steps


def points_per_curve(n_configs: int) -> int:
    """Steps per curve to ask the store for: CURVE_POINTS (300) up to 10 configurations, then
    fewer so that a chart holds about CHART_POINTS points (125 at 24 configurations, a point
    every 2 px of a small multiple), and never fewer than MIN_CURVE_POINTS."""
    from ablab.core.lab.aggregates import CURVE_POINTS

    return max(MIN_CURVE_POINTS, min(CURVE_POINTS, CHART_POINTS // max(1, n_configs)))


def interval(n: pd.Series, mean: pd.Series, var: pd.Series) -> pd.DataFrame:
    """lo, hi and what the band is, from n, mean and variance over seeds: with MIN_SEEDS_FOR_CI
    seeds or more the 95% t-interval of the mean; with two seeds their range (mean +- sd / sqrt 2,
    exactly half their difference); with one seed no band."""
    sd = np.sqrt(var.astype(float))
    half = np.where(n >= MIN_SEEDS_FOR_CI, n.map(t95) * sd / np.sqrt(n), np.where(n == 2, sd / np.sqrt(2), 0.0))
    kind = np.where(n >= MIN_SEEDS_FOR_CI, "95% CI", np.where(n == 2, "seed range", "one seed"))
    return pd.DataFrame({"lo": mean - half, "hi": mean + half, "interval": kind}, index=mean.index)


def configurations(points: list[dict]) -> pd.DataFrame:
    """One row per configuration: its axis values as '@axis' columns, and its point (JSON text)."""
    from ablab.core.lab.results import label

    rows = [{"point_key": point_key(p), **{f"@{k}": label(v) for k, v in p.items()}} for p in points]
    return pd.DataFrame(rows).drop_duplicates("point_key").reset_index(drop=True)


def bounds(quantity: str, stats: pd.DataFrame) -> tuple[float | None, float | None]:
    """The range a quantity can take, for clamping bands: [0, 1] for shares (their name says so
    and every value lies there), [0, inf) when no value was ever negative, else unbounded."""
    if stats.empty:
        return None, None
    low = 0.0 if (stats["min"] >= 0).all() else None
    high = 1.0 if low == 0.0 and (stats["max"] <= 1).all() and any(w in quantity for w in SHARE_WORDS) else None
    return low, high


def starts_on_log(stats: pd.DataFrame) -> tuple[bool, bool]:
    """(whether a log axis is the better start, whether one can be drawn at all): values all
    positive and spanning more than LOG_SPREAD (an exploding quantity) start on it."""
    if stats.empty:
        return False, False
    loggable = bool((stats["n_pos"] > 0).any())
    positive = bool((stats["min"] > 0).all())
    return positive and float(stats["max"].max() / stats["min"].min()) > LOG_SPREAD, loggable


def curves(
    stats: pd.DataFrame,
    configs: pd.DataFrame,
    *,
    colour: list[str] | None = None,
    facet: str | None = None,
    x: str = "step",
    log: bool = False,
    bounds: tuple[float | None, float | None] = (None, None),
    window: int = 1,
) -> pd.DataFrame:
    """Curves to draw: columns config, x, mean, lo, hi, n, interval (and facet).

    stats: aggregates rows (point, x, n, mean, var, n_pos, lmean, lvar); configs: the shown
    configurations (configurations(), possibly filtered: other points are left out). window > 1
    smooths each drawn curve and its band by a rolling mean over that many points."""
    axes = varying_axes(configs)
    colour = axes if colour is None else [c for c in colour if c in axes]
    frame = stats.assign(point_key=stats["point"].map(point_key))
    frame = frame[frame["point_key"].isin(configs["point_key"])]
    n, mean, var = ("n_pos", "lmean", "lvar") if log else ("n", "mean", "var")
    frame = frame[frame[n] > 0]
    per_config = pd.DataFrame({"point_key": frame["point_key"], "x": frame[x], "n": frame[n], "mean": frame[mean]})
    per_config = per_config.join(interval(frame[n], frame[mean], frame[var]))
    keyed = configs.set_index("point_key")
    series = config_labels(configs, [c for c in colour if c != facet]).set_axis(configs["point_key"])
    per_config["config"] = per_config["point_key"].map(series)
    if facet:
        per_config["facet"] = per_config["point_key"].map(config_labels(keyed, [facet]))
    if not set(axes) <= set(colour) | ({facet} if facet else set()):
        keys = ["config", "x"] + (["facet"] if facet else [])
        out = per_config.groupby(keys, as_index=False).agg(mean=("mean", "mean"), n=("mean", "size"))
        out["lo"] = out["hi"] = out["mean"]
        # on a log axis each configuration's curve is already a geometric mean, and so is their mean
        out["interval"] = ("geometric mean over " if log else "mean over ") + out["n"].astype(str) + " configurations"
    else:
        out = per_config.drop(columns="point_key")
    return _finish(_smooth(out, window), log, bounds)


def _smooth(out: pd.DataFrame, window: int) -> pd.DataFrame:
    """A rolling mean over `window` points of each drawn curve and of its band's edges."""
    if window <= 1 or out.empty:
        return out
    keys = ["config"] + (["facet"] if "facet" in out.columns else [])
    out = out.sort_values(keys + ["x"]).reset_index(drop=True)
    for c in ("mean", "lo", "hi"):
        rolled = out.groupby(keys, sort=False)[c].rolling(window, min_periods=1).mean()
        out[c] = rolled.reset_index(level=list(range(len(keys))), drop=True)
    return out


def _finish(out: pd.DataFrame, log: bool, bounds) -> pd.DataFrame:
    if log:
        for c in ("mean", "lo", "hi"):
            out[c] = np.power(10.0, out[c])
    low, high = bounds
    out["lo"] = out["lo"].clip(lower=low, upper=high)
    out["hi"] = out["hi"].clip(lower=low, upper=high)
    return out.reset_index(drop=True)
