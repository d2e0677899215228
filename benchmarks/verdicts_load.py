"""Verdicts and the Claims, Review, report, Compare and Runs pages' queries at scale: the old
way (a row per run, and every run's solve-metric records for the verdicts) beside the new one
(per-run summaries of the columns the checks name; per-configuration answers for the pages).

    python benchmarks/verdicts_load.py [--runs 2000,100000] [--keep DIR] [--rounds N]

Each size fills a fresh SQLite store as benchmarks/store_aggregates.py does (20 configurations,
more above 20,000 runs; the runner's write path, so each run's budget and solve steps are
stored), or reuses DIR/verdicts_N.sqlite with --keep. Then, for each item, old and new in
alternating rounds, it prints the median wall and CPU seconds of each side by side, and checks
that the old and new verdicts are the same. The machine's load average is printed first:
figures taken beside other work are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_aggregates import fill, parse_sizes  # noqa: E402 - the same synthetic study, writer and sizes

from ablab.core.lab import aggregates  # noqa: E402
from ablab.core.lab.results import config_summary, result_columns, run_frame, summary  # noqa: E402
from ablab.core.lab.run_summaries import SOLVE_METRICS, SOLVE_OPS  # noqa: E402
from ablab.core.lab.solve_criteria import task_criterion  # noqa: E402
from ablab.core.lab.store import Store  # noqa: E402
from ablab.core.lab.verdicts import verdict, verdict_frame  # noqa: E402
from ablab.core.plugin_system.registry import build_registry  # noqa: E402
from ablab.dashboard.report import headline_columns, report_columns  # noqa: E402

STUDY = "load"
LSTM, RNN, GRU = ({"model.cell": c} for c in ("lstm", "rnn", "gru"))
CHECKS = [
    {"what": "LSTM solves as often", "quantity": "solved", "op": ">=", "where": LSTM, "than": RNN},
    {"what": "LSTM solves sooner", "quantity": "steps_to_solve", "op": "<", "where": LSTM, "than": RNN},
    {"what": "LSTM ends lower", "quantity": "final_loss", "op": "<", "where": LSTM, "than": GRU},
    {"what": "forget gates open", "quantity": "gates.forget_mean@final", "op": ">", "value": 0.0},
]
HEADLINE = ["final_loss", "final_accuracy"]


# -- the old paths, as they were before the per-run budget and solve steps -------------------


def old_verdict_frame(store: Store, study: str, registry) -> pd.DataFrame:
    """run_frame with every column, every run's solve-metric records, pandas for the rest."""
    frame = run_frame(store, study)
    keys = list(frame["key"])
    metrics = store.records_of(keys, "metrics", list(SOLVE_METRICS))
    criteria = {r["key"]: task_criterion(r["config"], registry) for r in store.runs_of(study)}
    return old_add_solve_columns(frame, metrics, criteria)


def old_add_solve_columns(frame: pd.DataFrame, metrics: pd.DataFrame, criteria: dict) -> pd.DataFrame:
    frame = frame.copy()
    frame["solved"] = np.nan
    frame["steps_to_solve"] = np.nan
    metrics = metrics.sort_values(["run_key", "step"])
    curves = metrics[metrics["name"].isin(SOLVE_METRICS)]
    budget = curves.groupby("run_key")["step"].max() + 1
    frame["budget"] = frame["key"].map(budget).astype(float)
    keyed = frame.set_index("key")
    groups: dict[str, tuple[dict, list[str]]] = {}
    for key in keyed.index:
        crit = criteria.get(key)
        if crit is not None:
            groups.setdefault(repr(sorted(crit.items())), (crit, []))[1].append(key)
    for crit, keys in groups.values():
        metric, op = crit["metric"], SOLVE_OPS[crit["op"]]
        rows = keyed.loc[keys]
        target = pd.Series(float(crit["value"]), index=rows.index)
        if crit.get("of") == "baseline":
            target = target * rows["baseline"]
        final = rows[f"final_{metric}"] if f"final_{metric}" in rows.columns else pd.Series(np.nan, index=rows.index)
        measured = final.notna() & target.notna()
        solved = pd.Series(op(final, target), index=rows.index) & measured & (rows["status"] == "done")
        curve = curves[(curves["name"] == metric) & curves["run_key"].isin(keys)]
        first = pd.Series(np.nan, index=rows.index)
        if len(curve):
            smooth = curve.groupby("run_key", sort=False)["value"].rolling(5, min_periods=1).mean()
            smooth = pd.Series(smooth.to_numpy(dtype=float), index=smooth.index.get_level_values(-1))
            smooth = smooth.reindex(curve.index)
            hit = curve[op(smooth, curve["run_key"].map(target).astype(float)).to_numpy()]
            first = hit.groupby("run_key")["step"].min().reindex(rows.index).astype(float) + 1
        budget_of = rows["budget"]
        steps = first.where(solved, budget_of).fillna(budget_of).clip(upper=budget_of)
        usable = ((rows["status"] == "diverged") | measured) & (rows["status"] != "failed")
        frame.loc[frame["key"].isin(keys), "solved"] = frame["key"].map(solved.astype(float).where(usable))
        frame.loc[frame["key"].isin(keys), "steps_to_solve"] = frame["key"].map(steps.where(usable))
    return frame


