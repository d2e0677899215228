"""The results store: SQLAlchemy Core over a URL (SQLite file by default, PostgreSQL for a team).

Every run's results are written in one transaction together with its final status, so a
killed worker leaves either a complete run or none. Several processes may write at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ablab.core.errors import AblabError
from ablab.core.lab import bulk, curves
from ablab.core.lab.migrations import MIGRATIONS
from ablab.core.lab.status import FINISHED, STATUSES


@dataclass(frozen=True)
class RunResult:
    """What a finished attempt of one run leaves in the store."""

    key: str
    status: str
    seconds: float
    metrics: list[dict] = field(default_factory=list)  # {step, name, value}
    probes: list[dict] = field(default_factory=list)  # {step, probe, name, layer, idx, value}
    diverged_step: int | None = None
    error: str | None = None


class StoreError(AblabError):
    """The store cannot be opened or used; the message names the URL."""


def default_store_url() -> str:
    """ABLAB_STORE, else a SQLite file under $XDG_DATA_HOME/ablab (~/.local/share/ablab)."""
    if os.environ.get("ABLAB_STORE"):
        return os.environ["ABLAB_STORE"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ablab"
    return f"sqlite:///{base / 'ablab.sqlite'}"


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA busy_timeout=60000")  # concurrent writers wait instead of failing
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Store:
    def __init__(self, url: str | None = None):
        self.url = url or default_store_url()
        try:
            if self.url.startswith("sqlite:///") and self.url != "sqlite:///:memory:":
                Path(self.url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(self.url, future=True, pool_pre_ping=True)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.migrate()
        except (sa.exc.SQLAlchemyError, OSError, ImportError, ValueError) as exc:
            raise StoreError(
                f"cannot open the results store {self.display_url}: {exc.__class__.__name__}: {exc}".split("\n")[0]
            ) from None
        md = sa.MetaData()
        md.reflect(self.engine)
        self.t = md.tables

    @property
    def display_url(self) -> str:
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return self.url

    def migrate(self) -> list[str]:
        """Apply the migrations this database has not seen; returns their names."""
        applied: list[str] = []
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":  # one migrator at a time
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS ablab_migrations "
                    "(name VARCHAR(200) PRIMARY KEY, applied_at FLOAT NOT NULL)"
                )
            )
            done = {r[0] for r in conn.execute(sa.text("SELECT name FROM ablab_migrations"))}
            for name, fn in MIGRATIONS:
                if name in done:
                    continue
                fn(conn)
                conn.execute(
                    sa.text("INSERT INTO ablab_migrations (name, applied_at) VALUES (:n, :t)"),
                    {"n": name, "t": time.time()},
                )
                applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT name FROM ablab_migrations ORDER BY name"))]

    # -- studies and runs ---------------------------------------------------------------
    def save_study(self, study, runs) -> None:
        """Record the study and its runs (as pending when new) in one transaction."""
        studies, runs_t, links = self.t["studies"], self.t["runs"], self.t["study_runs"]
        now = time.time()
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(studies.c.name).where(studies.c.name == study.name)).first()
            row = {"hash": study.hash, "spec": json.dumps(study.data), "source": study.source, "updated_at": now}
            if existing:
                conn.execute(studies.update().where(studies.c.name == study.name).values(**row))
            else:
                conn.execute(studies.insert().values(name=study.name, created_at=now, **row))
            have = (
                {r[0] for r in conn.execute(sa.select(runs_t.c.key).where(runs_t.c.key.in_([r.key for r in runs])))}
                if runs
                else set()
            )
            new = [
                {
                    "key": r.key,
                    "config_key": r.config_key,
                    "config": json.dumps(r.config, sort_keys=True),
                    "seed": r.seed,
                    "status": "pending",
                    "versions": "{}",
                    "attempts": 0,
                }
                for r in runs
                if r.key not in have
            ]
            if new:
                conn.execute(runs_t.insert(), new)
            linked = dict(
                conn.execute(sa.select(links.c.run_key, links.c.point).where(links.c.study == study.name)).all()
            )
            keep = {r.key for r in runs}
            gone = {k: point for k, point in linked.items() if k not in keep}
            conn.execute(links.delete().where(links.c.study == study.name).where(links.c.run_key.not_in(keep)))
            fresh = [
                {"study": study.name, "run_key": r.key, "point": json.dumps(r.point, sort_keys=True)}
                for r in runs
                if r.key not in linked
            ]
            if fresh:
                conn.execute(links.insert(), fresh)
            # a finished run that joins or leaves a configuration changes its curves
            moved = {**gone, **{f["run_key"]: f["point"] for f in fresh}}
            finished = self._finished(conn, list(moved))
            for point in sorted({moved[k] for k in finished}):
                curves.rebuild(conn, self.t, study.name, point)

    def _finished(self, conn, keys: list[str]) -> set[str]:
        runs_t, out = self.t["runs"], set()
        for i in range(0, len(keys), 500):
            q = sa.select(runs_t.c.key).where(runs_t.c.key.in_(keys[i : i + 500]), runs_t.c.status.in_(FINISHED))
            out |= {r[0] for r in conn.execute(q)}
        return out

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        runs_t = self.t["runs"]
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                out.update(
                    {
                        k: s
                        for k, s in conn.execute(
                            sa.select(runs_t.c.key, runs_t.c.status).where(runs_t.c.key.in_(chunk))
                        )
                    }
                )
        return out

    def mark_running(self, keys: list[str], versions: dict) -> None:
        runs_t = self.t["runs"]
        with self.engine.begin() as conn:
            conn.execute(
                runs_t.update()
                .where(runs_t.c.key.in_(keys))
                .values(
                    status="running",
                    started_at=time.time(),
                    versions=json.dumps(versions),
                    attempts=runs_t.c.attempts + 1,
                    error=None,
                )
            )

    def write_run(
        self,
        key: str,
        status: str,
        *,
        seconds: float,
        metrics: list[dict] = (),
        probes: list[dict] = (),
        diverged_step: int | None = None,
        error: str | None = None,
    ) -> None:
        """A run's final status and all its results, in one transaction; old partial rows of
        the same run (from an interrupted attempt) are replaced, never duplicated."""
        self.write_runs([RunResult(key, status, seconds, list(metrics), list(probes), diverged_step, error)])

    def write_runs(self, results: list[RunResult]) -> None:
        """Several runs' results in ONE transaction (an ensemble job's seeds): one commit and
        one batch of inserts instead of one per run, which is what limits a store's write rate."""
        for r in results:
            assert r.status in STATUSES
        runs_t, metrics_t, probes_t = self.t["runs"], self.t["metrics"], self.t["probes"]
        keys = [r.key for r in results]
        with self.engine.begin() as conn:
            before = dict(conn.execute(sa.select(runs_t.c.key, runs_t.c.status).where(runs_t.c.key.in_(keys))).all())
            conn.execute(metrics_t.delete().where(metrics_t.c.run_key.in_(keys)))
            conn.execute(probes_t.delete().where(probes_t.c.run_key.in_(keys)))
            metric_rows = [{"run_key": r.key, **m} for r in results for m in r.metrics]
            probe_rows = [{"run_key": r.key, **p} for r in results for p in r.probes]
            if metric_rows:
                bulk.insert_rows(conn, metrics_t, metric_rows)
            if probe_rows:
                bulk.insert_rows(conn, probes_t, probe_rows)
            now = time.time()
            conn.execute(
                runs_t.update()
                .where(runs_t.c.key == sa.bindparam("k"))
                .values(
                    status=sa.bindparam("status"),
                    finished_at=now,
                    seconds=sa.bindparam("seconds"),
                    diverged_step=sa.bindparam("diverged_step"),
                    error=sa.bindparam("error"),
                ),
                [
                    {
                        "k": r.key,
                        "status": r.status,
                        "seconds": r.seconds,
                        "diverged_step": r.diverged_step,
                        "error": r.error,
                    }
                    for r in results
                ],
            )
            links = curves.links_of(conn, self.t, keys)
            rebuild: set[tuple[str, str]] = set()
            merges = []
            for r in results:
                if before.get(r.key) in FINISHED:  # a re-run replaces values already merged: recompute
                    rebuild.update(links.get(r.key, []))
                elif r.status in FINISHED:
                    merges.append((links.get(r.key, []), curves.run_values(r.metrics, r.probes)))
            for study, point in sorted(rebuild):
                curves.rebuild(conn, self.t, study, point)
            curves.add_runs(conn, self.t["curve_stats"], [m for m in merges if not rebuild.intersection(m[0])])

    # -- reading --------------------------------------------------------------------------
    def studies(self) -> list[dict[str, Any]]:
        studies, runs_t, links = self.t["studies"], self.t["runs"], self.t["study_runs"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(studies.c.name, studies.c.hash, studies.c.source, studies.c.updated_at).order_by(
                    studies.c.name
                )
            ).all()
            counts = conn.execute(
                sa.select(links.c.study, runs_t.c.status, sa.func.count())
                .join(runs_t, runs_t.c.key == links.c.run_key)
                .group_by(links.c.study, runs_t.c.status)
            ).all()
        by_study: dict[str, dict[str, int]] = {}
        for study, status, n in counts:
            by_study.setdefault(study, {})[status] = n
        return [
            {
                "name": r.name,
                "hash": r.hash,
                "source": r.source,
                "updated_at": r.updated_at,
                "counts": by_study.get(r.name, {}),
            }
            for r in rows
        ]

    def study_spec(self, name: str) -> dict | None:
        studies = self.t["studies"]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(studies.c.spec).where(studies.c.name == name)).first()
        return json.loads(row[0]) if row else None

    def runs_of(self, study: str) -> list[dict[str, Any]]:
        runs_t, links = self.t["runs"], self.t["study_runs"]
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(runs_t, links.c.point)
                    .join(links, links.c.run_key == runs_t.c.key)
                    .where(links.c.study == study)
                    .order_by(runs_t.c.config_key, runs_t.c.seed)
                )
                .mappings()
                .all()
            )
        return [
            {
                **dict(r),
                "config": json.loads(r["config"]),
                "point": json.loads(r["point"]),
                "versions": json.loads(r["versions"] or "{}"),
            }
            for r in rows
        ]

    def metrics_of(self, keys: list[str]):
        return self._frame("metrics", keys)

    def probes_of(self, keys: list[str]):
        return self._frame("probes", keys)

    def _frame(self, table: str, keys: list[str]):
        import pandas as pd

        t = self.t[table]
        columns = [c.name for c in t.columns]
        frames = []
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                q = sa.select(t).where(t.c.run_key.in_(keys[i : i + 500]))
                rows = conn.execute(q).fetchall()  # tuples: far cheaper than dict rows
                frames.append(pd.DataFrame.from_records(rows, columns=columns))
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=[c.name for c in t.columns])
        return pd.concat(frames, ignore_index=True)

    def state_token(self) -> tuple:
        """Changes whenever results change: a cache key for readers such as the dashboard."""
        runs_t, reviews = self.t["runs"], self.t["reviews"]
        with self.engine.connect() as conn:
            a = conn.execute(
                sa.select(sa.func.count(), sa.func.max(runs_t.c.finished_at), sa.func.max(runs_t.c.started_at))
            ).first()
            b = conn.execute(sa.select(sa.func.count(), sa.func.max(reviews.c.created_at))).first()
        return tuple(a) + tuple(b)

    # -- reviews -------------------------------------------------------------------------
    def add_review(self, study: str, author: str, note: str, verdict: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t["reviews"]
                .insert()
                .values(study=study, author=author, note=note, verdict=verdict, created_at=time.time())
            )

    def reviews_of(self, study: str) -> list[dict[str, Any]]:
        t = self.t["reviews"]
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(sa.select(t).where(t.c.study == study).order_by(t.c.created_at)).mappings()
            ]
