"""Per-run summary values (final_*, mean_loss, steps_to_*, gradcheck_error, baseline, budget,
the steps to meet each solve criterion, probe `PROBE.NAME@init` / `@final`), computed once
when a run's results are written and kept in the table run_summaries (run_key, name, value), so
a study's run table is one indexed read instead of every metric and probe record loaded into
pandas.

`summarize` is the one definition: the store's writer and migrations m004 and m006 all call
it. Values do not depend on the run's status; readers blank the curve-derived values of runs
that are not done (`DERIVED`), as the run table always has. NaN is kept as a row with NULL
(SQLite has no NaN), inf as inf: both databases store it.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ablab.core.lab import bulk

if TYPE_CHECKING:  # pandas only where a frame is built: the runner's write path never needs it
    import pandas as pd

FINAL_FRACTION = 0.1  # final value = mean of the last 10% of logged values
SPEED_FRACTIONS = (0.5, 0.2, 0.1)  # steps_to_0.2x_baseline: first step the loss is 0.2 x baseline
MAX_OF = ("gradcheck_error", "baseline")  # metrics summarised by their largest value
SCALAR = -1  # idx of a probe's scalar record
SOLVE_METRICS = ("accuracy", "loss")  # the metrics a solve criterion can name; their last step is the budget
SOLVE_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def define(md: sa.MetaData) -> sa.Table:
    # the primary key (run_key, name) is also the index every read goes through
    return sa.Table(
        "run_summaries",
        md,
        sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.key", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("value", sa.Float),
        sqlite_with_rowid=False,  # rows stored in key order: a run's values are read together
    )


def is_derived(name: str) -> bool:
    """Values from a run's learning curve: meaningless unless the run finished as done."""
    return name.startswith(("final_", "steps_to_")) or name == "mean_loss"


def _mean(values) -> float:
    """Mean of the non-NaN values (NaN if none), correctly rounded: the same for a run whatever
    else is summarised beside it (pandas' grouped means differ in the last bit with the batch)."""
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def _final(values: list[float]) -> float:
    """Mean of the last 10% of logged values (at least one), NaN if any of them is NaN."""
    tail = values[-max(math.ceil(len(values) * FINAL_FRACTION), 1) :]
    return math.nan if any(math.isnan(v) for v in tail) else math.fsum(tail) / len(tail)


def _steps_to(steps: list[int], loss: list[float], threshold: float) -> float:
    """First logged step at which the loss, smoothed over 5 logs (NaN skipped), is <= threshold;
    inf when it never gets there (slower than any run that did, not missing)."""
    for i, step in enumerate(steps):
        if _mean(loss[max(0, i - 4) : i + 1]) <= threshold:
            return float(step)
    return math.inf


def solve_name(criterion: dict) -> str:
    """The summary name of the steps a run took to meet a solve criterion (a validated
    { metric, op, value[, of] } table): steps_to_accuracy>=0.99, steps_to_loss<=0.1x_baseline.
    The value is written exactly (repr), so two criteria never share a name."""
    target = repr(float(criterion["value"])) + ("x_baseline" if criterion.get("of") == "baseline" else "")
    return f"steps_to_{criterion['metric']}{criterion['op']}{target}"


def _first_met(points: list[tuple[int, float]], op, target: float) -> float:
    """Steps taken (first logged step + 1) until the metric, smoothed over 5 logs (NaN skipped),
    meets `op target`; inf when it never does (the verdicts cap it at the run's budget)."""
    values = [v for _, v in points]
    for i, (step, _) in enumerate(points):
        if op(_mean(values[max(0, i - 4) : i + 1]), target):
            return float(step + 1)
    return math.inf


