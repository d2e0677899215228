"""Per-run values of the quantities a check can compare, and which runs each one excludes.

Kinds decide the statistics (see statistics.py):

- rate: `diverged`, `solved`: one yes/no per run; every finished run counts.
- ranked: `final_loss_or_inf`: a diverged run counts as infinitely bad; compared by ranks.
- scale: losses, gradient norms, gradient-check errors and step counts: positive numbers
  compared as ratios (on the log scale).
- linear: accuracies, probe summaries and anything else: compared as differences.

A diverged run's numbers overflowed, so it never feeds a scale or linear quantity: it is
excluded and the check says how many runs it excluded. Failed runs count nowhere.
`steps_to_solve` and `steps_to_X x_baseline` are restricted at the step budget: a run that
never gets there counts as the whole budget (the restricted mean of survival analysis), and a
diverged run that never solved counts as the budget too.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from ablab.core.errors import ConfigError
from ablab.core.lab.results import run_frame
from ablab.core.lab.run_summaries import SPEED_FRACTIONS

RATE = ("diverged", "solved")
RANKED = ("final_loss_or_inf",)
SPEED = tuple(f"steps_to_{f}x_baseline" for f in SPEED_FRACTIONS)
SCALE = ("final_loss", "mean_loss", "final_grad_norm", "gradcheck_error", "steps_to_solve", *SPEED)
LINEAR = ("final_accuracy", "final_clipped")
BASE_QUANTITIES = (*RATE, *RANKED, "final_loss", "mean_loss", *LINEAR, "final_grad_norm", "gradcheck_error")
RESTRICTED = ("steps_to_solve", *SPEED)  # capped at the run's step budget
OUTCOMES = (*RATE, *RANKED, "steps_to_solve")  # a diverged run has a value: it is part of the outcome

SOLVE_KEYS = {"metric", "op", "value", "of"}
SOLVE_METRICS = ("accuracy", "loss")
SOLVE_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def kind(q: str) -> str:
    if q in RATE:
        return "rate"
    if q in RANKED:
        return "ranked"
    if q in SCALE:
        return "scale"
    return "linear"


def known_quantity(q: str) -> bool:
    return q in BASE_QUANTITIES + ("steps_to_solve", *SPEED) or (q.endswith(("@init", "@final")) and "." in q)


def validate_solve(solve, where: str = "solve") -> dict:
    """A solve criterion: { metric = "accuracy", op = ">=", value = 0.99 }, optionally
    of = "baseline" (value is then a multiple of the task's baseline loss)."""
    if not isinstance(solve, dict):
        raise ConfigError(f'{where} must be a table such as {{ metric = "accuracy", op = ">=", value = 0.99 }}')
    unknown = set(solve) - SOLVE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; allowed keys: {', '.join(sorted(SOLVE_KEYS))}")
    if solve.get("metric") not in SOLVE_METRICS:
        raise ConfigError(
            f"{where}.metric must be one of {', '.join(map(repr, SOLVE_METRICS))}, got {solve.get('metric')!r}"
        )
    if solve.get("op") not in SOLVE_OPS:
        raise ConfigError(f"{where}.op must be one of {', '.join(map(repr, SOLVE_OPS))}, got {solve.get('op')!r}")
    value = solve.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}.value must be a number, got {value!r}")
    if solve.get("of", "baseline") != "baseline":
        raise ConfigError(f'{where}.of can only be "baseline" (value x the task\'s baseline loss), got {solve["of"]!r}')
    return dict(solve)


def describe_solve(solve: dict) -> str:
    target = f"{solve['value']:g} x baseline" if solve.get("of") == "baseline" else f"{solve['value']:g}"
    return f"final {solve['metric']} {solve['op']} {target}"


# -- the frame the checks read -----------------------------------------------------------


def verdict_frame(store, study: str, solve: dict | None = None, registry=None) -> pd.DataFrame:
    """run_frame plus `budget` (the steps a run had), `solved` and `steps_to_solve`.
    solve: the study's criterion; None takes each run's task default (Task.solve)."""
    frame = run_frame(store, study)
    if frame.empty:
        return frame
    # the per-run values come from the store's summaries; only the solve metrics' curves are
    # read raw (the budget and the first step a criterion is met, which differs per study)
    metrics = store.records_of(study, "metrics", list(SOLVE_METRICS))
    criteria = None
    if solve is None:
        if registry is None:
            from ablab.core.plugin_system.registry import default_registry

            registry = default_registry()
        criteria = {r["key"]: _task_solve(r["config"], registry) for r in store.runs_of(study)}
    return add_solve_columns(frame, metrics, solve, criteria)


