"""Per-configuration statistics of the per-run summary values (run_summaries), kept by the store
as runs are written, as curve statistics are (ablab.core.lab.curves): the Results table reads one
row per configuration and name instead of grouping every run's values (2 to 5 s at 100,000 runs).

A row (study, point_hash, name) holds, over the study's current runs with a value of `name` (the
curve-derived ones, final_* and steps_to_*, from done runs only; see run_summaries.is_derived):
n values, n_finite of them finite, pos_inf / neg_inf infinite (a target never reached), and the
finite ones' sums of deviations from a shift (n_finite, shift, s1, s2: see curves.sums). A name
some current run has always has a row, even with n = 0: the table's names are the study's
summary columns. New runs are merged (one INSERT ... ON CONFLICT DO UPDATE); a run written again,
or a run joining or leaving a study's current runs, has its configurations recomputed from
run_summaries.
"""

from __future__ import annotations

import math
from collections import defaultdict

import sqlalchemy as sa

from ablab.core.lab import bulk, curves
from ablab.core.lab.run_summaries import is_derived

SUMS = ("n_finite", "shift", "s1", "s2")
COUNTS = ("n", "pos_inf", "neg_inf")


def counted(name: str, status: str) -> bool:
    """Whether a run of this status counts in the statistics of name (as the run table blanks
    the curve-derived values of runs that are not done)."""
    return status == "done" or not is_derived(name)


def stats_row(study: str, point: str, name: str, values: list[float]) -> dict:
    """One row for the values (None for a missing one) of `name` in one configuration."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    finite = [v for v in present if math.isfinite(v)]
    return {
        "study": study,
        "point_hash": curves.point_hash(point),
        "point": point,
        "name": name,
        "n": len(present),
        "pos_inf": sum(v == math.inf for v in present),
        "neg_inf": sum(v == -math.inf for v in present),
        **curves.sums(finite, SUMS),
    }


def _upsert(conn, table: sa.Table, rows: list[dict]) -> None:
    """Merge rows into the stored statistics (the sums as curves._upsert merges them)."""

    def merge(stmt):
        old, new = table.c, stmt.excluded
        merged = {c: old[c] + new[c] for c in COUNTS}
        n, shift, s1, s2 = SUMS
        d = new[shift] - old[shift]
        empty = old[n] == 0  # no finite value yet: its shift (0) is no value near the data; take the batch's
        merged[n] = old[n] + new[n]
        merged[shift] = sa.case((empty, new[shift]), else_=old[shift])
        merged[s1] = sa.case((empty, new[s1]), else_=old[s1] + new[s1] + new[n] * d)
        merged[s2] = sa.case((empty, new[s2]), else_=old[s2] + new[s2] + 2 * d * new[s1] + new[n] * d * d)
        return stmt.on_conflict_do_update(index_elements=["study", "point_hash", "name"], set_=merged)

    bulk.insert_rows(conn, table, rows, merge)


def add_runs(conn, table: sa.Table, runs: list[tuple[list[tuple[str, str]], str, dict[str, float]]]) -> None:
    """Merge new runs' summary values: (links (study, point), status, {name: value}) per run."""
    batch: dict[tuple[str, str, str], list] = defaultdict(list)
    for links, status, values in runs:
        for study, point in links:
            for name, value in values.items():
                batch[(study, point, name)].extend([value] if counted(name, status) else [])
    _upsert(conn, table, [stats_row(study, point, name, vs) for (study, point, name), vs in batch.items()])


def rebuild(conn, tables, study: str, points: list[str]) -> None:
    """Recompute the statistics of these configurations of a study from run_summaries."""
    stats, summaries, runs, links = (
        tables["summary_stats"],
        tables["run_summaries"],
        tables["runs"],
        tables["study_runs"],
    )
    for point in points:
        conn.execute(stats.delete().where(stats.c.study == study, stats.c.point_hash == curves.point_hash(point)))
        q = (
            sa.select(runs.c.status, summaries.c.name, summaries.c.value)
            .select_from(links)
            .join(runs, runs.c.key == links.c.run_key)
            .join(summaries, summaries.c.run_key == links.c.run_key)
            .where(links.c.study == study, links.c.point == point, curves.current(links))
        )
        values: dict[str, list] = defaultdict(list)
        for status, name, value in conn.execute(q):
            values[name].extend([value] if counted(name, status) else [])
        rows = [stats_row(study, point, name, vs) for name, vs in values.items()]
        if rows:
            bulk.insert_rows(conn, stats, rows)


def rebuild_study(conn, tables, study: str) -> None:
    links = tables["study_runs"]
    q = sa.select(links.c.point).where(links.c.study == study, curves.current(links)).distinct()
    conn.execute(tables["summary_stats"].delete().where(tables["summary_stats"].c.study == study))
    rebuild(conn, tables, study, sorted({r[0] for r in conn.execute(q)}))


def with_values(conn, tables, keys: list[str]) -> set[str]:
    """The runs among keys that have summary values stored (written before)."""
    t, out = tables["run_summaries"], set()
    for i in range(0, len(keys), 500):
        out |= {r[0] for r in conn.execute(sa.select(t.c.run_key).where(t.c.run_key.in_(keys[i : i + 500])).distinct())}
    return out
