"""The results store: SQLAlchemy Core over a URL (SQLite file by default, PostgreSQL for a team).

Every run's results are written in one transaction together with its final status, so a
killed worker leaves either a complete run or none. Several processes may write at once.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from ablab.core.errors import AblabError, ConfigError
from ablab.core.lab import bulk, curves, run_summaries, solve_criteria, summary_stats
from ablab.core.lab.leases import Leases
from ablab.core.lab.migrations import MIGRATIONS
from ablab.core.lab.status import FINISHED, STATUSES

SCHEMA_TABLES = (
    "studies",
    "runs",
    "study_runs",
    "metrics",
    "probes",
    "reviews",
    "curve_stats",
    "run_summaries",
    "summary_stats",
)


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


SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_or_new(path: Path) -> bool:
    """True for a SQLite file, an empty file or no file yet (SQLite makes a new database of
    both); False for a folder or a file of anything else. Reads 16 bytes, writes nothing."""
    if not path.exists():
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    return head in (b"", SQLITE_HEADER)


class StoreError(AblabError):
    """The store cannot be opened or used; the message names the URL."""


class NoStoreError(StoreError):
    """A read-only command named a SQLite file that does not exist (nothing is created)."""


def ablab_version() -> str:
    try:
        return importlib.metadata.version("ablab")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@functools.cache
def expected_columns() -> dict[str, set[str]]:
    """The columns of every table after all migrations, found by migrating an empty
    in-memory database: one source of truth, the migrations themselves."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        for _, fn in MIGRATIONS:
            fn(conn)
    md = sa.MetaData()
    md.reflect(engine)
    return {name: {c.name for c in t.columns} for name, t in md.tables.items()}