def summarize_run(metrics, probes, criteria=()) -> dict[str, float]:
    """One run's summary values. metrics: (step, name, value) records; probes: its scalar
    (idx -1) records as (step, probe, name, value). None stands for NaN. criteria: the solve
    criteria this run is judged by (see solve_criteria), each giving a `solve_name` value."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for step, name, value in metrics:
        curves.setdefault(name, []).append((int(step), math.nan if value is None else float(value)))
    out: dict[str, float] = {}
    solve_steps = [s for name in SOLVE_METRICS for s, _ in curves.get(name, [])]
    if solve_steps:  # the steps a run had: a run that never meets a criterion counts as this many
        out["budget"] = float(max(solve_steps) + 1)
    base = [v for _, v in curves.get("baseline", []) if not math.isnan(v)]
    for criterion in criteria:
        if criterion["metric"] in curves:
            target = float(criterion["value"]) * (
                max(base, default=math.nan) if criterion.get("of") == "baseline" else 1.0
            )
            points = sorted(curves[criterion["metric"]], key=lambda p: p[0])
            out[solve_name(criterion)] = _first_met(points, SOLVE_OPS[criterion["op"]], target)
    for name in sorted(curves):
        points = sorted(curves[name], key=lambda p: p[0])
        values = [v for _, v in points]
        if name in MAX_OF:
            kept = [v for v in values if not math.isnan(v)]
            out[name] = max(kept) if kept else math.nan
            continue
        out[f"final_{name}"] = _final(values)
        if name == "loss":  # area under the loss curve: how fast it fell, not only where it ended
            out["mean_loss"] = _mean(values)
            base = [v for _, v in curves.get("baseline", [])]
            baseline = max((v for v in base if not math.isnan(v)), default=math.nan)
            for f in SPEED_FRACTIONS:
                steps = [s for s, _ in points]
                out[f"steps_to_{f}x_baseline"] = _steps_to(steps, values, baseline * f) if base else math.nan
    if probes:
        at: dict[str, int] = {"init": min(p[0] for p in probes), "final": max(p[0] for p in probes)}
        for when, step in at.items():
            groups: dict[tuple[str, str], list[float]] = {}
            for s, probe, name, value in probes:
                if s == step:
                    groups.setdefault((probe, name), []).append(math.nan if value is None else float(value))
            for (probe, name), values in groups.items():
                out[f"{probe}.{name}@{when}"] = _mean(values)
    return out


def summarize(metrics: pd.DataFrame, probes: pd.DataFrame, criteria: dict | None = None) -> pd.DataFrame:
    """(run_key, name, value) for every run in the records: metrics (run_key, step, name,
    value) and probes (run_key, step, probe, name, idx, value; only idx == -1 is read).
    criteria: run key -> the solve criteria it is judged by."""
    by_run: dict[str, tuple[list, list]] = {}
    for k, step, name, value in zip(metrics["run_key"], metrics["step"], metrics["name"], metrics["value"]):
        by_run.setdefault(k, ([], []))[0].append((step, name, value))
    scalar = probes[probes["idx"] == SCALAR] if len(probes) else probes
    if len(scalar):
        for k, step, probe, name, value in zip(
            scalar["run_key"], scalar["step"], scalar["probe"], scalar["name"], scalar["value"]
        ):
            by_run.setdefault(k, ([], []))[1].append((step, probe, name, value))
    criteria = criteria or {}
    rows = [(k, n, v) for k, (m, p) in by_run.items() for n, v in summarize_run(m, p, criteria.get(k, ())).items()]
    import pandas as pd

    return pd.DataFrame(rows, columns=["run_key", "name", "value"])


def column_order(names) -> list[str]:
    """The run table's order: metrics by name (each metric's final value, then the loss's
    mean and steps_to_*), then probe values at init, then at final, each by probe and name."""
    speed = {f"steps_to_{f}x_baseline": 2 + i for i, f in enumerate(SPEED_FRACTIONS)}

    def key(name: str):
        for when, rank in (("@init", 1), ("@final", 2)):
            if name.endswith(when):
                probe, _, quantity = name.removesuffix(when).partition(".")
                return (rank, probe, quantity, 0)
        if name in speed:
            return (0, "loss", "", speed[name])
        if name == "mean_loss":
            return (0, "loss", "", 1)
        return (0, name.removeprefix("final_") if name not in MAX_OF else name, "", 0)

    return sorted(names, key=key)


def rows_for(results, criteria: dict | None = None) -> list[dict]:
    """run_summaries rows for RunResults about to be written; criteria: run key -> the solve
    criteria it is judged by."""
    rows, criteria = [], criteria or {}
    for r in results:
        metrics = [(m["step"], m["name"], m["value"]) for m in r.metrics]
        probes = [(p["step"], p["probe"], p["name"], p["value"]) for p in r.probes if p["idx"] == SCALAR]
        for name, value in summarize_run(metrics, probes, criteria.get(r.key, ())).items():
            rows.append({"run_key": r.key, "name": name, "value": None if math.isnan(value) else value})
    return rows


def to_rows(frame: pd.DataFrame) -> list[dict]:
    # NaN goes in as NULL on both databases (SQLite would turn it into NULL anyway)
    return [
        {"run_key": k, "name": n, "value": None if math.isnan(v) else float(v)}
        for k, n, v in zip(frame["run_key"], frame["name"], frame["value"].astype(float))
    ]


def write(conn: sa.Connection, table: sa.Table, keys: list[str], rows: list[dict]) -> None:
    """Replace the summaries of runs `keys` with `rows`."""
    for i in range(0, len(keys), 500):
        conn.execute(table.delete().where(table.c.run_key.in_(keys[i : i + 500])))
    if rows:
        bulk.insert_rows(conn, table, rows)


def fetch(conn: sa.Connection, query) -> list[tuple]:
    """The rows as the driver's tuples: wrapping each in SQLAlchemy's Row cost more than the
    fetch itself (about 20 us a row on the loaded machine), and a study reads millions."""
    result = conn.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def frame_of(rows, columns: list[str]) -> pd.DataFrame:
    """A frame from fetched rows, built column by column: pandas' from_records probes each
    SQLAlchemy Row for attributes it lacks, which costs 70 us a row."""
    cols = list(zip(*rows)) if rows else [()] * len(columns)
    import pandas as pd

    return pd.DataFrame({c: list(v) for c, v in zip(columns, cols)})


def records(conn: sa.Connection, table: sa.Table, keys: list[str], names=None, scalar_only=False) -> pd.DataFrame:
    """The raw records of runs `keys` (metrics or probes; only `names` when given)."""
    columns = [c.name for c in table.columns]
    frames = []
    for i in range(0, len(keys), 500):
        q = sa.select(table).where(table.c.run_key.in_(keys[i : i + 500]))
        if names is not None:
            q = q.where(table.c.name.in_(list(names)))
        if scalar_only:
            q = q.where(table.c.idx == SCALAR)
        frames.append(frame_of(fetch(conn, q), columns))
    frames = [f for f in frames if len(f)]
    import pandas as pd

    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def backfill(conn: sa.Connection, tables) -> None:
    """Summaries of every run that has records, from those records (migration m004)."""
    runs, table = tables["runs"], tables["run_summaries"]
    keys = [r[0] for r in conn.execute(sa.select(runs.c.key).order_by(runs.c.key))]
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        metrics = records(conn, tables["metrics"], chunk)
        probes = records(conn, tables["probes"], chunk, scalar_only=True)
        rows = to_rows(summarize(metrics, probes))
        if rows:
            bulk.insert_rows(conn, table, rows)
