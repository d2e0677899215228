"""One [[checks]] table: validation, and its evaluation as a test with three outcomes.

    [[checks]]
    what = "clipping lowers the divergence rate"    # the sentence the verdict shows
    quantity = "diverged"        # see quantities.py: diverged, solved, steps_to_solve,
                                 # final_loss, final_loss_or_inf, mean_loss, final_accuracy,
                                 # final_grad_norm, final_clipped, gradcheck_error,
                                 # steps_to_0.5x_baseline (also 0.2x, 0.1x),
                                 # or a probe summary "PROBE.NAME@init" / "PROBE.NAME@final"
    where = { "clip.kind" = "norm" }   # the configurations on the left (axis values)
    op = "<"                     # <  >  <=  >=  between  spread<  spread>
    than = { "clip.kind" = "none" }    # right-hand configurations, or
    value = 0.5                  # a number ([lo, hi] for between; a ratio for spread)
    factor = 1.0                 # compare left op factor * right + offset
    offset = 0.0
    each = false                 # true: must hold for each selected configuration on its own
    than_quantity = "..."        # compare with another quantity (of `than`, else of `where`)

Every side is a set of per-run values (seeds of the selected configurations). The effect and
its interval depend on the quantity's kind: a mean or a difference of means (t interval,
paired by seed when both sides have one run per seed of the same seeds), a ratio of
geometric means for scale quantities (`factor` is then a ratio threshold; the interval is a
t interval on the log scale), a rate (exact binomial) or two rates (Fisher's exact test, as
the exact interval of the odds ratio), or P(left better than right) for final_loss_or_inf.

A check holds when its whole interval clears the threshold, does not hold when it lies
wholly on the other side, and is inconclusive otherwise, or when fewer than MIN_RUNS runs
are left on a side. spread< holds when every pair of configurations is within `value` of
each other (each pair's ratio interval inside [1/value, value]); spread> holds when some pair
differs by more (its interval outside, at a Bonferroni level over the pairs).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablab.core.errors import ConfigError, did_you_mean
from ablab.core.lab.results import label as _label
from ablab.core.lab.verdicts import statistics as st
from ablab.core.lab.verdicts.quantities import BASE_QUANTITIES, SPEED, kind, known_quantity, side

CHECK_KEYS = {"what", "quantity", "where", "op", "than", "than_quantity", "value", "factor", "offset", "each"}
OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}
SPREAD_OPS = ("spread<", "spread>")
MIN_RUNS = 3  # fewer runs left on a side: inconclusive


def validate_check(check: dict, axes: dict) -> None:
    unknown = set(check) - CHECK_KEYS
    if unknown:
        first = sorted(unknown)[0]
        raise ConfigError(
            f"unknown key {first!r}{did_you_mean(first, CHECK_KEYS)}; allowed keys: {', '.join(sorted(CHECK_KEYS))}"
        )
    for key in ("what", "quantity", "op"):
        if not isinstance(check.get(key), str):
            raise ConfigError(f"{key} is required and must be text")
    names = (*BASE_QUANTITIES, "steps_to_solve", *SPEED)
    for key in ("quantity", "than_quantity"):
        q = check.get(key)
        if q is not None and (not isinstance(q, str) or not known_quantity(q)):
            raise ConfigError(
                f"{key} {q!r} is unknown{did_you_mean(q, names)}; use one of {', '.join(names)} "
                "or PROBE.NAME@init / PROBE.NAME@final"
            )
    q, op = check["quantity"], check["op"]
    if op not in OPS and op != "between" and op not in SPREAD_OPS:
        raise ConfigError(f"op {op!r} is unknown; ops: {', '.join(list(OPS) + ['between', *SPREAD_OPS])}")
    for side_name in ("where", "than"):
        sel = check.get(side_name, {})
        if not isinstance(sel, dict):
            raise ConfigError(f'{side_name} must be a table of axis values such as {{ "model.cell" = "lstm" }}')
        for path, value in sel.items():
            if path not in axes:
                raise ConfigError(
                    f"{side_name} names {path!r}, which is not an axis; axes: {', '.join(axes) or 'none'}"
                )
            if value not in axes[path]:
                raise ConfigError(f"{side_name}.{path} = {value!r} is not one of the axis values {axes[path]!r}")
    has_than, has_value = "than" in check or "than_quantity" in check, "value" in check
    if op in OPS and has_than == has_value:
        raise ConfigError("give exactly one of than (other configurations) or value (a number)")
    if op == "between" and not (
        isinstance(check.get("value"), list)
        and len(check["value"]) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in check["value"])
    ):
        raise ConfigError("op between needs value = [low, high]")
    if op in OPS and has_value and (isinstance(check["value"], bool) or not isinstance(check["value"], (int, float))):
        raise ConfigError(f"value must be a number, got {check['value']!r}")
    if not isinstance(check.get("each", False), bool):
        raise ConfigError("each must be true or false")
    if check.get("each") and (op not in OPS and op != "between" or has_than):
        raise ConfigError("each = true works with <, >, <=, >=, between against a value")
    if op in SPREAD_OPS:
        if isinstance(check.get("value"), bool) or not isinstance(check.get("value"), (int, float)):
            raise ConfigError(f"op {op} needs value = a ratio such as 2.0")
        if check["value"] <= 1:
            raise ConfigError(f"op {op} needs a ratio above 1, got {check['value']!r}")
        if kind(q) in ("rate", "ranked"):
            raise ConfigError(f"op {op} compares ratios of positive values; {q!r} is not one")
    for key in ("factor", "offset"):
        if key in check and (isinstance(check[key], bool) or not isinstance(check[key], (int, float))):
            raise ConfigError(f"{key} must be a number")
    if "factor" in check and check["factor"] <= 0:
        raise ConfigError(f"factor must be > 0, got {check['factor']!r}")
    if kind(q) == "rate" and has_than and ("factor" in check or "offset" in check):
        raise ConfigError(
            f"{q!r} is a rate compared with other configurations by Fisher's exact test: factor and offset do not "
            "apply; compare with a value instead"
        )
    if kind(q) == "ranked" and op == "between":
        raise ConfigError(f"op between needs finite values; {q!r} is infinite for a diverged run: use final_loss")
    if "than_quantity" in check and kind(check["than_quantity"]) != kind(q):
        raise ConfigError(
            f"than_quantity {check['than_quantity']!r} is a {kind(check['than_quantity'])} quantity "
            f"but quantity {q!r} is a {kind(q)} one"
        )


# -- evaluation ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """A check judged at one confidence level."""

    holds: bool | None
    effect: float
    low: float
    high: float
    n: int
    text: str


@dataclass
class Test:
    """A check reduced to its data: `at(confidence)` judges it with intervals at that level."""

    at: Callable[[float], Outcome]
    left_out: dict[str, int] = field(default_factory=dict)


def select(frame: pd.DataFrame, selection: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for path, value in selection.items():
        mask &= frame[f"@{path}"].astype(str) == str(_label(value))
    return frame[mask]


def _value_label(value) -> str:
    """An axis value as text: ["lstm", {no_forget_gate = true}] -> "lstm no_forget_gate=true"."""
    if isinstance(value, list):
        return " ".join(p for p in (_value_label(v) for v in value) if p and p != "{}")
    text = str(_label(value))
    return text.lower() if isinstance(value, bool) else text.replace("=True", "=true").replace("=False", "=false")


def _sel_parts(selection: dict) -> list[str]:
    """The selected configurations' values as text: text values as they are, numbers and
    booleans with their axis (depth=50); paths varied together split, each part named
    (hidden=64, recurrent_init=orthogonal), since bare values in a row say nothing."""
    parts = []
    for path, value in selection.items():
        if "+" in path and isinstance(value, list) and len(value) == len(path.split("+")):
            parts += [f"{p.split('.')[-1]}={_value_label(v)}" for p, v in zip(path.split("+"), value)]
            continue
        text = _value_label(value)
        named = isinstance(value, (bool, int, float)) and "+" not in path
        parts.append(f"{path.split('.')[-1]}={text}" if named else text)
    return [p for p in parts if p and not p.endswith("={}")]


def _sel_label(selection: dict) -> str:
    return ", ".join(_sel_parts(selection)) or "all"


def _pair_labels(where: dict, than: dict) -> tuple[str, str, str]:
    """(left, right, shared): the two sides by what sets them apart, and what they share said once."""
    left, right = _sel_parts(where), _sel_parts(than)
    shared = [p for p in left if p in right]
    if not shared or len(shared) in (len(left), len(right)):  # nothing to factor out, or a side would be empty
        return ", ".join(left) or "all", ", ".join(right) or "all", ""
    return (
        ", ".join(p for p in left if p not in shared),
        ", ".join(p for p in right if p not in shared),
        ", ".join(shared),
    )


def _ratio_label(left: str, right: str) -> str:
    def wrap(name: str) -> str:
        return f"({name})" if " " in name or "," in name else name

    return f"{wrap(left)}/{wrap(right)}"


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "inf" if v > 0 else "-inf" if v < 0 else "nan"
    return f"{v:.3g}"


def _pct(confidence: float) -> str:
    text = f"{100 * confidence:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _decide(op: str, low: float, high: float, target: float) -> bool | None:
    """Three-valued comparison of an interval with a target."""
    if not (math.isfinite(low) or math.isinf(low)) or math.isnan(high) or math.isnan(target):
        return None
    if op in (">", ">="):
        if low > target or (op == ">=" and low == target):
            return True
        if high < target or (op == ">" and high == target):
            return False
        return None
    if high < target or (op == "<=" and high == target):
        return True
    if low > target or (op == "<" and low == target):
        return False
    return None


def _decide_between(low: float, high: float, lo: float, hi: float) -> bool | None:
    if math.isnan(low) or math.isnan(high):
        return None
    if lo <= low and high <= hi:
        return True
    if high < lo or low > hi:
        return False
    return None


def _left_out_text(left_out: dict[str, int]) -> str:
    parts = [f"{n} {why}" for why, n in left_out.items() if n]
    return f"; runs left out: {', '.join(parts)}" if parts else ""


def _too_few(n: int, left_out: dict[str, int], what: str = "runs") -> str:
    return f"n = {n} {what}{_left_out_text(left_out)}; at least {MIN_RUNS} needed for a verdict"


def _merge(*dicts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _inconclusive(text: str) -> Test:
    return Test(lambda conf: Outcome(None, float("nan"), float("nan"), float("nan"), 0, text))


def _paired(left: pd.DataFrame, right: pd.DataFrame, same_rows: bool) -> pd.DataFrame | None:
    """Left and right values matched by run (same rows) or by seed (one run per seed on each
    side), or None when they cannot be paired."""
    if same_rows:
        both = left[["value"]].merge(right[["value"]], left_index=True, right_index=True, suffixes=("_l", "_r"))
    elif left["seed"].is_unique and right["seed"].is_unique:
        both = left.merge(right, on="seed", suffixes=("_l", "_r"))
    else:
        return None
    return both if len(both) >= MIN_RUNS else None


# one sample: a side against a number ------------------------------------------------------


def _one_sample(q: str, values: np.ndarray, op: str, target, where: str, left_out: dict) -> Test:
    n = len(values)
    if n < MIN_RUNS:
        return _inconclusive(f"{q} ({where}): " + _too_few(n, left_out))
    tail = _left_out_text(left_out)
    k = kind(q)
    if op == "between":
        lo, hi = target
        need = f"needed in [{lo:g}, {hi:g}]"
    else:
        need = f"needed {op} {_fmt(target)}"

    if k == "rate":

        def at(conf):
            hits = int(values.sum())
            p, low, high = st.proportion_interval(hits, n, conf)
            holds = _decide_between(low, high, *target) if op == "between" else _decide(op, low, high, target)
            text = f"{q} ({where}) = {hits}/{n} = {p:.0%} [{low:.0%}, {high:.0%}], n = {n} runs, {need}"
            return Outcome(holds, p, low, high, n, text + tail)

    elif k == "ranked" or not np.isfinite(values).all():
        # infinite values (a diverged run's loss): the share of runs on the claimed side,
        # an exact binomial interval; the claim is about the median run
        def at(conf):
            hits = int(OPS[op](values, target).sum())
            p, low, high = st.proportion_interval(hits, n, conf)
            holds = _decide(">", low, high, 0.5)
            text = (
                f"{q} ({where}): {hits}/{n} runs {op} {_fmt(target)} = {p:.0%} [{low:.0%}, {high:.0%}] "
                f"(median {_fmt(float(np.median(values)))}), n = {n} runs, needed a majority"
            )
            return Outcome(holds, p, low, high, n, text + tail)

    elif (
        k == "scale" and (values > 0).all() and (op == "between" and min(target) > 0 or op != "between" and target > 0)
    ):

        def at(conf):
            m, low, high = st.mean_interval(np.log(values), conf)
            g, low, high = math.exp(m), math.exp(low), math.exp(high)
            holds = _decide_between(low, high, *target) if op == "between" else _decide(op, low, high, target)
            text = f"{q} ({where}) geometric mean = {_fmt(g)} [{_fmt(low)}, {_fmt(high)}], n = {n} runs, {need}"
            return Outcome(holds, g, low, high, n, text + tail)

    else:

        def at(conf):
            m, low, high = st.mean_interval(values, conf)
            holds = _decide_between(low, high, *target) if op == "between" else _decide(op, low, high, target)
            text = f"{q} ({where}) = {_fmt(m)} [{_fmt(low)}, {_fmt(high)}], n = {n} runs, {need}"
            return Outcome(holds, m, low, high, n, text + tail)

    return Test(at, left_out)


# two samples: a side against another --------------------------------------------------------


def _two_sample(check: dict, frame: pd.DataFrame) -> Test:
    q, op = check["quantity"], check["op"]
    rq = check.get("than_quantity", q)
    where = check.get("where", {})
    than = check.get("than", where)
    left, lo_out = side(frame, select(frame, where), q)
    right, ro_out = side(frame, select(frame, than), rq)
    left_out = _merge(lo_out, ro_out)
    factor, offset = float(check.get("factor", 1.0)), float(check.get("offset", 0.0))
    lname, rname, shared = _pair_labels(where, than) if rq == q else (q, rq, "")
    where_both = f" at {shared}" if shared else ""  # what both sides share, said once in every text
    head = (f"{q} difference" if rq == q else "difference") + (f"{where_both}:" if shared else "")
    if len(left) < MIN_RUNS or len(right) < MIN_RUNS:
        return _inconclusive(
            f"{q}: "
            + _too_few(
                min(len(left), len(right)), left_out, f"runs on the {'left' if len(left) < MIN_RUNS else 'right'}"
            )
        )
    tail = _left_out_text(left_out)
    same_rows = "than" not in check
    k = kind(q)

    if k == "rate":
        kl, nl, kr, nr = int(left["value"].sum()), len(left), int(right["value"].sum()), len(right)

        def at(conf):
            ratio, low, high = st.odds_ratio_interval(kl, nl, kr, nr, conf)
            holds = _decide(op, low, high, 1.0) if math.isfinite(low) or math.isinf(low) else None
            text = (
                f"{q}{where_both}: {lname} {kl}/{nl} = {kl / nl:.0%} vs {rname} {kr}/{nr} = {kr / nr:.0%}, "
                f"odds ratio {_fmt(ratio)} [{_fmt(low)}, {_fmt(high)}] (Fisher's exact), needed {op} 1"
            )
            return Outcome(holds, ratio, low, high, nl + nr, text + tail)

        return Test(at, left_out)

    pairs = _paired(left, right, same_rows)
    scaled_r = right["value"].to_numpy() * factor + offset
    n_text = (
        f"n = {len(pairs)} paired {'runs' if same_rows else 'seeds'}"
        if pairs is not None
        else (f"n = {len(left)} + {len(right)} runs")
    )
    n = len(pairs) if pairs is not None else len(left) + len(right)

    if k == "ranked" or not (np.isfinite(left["value"]).all() and np.isfinite(right["value"]).all()):
        better = "<" if op in ("<", "<=") else ">"

        def at(conf):
            if pairs is not None:
                a, b = pairs["value_l"].to_numpy(), pairs["value_r"].to_numpy() * factor + offset
            else:
                a, b = left["value"].to_numpy(), scaled_r
            if better == ">":
                a, b = -a, -b
            scaled = f"{factor:g} x {rname}" if factor != 1 else rname
            claim = f"{lname} {better} {scaled}{f' {offset:+g}' if offset else ''}"
            if pairs is not None:  # sign test: the share of seeds on the claimed side, ties dropped
                wins, losses = int((a < b).sum()), int((a > b).sum())
                if wins + losses == 0:
                    return Outcome(None, 0.5, 0.0, 1.0, n, f"{q}: every pair tied, {n_text}" + tail)
                p, low, high = st.proportion_interval(wins, wins + losses, conf)
                detail = f"{wins} of {wins + losses} untied seeds"
            else:
                p, low, high = st.superiority_interval(a, b, conf, paired=False)
                detail = "bootstrap"
            holds = _decide(">", low, high, 0.5)
            text = f"{q}{where_both}: P({claim}) = {p:.2f} [{low:.2f}, {high:.2f}] ({detail}), {n_text}, needed > 0.5"
            return Outcome(holds, p, low, high, n, text + tail)

        return Test(at, left_out)

    log_scale = k == "scale" and offset == 0 and (left["value"] > 0).all() and (right["value"] > 0).all()
    if log_scale:
        target = math.log(factor)

        def at(conf):
            if pairs is not None:
                m, low, high = st.mean_interval(np.log(pairs["value_l"]) - np.log(pairs["value_r"]), conf)
            else:
                m, low, high = st.welch_interval(np.log(left["value"]), np.log(right["value"]), conf)
            holds = _decide(op, low, high, target)
            r, low, high = math.exp(m), math.exp(low), math.exp(high)
            text = (
                f"{q} ratio{where_both} {_ratio_label(lname, rname)} = {_fmt(r)}x [{_fmt(low)}x, {_fmt(high)}x], "
                f"{n_text}, needed {op} {factor:g}x"
            )
            return Outcome(holds, r, low, high, n, text + tail)

        return Test(at, left_out)

    def at(conf):
        if pairs is not None:
            d = pairs["value_l"].to_numpy() - (pairs["value_r"].to_numpy() * factor + offset)
            m, low, high = st.mean_interval(d, conf)
        else:
            m, low, high = st.welch_interval(left["value"].to_numpy(), scaled_r, conf)
        holds = _decide(op, low, high, 0.0)
        scaled = f"{factor:g} x {rname}" if factor != 1 else rname
        text = (
            f"{head} {lname} - {scaled}{f' {-offset:+g}' if offset else ''} = {_fmt(m)} "
            f"[{_fmt(low)}, {_fmt(high)}], {n_text}, needed {op} 0"
        )
        return Outcome(holds, m, low, high, n, text + tail)

    return Test(at, left_out)


# each and spread: several configurations ------------------------------------------------------


def _configurations(frame: pd.DataFrame, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    axes = [c for c in frame.columns if c.startswith("@")]
    if not axes or rows.empty:
        return [("all", rows)] if not rows.empty else []
    varying = [a for a in axes if frame[a].astype(str).nunique() > 1] or axes
    out = []
    for key, group in rows.groupby([rows[a].astype(str) for a in axes], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(str(v) for a, v in zip(axes, key) if a in varying)
        out.append((name or "all", group))
    return out


def _each(frame: pd.DataFrame, check: dict) -> Test:
    q, op = check["quantity"], check["op"]
    configs = _configurations(frame, select(frame, check.get("where", {})))
    if not configs:
        return _inconclusive(f"{q}: no configuration selected")
    target = (
        check["value"]
        if op == "between"
        else float(check["value"]) * float(check.get("factor", 1.0)) + float(check.get("offset", 0.0))
    )
    tests = []
    for name, rows in configs:
        kept, out = side(frame, rows, q)
        tests.append((name, _one_sample(q, kept["value"].to_numpy(), op, target, name, out), out))
    left_out = _merge(*(o for _, _, o in tests))

    def at(conf):
        outcomes = [(name, t.at(conf)) for name, t, _ in tests]
        failing = [name for name, o in outcomes if o.holds is False]
        open_ = [name for name, o in outcomes if o.holds is None]
        holds = False if failing else (None if open_ else True)
        need = f"in [{target[0]:g}, {target[1]:g}]" if op == "between" else f"{op} {_fmt(target)}"
        summary = f"each of {len(outcomes)} configurations {need}: {len(outcomes) - len(failing) - len(open_)} hold"
        if failing:
            summary += f", fails for {', '.join(failing)}"
        if open_:
            summary += f", inconclusive for {', '.join(open_)}"
        worst = [o for _, o in outcomes if o.holds is not True] or [
            max((o for _, o in outcomes), key=lambda o: _closeness(op, o, target))
        ]
        detail = "; ".join(o.text for o in worst[:3])
        n = sum(o.n for _, o in outcomes)
        first = worst[0]
        return Outcome(holds, first.effect, first.low, first.high, n, f"{summary} ({detail})")

    return Test(at, left_out)


def _closeness(op: str, o: Outcome, target) -> float:
    """How near an outcome's interval comes to failing (larger: nearer): the one to show."""
    if op == "between":
        return max(o.high - target[1], target[0] - o.low)
    return o.high - target if op in ("<", "<=") else target - o.low


