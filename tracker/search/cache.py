"""The result cache: totals, facets and the first ranked ids of big result sets.

Counting, faceting and ranking 15,000+ matches for one common word costs ~100 ms; a staffer
paging through them (or the next visitor asking the same) reuses the first result. Only big
result sets are kept, and each entry is tied to a data version that any ingest changes. A
first look at a big match set, or at bills filtered without words, counts them against the
facet snapshot (:mod:`.snapshot`).
"""

from __future__ import annotations

import json
import sys
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import compress, islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, func, literal_column, select, true

from tracker.search import ranking
from tracker.search.backends import Match
from tracker.search.facets import FACETS, FacetValue, count_and_facets, facet_values
from tracker.search.plans import fetch_all
from tracker.search.query import SearchQuery
from tracker.search.ranking import by_relevance, page_ids, score_ids
from tracker.search.snapshot import (
    Snapshot,
    combo_mask,
    snapshot_applies,
    snapshot_at,
    snapshot_filters,
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
    # False: `total` and the facet counts are lower bounds, counted over part of the matches
    # (see :func:`_bounded_title_first`); the head is the exact one all the same
    exact: bool = True

    def copy_facets(self) -> dict[str, list[FacetValue]]:
        # the constructor, not dataclasses.replace: 50 values cost 0.3 ms that way
        return {
            name: [FacetValue(v.value, v.count, v.label, v.selected) for v in values]
            for name, values in self.facets.items()
        }


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
    *,
    exact: bool = False,
) -> Cached:
    """Total, facets and the first ranked ids of `query`'s result set: from the cache when the
    same search (any page) ran at this data version, else computed (and kept when big).

    Unless `exact`, a big PostgreSQL match set may be counted over part of its matches (the
    entry's `exact` is then False: lower bounds); an exact entry replaces such a one."""
    key = cache_key(conn, query)
    entry = _CACHE.get(key)
    if entry is None or (exact and not entry.exact):
        entry = _compute(conn, query, match, filters, ranked, stop, version=key[2], exact=exact)
        # lower bounds are kept (asking again costs as much), and so is an exact count asked
        # for (it replaces them: the next look at this search shows it)
        if entry.total >= CACHE_MIN_TOTAL or exact or not entry.exact:
            _CACHE.put(key, entry)
    return entry


def clear_cache() -> None:
    """Forget cached counts and rankings (benchmarks measuring cold searches call this)."""
    _CACHE.clear()


# Two subqueries: one SELECT of both maxima would scan instead of using the two indexes. Built
# once: building the statement and its cache key on each search cost more than running it.
_VERSION = select(
    select(func.max(bill_table.c.last_changed)).scalar_subquery(),
    select(func.max(bill_table.c.id)).scalar_subquery(),
)