def default_store_url() -> str:
    """ABLAB_STORE, else a SQLite file under $XDG_DATA_HOME/ablab (~/.local/share/ablab)."""
    if os.environ.get("ABLAB_STORE"):
        return os.environ["ABLAB_STORE"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ablab"
    return f"sqlite:///{base / 'ablab.sqlite'}"


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=60000")  # first: concurrent openers wait instead of failing
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_readonly_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _decoded(row) -> dict[str, Any]:
    """A run row with its point as read from study_runs, JSON columns decoded."""
    return {
        **dict(row),
        "config": json.loads(row["config"]),
        "point": json.loads(row["point"]),
        "versions": json.loads(row["versions"] or "{}"),
    }


class Store(Leases):
    """write=False (the read-only commands): a SQLite file this user cannot write is opened
    read-only, and nothing is written unless the schema needs migrating."""

    readonly = False

    def __init__(self, url: str | None = None, *, write: bool = True):
        self.url = url or default_store_url()
        self.readonly = False
        if "://" not in self.url:  # a plain path: SQLAlchemy's own message does not say what to write
            raise StoreError(
                f"the results store must be a URL, got {self.url[:200]!r}: for a SQLite file write "
                f"sqlite:///{Path(self.url).expanduser().absolute()}, for PostgreSQL postgresql+psycopg://USER@HOST/DB"
            )
        try:
            path = self._sqlite_path()
            if path is not None and not write and not path.exists():
                raise NoStoreError(f"no results store at {path} (check the path: `ablab run` creates a store)")
            if path is not None and not _sqlite_or_new(path):  # refused before SQLite opens (or writes) it
                raise StoreError(
                    f"{path} is not a SQLite database (a text file? a folder?); give --store a .sqlite file"
                )
            if path is not None and not write and path.exists() and not _writable(path):
                self.readonly = True
                # a folder we cannot write holds no -shm file for WAL readers: read it as immutable
                flags = "mode=ro" if os.access(path.parent, os.W_OK) else "mode=ro&immutable=1"
                self.engine = sa.create_engine(f"sqlite:///file:{quote(str(path))}?{flags}&uri=true", future=True)
                sa.event.listen(self.engine, "connect", _sqlite_readonly_pragmas)
            else:
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                self.engine = sa.create_engine(self.url, future=True, pool_pre_ping=True)
                if self.engine.dialect.name == "sqlite":
                    sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.migrate()
            md = sa.MetaData()
            md.reflect(self.engine)
        except ImportError as exc:  # the database's driver: psycopg comes with the cluster extra
            raise StoreError(
                f"cannot open the results store {self.display_url}: its driver is not installed ({exc}); "
                "for PostgreSQL: pip install 'ablab[cluster]'"
            ) from None
        except (sa.exc.SQLAlchemyError, OSError, ValueError) as exc:
            raise StoreError(
                f"cannot open the results store {self.display_url}: {exc.__class__.__name__}: {exc}".split("\n")[0]
            ) from None
        self.t = md.tables
        self._check_columns()

    def _sqlite_path(self) -> Path | None:
        if self.url.startswith("sqlite:///") and self.url != "sqlite:///:memory:" and "?" not in self.url:
            return Path(self.url.removeprefix("sqlite:///")).expanduser()
        return None

    @property
    def display_url(self) -> str:
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return self.url

    # -- schema ----------------------------------------------------------------------------
    def _lock(self, conn: sa.Connection) -> None:
        """Serialise writers that must read-then-write: SQLite takes its write lock now
        (BEGIN IMMEDIATE, waiting up to busy_timeout), PostgreSQL an advisory lock."""
        if self.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif self.engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))

    def _pending(self, conn: sa.Connection) -> list[str]:
        """Migrations this store lacks. Refuses a foreign database and a newer store."""
        tables = set(sa.inspect(conn).get_table_names())
        if "ablab_migrations" not in tables:
            foreign = sorted(tables & set(SCHEMA_TABLES))
            if foreign:
                raise StoreError(
                    f"{self.display_url} is not an ablab store: it has a table {foreign[0]!r} "
                    "but no ablab_migrations table; give another --store"
                )
            return [name for name, _ in MIGRATIONS]
        done = {r[0] for r in conn.execute(sa.text("SELECT name FROM ablab_migrations"))}
        known = [name for name, _ in MIGRATIONS]
        unknown = sorted(done - set(known))
        if unknown:
            theirs = "a newer ablab"
            if "ablab_meta" in tables:
                row = conn.execute(sa.text("SELECT value FROM ablab_meta WHERE key = 'ablab_version'")).first()
                theirs = f"ablab {row[0]}" if row else theirs
            raise StoreError(
                f"the results store {self.display_url} was migrated by {theirs} (schema {len(done)}, up to "
                f"{unknown[-1]}), newer than this ablab {ablab_version()} (schema {len(known)}); upgrade ablab"
            )
        return [name for name in known if name not in done]

    def migrate(self) -> list[str]:
        """Apply the migrations this database has not seen; returns their names. Safe when
        several processes open a new store at once: one migrates under the lock, the others
        then find nothing to do."""
        with self.engine.connect() as conn:  # a look without the lock: nothing to do is the common case
            if not self._pending(conn):
                return []
        if self.readonly:
            raise StoreError(
                f"the results store {self.display_url} is read-only and older than this ablab; "
                "open it once with write access (ablab run) to migrate it"
            )
        applied: list[str] = []
        with self.engine.begin() as conn:
            self._lock(conn)
            pending = self._pending(conn)
            if "m001_initial" in pending:
                conn.execute(
                    sa.text(
                        "CREATE TABLE IF NOT EXISTS ablab_migrations "
                        "(name VARCHAR(200) PRIMARY KEY, applied_at FLOAT NOT NULL)"
                    )
                )
            for name, fn in MIGRATIONS:
                if name not in pending:
                    continue
                fn(conn)
                conn.execute(
                    sa.text("INSERT INTO ablab_migrations (name, applied_at) VALUES (:n, :t)"),
                    {"n": name, "t": time.time()},
                )
                applied.append(name)
            if applied and "ablab_meta" in sa.inspect(conn).get_table_names():
                conn.execute(sa.text("DELETE FROM ablab_meta WHERE key = 'ablab_version'"))
                conn.execute(
                    sa.text("INSERT INTO ablab_meta (key, value) VALUES ('ablab_version', :v)"), {"v": ablab_version()}
                )
        return applied

    def _check_columns(self) -> None:
        """Every table has the columns this ablab reads: otherwise the store is damaged or
        was made by something else, and every command says so in one line."""
        for table, columns in expected_columns().items():
            have = {c.name for c in self.t[table].columns} if table in self.t else set()
            missing = sorted(columns - have)
            if missing:
                raise StoreError(
                    f"the results store {self.display_url} is damaged or not ablab's: table {table!r} "
                    f"lacks {', '.join(missing[:3])}"
                )

    def check_integrity(self) -> None:
        """SQLite's quick_check before writing: never write into a damaged file."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as conn:
            result = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check")]
        if result != ["ok"]:
            raise StoreError(f"the results store {self.display_url} is damaged: {result[0][:120]}")

    def applied_migrations(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT name FROM ablab_migrations ORDER BY name"))]

    # -- studies and runs ---------------------------------------------------------------
    def _insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
        """INSERT ... ON CONFLICT DO NOTHING: a row another process inserted first is kept."""
        if not rows:
            return
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - ablab supports SQLite and PostgreSQL
            raise StoreError(f"unsupported database {self.engine.dialect.name}")
        conn.execute(insert(table).on_conflict_do_nothing(), rows)

    def save_study(self, study, runs) -> None:
        """Record the study and its runs (as pending when new) in one transaction. Two
        processes saving the same new study at once both succeed. Runs the study no longer
        makes (e.g. after a plugin's code changed) stay linked, marked stale."""
        from ablab.core.lab.names import check_study_name

        check_study_name(study.name)
        studies, runs_t, links = self.t["studies"], self.t["runs"], self.t["study_runs"]
        now = time.time()
        keys = [r.key for r in runs]
        with self.engine.begin() as conn:
            row = {"hash": study.hash, "spec": json.dumps(study.data), "source": study.source, "updated_at": now}
            self._insert_new(conn, studies, [{"name": study.name, "created_at": now, **row}])
            conn.execute(studies.update().where(studies.c.name == study.name).values(**row))
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
            ]
            for i in range(0, len(new), 500):
                self._insert_new(conn, runs_t, new[i : i + 500])
            linked = {
                k: (point, stale)
                for k, point, stale in conn.execute(
                    sa.select(links.c.run_key, links.c.point, links.c.stale).where(links.c.study == study.name)
                )
            }
            fresh = [
                {"study": study.name, "run_key": r.key, "point": json.dumps(r.point, sort_keys=True)} for r in runs
            ]
            for i in range(0, len(fresh), 500):
                self._insert_new(conn, links, fresh[i : i + 500])
            mine = links.c.study == study.name
            conn.execute(links.update().where(mine).where(links.c.run_key.not_in(keys)).values(stale=1))
            conn.execute(links.update().where(mine).where(links.c.run_key.in_(keys)).values(stale=0))
            # a finished run that joins or leaves the study's current runs changes its curves
            keep = set(keys)
            gone = {k: point for k, (point, stale) in linked.items() if k not in keep and not stale}
            joined = {f["run_key"]: f["point"] for f in fresh if linked.get(f["run_key"], (None, 1))[1]}
            moved = {**gone, **joined}
            finished = self._finished(conn, list(moved))
            for point in sorted({moved[k] for k in finished}):
                curves.rebuild(conn, self.t, study.name, point)
            lacking = []
            if study.solve is not None:  # its finished runs (shared, or a criterion changed) get its steps
                lacking = solve_criteria.lacking(conn, self.t, study.name, study.solve)
                solve_criteria.add_missing(conn, self.t, {k: [study.solve] for k in lacking})
            # configurations whose summary statistics changed: runs that joined or left this study,
            # and every configuration (of any study) holding a run that just got new solve steps
            redo = {(study.name, moved[k]) for k in summary_stats.with_values(conn, self.t, list(moved))}
            redo |= {pair for pairs in curves.links_of(conn, self.t, lacking).values() for pair in pairs}
            for name in sorted({name for name, _ in redo}):
                summary_stats.rebuild(conn, self.t, name, sorted(p for n, p in redo if n == name))

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

    def mark_running(self, keys: list[str], versions: dict, owner: str | None = None) -> None:
        runs_t = self.t["runs"]
        q = runs_t.update().where(runs_t.c.key.in_(keys))
        if owner is not None:
            q = q.where(runs_t.c.owner == owner)
        with self.engine.begin() as conn:
            conn.execute(
                q.values(
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
        owner: str | None = None,
    ) -> bool:
        """A run's final status and all its results, in one transaction; old partial rows of
        the same run (from an interrupted attempt) are replaced, never duplicated. With an
        owner, nothing is written unless owner still holds the run's lease; returns whether
        it was written."""
        result = RunResult(key, status, seconds, list(metrics), list(probes), diverged_step, error)
        return bool(self.write_runs([result], owner=owner))

    def write_runs(self, results: list[RunResult], owner: str | None = None) -> list[str]:
        """Several runs' results in ONE transaction (an ensemble job's seeds): one commit and
        one batch of inserts instead of one per run, which is what limits a store's write rate.
        With an owner, only the runs it still holds a lease on are written (a run whose lease
        expired and was taken belongs to its new owner); returns the keys written."""
        for r in results:
            assert r.status in STATUSES
        runs_t, metrics_t, probes_t = self.t["runs"], self.t["metrics"], self.t["probes"]
        with self.engine.begin() as conn:
            if owner is not None:
                results = self._still_held(conn, results, owner)
                if not results:
                    return []
            keys = [r.key for r in results]
            before = dict(conn.execute(sa.select(runs_t.c.key, runs_t.c.status).where(runs_t.c.key.in_(keys))).all())
            summarised = summary_stats.with_values(conn, self.t, keys)  # written before: recompute, never merge twice
            recorded = {  # records written before, merged if finished then (`--rerun` claims it back as running)
                r[0]
                for t in (metrics_t, probes_t)
                for r in conn.execute(sa.select(t.c.run_key).where(t.c.run_key.in_(keys)).distinct())
            }
            conn.execute(metrics_t.delete().where(metrics_t.c.run_key.in_(keys)))
            conn.execute(probes_t.delete().where(probes_t.c.run_key.in_(keys)))
            metric_rows = [{"run_key": r.key, **m} for r in results for m in r.metrics]
            probe_rows = [{"run_key": r.key, **p} for r in results for p in r.probes]
            if metric_rows:
                bulk.insert_rows(conn, metrics_t, metric_rows)
            if probe_rows:
                bulk.insert_rows(conn, probes_t, probe_rows)
            links = curves.links_of(conn, self.t, keys)
            criteria = solve_criteria.criteria_of(conn, self.t, keys, links=links)
            summary_rows = run_summaries.rows_for(results, criteria)
            run_summaries.write(conn, self.t["run_summaries"], keys, summary_rows)
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
                    owner=None,
                    lease_until=None,
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
            rebuild: set[tuple[str, str]] = set()
            merges = []
            for r in results:
                if before.get(r.key) in FINISHED or r.key in recorded:  # values already merged: recompute
                    rebuild.update(links.get(r.key, []))
                elif r.status in FINISHED:
                    merges.append((links.get(r.key, []), curves.run_values(r.metrics, r.probes, r.diverged_step)))
            for study, point in sorted(rebuild):
                curves.rebuild(conn, self.t, study, point)
            curves.add_runs(conn, self.t["curve_stats"], [m for m in merges if not rebuild.intersection(m[0])])
            self._update_summary_stats(conn, results, summary_rows, links, summarised)
        return keys

    def _update_summary_stats(self, conn, results, summary_rows, links, summarised: set[str]) -> None:
        """Merge new runs' summary values into summary_stats; recompute the configurations of runs
        whose values were there before (a re-run)."""
        by_run: dict[str, dict[str, float | None]] = {}
        for row in summary_rows:
            by_run.setdefault(row["run_key"], {})[row["name"]] = row["value"]
        redo: dict[str, set[str]] = {}
        for key in summarised:
            for study, point in links.get(key, []):
                redo.setdefault(study, set()).add(point)
        merges = [  # into the configurations not recomputed (those read the run's values from run_summaries)
            ([(s, p) for s, p in links.get(r.key, []) if p not in redo.get(s, ())], r.status, by_run.get(r.key, {}))
            for r in results
            if r.key not in summarised
        ]
        summary_stats.add_runs(conn, self.t["summary_stats"], merges)
        for study, points in sorted(redo.items()):
            summary_stats.rebuild(conn, self.t, study, sorted(points))

    def _still_held(self, conn: sa.Connection, results: list[RunResult], owner: str) -> list[RunResult]:
        """The results whose runs owner still holds, locked until this transaction ends so no
        one can claim them in between (SQLite: the write lock; PostgreSQL: row locks)."""
        runs_t = self.t["runs"]
        q = sa.select(runs_t.c.key).where(runs_t.c.key.in_([r.key for r in results]), runs_t.c.owner == owner)
        if self.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            q = q.with_for_update()
        held = {r[0] for r in conn.execute(q)}
        return [r for r in results if r.key in held]

    # -- reading --------------------------------------------------------------------------
    def study_names(self) -> list[str]:
        """The stored studies' names, sorted: what a picker needs, without counting any runs."""
        studies = self.t["studies"]
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(studies.c.name).order_by(studies.c.name))]

    def studies(self) -> list[dict[str, Any]]:
        """Every study with its current runs counted by status, and its stale runs (runs it no
        longer makes: its file changed, or a plugin's code did) counted apart."""
        studies, runs_t, links = self.t["studies"], self.t["runs"], self.t["study_runs"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(studies.c.name, studies.c.hash, studies.c.source, studies.c.updated_at).order_by(
                    studies.c.name
                )
            ).all()
            counts = conn.execute(
                sa.select(links.c.study, runs_t.c.status, links.c.stale, sa.func.count())
                .join(runs_t, runs_t.c.key == links.c.run_key)
                .group_by(links.c.study, runs_t.c.status, links.c.stale)
            ).all()
        by_study: dict[str, dict[str, int]] = {}
        stale: dict[str, int] = {}
        for study, status, is_stale, n in counts:
            if is_stale:
                stale[study] = stale.get(study, 0) + n
            else:
                by_study.setdefault(study, {})[status] = n
        return [
            {
                "name": r.name,
                "hash": r.hash,
                "source": r.source,
                "updated_at": r.updated_at,
                "counts": by_study.get(r.name, {}),
                "stale": stale.get(r.name, 0),
            }
            for r in rows
        ]

    def study_spec(self, name: str) -> dict | None:
        studies = self.t["studies"]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(studies.c.spec).where(studies.c.name == name)).first()
        return json.loads(row[0]) if row else None

    def runs_of(self, study: str, *, stale: bool = False) -> list[dict[str, Any]]:
        """The study's current runs; stale=True: the runs it no longer makes (kept for reference)."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(runs_t, links.c.point)
                    .join(links, links.c.run_key == runs_t.c.key)
                    .where(links.c.study == study)
                    .where(links.c.stale == (1 if stale else 0))
                    .order_by(runs_t.c.config_key, runs_t.c.seed)
                )
                .mappings()
                .all()
            )
        return [_decoded(r) for r in rows]

    def runs_at(self, study: str, point: dict, *, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """One configuration's current runs (its axis values `point`), as runs_of gives them, in
        seed order; `limit` of them from `offset`: a page, whatever the study's size."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        q = (
            sa.select(runs_t, links.c.point)
            .join(links, links.c.run_key == runs_t.c.key)
            .where(self._current_links(study), links.c.point == json.dumps(point, sort_keys=True))
            .order_by(runs_t.c.seed, runs_t.c.key)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [_decoded(r) for r in rows]

    def _current_links(self, study: str):
        links = self.t["study_runs"]
        return (links.c.study == study) & (links.c.stale == 0)

    def current_run_keys(self, study: str) -> set[str]:
        """The keys of the study's current (not stale) runs."""
        links = self.t["study_runs"]
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(links.c.run_key).where(self._current_links(study)))}

    def run_rows(self, study: str) -> list[tuple]:
        """(key, seed, status, diverged_step, seconds, point JSON) of the study's current runs,
        in runs_of's order; nothing else is read or decoded (the run table's first columns)."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        q = (
            sa.select(runs_t.c.key, runs_t.c.seed, runs_t.c.status, runs_t.c.diverged_step, runs_t.c.seconds)
            .add_columns(links.c.point)
            .join(links, links.c.run_key == runs_t.c.key)
            .where(self._current_links(study))
            .order_by(runs_t.c.config_key, runs_t.c.seed, runs_t.c.key)
        )
        with self.engine.connect() as conn:
            return run_summaries.fetch(conn, q)

    def run_configs(self, study: str) -> tuple[dict[str, str], dict[str, dict]]:
        """(run key -> config_key, config_key -> configuration) of the study's current runs:
        each configuration is read and decoded once, not once per seed."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        mine = sa.select(links.c.run_key).where(self._current_links(study))
        with self.engine.connect() as conn:
            config_of = dict(
                run_summaries.fetch(conn, sa.select(runs_t.c.key, runs_t.c.config_key).where(runs_t.c.key.in_(mine)))
            )
            one = list({c: k for k, c in config_of.items()}.values())  # a run per configuration
            configs = []
            for i in range(0, len(one), 500):  # never the text of every run's configuration
                q = sa.select(runs_t.c.config_key, runs_t.c.config).where(runs_t.c.key.in_(one[i : i + 500]))
                configs += run_summaries.fetch(conn, q)
        return config_of, {k: json.loads(config) for k, config in configs}

    def versions_of(self, study: str) -> list[dict]:
        """The distinct plugin-version sets of the study's current runs (a handful, whatever the
        number of runs)."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        q = sa.select(runs_t.c.versions).where(
            runs_t.c.key.in_(sa.select(links.c.run_key).where(self._current_links(study)))
        )
        with self.engine.connect() as conn:
            texts = [r[0] for r in conn.execute(q.distinct())]
        return [json.loads(t or "{}") for t in texts]

    def version_counts(self, study: str) -> list[tuple[dict, int]]:
        """(plugin-version set, number of runs) of the study's current runs that started (a
        pending run has none yet): a handful of rows, whatever the number of runs."""
        runs_t, links = self.t["runs"], self.t["study_runs"]
        q = (
            sa.select(runs_t.c.versions, sa.func.count())
            .where(runs_t.c.key.in_(sa.select(links.c.run_key).where(self._current_links(study))))
            .group_by(runs_t.c.versions)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [(json.loads(t), n) for t, n in rows if t and t != "{}"]

    def summaries_of(self, study: str, names: list[str] | None = None):
        """The summary values (run_key, name, value) of the study's current runs; only `names`
        when given. NULL (NaN on SQLite) comes back as NaN."""
        import pandas as pd

        t, links = self.t["run_summaries"], self.t["study_runs"]
        q = (
            sa.select(t.c.run_key, t.c.name, t.c.value)
            .join(links, links.c.run_key == t.c.run_key)
            .where(self._current_links(study))
        )
        if names is not None:
            if not names:
                return pd.DataFrame({"run_key": [], "name": [], "value": []})
            q = q.where(t.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            frame = run_summaries.frame_of(run_summaries.fetch(conn, q), ["run_key", "name", "value"])
        frame["value"] = frame["value"].astype(float)
        return frame

    def summary_names(self, study: str) -> list[str]:
        """Every summary name that some current run of the study has."""
        t, links = self.t["run_summaries"], self.t["study_runs"]
        q = sa.select(t.c.name).join(links, links.c.run_key == t.c.run_key).where(self._current_links(study)).distinct()
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    def records_of(self, keys: list[str], table: str, names: list[str]):
        """The records of runs `keys` in `table` (metrics, probes), of `names` only."""
        with self.engine.connect() as conn:
            return run_summaries.records(conn, self.t[table], keys, names=names)

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
            b = conn.execute(
                sa.select(sa.func.count(), sa.func.max(reviews.c.created_at), sa.func.max(reviews.c.edited_at))
            ).first()
        return tuple(a) + tuple(b)

    # -- reviews -------------------------------------------------------------------------
    def add_review(self, study: str, author: str, note: str, verdict: str) -> None:
        from ablab.core.lab.names import check_study_name

        check_study_name(study)
        _check_review(author=author, note=note, verdict=verdict)
        with self.engine.begin() as conn:
            conn.execute(
                self.t["reviews"]
                .insert()
                .values(study=study, author=author, note=note, verdict=verdict, created_at=time.time())
            )

    def edit_review(self, study: str, review_id: int, note: str, verdict: str) -> None:
        """Correct a note's text and verdict (its author and time stay; edited_at records when)."""
        _check_review(note=note, verdict=verdict)
        t = self.t["reviews"]
        with self.engine.begin() as conn:
            changed = conn.execute(
                t.update()
                .where(t.c.id == review_id, t.c.study == study)
                .values(note=note, verdict=verdict, edited_at=time.time())
            ).rowcount
        if changed != 1:
            raise StoreError(f"study {study!r} has no review note {review_id!r} in {self.url} (removed meanwhile?)")

    def reviews_of(self, study: str) -> list[dict[str, Any]]:
        t = self.t["reviews"]
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(sa.select(t).where(t.c.study == study).order_by(t.c.created_at)).mappings()
            ]


def _check_review(**fields: str) -> None:
    """A review's text fields: text without NUL, within the columns' lengths."""
    for key, value in fields.items():
        limit = {"author": 200, "note": 100_000, "verdict": 32}[key]
        if not isinstance(value, str) or "\x00" in value or len(value) > limit:
            raise ConfigError(f"review {key} must be text without NUL, at most {limit} characters")