def old_report_table(store: Store, study: str):
    table = summary(run_frame(store, study))
    versions = {f"{k} {v}" for r in store.runs_of(study) for k, v in r["versions"].items()}
    return table[headline_columns(list(table.columns))], versions


def old_runs_page(store: Store, study: str):
    stored = {r["key"]: r for r in store.runs_of(study)}
    return stored, run_frame(store, study, columns=[])


# -- the new paths -----------------------------------------------------------------------------


def new_report_table(store: Store, study: str):
    every = report_columns(store, study)
    chosen = headline_columns(every)
    names = sorted({c.removesuffix(" ±95%") for c in chosen} & set(result_columns(store, study)))
    return config_summary(store, study, names)[chosen], store.versions_of(study)


def new_runs_page(store: Store, study: str):
    counts = aggregates.run_counts(store, study)
    return store.runs_at(study, counts["point"].iloc[0], limit=100)


def items(registry):
    """(what, old, new) pairs; each returns something to compare or show."""
    return [
        (
            "verdict (ablab claims, Claims page, report)",
            lambda s: verdict(STUDY, "", CHECKS, old_verdict_frame(s, STUDY, registry)),
            lambda s: verdict(STUDY, "", CHECKS, verdict_frame(s, STUDY, None, registry, checks=CHECKS)),
        ),
        (
            "Review page (report columns)",
            lambda s: list(summary(run_frame(s, STUDY)).columns),
            lambda s: report_columns(s, STUDY),
        ),
        ("HTML report (table, versions)", lambda s: old_report_table(s, STUDY), lambda s: new_report_table(s, STUDY)),
        (
            "Compare page (one study's table)",
            lambda s: summary(run_frame(s, STUDY)),
            lambda s: config_summary(s, STUDY, [n for n in HEADLINE if n in result_columns(s, STUDY)]),
        ),
        ("Runs page (a configuration)", lambda s: old_runs_page(s, STUDY), lambda s: new_runs_page(s, STUDY)),
    ]


def clocked(fn, store) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(store)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def measure(url: str, n_runs: int, rounds: int, fresh: bool) -> None:
    registry = build_registry(entry_points=False)
    if fresh:
        rate = fill(Store(url), n_runs)
        print(f"{n_runs:>7} runs written at {rate:.0f} runs/s", flush=True)
    store = Store(url)
    print(f"{n_runs:>7} runs  {'old wall / cpu s':>22}  {'new wall / cpu s':>22}  speed-up (wall)")
    for what, old, new in items(registry):
        times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        outputs = {}
        for _ in range(rounds):  # alternating, so both sides see the same machine
            for side, fn in (("old", old), ("new", new)):
                wall, cpu, outputs[side] = clocked(fn, store)
                times[side].append((wall, cpu))
        med = {side: tuple(statistics.median(t[i] for t in times[side]) for i in (0, 1)) for side in times}
        note = ""
        if what.startswith("verdict"):
            same = repr(outputs["old"]) == repr(outputs["new"])
            note = f"  same verdict: {'yes' if same else 'NO'} ({outputs['new'].label})"
        print(
            f"  {what:44} {med['old'][0]:9.2f} / {med['old'][1]:7.2f}  {med['new'][0]:9.3f} / {med['new'][1]:7.3f}"
            f"  {med['old'][0] / max(med['new'][0], 1e-9):8.0f}x{note}",
            flush=True,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000,100000", help="comma-separated study sizes (default 2000,100000)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) each size's store as DIR/verdicts_N.sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per item (default 3)")
    args = parser.parse_args(argv)
    sizes = parse_sizes(parser, args.runs)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.keep is not None and not args.keep.is_dir():
        parser.error(f"--keep {args.keep}: no such folder")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    import tempfile

    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = (args.keep or Path(tmp)) / f"verdicts_{n}.sqlite"
            measure(f"sqlite:///{path}", n, args.rounds, fresh=not path.exists())
    return 0


if __name__ == "__main__":
    sys.exit(main())
