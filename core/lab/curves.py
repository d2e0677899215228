"""Curve statistics kept up to date by the store as runs finish: per study, configuration,
quantity and step, the count, the sums of deviations from a shift, min and max over the
finished runs' finite values.

Reading a chart's curve is then one indexed query over (configurations x steps) rows, not a
scan of every run's records: a study of 100,000 runs draws as fast as one of 100.

Each row keeps n, a shift K (a value near the data: the mean of the first batch), s1 = sum(x - K)
and s2 = sum((x - K)^2); then mean = K + s1 / n and m2 = s2 - s1^2 / n. The deviations from K
are small, so no digits are lost when the spread is tiny beside the mean (a loss of 1000 +- 1e-3
keeps its variance to 1e-15, where Welford's running mean kept it to 1e-9). Merging a batch
(k, K_b, s1_b, s2_b) into a row (n, K, s1, s2) with d = K_b - K gives s1 += s1_b + k d and
s2 += s2_b + 2 d s1_b + k d^2: one INSERT ... ON CONFLICT DO UPDATE, atomic on SQLite and
PostgreSQL alike. When a finished run is replaced (a re-run) or a study's set of runs changes,
the affected configurations are rebuilt from the raw records instead.

Each row keeps the same four sums for log10 of the positive values (n_pos, lshift, l1, l2), so
a curve drawn on a log axis gets its mean and band in log space (a geometric mean, a band
symmetric on the axis), not the log of a linear mean.

A probe quantity is first averaged over layers within a run, so each run counts once. A diverged
run counts up to the step before it diverged: its records from there on are overflowed numbers
that would flatten every other curve of the chart.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict

import sqlalchemy as sa

from ablab.core.lab import bulk
from ablab.core.lab.status import FINISHED

SCALAR = -1  # idx of a scalar record; idx >= 0 indexes a profile (e.g. the lag)


def point_hash(point_json: str) -> str:
    return hashlib.sha256(point_json.encode()).hexdigest()[:16]


def run_values(metrics, probes, diverged_step: int | None = None) -> dict[tuple[str, str, int, int], float]:
    """(kind, name, idx, step) -> the run's one finite value: metrics as logged, probe records
    averaged over layers; for a diverged run, only steps before diverged_step."""
    end = math.inf if diverged_step is None else diverged_step
    out: dict[tuple[str, str, int, int], float] = {}
    for m in metrics:
        v = m["value"]
        if v is not None and math.isfinite(v) and m["step"] < end:
            out[("metric", m["name"], SCALAR, int(m["step"]))] = float(v)
    sums: dict[tuple, list[float]] = defaultdict(list)
    for p in probes:
        if p["step"] < end:
            sums[("probe", f"{p['probe']}.{p['name']}", int(p["idx"]), int(p["step"]))].append(p["value"])
    for k, vs in sums.items():
        if all(v is not None and math.isfinite(v) for v in vs):
            out[k] = float(sum(vs) / len(vs))
    return out


# (count, shift, first sum, second sum) columns of the values and of log10 of the positive values
SUMS = (("n", "shift", "s1", "s2"), ("n_pos", "lshift", "l1", "l2"))


def sums(values: list[float], names: tuple[str, str, str, str] = SUMS[0]) -> dict[str, float]:
    """n, a shift (their mean) and the sums of deviations from it, under the given column names."""
    n, shift, s1, s2 = names
    k = math.fsum(values) / len(values) if values else 0.0
    return {
        n: len(values),
        shift: k,
        s1: math.fsum(v - k for v in values),
        s2: math.fsum((v - k) ** 2 for v in values),
    }


def _upsert(conn, table: sa.Table, rows: list[dict]) -> None:
    """Merge rows of (n, shift, s1, s2, min, max) into the stored statistics."""

    def merge(stmt):
        old, new = table.c, stmt.excluded
        merged = {
            "min": sa.case((new.min < old.min, new.min), else_=old.min),
            "max": sa.case((new.max > old.max, new.max), else_=old.max),
        }
        for n, shift, s1, s2 in SUMS:  # every right-hand side reads the row as it was before this update
            d = new[shift] - old[shift]  # re-express the batch's sums around the stored shift
            merged[n] = old[n] + new[n]
            merged[s1] = old[s1] + new[s1] + new[n] * d
            merged[s2] = old[s2] + new[s2] + 2 * d * new[s1] + new[n] * d * d
        return stmt.on_conflict_do_update(
            index_elements=["study", "point_hash", "kind", "name", "idx", "step"], set_=merged
        )

    bulk.insert_rows(conn, table, rows, merge)


def stats_row(study: str, point: str, key, values: list[float]) -> dict:
    """One curve_stats row for the values of (kind, name, idx, step) `key`."""
    kind, name, idx, step = key
    return {
        "study": study,
        "point_hash": point_hash(point),
        "point": point,
        "kind": kind,
        "name": name,
        "idx": idx,
        "step": step,
        **sums(values),
        **sums([math.log10(v) for v in values if v > 0], SUMS[1]),
        "min": min(values),
        "max": max(values),
    }


def add_runs(conn, table: sa.Table, runs: list[tuple[list[tuple[str, str]], dict]]) -> None:
    """Merge finished runs' values, each into every (study, configuration) that links it.

    runs: (links, values) per run. Values of one key from several runs of this batch are merged
    here first (Chan et al.'s pairwise form), so one upsert row carries each key once."""
    batch: dict[tuple, list[float]] = defaultdict(list)
    points: dict[tuple[str, str], str] = {}
    for links, values in runs:
        for study, point in links:
            h = point_hash(point)
            points[(study, h)] = point
            for (kind, name, idx, step), v in values.items():
                batch[(study, h, kind, name, idx, step)].append(v)
    rows = [stats_row(study, points[(study, h)], key, vs) for (study, h, *key), vs in batch.items()]
    _upsert(conn, table, rows)


def current(links: sa.Table):
    """The condition on study_runs rows of a study's current runs: stale ones (made by an older
    version of a plugin's code) stay linked but never count (before migration m003: all)."""
    return links.c.stale == 0 if "stale" in links.c else sa.true()


def rebuild(conn, tables, study: str, point: str) -> None:
    """Recompute one configuration of one study from the raw records of its finished runs."""
    stats, runs, links = tables["curve_stats"], tables["runs"], tables["study_runs"]
    h = point_hash(point)
    conn.execute(stats.delete().where(stats.c.study == study).where(stats.c.point_hash == h))
    diverged_at = dict(
        conn.execute(
            sa.select(links.c.run_key, runs.c.diverged_step)
            .join(runs, runs.c.key == links.c.run_key)
            .where(links.c.study == study, links.c.point == point, runs.c.status.in_(FINISHED), current(links))
        ).all()
    )
    keys = list(diverged_at)
    acc: dict[tuple, list[float]] = defaultdict(list)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        per_run: dict[str, tuple[list, list]] = {k: ([], []) for k in chunk}
        m, p = tables["metrics"], tables["probes"]
        for row in conn.execute(sa.select(m.c.run_key, m.c.step, m.c.name, m.c.value).where(m.c.run_key.in_(chunk))):
            per_run[row.run_key][0].append({"step": row.step, "name": row.name, "value": row.value})
        q = sa.select(p.c.run_key, p.c.step, p.c.probe, p.c.name, p.c.idx, p.c.value).where(p.c.run_key.in_(chunk))
        for row in conn.execute(q):
            per_run[row.run_key][1].append(
                {"step": row.step, "probe": row.probe, "name": row.name, "idx": row.idx, "value": row.value}
            )
        for key, (metrics, probes) in per_run.items():
            for k, v in run_values(metrics, probes, diverged_at[key]).items():
                acc[k].append(v)
    rows = [stats_row(study, point, key, vs) for key, vs in acc.items()]
    if rows:
        bulk.insert_rows(conn, stats, rows)


def rebuild_study(conn, tables, study: str) -> None:
    links = tables["study_runs"]
    q = sa.select(links.c.point).where(links.c.study == study, current(links)).distinct()
    points = {r[0] for r in conn.execute(q)}
    stats = tables["curve_stats"]
    conn.execute(stats.delete().where(stats.c.study == study))
    for point in sorted(points):
        rebuild(conn, tables, study, point)


def links_of(conn, tables, keys: list[str]) -> dict[str, list[tuple[str, str]]]:
    """run key -> the (study, point) pairs that link it."""
    links, out = tables["study_runs"], defaultdict(list)
    for i in range(0, len(keys), 500):
        q = sa.select(links.c.run_key, links.c.study, links.c.point).where(
            links.c.run_key.in_(keys[i : i + 500]), current(links)
        )
        for r in conn.execute(q):
            out[r.run_key].append((r.study, r.point))
    return out


def decode_point(point: str) -> dict:
    return json.loads(point)