def cache_key(conn: Connection, query: SearchQuery) -> tuple[Any, ...]:
    """The database, its data version and the query without its page.

    Ingest stamps ``bill.last_changed`` on every change and new bills get new ids, so the
    newest stamp and the highest id (two index lookups) change whenever results could.
    """
    version = tuple(conn.execute(_VERSION).one())
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
    exact: bool = True,
) -> Cached:
    """Total, facets and the first CACHED_IDS (id, score), those only if the page is in them."""
    if match is None and snapshot_filters(query) and snapshot_ready(conn, version):
        return _filters_from_snapshot(query, snapshot_at(conn, version), stop)
    if match is not None and snapshot_applies(conn, query, match, filters, version):
        fast = _from_snapshot(conn, query, match, filters, ranked, stop, version, exact=exact)
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
    *,
    exact: bool = True,
) -> Cached | None:
    """The first look at a big match set from the snapshot, which also applies the state,
    session, stage and topic filters; None when the set is small."""
    relevance = by_relevance(query, match, ranked)
    scores = relevance and match.top is None  # PostgreSQL ranks here; FTS5 ranks itself
    same = match.same_score if scores else None
    if same is not None:  # every match scores the same: the order is recency's
        scores = False
    title_first = scores and match.title_scored is not None
    if stop > CACHED_IDS:  # no first ids to keep (a page past them is ranked in SQL)
        scores = False
    rows: list[tuple[int, float]] = []
    titled: list[tuple[int, float]] = []  # title-first: the matches with the word in a title
    if scores and title_first and not exact:
        bounded = _bounded_title_first(conn, query, match, version)
        if bounded is not None:
            return bounded
    in_recency = not scores and (same is not None or not relevance)
    if in_recency and match.probe is not None and stop <= CACHED_IDS and not exact:
        bounded = _bounded_newest(conn, query, match, version, same or 0.0)
        if bounded is not None:
            return bounded
    if scores and title_first:
        ids, titled = _pg_ids_and_titled(conn, match)
    elif scores:
        ids, scored_list = _pg_arrays(conn, match.scored, with_score=True)
        rows = list(zip(ids, scored_list, strict=True))
    elif match.top is None:
        ids = _pg_arrays(conn, match.ids.subquery("i"), with_score=False)[0]
    elif match.id_json is not None:
        ids = json.loads(conn.execute(match.id_json).scalar_one())
    else:
        ids = list(map(itemgetter(0), fetch_all(conn, match.ids)))
    if match.top is not None and len(ids) < SNAPSHOT_MIN and not snapshot_ready(conn, version):
        return None  # a small set is counted faster in SQL than the snapshot is built
    matched = len(ids)  # before the filters
    snap = snapshot_at(conn, version)
    code, size = snap.code, len(snap.code)
    wanted = wanted_combos(query, snap)
    # one pass each, no per-row Python code: a Python loop over 19,000 matches costs as
    # much as the database listing them
    try:
        codes = list(map(code.__getitem__, ids))
    except IndexError:  # a bill newer than the snapshot (rare): not counted
        rows = [row for row in rows if row[0] < size]
        titled = [row for row in titled if row[0] < size]
        ids = [i for i in ids if i < size]
        codes = list(map(code.__getitem__, ids))
    if len(wanted) < len(snap.combos) or 0 in codes:  # 0: no bill has that id
        keep = combo_mask(snap, wanted)
        passed = list(map(keep.__getitem__, codes))
        ids, codes = list(compress(ids, passed)), list(compress(codes, passed))
        rows = list(compress(rows, passed)) if scores else rows
        titled = [row for row in titled if keep[code[row[0]]]]
    facets = _facets(query, snap, Counter(codes).items())
    total, order = len(ids), snap.order
    if stop > CACHED_IDS:
        head: list[tuple[int, float]] = []
    elif same is not None:
        head = [(i, same) for i in newest(ids, CACHED_IDS, order, snap.newest)]
    elif relevance and not scores and filters and match.split and total <= ranking.FEW_MATCHES:
        head = score_ids(conn, match.split, ids, order)[:CACHED_IDS]  # FTS5 scores these few
    elif relevance and not scores and filters:
        head = _fts5_filtered_head(conn, match, ids, matched, order)
    elif relevance and not scores:
        head = page_ids(conn, query, match, filters, ranked, CACHED_IDS, 0, total)
    elif relevance:  # the SQL order: score, then latest action, then id
        if title_first:  # scored where the word is in the title: those come first
            if len(titled) < min(CACHED_IDS, total):  # too few: score them all after all
                kept = set(ids)
                full = fetch_all(conn, select(match.scored.c.bill_id, match.scored.c.score))
                titled = [row for row in full if row[0] in kept]
            rows = titled
        head = best_scored(rows, CACHED_IDS, order, snap.newest)
    else:
        head = [(i, 0.0) for i in newest(ids, CACHED_IDS, order, snap.newest)]
    return Cached(total, facets, head)


def _bounded_title_first(
    conn: Connection, query: SearchQuery, match: Match, version: tuple[Any, ...]
) -> Cached | None:
    """PostgreSQL, one plain word ranked title-first: the first CACHED_IDS from the matches
    with the word in the identifier or title alone, when at least that many of them pass the
    filters, without listing every match.

    Every title match ranks before every other match (:func:`.backends.pg_title_first`), so
    those first ids are exactly the ones the full count finds (its head is ``best_scored`` of
    the same filtered title matches). Listing every match is what costs: for a common word
    (19,000 bills) it reads 8,000 heap pages of ``bill_search``, three times what the title
    matches take. The total and the facet counts are those of the title matches: lower bounds
    of the exact ones (``exact=False``), which :func:`first_look` with ``exact=True`` gives."""
    titled = match.title_scored
    stmt = select(func.array_agg(titled.c.bill_id), func.array_agg(titled.c.score))
    (row,) = fetch_all(conn, stmt)
    ids, scores = row[0] or [], row[1] or []
    if len(ids) < CACHED_IDS:
        return None
    snap = snapshot_at(conn, version)
    code, size = snap.code, len(snap.code)
    keep = combo_mask(snap, wanted_combos(query, snap))
    # a bill newer than the snapshot (rare) is not counted, as in _from_snapshot
    codes = [code[i] if i < size else 0 for i in ids]
    passed = list(map(keep.__getitem__, codes))
    rows = list(compress(zip(ids, scores, strict=True), passed))
    if len(rows) < CACHED_IDS:
        return None
    facets = _facets(query, snap, Counter(compress(codes, passed)).items())
    head = best_scored(rows, CACHED_IDS, snap.order, snap.newest)
    return Cached(len(rows), facets, head, exact=False)


