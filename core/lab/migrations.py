"""Schema history: an ordered list of named migrations; applied names are recorded in the
database, so every store, SQLite or PostgreSQL, reaches the same schema the same way."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

MIGRATIONS: list[tuple[str, Callable[[sa.Connection], None]]] = []


def migration(fn):
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(conn: sa.Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "studies",
        md,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("hash", sa.String(32), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),  # the study file's data as JSON
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    sa.Table(
        "runs",
        md,
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("config_key", sa.String(32), nullable=False, index=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # pending running done diverged failed
        sa.Column("diverged_step", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("versions", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("seconds", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    sa.Table(
        "study_runs",
        md,
        sa.Column("study", sa.String(200), sa.ForeignKey("studies.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.key", ondelete="CASCADE"), primary_key=True),
        sa.Column("point", sa.Text, nullable=False),  # the axis values of the run's configuration
    )
    sa.Table(
        "metrics",
        md,
        sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.key", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Float),
    )
    sa.Table(
        "probes",
        md,
        sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.key", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("probe", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("layer", sa.Integer, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
    )
    sa.Table(
        "reviews",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study", sa.String(200), nullable=False, index=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    md.create_all(conn)


@migration
def m002_curve_stats(conn: sa.Connection) -> None:
    """Per-configuration curve statistics kept by the store (see ablab.core.lab.curves), and an index
    to find a run's studies when it finishes. Filled from the records by m005, which completes
    the table (a migration's schema is frozen here, never taken from today's code)."""
    md = sa.MetaData()
    md.reflect(conn)
    sa.Table(
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
        sa.Column("shift", sa.Float, nullable=False),
        sa.Column("s1", sa.Float, nullable=False),
        sa.Column("s2", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
    ).create(conn)
    sa.Index("ix_study_runs_run_key", md.tables["study_runs"].c.run_key).create(conn)


@migration
def m003_leases_stale_bigint(conn: sa.Connection) -> None:
    """Run leases (owner + expiry, so two `ablab run`s never compute a run twice and a dead
    one's runs are redone), stale study links (kept, labelled, when a plugin's code changes),
    64-bit seeds on PostgreSQL (SQLite integers are 64-bit already), and the ablab version
    that last migrated the store (named when a newer store is refused)."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN owner VARCHAR(200)"))
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN lease_until FLOAT"))
    conn.execute(sa.text("ALTER TABLE study_runs ADD COLUMN stale INTEGER NOT NULL DEFAULT 0"))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE runs ALTER COLUMN seed TYPE BIGINT"))
    md = sa.MetaData()
    sa.Table(
        "ablab_meta",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    md.create_all(conn)


@migration
def m004_run_summaries(conn: sa.Connection) -> None:
    """Per-run summary values (final_*, steps_to_*, probe @init/@final; see
    ablab.core.lab.run_summaries), so a study's run table is read without its raw records;
    existing runs are summarised from their records."""
    from ablab.core.lab import run_summaries

    md = sa.MetaData()
    md.reflect(conn)
    run_summaries.define(md).create(conn)
    run_summaries.backfill(conn, md.tables)


@migration
def m005_curve_log_stats(conn: sa.Connection) -> None:
    """Curve statistics of log10 of the positive values (log-axis charts take their mean and
    band in log space from the store), and diverged runs counted only up to their divergence:
    every study's statistics are rebuilt from the records."""
    from ablab.core.lab import curves

    for column, kind in (("n_pos", "INTEGER"), ("lshift", "FLOAT"), ("l1", "FLOAT"), ("l2", "FLOAT")):
        conn.execute(sa.text(f"ALTER TABLE curve_stats ADD COLUMN {column} {kind} NOT NULL DEFAULT 0"))
    md = sa.MetaData()
    md.reflect(conn)
    for (study,) in conn.execute(sa.text("SELECT name FROM studies")).all():
        curves.rebuild_study(conn, md.tables, study)


@migration
def m006_run_budget_and_solve_steps(conn: sa.Connection) -> None:
    """Each finished run's step budget and the steps it took to meet each solve criterion it is
    judged by (its task's default, its studies' own; see ablab.core.lab.solve_criteria) in
    run_summaries, so a verdict reads no records. Existing runs get them from their records;
    values already there are kept (nothing derived from them changes)."""
    from ablab.core.lab import solve_criteria
    from ablab.core.lab.status import FINISHED

    md = sa.MetaData()
    md.reflect(conn)
    runs = md.tables["runs"]
    keys = [r[0] for r in conn.execute(sa.select(runs.c.key).where(runs.c.status.in_(FINISHED)).order_by(runs.c.key))]
    solve_criteria.add_missing(conn, md.tables, solve_criteria.criteria_of(conn, md.tables, keys))
    if "summary_stats" in md.tables:  # m007 ran first (a store made by a build that had it): bring it up to date
        from ablab.core.lab import summary_stats

        for (study,) in conn.execute(sa.text("SELECT name FROM studies")).all():
            summary_stats.rebuild_study(conn, md.tables, study)


@migration
def m007_summary_stats(conn: sa.Connection) -> None:
    """Per-configuration statistics of the run summaries (see ablab.core.lab.summary_stats), so
    the Results table and its column list read one row per configuration and name, filled from
    run_summaries; the indexes its rebuilds (study_runs by point) and the dashboard's state token
    (max of runs' started_at and finished_at) need."""
    from ablab.core.lab import summary_stats

    md = sa.MetaData()
    md.reflect(conn)
    sa.Table(
        "summary_stats",
        md,
        sa.Column("study", sa.String(200), sa.ForeignKey("studies.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("point_hash", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("point", sa.Text, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("pos_inf", sa.Integer, nullable=False),
        sa.Column("neg_inf", sa.Integer, nullable=False),
        sa.Column("n_finite", sa.Integer, nullable=False),
        sa.Column("shift", sa.Float, nullable=False),
        sa.Column("s1", sa.Float, nullable=False),
        sa.Column("s2", sa.Float, nullable=False),
    ).create(conn)
    links, runs = md.tables["study_runs"], md.tables["runs"]
    sa.Index("ix_study_runs_study_point", links.c.study, links.c.point).create(conn)
    sa.Index("ix_runs_finished_at", runs.c.finished_at).create(conn)
    sa.Index("ix_runs_started_at", runs.c.started_at).create(conn)
    for (study,) in conn.execute(sa.text("SELECT name FROM studies")).all():
        summary_stats.rebuild_study(conn, md.tables, study)


@migration
def m009_review_edits(conn: sa.Connection) -> None:
    """Review notes can be corrected: the time of the last edit (NULL: never edited)."""
    conn.execute(sa.text("ALTER TABLE reviews ADD COLUMN edited_at FLOAT"))
