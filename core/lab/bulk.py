"""Many rows in few statements, on any database the store supports.

sqlite3's executemany runs in C and is fast as it is. psycopg's executemany sends one statement
per row (pipelined, yet a 20-run job's 50,000 rows took about a second), and SQLAlchemy's
multi-row VALUES costs more to compile than to run. So on PostgreSQL the rows travel as one
array per column and the database unpacks them: INSERT ... SELECT * FROM unnest(...), a single
statement of constant size whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_rows(
    conn: sa.Connection, table: sa.Table, rows: list[dict], build: Callable[[sa.Insert], sa.Insert] = lambda i: i
) -> None:
    """INSERT every row of `rows` into `table`. `build` may add a clause to the dialect's insert,
    such as ON CONFLICT DO UPDATE; then a key must not repeat within `rows` (PostgreSQL refuses
    to update one row twice in a statement), so callers merge duplicates first."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(build(sqlite.insert(table)), rows)
        return
    names = list(rows[0])
    arrays = [
        sa.bindparam(f"col_{n}", value=[r[n] for r in rows], type_=postgresql.ARRAY(table.c[n].type)) for n in names
    ]
    source = sa.func.unnest(*arrays).table_valued(*names).render_derived()
    insert = postgresql.insert(table).from_select(names, sa.select(*[source.c[n] for n in names]))
    conn.execute(build(insert))
