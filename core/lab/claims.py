"""Claims: a study's [[checks]] evaluated against its stored results into a verdict.

    [[checks]]
    what = "clipping lowers the divergence rate"    # the sentence the verdict shows
    quantity = "diverged"        # diverged, final_loss, final_loss_or_inf (a diverged run
                                 # counts as infinite loss), mean_loss (the area under the
                                 # loss curve), final_accuracy, gradcheck_error,
                                 # steps_to_0.5x_baseline (also 0.2x, 0.1x: speed),
                                 # or a probe summary "PROBE.NAME@init" / "PROBE.NAME@final"
    where = { "clip.kind" = "norm" }   # the configurations on the left (axis values)
    op = "<"                     # <  >  <=  >=  between  spread<  spread>
    than = { "clip.kind" = "none" }    # right-hand configurations, or
    value = 0.5                  # a number ([lo, hi] for between; a ratio for spread)
    factor = 1.0                 # compare left op factor * right + offset
    offset = 0.0
    each = false                 # true: must hold for each selected configuration on its own
    than_quantity = "..."        # compare with another quantity (of `than`, else of `where`)

Each side is the mean of the quantity over its runs (all seeds of the selected
configurations). spread<, spread> compare max/min of the per-configuration means inside
`where` with `value`: the configurations agree within that ratio, or differ by more.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import pandas as pd

from ablab.core.errors import ConfigError
from ablab.core.lab.results import SPEED_FRACTIONS
from ablab.core.lab.results import label as _label

CHECK_KEYS = {"what", "quantity", "where", "op", "than", "than_quantity", "value", "factor", "offset", "each"}
OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}
SPREAD_OPS = ("spread<", "spread>")
BASE_QUANTITIES = (
    "diverged",
    "final_loss",
    "final_loss_or_inf",
    "mean_loss",
    "final_accuracy",
    "final_grad_norm",
    "final_clipped",
    "gradcheck_error",
)


def validate_check(check: dict, axes: dict) -> None:
    unknown = set(check) - CHECK_KEYS
    if unknown:
        raise ConfigError(f"unknown key {sorted(unknown)[0]!r}; allowed keys: {', '.join(sorted(CHECK_KEYS))}")
    for key in ("what", "quantity", "op"):
        if not isinstance(check.get(key), str):
            raise ConfigError(f"{key} is required and must be text")
    q = check["quantity"]
    speed = tuple(f"steps_to_{f}x_baseline" for f in SPEED_FRACTIONS)
    if q not in BASE_QUANTITIES + speed and not (q.endswith(("@init", "@final")) and q.count(".") >= 1):
        raise ConfigError(
            f"quantity {q!r} is unknown; use one of {', '.join(BASE_QUANTITIES + speed)} "
            "or PROBE.NAME@init / PROBE.NAME@final"
        )
    op = check["op"]
    if op not in OPS and op != "between" and op not in SPREAD_OPS:
        raise ConfigError(f"op {op!r} is unknown; ops: {', '.join(list(OPS) + ['between', *SPREAD_OPS])}")
    for side in ("where", "than"):
        sel = check.get(side, {})
        if not isinstance(sel, dict):
            raise ConfigError(f'{side} must be a table of axis values such as {{ "model.cell" = "lstm" }}')
        for path, value in sel.items():
            if path not in axes:
                raise ConfigError(f"{side} names {path!r}, which is not an axis; axes: {', '.join(axes) or 'none'}")
            if value not in axes[path]:
                raise ConfigError(f"{side}.{path} = {value!r} is not one of the axis values {axes[path]!r}")
    has_than, has_value = "than" in check or "than_quantity" in check, "value" in check
    if op in OPS and has_than == has_value:
        raise ConfigError("give exactly one of than (other configurations) or value (a number)")
    if op == "between" and not (isinstance(check.get("value"), list) and len(check["value"]) == 2):
        raise ConfigError("op between needs value = [low, high]")
    if not isinstance(check.get("each", False), bool):
        raise ConfigError("each must be true or false")
    if check.get("each") and (op not in OPS or "than" in check):
        raise ConfigError("each = true works with <, >, <=, >= against a value")
    if op in SPREAD_OPS and not isinstance(check.get("value"), (int, float)):
        raise ConfigError(f"op {op} needs value = a ratio such as 2.0")
    for key in ("factor", "offset"):
        if key in check and (isinstance(check[key], bool) or not isinstance(check[key], (int, float))):
            raise ConfigError(f"{key} must be a number")


@dataclass
class CheckResult:
    what: str
    holds: bool | None  # None: inconclusive (a quantity could not be measured)
    left: float
    right: float | None
    text: str


def _select(frame: pd.DataFrame, selection: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for path, value in selection.items():
        col = f"@{path}"
        mask &= frame[col].astype(str) == str(_label(value))
    return frame[mask]


def quantity_values(frame: pd.DataFrame, q: str) -> pd.Series:
    if q == "diverged":
        return (frame["status"] == "diverged").astype(float)
    if q == "final_loss_or_inf":  # a diverged run counts as infinitely bad, not as missing
        loss = (
            frame["final_loss"].astype(float)
            if "final_loss" in frame.columns
            else pd.Series(float("nan"), index=frame.index)
        )
        return loss.where(frame["status"] != "diverged", float("inf"))
    if q not in frame.columns:
        return pd.Series(float("nan"), index=frame.index)
    return frame[q].astype(float)


def evaluate_check(frame: pd.DataFrame, check: dict) -> CheckResult:
    q, op = check["quantity"], check["op"]
    left_rows = _select(frame, check.get("where", {}))
    if op in SPREAD_OPS:
        per_config = _per_configuration(frame, left_rows, q)
        lo, hi = per_config.min(), per_config.max()
        ratio = hi / lo if lo > 0 else float("inf")
        holds = (
            None
            if per_config.isna().any() or len(per_config) < 2
            else (ratio < check["value"] if op == "spread<" else ratio > check["value"])
        )
        sign = "<" if op == "spread<" else ">"
        text = f"{q}: max/min over {len(per_config)} configurations = {ratio:.3g} ({sign} {check['value']} needed)"
        return CheckResult(check["what"], holds, float(ratio), None, text)
    if check.get("each"):
        return _evaluate_each(frame, left_rows, check)
    left = float(quantity_values(left_rows, q).mean()) if len(left_rows) else float("nan")
    factor = float(check.get("factor", 1.0))
    offset = float(check.get("offset", 0.0))
    if "than" in check or "than_quantity" in check:
        selection = check.get("than", check.get("where", {}))
        right_rows = _select(frame, selection)
        rq = check.get("than_quantity", q)
        right = float(quantity_values(right_rows, rq).mean()) if len(right_rows) else float("nan")
        label = (f"{rq}, " if rq != q else "") + (", ".join(f"{k}={_label(v)}" for k, v in selection.items()) or "all")
    else:
        right = check["value"]
        label = "value"
    if op == "between":
        lo, hi = right
        holds = None if math.isnan(left) else lo <= left <= hi
        text = f"{q} = {left:.4g}, needed in [{lo}, {hi}]"
        return CheckResult(check["what"], holds, left, None, text)
    target = factor * float(right) + offset
    holds = None if math.isnan(left) or math.isnan(target) else bool(OPS[op](left, target))
    where = ", ".join(f"{k}={_label(v)}" for k, v in check.get("where", {}).items()) or "all"
    scaled = (
        f"{'' if factor == 1 else f'{factor:g} x '}{float(right):.4g} ({label}){'' if offset == 0 else f' {offset:+g}'}"
    )
    text = f"{q}: {left:.4g} ({where}) {op} {scaled}"
    return CheckResult(check["what"], holds, left, float(right), text)


def _per_configuration(frame: pd.DataFrame, rows: pd.DataFrame, q: str) -> pd.Series:
    """Mean of quantity q over the seeds of each configuration among `rows`."""
    axes = [c for c in frame.columns if c.startswith("@")]
    return rows.assign(_v=quantity_values(rows, q)).groupby(axes or (lambda _: 0))["_v"].mean()


def _evaluate_each(frame: pd.DataFrame, rows: pd.DataFrame, check: dict) -> CheckResult:
    q, op, value = check["quantity"], check["op"], float(check["value"])
    per_config = _per_configuration(frame, rows, q)
    if per_config.empty or per_config.isna().any():
        return CheckResult(check["what"], None, float("nan"), value, f"{q}: not measured for every configuration")
    worst = per_config.max() if op in ("<", "<=") else per_config.min()
    failing = [str(k) for k, v in per_config.items() if not OPS[op](v, value)]
    holds = not failing
    text = f"{q}: worst of {len(per_config)} configurations = {worst:.4g}, each {op} {value:g} needed" + (
        f"; fails for {', '.join(failing)}" if failing else ""
    )
    return CheckResult(check["what"], holds, float(worst), value, text)


@dataclass
class Verdict:
    study: str
    claim: str
    holds: bool | None
    checks: list[CheckResult]

    @property
    def label(self) -> str:
        return {True: "holds", False: "does not hold", None: "inconclusive"}[self.holds]


def verdict(study_name: str, claim: str, checks: list[dict], frame: pd.DataFrame) -> Verdict:
    if frame.empty:  # nothing stored yet: no check can be measured
        return Verdict(
            study_name,
            claim,
            None,
            [CheckResult(c["what"], None, float("nan"), None, "no runs stored") for c in checks],
        )
    results = [evaluate_check(frame, c) for c in checks]
    if not results:
        return Verdict(study_name, claim, None, results)
    if any(r.holds is False for r in results):
        holds = False
    elif any(r.holds is None for r in results):
        holds = None
    else:
        holds = True
    return Verdict(study_name, claim, holds, results)
