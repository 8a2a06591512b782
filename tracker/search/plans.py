"""SQLite plans on the narrow covering indexes search needs, named with INDEXED BY."""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

# SQLite would look bills up in the wide bill rows (JSON, texts) or walk a one-column index
# and then those rows; these two indexes (migration 0002_search) hold every column search
# filters, counts and sorts on, by id (for matched bills) and by state (for filters only).
# The planner does not pick them by itself, hence INDEXED BY.
COVER_INDEX = "ix_bill_search_cover"
STATE_INDEX = "ix_bill_state_facets"
FROM_BILL = re.compile(r"\bFROM bill(?=\s)")


def execute(conn: Connection, stmt: Any, *, index: str | None) -> Any:
    if index is None or conn.dialect.name != "sqlite":
        return conn.execute(stmt)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = FROM_BILL.sub(f"FROM bill INDEXED BY {index}", str(compiled), count=1)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    try:
        return conn.exec_driver_sql(sql, params)
    except OperationalError as exc:  # a database migrated without the index: plain plan
        if "no such index" not in str(exc):
            raise
        return conn.execute(stmt)


def has_index(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name}
    )
    return found.first() is not None


def fetch_all(conn: Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Every row of `stmt` as plain DB-API tuples, without SQLAlchemy's per-row processing:
    listing the 19,000 matches of a common word through Result rows costs more than matching
    them. Only for columns needing no type conversion (ids, scores)."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positiontup is not None:
        params: Any = tuple(compiled.params[name] for name in compiled.positiontup)
    else:
        params = compiled.params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cast(list[tuple[Any, ...]], cursor.fetchall())  # DB-API: already a list
    finally:
        cursor.close()