def _spread(frame: pd.DataFrame, check: dict) -> Test:
    q, op, ratio = check["quantity"], check["op"], float(check["value"])
    configs = _configurations(frame, select(frame, check.get("where", {})))
    sides = [(name, *side(frame, rows, q)) for name, rows in configs]
    left_out = _merge(*(o for _, _, o in sides))
    if len(sides) < 2:
        return _inconclusive(f"{q}: a spread needs at least 2 configurations, got {len(sides)}")
    small = [name for name, kept, _ in sides if len(kept) < MIN_RUNS]
    if small:
        return _inconclusive(
            f"{q}: too few runs in {', '.join(small)}{_left_out_text(left_out)}; at least {MIN_RUNS} each"
        )
    if any((kept["value"] <= 0).any() for _, kept, _ in sides):
        return _inconclusive(f"{q}: a spread is a ratio of positive values; some are <= 0")
    pairs = list(itertools.combinations(range(len(sides)), 2))
    tests = []
    for i, j in pairs:
        fake = {"quantity": q, "op": "<"}
        tests.append((i, j, _pair_log_ratio(fake, sides[i][1], sides[j][1])))
    means = [float(np.exp(np.log(kept["value"]).mean())) for _, kept, _ in sides]
    hi_i, lo_i = int(np.argmax(means)), int(np.argmin(means))
    bound = math.log(ratio)

    def at(conf):
        inner = conf if op == "spread<" else 1 - (1 - conf) / len(pairs)
        results = {(i, j): t(inner) for i, j, t in tests}
        inside = {p: (-bound < lo and hi < bound) for p, (_, lo, hi) in results.items()}
        outside = {p: (lo > bound or hi < -bound) for p, (_, lo, hi) in results.items()}
        if op == "spread<":
            holds = True if all(inside.values()) else (False if any(outside.values()) else None)
        else:
            plain = {(i, j): t(conf) for i, j, t in tests}
            all_inside = all(-bound < lo and hi < bound for _, lo, hi in plain.values())
            holds = True if any(outside.values()) else (False if all_inside else None)
        key = (min(hi_i, lo_i), max(hi_i, lo_i))
        m, lo, hi = results[key]
        sign = 1 if key[0] == hi_i else -1
        r, low, high = math.exp(sign * m), math.exp(min(sign * lo, sign * hi)), math.exp(max(sign * lo, sign * hi))
        need = "<" if op == "spread<" else ">"
        text = (
            f"{q} max/min over {len(sides)} configurations = {_fmt(r)}x ({sides[hi_i][0]} / {sides[lo_i][0]} "
            f"[{_fmt(low)}x, {_fmt(high)}x]), needed {need} {ratio:g}x"
            + (f" for some pair (Bonferroni over {len(pairs)} pairs: {_pct(inner)})" if inner != conf else "")
        )
        return Outcome(holds, r, low, high, sum(len(k) for _, k, _ in sides), text + _left_out_text(left_out))

    return Test(at, left_out)


def _pair_log_ratio(check: dict, a: pd.DataFrame, b: pd.DataFrame):
    pairs = _paired(a, b, same_rows=False)

    def interval(conf):
        if pairs is not None:
            return st.mean_interval(np.log(pairs["value_l"]) - np.log(pairs["value_r"]), conf)
        return st.welch_interval(np.log(a["value"]), np.log(b["value"]), conf)

    return interval


def prepare(frame: pd.DataFrame, check: dict) -> Test:
    """The check as a test on the data in `frame` (one row per run; see verdict_frame)."""
    op = check["op"]
    if frame.empty:
        return _inconclusive("no runs stored")
    if op in SPREAD_OPS:
        return _spread(frame, check)
    if check.get("each"):
        return _each(frame, check)
    if "than" in check or "than_quantity" in check:
        return _two_sample(check, frame)
    where = check.get("where", {})
    kept, left_out = side(frame, select(frame, where), check["quantity"])
    value = check["value"]
    target = (
        value if op == "between" else float(value) * float(check.get("factor", 1.0)) + float(check.get("offset", 0.0))
    )
    return _one_sample(check["quantity"], kept["value"].to_numpy(), op, target, _sel_label(where), left_out)