# _bounded_newest: bills tested in the first batch, and in all: testing a bill by key costs
# about twice what listing a match does, and testing 8,000 about what listing 15,000 matches
PROBE_FIRST = 1000
PROBE_LIMIT = 8000


def _bounded_newest(
    conn: Connection, query: SearchQuery, match: Match, version: tuple[Any, ...], score: float
) -> Cached | None:
    """PostgreSQL, matches in recency order (sorted by latest action, ``word -other``, a
    sponsor's name alone): the first CACHED_IDS found by testing the newest bills that pass
    the filters, newest first, in growing batches, without listing every match.

    Listing the 15,000 matches of ``tax`` reads 8,000 heap pages of ``bill_search``; the 200
    newest are found among a few thousand bills looked up by key. Every bill newer than the
    last one found has been tested, so these are the first ids the exact answer has. The
    total and facet counts are those of the matches found: lower bounds (``exact=False``),
    unless every bill passing the filters was tested (then they are the exact ones). None
    when the matches found so far say PROBE_LIMIT bills would hold too few: the caller lists
    them all."""
    snap = snapshot_at(conn, version)
    code = snap.code
    keep = combo_mask(snap, wanted_combos(query, snap))
    candidates = compress(snap.newest, map(keep.__getitem__, map(code.__getitem__, snap.newest)))
    found: list[int] = []
    tested, batch = 0, PROBE_FIRST
    while batch > 0:
        chunk = list(islice(candidates, batch))
        tested += len(chunk)
        matched = {row[0] for row in fetch_all(conn, match.probe.bindparams(probe=chunk))}
        found += [i for i in chunk if i in matched]  # newest first
        done = len(chunk) < batch  # every bill passing the filters was tested
        if done or len(found) >= CACHED_IDS:
            facets = _facets(query, snap, Counter(map(code.__getitem__, found)).items())
            head = [(i, score) for i in found[:CACHED_IDS]]
            return Cached(len(found), facets, head, exact=done)
        # as many more as the share of matches so far says are needed, and a quarter more
        needed = (CACHED_IDS - len(found)) * tested // max(1, len(found))
        batch = needed + needed // 4 + 1 if tested + needed <= PROBE_LIMIT else 0
    return None


def _facets(
    query: SearchQuery, snap: Snapshot, counts: Iterable[tuple[int, int]]
) -> dict[str, list[FacetValue]]:
    """Facet counts from (combination code, number of bills) pairs."""
    sums: tuple[dict[Any, int], ...] = ({}, {}, {}, {})
    state, stage, topic, session = sums  # FACETS, the order of each combination's values
    combos = snap.combos
    for combo, n in counts:  # one line per facet: a loop over the four cost twice as much
        a, b, c, d = combos[combo - 1]
        state[a] = state.get(a, 0) + n
        stage[b] = stage.get(b, 0) + n
        topic[c] = topic.get(c, 0) + n
        session[d] = session.get(d, 0) + n
    for values in sums:
        values.pop(None, None)  # a bill without that facet's value
    return facet_values(
        query, {name: list(values.items()) for name, values in zip(FACETS, sums, strict=True)}
    )


def _filters_from_snapshot(query: SearchQuery, snap: Snapshot, stop: int) -> Cached:
    """No words, and only filters the snapshot holds (or none): the total and facets are sums
    over the facet value combinations the filters let through, and the newest bills among
    them are the first of the snapshot's recency list whose combination passes, with no scan
    of ``bill`` (the SQL answer: count, one GROUP BY, ORDER BY latest action, then id)."""
    wanted = wanted_combos(query, snap)
    counts = [(combo, snap.sizes[combo - 1]) for combo in wanted]
    total = sum(n for _, n in counts)
    head: list[tuple[int, float]] = []
    if total and stop <= CACHED_IDS:
        keep = combo_mask(snap, wanted)
        passed = map(keep.__getitem__, map(snap.code.__getitem__, snap.newest))
        head = [(i, 0.0) for i in islice(compress(snap.newest, passed), CACHED_IDS)]
    return Cached(total, _facets(query, snap, counts), head)


