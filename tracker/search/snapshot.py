"""A per-process snapshot of every bill's facet values and recency position.

Counting a big match set against it costs a few milliseconds instead of a join to ``bill``;
it is rebuilt when the data version (see :func:`tracker.search.cache.cache_key`) moves.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from tracker.search.backends import Match
from tracker.search.facets import FACETS
from tracker.search.plans import COVER_INDEX, FROM_BILL, has_index
from tracker.search.query import SearchQuery
from tracker.tables import bill_table


@dataclass(frozen=True)
class Snapshot:
    version: tuple[Any, ...]
    combos: list[tuple[Any, ...]]  # distinct (state, stage, topic, session), as in FACETS
    sizes: list[int]  # bills per combination
    code: array  # by bill id: 1 + index into combos; 0 where no bill has that id
    order: array  # by bill id: position by latest action (newest first), then id
    newest: array  # bill ids by that position: the reverse of `order`


SNAPSHOTS: dict[tuple[int, str], Snapshot] = {}


def _key(conn: Connection) -> tuple[int, str]:
    return (id(conn.engine), str(conn.engine.url))


def snapshot_ready(conn: Connection, version: tuple[Any, ...]) -> bool:
    """Whether this data version's snapshot is built (counting against it is then free)."""
    snap = SNAPSHOTS.get(_key(conn))
    return snap is not None and snap.version == version


def snapshot_at(conn: Connection, version: tuple[Any, ...]) -> Snapshot:
    key = _key(conn)
    snap = SNAPSHOTS.get(key)
    if snap is not None and snap.version == version:
        return snap
    recency = [bill_table.c.latest_action_date.desc().nulls_last(), bill_table.c.id.desc()]
    stmt = select(bill_table.c.id, *[bill_table.c[name] for name in FACETS]).order_by(*recency)
    rows = _raw_rows(conn, stmt)
    size = max((row[0] for row in rows), default=0) + 1
    code, order = array("I", bytes(4 * size)), array("I", bytes(4 * size))
    combos: dict[tuple[Any, ...], int] = {}
    for position, (bill_id, *values) in enumerate(rows):
        code[bill_id] = combos.setdefault(tuple(values), len(combos) + 1)
        order[bill_id] = position
    sizes = [0] * len(combos)
    for n in code:
        if n:
            sizes[n - 1] += 1
    newest = array("I", (row[0] for row in rows))
    snap = Snapshot(version, list(combos), sizes, code, order, newest)
    if len(SNAPSHOTS) >= 4:  # a few databases per process at most (tests, benchmarks)
        SNAPSHOTS.clear()
    SNAPSHOTS[key] = snap
    return snap


def _raw_rows(conn: Connection, stmt: Any) -> Sequence[Any]:
    """Every row of a parameterless statement as plain DB-API tuples: for all 154,000 bills
    SQLAlchemy's rows alone cost 0.3 s. On SQLite it reads the narrow covering index."""
    sql = str(stmt.compile(dialect=conn.dialect))
    if conn.dialect.name == "sqlite" and has_index(conn, COVER_INDEX):
        sql = FROM_BILL.sub(f"FROM bill INDEXED BY {COVER_INDEX}", sql, count=1)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def snapshot_filters(query: SearchQuery) -> bool:
    """Whether the snapshot holds every filter of `query`: state, session, stage and topic
    (not the relevant flag or the dates; the sponsor's words are matched, not filtered)."""
    return not (query.relevant or query.since or query.until)


def snapshot_applies(
    conn: Connection,
    query: SearchQuery,
    match: Match,
    filters: list[Any],
    version: tuple[Any, ...],
) -> bool:
    """Whether the snapshot should count this search: no date or relevance filter, and either
    no filter at all, or SQLite (listing FTS5's matches once and filtering them here costs less
    than joining them to ``bill`` for the counts and again for the page), or on PostgreSQL
    facet filters letting through a tenth of all bills or more (narrower ones are answered
    faster by the database from its own indexes)."""
    if not snapshot_filters(query):
        return False
    if not filters or match.top is not None:
        return True
    snap = snapshot_at(conn, version)
    share = sum(snap.sizes[code - 1] for code in wanted_combos(query, snap))
    return share * 10 >= max(1, sum(snap.sizes))


def wanted_combos(query: SearchQuery, snap: Snapshot) -> set[int]:
    """Codes of the facet value combinations the query's filters let through."""
    if not (query.state or query.session or query.stage or query.topic):
        return set(range(1, len(snap.combos) + 1))
    wanted = set()
    session_wanted = (query.session or "").replace("\x00", "")
    for code, (state, stage, topic, session) in enumerate(snap.combos, start=1):
        if query.state and state not in query.state:
            continue
        if query.session and session != session_wanted:
            continue
        if (query.stage and stage not in query.stage) or (query.topic and topic not in query.topic):
            continue
        wanted.add(code)
    return wanted


def combo_mask(snap: Snapshot, wanted: Iterable[int]) -> bytearray:
    """Indexed by combination code, 1 for the `wanted` ones (from :func:`wanted_combos`); code 0
    (no bill has that id) is never kept. ``map(mask.__getitem__, codes)`` filters with no
    per-row Python code."""
    mask = bytearray(len(snap.combos) + 1)
    for combo in wanted:
        mask[combo] = 1
    return mask
