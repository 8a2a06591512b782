"""What every page's queries share: the tables under readable names and small helpers."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Select, and_, select
from sqlalchemy.exc import MultipleResultsFound

from tracker.models import (
    Action,
    Bill,
    BillLink,
    BillSource,
    Change,
    Hearing,
    LegislativeSession,
    Run,
    Sponsorship,
    Version,
    Vote,
)
from tracker.urls import bill_path_of

bill_table = Bill.__table__
action_table = Action.__table__
sponsorship_table = Sponsorship.__table__
version_table = Version.__table__
hearing_table = Hearing.__table__
vote_table = Vote.__table__
link_table = BillLink.__table__
change_table = Change.__table__
run_table = Run.__table__
bill_source_table = BillSource.__table__
session_table = LegislativeSession.__table__

OK_RUNS = ("ok", "partial")  # runs whose finish counts as "last checked"


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def bill_summary(m: Any) -> dict[str, Any]:
    d = dict(m)
    d["path"] = bill_path_of(d)
    return d


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered as links: a scraped ``javascript:`` URL stays text."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def bill_ids_where(conn: Connection, *conds: Any) -> list[int]:
    return list(conn.execute(select(bill_table.c.id).where(and_(*conds))).scalars())


class Prepared:
    """A page's fixed SELECT, compiled once, its rows as dicts keyed as ``row._mapping`` is.
    Every call passes the same parameter names.

    On SQLite it runs on the sqlite3 connection itself, each value converted by its column's
    type as SQLAlchemy's result converts it (JSON, DateTime, Boolean): SQLAlchemy's execution
    (its context, events and result objects) cost three times SQLite's answering a bill page's
    dozen small queries. Only scalar parameters are passed per call; a fixed ``IN (...)`` list
    in the statement is expanded once. Elsewhere (PostgreSQL) it runs through SQLAlchemy.
    """

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        # by the dialect itself (an engine's), not its id: a new engine's may get a dropped one's
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan | None] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def dicts(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        plan = self._plan(conn.dialect, params)
        if plan is None:
            return [dict(row._mapping) for row in conn.execute(self.stmt, dict(params))]
        return plan.dicts(conn, params)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = self.dicts(conn, params)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None (as ``Result.scalar()``)."""
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))

    def scalar_one_or_none(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        rows = self.dicts(conn, params)
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return next(iter(rows[0].values())) if rows else None

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan | None:
        try:
            return self._plans[dialect]
        except KeyError:
            pass
        with self._lock:
            if dialect not in self._plans:
                self._plans[dialect] = _Plan.of(self.stmt, dialect, params)
            return self._plans[dialect]


class _Plan:
    """A :class:`Prepared` statement's SQL for one SQLite dialect: the positional arguments it
    takes (a per-call parameter, or a fixed value), bind and result converters."""

    def __init__(
        self,
        sql: str,
        args: Sequence[tuple[str, bool, Any, Callable[[Any], Any] | None]],
        keys: tuple[str, ...],
        converters: tuple[Callable[[Any], Any] | None, ...],
    ) -> None:
        self.sql = sql
        self.args = args
        self.keys = keys
        self.converters = converters if any(converters) else None

    @classmethod
    def of(cls, stmt: Select[Any], dialect: Dialect, params: Mapping[str, Any]) -> _Plan | None:
        if dialect.name != "sqlite":
            return None
        compiled = stmt.compile(dialect=dialect)
        if not compiled.positional:
            return None
        expanding = {b.key for b in compiled.binds.values() if b.expanding}
        if expanding & set(params):
            return None  # a list passed per call changes the SQL: SQLAlchemy expands it
        state = compiled.construct_expanded_state(dict.fromkeys(params))
        args = [
            (name, name in params, state.parameters.get(name), state.processors.get(name))
            for name in state.positiontup or ()
        ]
        columns = compiled._result_columns
        keys = tuple(c.keyname for c in columns)
        converters = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
        return cls(state.statement, args, keys, converters)

    def dicts(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        values = []
        for name, per_call, fixed, bind in self.args:
            value = params[name] if per_call else fixed
            values.append(bind(value) if bind is not None else value)
        dbapi = conn.connection.dbapi_connection
        rows = dbapi.execute(self.sql, values).fetchall()  # type: ignore[union-attr]
        keys, converters = self.keys, self.converters
        if converters is None:
            return [dict(zip(keys, row, strict=True)) for row in rows]
        return [
            {
                key: value if convert is None or value is None else convert(value)
                for key, convert, value in zip(keys, converters, row, strict=True)
            }
            for row in rows
        ]