def _fts5_filtered_head(
    conn: Connection, match: Match, ids: Sequence[int], matched: int, order: Sequence[int]
) -> list[tuple[int, float]]:
    """SQLite, filters the snapshot has applied: the first CACHED_IDS of `ids` in the order
    :func:`.ranking.page_ids` gives them (score, then latest action, then id; title matches
    first when the words match many bills). FTS5 scores only the matches among `ids` (for
    health + one stage, 1,007 of the 6,934 title matches: a third of the time) and they are
    ordered here with the snapshot's recency order, rather than every match scored, joined
    to ``bill``, filtered and sorted in SQL."""
    among = {"ids": json.dumps(ids)}
    split = match.split
    if split is not None and len(ids) >= ranking.FEW_ROWS and matched >= ranking.SPLIT_RANK_MIN:
        head = best_scored(
            fetch_all(conn, split.title_among.bindparams(**among)), CACHED_IDS, order
        )
        if len(head) < CACHED_IDS:
            rest = fetch_all(conn, split.rest_among.bindparams(**among))
            head += best_scored(rest, CACHED_IDS - len(head), order)
        return head
    return best_scored(fetch_all(conn, match.scored_among.bindparams(**among)), CACHED_IDS, order)


def _pg_arrays(conn: Connection, sub: Any, *, with_score: bool) -> tuple[Sequence[int], list[Any]]:
    """PostgreSQL: the matched ids (and scores) as one value each: psycopg reads two arrays
    of 19,000 numbers in half the time it reads 19,000 rows, and the ids as packed 4-byte
    integers (:func:`_packed_ids`) in half the time again."""
    cols = [_packed_ids(sub.c.bill_id)]
    if with_score:
        cols.append(func.array_agg(sub.c.score))
    (row,) = fetch_all(conn, select(*cols))
    return _unpacked(row[0]), list(row[1] or []) if with_score else []


def _pg_ids_and_titled(conn: Connection, match: Match) -> tuple[Sequence[int], list[Any]]:
    """PostgreSQL, title-first: every matched id, and (id, score) of the title matches, in
    one statement (the same snapshot of the data for both)."""
    matched = match.ids.subquery("i")
    titled = match.title_scored
    every = select(_packed_ids(matched.c.bill_id).label("ids")).subquery("a")
    title = select(
        func.array_agg(titled.c.bill_id).label("ids"), func.array_agg(titled.c.score).label("s")
    ).subquery("t")
    stmt = select(every.c.ids, title.c.ids, title.c.s).select_from(every.join(title, true()))
    (row,) = fetch_all(conn, stmt)
    return _unpacked(row[0]), list(zip(row[1] or [], row[2] or [], strict=True))


def _packed_ids(column: Any) -> Any:
    """The ids as one bytea of big-endian 4-byte integers (int4send), in no set order."""
    return func.string_agg(func.int4send(column), literal_column("''::bytea"))


def _unpacked(packed: bytes | None) -> array:
    ids = array("i")
    ids.frombytes(packed or b"")
    if sys.byteorder == "little":
        ids.byteswap()
    return ids


def best_scored(
    rows: Sequence[tuple[int, float]],
    n: int,
    order: Sequence[int],
    recency: Sequence[int] | None = None,
) -> list[tuple[int, float]]:
    """The first `n` of (id, score) rows in SQL's order: score, then `order` (the snapshot's
    recency position). Only the rows scoring at least the n-th best score are sorted with the
    full key: building a key tuple for each of 19,000 rows costs more than matching them."""
    if len(rows) <= n:
        return sorted(rows, key=lambda r: (-r[1], order[r[0]]))
    cut = sorted(map(itemgetter(1), rows), reverse=True)[n - 1]
    above = sorted((row for row in rows if row[1] > cut), key=lambda r: (-r[1], order[r[0]]))
    tied = [row[0] for row in rows if row[1] == cut]  # many, when scores tie: by recency
    return above + [(i, cut) for i in newest(tied, n - len(above), order, recency)]


def newest(
    ids: Sequence[int], n: int, order: Sequence[int], recency: Sequence[int] | None = None
) -> list[int]:
    """The first `n` ids by the snapshot's recency position (positions are distinct).

    With `recency` (the snapshot's ids by position) many ids are looked for from the newest
    bill on, as far as they should be found if spread evenly (four times that): for 15,000
    of 154,000 bills a walk through a few thousand, a fifth of the cost of sorting them all.
    A few ids are sorted: the walk would be longer than the list of them.
    """
    if len(ids) <= n:
        return sorted(ids, key=order.__getitem__)
    reach = n + 4 * n * len(recency or ()) // len(ids)
    if recency is not None and reach <= 2 * len(ids):
        wanted = set(ids)
        found = list(islice(filter(wanted.__contains__, islice(recency, reach)), n))
        if len(found) == n:
            return found
    cut = sorted(map(order.__getitem__, ids))[n - 1]
    return sorted((i for i in ids if order[i] <= cut), key=order.__getitem__)
