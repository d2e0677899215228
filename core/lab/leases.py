"""Run leases: which process computes which run, as Optuna's RDB storage does with heartbeats.

A process claims runs by setting their owner (host:pid:random) and an expiry; it renews the
expiry while it computes, writes results only while it still owns the run, and gives back
what it did not finish. A run whose lease expired, or whose owner on this machine is gone,
may be claimed by anyone, so a killed `ablab run` costs nothing but the redone runs.
"""

from __future__ import annotations

import os
import socket
import time

import sqlalchemy as sa

LEASE_SECONDS = 60.0  # a claimed run is someone's for this long; its owner renews it every quarter


class Leases:
    """Lease methods of the Store (self.engine, self.t)."""

    def claimable(self, rerun_failed: bool = False, rerun_before: float | None = None):
        """The SQL condition of a run that may be claimed now: pending, or running under an
        expired lease (or none: an older ablab's), or failed/finished when asked to redo it."""
        runs_t, now = self.t["runs"], time.time()
        cond = sa.or_(
            runs_t.c.status == "pending",
            sa.and_(
                runs_t.c.status == "running",
                sa.or_(
                    runs_t.c.lease_until.is_(None), runs_t.c.lease_until < now, runs_t.c.owner.in_(self._dead_owners())
                ),
            ),
        )
        if rerun_failed:
            cond = sa.or_(cond, runs_t.c.status == "failed")
        if rerun_before is not None:
            cond = sa.or_(
                cond,
                sa.and_(
                    runs_t.c.status.in_(("done", "diverged", "failed")),
                    sa.or_(runs_t.c.finished_at.is_(None), runs_t.c.finished_at < rerun_before),
                ),
            )
        return cond

    def _dead_owners(self) -> list[str]:
        """Owners of running runs on this machine whose process is gone: their leases need not
        be waited out (another machine's dead owner is known only when its lease expires)."""
        runs_t, host = self.t["runs"], socket.gethostname()
        with self.engine.connect() as conn:
            owners = [
                r[0] for r in conn.execute(sa.select(runs_t.c.owner).where(runs_t.c.status == "running").distinct())
            ]
        return [o for o in owners if o and owner_is_dead(o, host)]

    def claim(self, keys: list[str], owner: str, *, rerun_failed: bool = False, rerun_before: float | None = None):
        """Atomically take the claimable runs among keys for owner; returns the keys taken.
        Two processes never both take a run: the UPDATE re-checks the condition on the row it
        changes (PostgreSQL re-reads a row another transaction just changed; SQLite has one writer)."""
        runs_t = self.t["runs"]
        cond = self.claimable(rerun_failed, rerun_before)
        with self.engine.begin() as conn:
            result = conn.execute(
                runs_t.update()
                .where(runs_t.c.key.in_(keys))
                .where(cond)
                .values(status="running", owner=owner, lease_until=time.time() + LEASE_SECONDS)
                .returning(runs_t.c.key)
            )
            taken = {r[0] for r in result}
            if taken and (rerun_failed or rerun_before is not None):
                self._claimed_back(conn, sorted(taken))
        return [k for k in keys if k in taken]

    def _claimed_back(self, conn, keys: list[str]) -> None:
        """Finished runs claimed back for a re-run are "running" now, and the run table blanks
        their curve-derived values: recompute their configurations' summary statistics so the
        Results table agrees with it until the runs are written again."""
        from ablab.core.lab import curves, summary_stats

        links = curves.links_of(conn, self.t, sorted(summary_stats.with_values(conn, self.t, keys)))
        redo = {link for pairs in links.values() for link in pairs}
        for study in sorted({s for s, _ in redo}):
            summary_stats.rebuild(conn, self.t, study, sorted(p for s, p in redo if s == study))

    def renew(self, keys: list[str], owner: str) -> None:
        """Heartbeat: extend owner's leases on keys."""
        runs_t = self.t["runs"]
        with self.engine.begin() as conn:
            conn.execute(
                runs_t.update()
                .where(runs_t.c.key.in_(keys))
                .where(runs_t.c.owner == owner)
                .where(runs_t.c.status == "running")
                .values(lease_until=time.time() + LEASE_SECONDS)
            )

    def release(self, owner: str, keys: list[str] | None = None, wait_seconds: float | None = None) -> int:
        """Give back owner's unfinished runs (all, or those in keys) as pending; returns how many.
        wait_seconds bounds the wait for the store's write lock (else SQLite's busy_timeout, 60 s):
        past it the database error is raised, and the leases simply expire."""
        runs_t = self.t["runs"]
        q = runs_t.update().where(runs_t.c.owner == owner).where(runs_t.c.status == "running")
        if keys is not None:
            q = q.where(runs_t.c.key.in_(keys))
        with self.engine.begin() as conn:
            if wait_seconds is not None:
                _bound_lock_wait(conn, wait_seconds)
            try:
                return conn.execute(q.values(status="pending", owner=None, lease_until=None)).rowcount
            finally:
                if wait_seconds is not None and conn.dialect.name == "sqlite":  # per connection: restore
                    conn.exec_driver_sql("PRAGMA busy_timeout=60000")

    def held_by_others(self, keys: list[str], owner: str) -> int:
        """How many of keys another live process is computing now."""
        runs_t = self.t["runs"]
        dead = self._dead_owners()
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .where(runs_t.c.key.in_(keys))
                .where(runs_t.c.status == "running")
                .where(runs_t.c.owner != owner)
                .where(runs_t.c.lease_until >= time.time())
                .where(runs_t.c.owner.not_in(dead))
            ).scalar_one()


def new_owner() -> str:
    """A lease owner id: host, process id and a random part (a pid is reused, this is not)."""
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str, host: str) -> bool:
    name, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if name != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _bound_lock_wait(conn, seconds: float) -> None:
    """Wait at most `seconds` for a lock in this transaction (SQLite: the connection's busy
    timeout, restored by the caller; PostgreSQL: lock_timeout, which ends with the transaction)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(seconds * 1000)}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")