def _task_solve(config: dict, registry) -> dict | None:
    from ablab.core.engine.task import solve_criterion

    try:
        return solve_criterion(registry.get("task", config["task"]["name"]))
    except Exception:  # a task plugin no longer installed: its runs are not judged as solved or not
        return None


def add_solve_columns(
    frame: pd.DataFrame, metrics: pd.DataFrame, solve: dict | None, criteria: dict | None = None
) -> pd.DataFrame:
    """frame (one row per run, column `key`) gains budget, solved and steps_to_solve."""
    frame = frame.copy()
    frame["solved"] = np.nan
    frame["steps_to_solve"] = np.nan
    if metrics is None or not len(metrics):
        frame["budget"] = np.nan
        return frame
    metrics = metrics.sort_values(["run_key", "step"])
    curves = metrics[metrics["name"].isin(SOLVE_METRICS)]
    budget = curves.groupby("run_key")["step"].max() + 1
    frame["budget"] = frame["key"].map(budget).astype(float)
    keyed = frame.set_index("key")
    groups: dict[str, tuple[dict, list[str]]] = {}
    for key in keyed.index:
        crit = solve if solve is not None else (criteria or {}).get(key)
        if crit is not None:
            groups.setdefault(repr(sorted(crit.items())), (crit, []))[1].append(key)
    for crit, keys in groups.values():
        metric, op = crit["metric"], SOLVE_OPS[crit["op"]]
        rows = keyed.loc[keys]
        target = pd.Series(float(crit["value"]), index=rows.index)
        if crit.get("of") == "baseline":
            target = target * (rows["baseline"] if "baseline" in rows.columns else np.nan)
        final = rows[f"final_{metric}"] if f"final_{metric}" in rows.columns else pd.Series(np.nan, index=rows.index)
        measured = final.notna() & target.notna()
        solved = pd.Series(op(final, target), index=rows.index) & measured & (rows["status"] == "done")
        curve = curves[(curves["name"] == metric) & curves["run_key"].isin(keys)]
        first = pd.Series(np.nan, index=rows.index)
        if len(curve):  # first logged step from which the metric, smoothed over 5 logs, meets it
            smooth = curve.groupby("run_key", sort=False)["value"].rolling(5, min_periods=1).mean()
            smooth = pd.Series(smooth.to_numpy(dtype=float), index=smooth.index.get_level_values(-1))
            smooth = smooth.reindex(curve.index)
            hit = curve[op(smooth, curve["run_key"].map(target).astype(float)).to_numpy()]
            first = hit.groupby("run_key")["step"].min().reindex(rows.index).astype(float) + 1
        budget_of = rows["budget"]
        steps = first.where(solved, budget_of).fillna(budget_of).clip(upper=budget_of)
        usable = (rows["status"] == "diverged") | measured  # a diverged run has not solved
        usable &= rows["status"] != "failed"
        frame.loc[frame["key"].isin(keys), "solved"] = frame["key"].map(solved.astype(float).where(usable))
        frame.loc[frame["key"].isin(keys), "steps_to_solve"] = frame["key"].map(steps.where(usable))
    return frame


# -- per-run values ------------------------------------------------------------------------


def quantity_values(frame: pd.DataFrame, q: str) -> pd.Series:
    """The quantity per run, NaN where a run does not count (failed; diverged for a quantity
    that is not an outcome; not measured). Restricted step counts are capped at the budget."""
    if frame.empty:
        return pd.Series(dtype=float)
    status = frame["status"]
    if q == "diverged":
        values = (status == "diverged").astype(float)
    elif q == "final_loss_or_inf":
        loss = frame["final_loss"].astype(float) if "final_loss" in frame.columns else np.nan
        values = pd.Series(loss, index=frame.index).where(status != "diverged", np.inf)
    elif q not in frame.columns:
        values = pd.Series(np.nan, index=frame.index)
    else:
        values = frame[q].astype(float)
    if q in RESTRICTED and "budget" in frame.columns:
        values = values.clip(upper=frame["budget"].astype(float))
    if q not in OUTCOMES:
        values = values.where(status != "diverged")
    return values.where(status.isin(("done", "diverged")))


def side(frame: pd.DataFrame, rows: pd.DataFrame, q: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The runs of one side of a check with their values (columns seed, value), and how many
    runs were left out and why: diverged (overflowed numbers), failed, unfinished, not measured."""
    values = quantity_values(rows, q)
    left_out = {
        "diverged": int(((rows["status"] == "diverged") & values.isna()).sum()),
        "failed": int((rows["status"] == "failed").sum()),
        "unfinished": int(rows["status"].isin(("pending", "running")).sum()),
    }
    left_out["not measured"] = int(values.isna().sum()) - sum(left_out.values())
    kept = rows.assign(value=values)[values.notna()]
    return kept[["seed", "value"]], left_out
