"""Effects with two-sided intervals at any confidence level, all from scipy.stats.

Each function returns (effect, low, high). A confidence level is passed in because Holm's
correction (verdict.py) widens a check's interval to the level its rank in the study needs.

- mean_interval: Student t interval of a mean (also of paired differences: pass them).
- welch_interval: Welch t interval of a difference of two means (unpaired samples).
- proportion_interval: exact (Clopper-Pearson) interval of a rate, via binomtest.
- odds_ratio_interval: exact conditional interval of an odds ratio, the interval that
  inverts Fisher's exact test: two rates compared without any large-sample approximation.
- superiority_interval: P(a better than b) (ties count half) with a bootstrap percentile
  interval; for quantities with infinite values (a diverged run's loss).

Degenerate data (every value equal) give a point interval: a deterministic quantity measured
the same on every seed is known exactly, and scipy would return NaN with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from scipy.stats.contingency import odds_ratio

N_RESAMPLES = 2000


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def mean_interval(x, confidence: float) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    if _constant(x):
        return mean, mean, mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal values: scipy warns, the interval is fine
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return mean, float(ci.low), float(ci.high)


def welch_interval(a, b, confidence: float) -> tuple[float, float, float]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan"), float("nan")
    if _constant(a) and _constant(b):
        return diff, diff, diff
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return diff, float(ci.low), float(ci.high)


def proportion_interval(k: int, n: int, confidence: float) -> tuple[float, float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence, method="exact")
    return k / n, float(ci.low), float(ci.high)


def odds_ratio_interval(k1: int, n1: int, k2: int, n2: int, confidence: float) -> tuple[float, float, float]:
    """Odds ratio of rate k1/n1 against k2/n2 (conditional maximum likelihood) and its exact
    interval. inf: only the first side had events; 0: only the second; nan: neither side
    tells the two apart (no events at all, or events everywhere)."""
    result = odds_ratio([[k1, n1 - k1], [k2, n2 - k2]], kind="conditional")
    ci = result.confidence_interval(confidence)
    return float(result.statistic), float(ci.low), float(ci.high)


def _superiority(a, b, axis=-1):
    """P(a < b) + P(a == b) / 2 over all pairs (a, b); a and b may carry resample axes."""
    a, b = np.moveaxis(np.asarray(a), axis, -1), np.moveaxis(np.asarray(b), axis, -1)
    less = a[..., :, None] < b[..., None, :]
    ties = a[..., :, None] == b[..., None, :]
    return (less + 0.5 * ties).mean(axis=(-1, -2))


def _superiority_paired(a, b, axis=-1):
    a, b = np.asarray(a), np.asarray(b)
    return ((a < b) + 0.5 * (a == b)).mean(axis=axis)


def superiority_interval(a, b, confidence: float, paired: bool) -> tuple[float, float, float]:
    """P(a < b) with a bootstrap percentile interval; resamples pairs together when paired."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    statistic = _superiority_paired if paired else _superiority
    effect = float(statistic(a, b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples: handled below
        ci = stats.bootstrap(
            (a, b),
            statistic,
            paired=paired,
            vectorized=True,
            n_resamples=N_RESAMPLES,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(20240611),  # a verdict is a function of the data alone
        ).confidence_interval
    low, high = float(ci.low), float(ci.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        low = high = effect
    return effect, min(low, effect), max(high, effect)
