"""Every metric and probe record of a study, streamed (`ablab results STUDY --format csv --raw`).

The runs are read a chunk at a time, each chunk's records with one query per table whose rows
are written as they arrive (a server-side cursor on PostgreSQL), so memory holds one chunk of
runs' records, whatever the size of the study.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import sqlalchemy as sa

from ablab.core.lab.results import label

CHUNK_RUNS = 200  # runs whose records one query reads
RECORD_COLUMNS = ["record", "step", "probe", "name", "layer", "idx", "value"]


def raw_rows(store, study: str, chunk: int = CHUNK_RUNS) -> Iterator[list]:
    """The header, then one row per record: run_key, seed, status, @AXIS..., record (metric or
    probe), step, probe, name, layer, idx, value (probe, layer and idx empty for a metric; value
    empty where it is missing)."""
    runs = store.run_rows(study)
    axes: dict[str, dict] = {}
    for r in runs:
        if r[5] not in axes:
            axes[r[5]] = {f"@{k}": label(v) for k, v in json.loads(r[5]).items()}
    names = list(dict.fromkeys(a for labels in axes.values() for a in labels))
    yield ["run_key", "seed", "status", *names, *RECORD_COLUMNS]
    first = {r[0]: [r[0], r[1], r[2], *(axes[r[5]].get(a, "") for a in names)] for r in runs}
    m, p = store.t["metrics"], store.t["probes"]
    keys = [r[0] for r in runs]
    with store.engine.connect() as conn:
        streaming = conn.execution_options(yield_per=1000)
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            q = sa.select(m.c.run_key, m.c.step, m.c.name, m.c.value).where(m.c.run_key.in_(part))
            for k, step, name, value in streaming.execute(q.order_by(m.c.run_key, m.c.step, m.c.name)):
                yield [*first[k], "metric", step, "", name, "", "", _cell(value)]
            q = sa.select(p.c.run_key, p.c.step, p.c.probe, p.c.name, p.c.layer, p.c.idx, p.c.value)
            q = q.where(p.c.run_key.in_(part)).order_by(p.c.run_key, p.c.step, p.c.probe, p.c.name, p.c.layer, p.c.idx)
            for k, step, probe, name, layer, idx, value in streaming.execute(q):
                yield [*first[k], "probe", step, probe, name, layer, idx, _cell(value)]


def _cell(value):
    """A missing value is an empty cell on both databases (SQLite stores NaN as NULL)."""
    return "" if value is None or value != value else value


def write_csv(store, study: str, out, chunk: int = CHUNK_RUNS) -> int:
    """Stream raw_rows to the text stream `out` as CSV; returns the number of records."""
    writer = csv.writer(out, lineterminator="\n")
    rows = raw_rows(store, study, chunk)
    writer.writerow(next(rows))
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n
