"""Curve statistics kept up to date by the store as runs finish: per study, configuration,
quantity and step, the count, mean, sum of squared deviations (m2), min and max over the
finished runs' finite values.

Reading a chart's curve is then one indexed query over (configurations x steps) rows, not a
scan of every run's records: a study of 100,000 runs draws as fast as one of 100.

Writes merge a batch of runs (an ensemble job's seeds) with the pairwise form of Welford's
update (Chan et al. 1979): for stored (n, mean, m2) and a batch (k, mean_b, m2_b), n' = n + k,
d = mean_b - mean, mean' = mean + d k / n', m2' = m2 + m2_b + d^2 n k / n'. The merge is one
INSERT ... ON CONFLICT DO UPDATE, atomic on SQLite and PostgreSQL alike. When a finished run is
replaced (a re-run) or a study's set of runs changes, the affected configurations are rebuilt
from the raw records instead.

A probe quantity is first averaged over layers within a run, so each run counts once.
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


def define(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "curve_stats",
        md,
        sa.Column("study", sa.String(200), sa.ForeignKey("studies.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("point_hash", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),  # metric | probe
        sa.Column("name", sa.String(130), primary_key=True),  # "loss", or "probe.quantity"
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("point", sa.Text, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("m2", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
    )


def run_values(metrics, probes) -> dict[tuple[str, str, int, int], float]:
    """(kind, name, idx, step) -> the run's one finite value: metrics as logged, probe records
    averaged over layers."""
    out: dict[tuple[str, str, int, int], float] = {}
    for m in metrics:
        v = m["value"]
        if v is not None and math.isfinite(v):
            out[("metric", m["name"], SCALAR, int(m["step"]))] = float(v)
    sums: dict[tuple, list[float]] = defaultdict(list)
    for p in probes:
        sums[("probe", f"{p['probe']}.{p['name']}", int(p["idx"]), int(p["step"]))].append(p["value"])
    for k, vs in sums.items():
        if all(v is not None and math.isfinite(v) for v in vs):
            out[k] = float(sum(vs) / len(vs))
    return out


def _upsert(conn, table: sa.Table, rows: list[dict]) -> None:
    """Merge rows of (n, mean, m2, min, max) into the stored statistics."""

    def merge(stmt):
        old, new = table.c, stmt.excluded
        n = old.n + new.n
        delta = new.mean - old.mean
        return stmt.on_conflict_do_update(
            index_elements=["study", "point_hash", "kind", "name", "idx", "step"],
            set_={
                # every right-hand side reads the row as it was before this update
                "n": n,
                "mean": old.mean + delta * new.n / n,
                "m2": old.m2 + new.m2 + delta * delta * old.n * new.n / n,
                "min": sa.case((new.min < old.min, new.min), else_=old.min),
                "max": sa.case((new.max > old.max, new.max), else_=old.max),
            },
        )

    bulk.insert_rows(conn, table, rows, merge)


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
    rows = []
    for (study, h, kind, name, idx, step), vs in batch.items():
        mean = math.fsum(vs) / len(vs)
        rows.append(
            {
                "study": study,
                "point_hash": h,
                "point": points[(study, h)],
                "kind": kind,
                "name": name,
                "idx": idx,
                "step": step,
                "n": len(vs),
                "mean": mean,
                "m2": math.fsum((v - mean) ** 2 for v in vs),
                "min": min(vs),
                "max": max(vs),
            }
        )
    _upsert(conn, table, rows)


def rebuild(conn, tables, study: str, point: str) -> None:
    """Recompute one configuration of one study from the raw records of its finished runs."""
    stats, runs, links = tables["curve_stats"], tables["runs"], tables["study_runs"]
    h = point_hash(point)
    conn.execute(stats.delete().where(stats.c.study == study).where(stats.c.point_hash == h))
    keys = [
        r[0]
        for r in conn.execute(
            sa.select(links.c.run_key)
            .join(runs, runs.c.key == links.c.run_key)
            .where(links.c.study == study, links.c.point == point, runs.c.status.in_(FINISHED))
        )
    ]
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
        for metrics, probes in per_run.values():
            for k, v in run_values(metrics, probes).items():
                acc[k].append(v)
    rows = []
    for (kind, name, idx, step), vs in acc.items():
        mean = math.fsum(vs) / len(vs)
        rows.append(
            {
                "study": study,
                "point_hash": h,
                "point": point,
                "kind": kind,
                "name": name,
                "idx": idx,
                "step": step,
                "n": len(vs),
                "mean": mean,
                "m2": math.fsum((v - mean) ** 2 for v in vs),
                "min": min(vs),
                "max": max(vs),
            }
        )
    if rows:
        bulk.insert_rows(conn, stats, rows)


def rebuild_study(conn, tables, study: str) -> None:
    links = tables["study_runs"]
    points = {r[0] for r in conn.execute(sa.select(links.c.point).where(links.c.study == study).distinct())}
    stats = tables["curve_stats"]
    conn.execute(stats.delete().where(stats.c.study == study))
    for point in sorted(points):
        rebuild(conn, tables, study, point)


def links_of(conn, tables, keys: list[str]) -> dict[str, list[tuple[str, str]]]:
    """run key -> the (study, point) pairs that link it."""
    links, out = tables["study_runs"], defaultdict(list)
    for i in range(0, len(keys), 500):
        q = sa.select(links.c.run_key, links.c.study, links.c.point).where(links.c.run_key.in_(keys[i : i + 500]))
        for r in conn.execute(q):
            out[r.run_key].append((r.study, r.point))
    return out


def decode_point(point: str) -> dict:
    return json.loads(point)
