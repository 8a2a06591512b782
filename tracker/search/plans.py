"""SQLite plans on the narrow covering indexes search needs, named with INDEXED BY."""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any, cast

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import OperationalError

# SQLite would look bills up in the wide bill rows (JSON, texts) or walk a one-column index
# and then those rows; these two indexes (migration 0002_search) hold every column search
# filters, counts and sorts on, by id (for matched bills) and by state (for filters only).
# The planner does not pick them by itself, hence INDEXED BY.
COVER_INDEX = "ix_bill_search_cover"
STATE_INDEX = "ix_bill_state_facets"
FROM_BILL = re.compile(r"\bFROM bill(?=\s)")


# The index travels as an execution option and is written into the SQL just before the cursor
# runs it: the statement is compiled once, from SQLAlchemy's cache, not on every search (two
# compiles were a sixth of a search's CPU).
INDEX_OPTION = "tracker_indexed_by"
_HOOKED: weakref.WeakSet[Engine] = weakref.WeakSet()
_HOOK_LOCK = threading.Lock()


def _indexed_by(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    index = context.execution_options.get(INDEX_OPTION) if context is not None else None
    if index:
        statement = FROM_BILL.sub(f"FROM bill INDEXED BY {index}", statement, count=1)
    return statement, parameters


def _hook(engine: Engine) -> None:
    if engine in _HOOKED:
        return
    with _HOOK_LOCK:
        if engine not in _HOOKED:
            event.listen(engine, "before_cursor_execute", _indexed_by, retval=True)
            _HOOKED.add(engine)


def execute(conn: Connection, stmt: Any, *, index: str | None) -> Any:
    if index is None or conn.dialect.name != "sqlite":
        return conn.execute(stmt)
    _hook(conn.engine)
    try:
        return conn.execute(stmt, execution_options={INDEX_OPTION: index})
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
    result = conn.execute(stmt)  # compiled once, from SQLAlchemy's cache
    try:
        return cast(list[tuple[Any, ...]], result.cursor.fetchall())  # DB-API: already a list
    finally:
        result.close()
