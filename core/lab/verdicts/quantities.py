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
diverged run that never solved counts as the budget too. Both come from each run's stored
summaries (its `budget` and its steps to meet its criterion, run_summaries.solve_name), so a
verdict reads only the summary columns its checks name, never a curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablab.core.errors import ConfigError
from ablab.core.lab import run_summaries
from ablab.core.lab.results import run_frame
from ablab.core.lab.run_summaries import SOLVE_METRICS, SOLVE_OPS, SPEED_FRACTIONS
from ablab.core.lab.solve_criteria import task_criterion

RATE = ("diverged", "solved")
RANKED = ("final_loss_or_inf",)
SPEED = tuple(f"steps_to_{f}x_baseline" for f in SPEED_FRACTIONS)
SCALE = ("final_loss", "mean_loss", "final_grad_norm", "gradcheck_error", "steps_to_solve", *SPEED)
LINEAR = ("final_accuracy", "final_clipped")
BASE_QUANTITIES = (*RATE, *RANKED, "final_loss", "mean_loss", *LINEAR, "final_grad_norm", "gradcheck_error")
RESTRICTED = ("steps_to_solve", *SPEED)  # capped at the run's step budget
OUTCOMES = (*RATE, *RANKED, "steps_to_solve")  # a diverged run has a value: it is part of the outcome

SOLVE_KEYS = {"metric", "op", "value", "of"}


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


def check_quantities(checks: list[dict]) -> set[str]:
    """The quantities a study's checks compare (quantity and than_quantity)."""
    return {c[k] for c in checks for k in ("quantity", "than_quantity") if isinstance(c.get(k), str)}


def summary_columns(quantities: set[str], criteria: list[dict]) -> list[str]:
    """The run_summaries columns that `quantities` are computed from; criteria: the distinct
    solve criteria of the runs (read only when solved or steps_to_solve is compared)."""
    names: set[str] = set()
    for q in quantities:
        if q in ("solved", "steps_to_solve"):
            names |= {"budget", "baseline"}
            names |= {n for c in criteria for n in (f"final_{c['metric']}", run_summaries.solve_name(c))}
        elif q == "final_loss_or_inf":
            names.add("final_loss")
        elif q != "diverged":
            names.add(q)
        if q in RESTRICTED:
            names.add("budget")
    return sorted(names)


def verdict_frame(store, study: str, solve: dict | None = None, registry=None, checks=None) -> pd.DataFrame:
    """run_frame plus `budget` (the steps a run had), `solved` and `steps_to_solve`, all from
    the per-run summaries. checks: only the columns these checks read (every column when
    None). solve: the study's criterion; None takes each run's task default (Task.solve)."""
    quantities = None if checks is None else check_quantities(checks)
    solving = quantities is None or bool(quantities & {"solved", "steps_to_solve"})
    criteria: dict[str, dict | None] = {}
    if solving and solve is None:
        criteria = task_criteria(store, study, registry)
    distinct = {run_summaries.solve_name(c): c for c in ([solve] if solve else criteria.values()) if c is not None}
    names = None if quantities is None else summary_columns(quantities, list(distinct.values()))
    frame = run_frame(store, study, columns=names)
    if frame.empty or not solving:
        return frame
    return add_solve_columns(store, frame, solve, criteria)


def task_criteria(store, study: str, registry=None) -> dict[str, dict | None]:
    """run key -> its task's solve criterion, resolved once per configuration."""
    if registry is None:
        from ablab.core.plugin_system.registry import default_registry

        registry = default_registry()
    config_of, configs = store.run_configs(study)
    by_config = {k: task_criterion(config, registry) for k, config in configs.items()}
    return {key: by_config.get(config_key) for key, config_key in config_of.items()}


def add_solve_columns(store, frame: pd.DataFrame, solve: dict | None, criteria: dict | None = None) -> pd.DataFrame:
    """frame (one row per run: key, status, budget, baseline, final_METRIC and the criteria's
    solve steps as run_frame reads them) gains solved and steps_to_solve. A run that meets its
    criterion at the end but lacks its stored steps (a task no installed plugin provided when
    it was written) has them computed from its records."""
    frame = frame.copy()
    frame["solved"] = np.nan
    frame["steps_to_solve"] = np.nan
    if "budget" not in frame.columns or frame["budget"].isna().all():  # no run logged a solve metric
        frame["budget"] = np.nan
        return frame
    keyed = frame.set_index("key")
    named: dict[int, str] = {}  # criteria are shared by a configuration's runs: name each once
    by_name: dict[str, dict] = {}

    def name_of(crit: dict | None) -> str | None:
        if crit is None:
            return None
        if id(crit) not in named:
            named[id(crit)] = run_summaries.solve_name(crit)
            by_name.setdefault(named[id(crit)], crit)
        return named[id(crit)]

    if solve is not None:
        group = pd.Series(name_of(solve), index=keyed.index)
    else:
        group = pd.Series([name_of((criteria or {}).get(k)) for k in keyed.index], index=keyed.index)
    solved_all = pd.Series(np.nan, index=keyed.index)
    steps_all = pd.Series(np.nan, index=keyed.index)
    for name, crit in by_name.items():
        metric, op = crit["metric"], SOLVE_OPS[crit["op"]]
        mask = (group == name).to_numpy()
        rows = keyed[mask]
        target = pd.Series(float(crit["value"]), index=rows.index)
        if crit.get("of") == "baseline":
            target = target * (rows["baseline"] if "baseline" in rows.columns else np.nan)
        final = rows[f"final_{metric}"] if f"final_{metric}" in rows.columns else pd.Series(np.nan, index=rows.index)
        measured = final.notna() & target.notna()
        solved = pd.Series(op(final, target), index=rows.index) & measured & (rows["status"] == "done")
        first = rows[name].astype(float) if name in rows.columns else pd.Series(np.nan, index=rows.index)
        unknown = list(first.index[solved & first.isna()])
        if unknown:
            first = first.fillna(_solve_steps_from_records(store, unknown, crit))
        budget_of = rows["budget"].astype(float)
        steps = first.where(solved, budget_of).fillna(budget_of).clip(upper=budget_of)
        usable = (rows["status"] == "diverged") | measured  # a diverged run has not solved
        usable &= rows["status"] != "failed"
        solved_all[mask] = solved.astype(float).where(usable).to_numpy()
        steps_all[mask] = steps.where(usable).to_numpy()
    frame["solved"] = solved_all.to_numpy()
    frame["steps_to_solve"] = steps_all.to_numpy()
    return frame


def _solve_steps_from_records(store, keys: list[str], crit: dict) -> pd.Series:
    """The criterion's solve steps of runs `keys`, from their records (run_summaries' definition)."""
    metrics = store.records_of(keys, "metrics", [crit["metric"], "baseline"])
    no_probes = pd.DataFrame(columns=["run_key", "step", "probe", "name", "idx", "value"])
    values = run_summaries.summarize(metrics, no_probes, {k: [crit] for k in keys})
    values = values[values["name"] == run_summaries.solve_name(crit)]
    return pd.Series(values["value"].to_numpy(dtype=float), index=values["run_key"])


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
