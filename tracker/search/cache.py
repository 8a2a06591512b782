"""The result cache: totals, facets and the first ranked ids of big result sets.

Counting, faceting and ranking 15,000+ matches for one common word costs ~100 ms; a staffer
paging through them (or the next visitor asking the same) reuses the first result. Only big
result sets are kept, and each entry is tied to a data version that any ingest changes. A
first look at a big match set counts it against the facet snapshot (:mod:`.snapshot`).
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, func, select

from tracker.search.backends import Match
from tracker.search.facets import FACETS, FacetValue, count_and_facets, facet_values
from tracker.search.plans import fetch_all
from tracker.search.query import SearchQuery
from tracker.search.ranking import by_relevance, page_ids
from tracker.search.snapshot import (
    snapshot_applies,
    snapshot_at,
    snapshot_ready,
    wanted_combos,
)
from tracker.tables import bill_table

CACHE_MIN_TOTAL = 1000
CACHED_IDS = 200
CACHE_SIZE = 64
# Joining 19,000 matched ids to bill to count facets costs 35 ms (SQLite) to 75 ms
# (PostgreSQL); counting them against the snapshot costs a few. On PostgreSQL the matches,
# once fetched, always go through it: matching again costs more.
SNAPSHOT_MIN = 5000


@dataclass(frozen=True)
class Cached:
    total: int
    facets: dict[str, list[FacetValue]]
    head: list[tuple[int, float]]  # the first CACHED_IDS (bill id, score) in result order

    def copy_facets(self) -> dict[str, list[FacetValue]]:
        return {name: [replace(v) for v in values] for name, values in self.facets.items()}


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], Cached] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...] | None) -> Cached | None:
        if key is None:
            return None
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...] | None, entry: Cached) -> None:
        if key is None:
            return
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_CACHE = _LRU(CACHE_SIZE)


def first_look(
    conn: Connection,
    query: SearchQuery,
    match: Match | None,
    filters: list[Any],
    ranked: bool,
    stop: int,
) -> Cached:
    """Total, facets and the first ranked ids of `query`'s result set: from the cache when the
    same search (any page) ran at this data version, else computed (and kept when big)."""
    key = cache_key(conn, query)
    entry = _CACHE.get(key)
    if entry is None:
        entry = _compute(conn, query, match, filters, ranked, stop, version=key[2])
        if entry.total >= CACHE_MIN_TOTAL:
            _CACHE.put(key, entry)
    return entry


def clear_cache() -> None:
    """Forget cached counts and rankings (benchmarks measuring cold searches call this)."""
    _CACHE.clear()


def cache_key(conn: Connection, query: SearchQuery) -> tuple[Any, ...]:
    """The database, its data version and the query without its page.

    Ingest stamps ``bill.last_changed`` on every change and new bills get new ids, so the
    newest stamp and the highest id (two index lookups) change whenever results could.
    """
    newest = select(func.max(bill_table.c.last_changed)).scalar_subquery()
    # two subqueries: one SELECT of both maxima would scan instead of using the two indexes
    version = tuple(
        conn.execute(select(newest, select(func.max(bill_table.c.id)).scalar_subquery())).one()
    )
    engine = conn.engine
    return (id(engine), str(engine.url), version, replace(query, page=1, per_page=1))


def _compute(
    conn: Connection,
    query: SearchQuery,
    match: Match | None,
    filters: list[Any],
    ranked: bool,
    stop: int,
    *,
    version: tuple[Any, ...],
) -> Cached:
    """Total, facets and the first CACHED_IDS (id, score), those only if the page is in them."""
    if match is not None and snapshot_applies(conn, query, match, filters, version):
        fast = _from_snapshot(conn, query, match, filters, ranked, stop, version)
        if fast is not None:
            return fast
    conds = filters + ([bill_table.c.id.in_(match.ids)] if match is not None else [])
    total, facets = count_and_facets(conn, query, conds, cover=match is not None)
    # ranking a big match set costs the same for its first pages as for one: keep them
    fetch = total and stop <= CACHED_IDS
    head = page_ids(conn, query, match, filters, ranked, CACHED_IDS, 0, total) if fetch else []
    return Cached(total, facets, head)


def _from_snapshot(
    conn: Connection,
    query: SearchQuery,
    match: Match,
    filters: list[Any],
    ranked: bool,
    stop: int,
    version: tuple[Any, ...],
) -> Cached | None:
    """The first look at a big match set from the snapshot, which also applies the state,
    session, stage and topic filters; None when the set is small."""
    relevance = by_relevance(query, match, ranked)
    scores = relevance and match.top is None  # PostgreSQL ranks here; FTS5 ranks itself
    if scores:
        rows = fetch_all(conn, select(match.scored.c.bill_id, match.scored.c.score))
    else:
        rows = [(bill_id, 0.0) for (bill_id,) in fetch_all(conn, match.ids)]
    if match.top is not None and len(rows) < SNAPSHOT_MIN and not snapshot_ready(conn, version):
        return None  # a small set is counted faster in SQL than the snapshot is built
    snap = snapshot_at(conn, version)
    code, size = snap.code, len(snap.code)
    wanted = wanted_combos(query, snap)
    if len(wanted) < len(snap.combos) or any(row[0] >= size for row in rows):
        rows = [row for row in rows if row[0] < size and code[row[0]] in wanted]
    counts = Counter(map(code.__getitem__, [bill_id for bill_id, _ in rows]))
    sums: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for combo, n in counts.items():
        for name, value in zip(FACETS, snap.combos[combo - 1], strict=True):
            if value is not None:
                sums[name][value] = sums[name].get(value, 0) + n
    facets = facet_values(query, {name: list(v.items()) for name, v in sums.items()})
    total, order = len(rows), snap.order
    if stop > CACHED_IDS:
        head: list[tuple[int, float]] = []
    elif relevance and not scores:
        head = page_ids(conn, query, match, filters, ranked, CACHED_IDS, 0, total)
    elif relevance:  # the SQL order: score, then latest action, then id
        head = heapq.nsmallest(CACHED_IDS, rows, key=lambda r: (-r[1], order[r[0]]))
    else:
        head = heapq.nsmallest(CACHED_IDS, rows, key=lambda r: order[r[0]])
    return Cached(total, facets, head)
