"""Running a search: a bill number, or words matched, filtered, counted and ranked.

Composes :mod:`.query` (what was asked), :mod:`.backends` (matching the words), :mod:`.filters`,
:mod:`.cache` (totals, facets and the first ranked ids) and :mod:`.ranking` (later pages).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, false, select

from tracker.search.backends import Match, match_words
from tracker.search.cache import cache_key, first_look
from tracker.search.facets import FacetValue, count_and_facets
from tracker.search.filters import filter_conditions
from tracker.search.query import SearchQuery, TextQuery, detect_bill_number, parse_text
from tracker.search.ranking import by_relevance, page_ids
from tracker.search.snapshot import snapshot_at
from tracker.search.topical import TopicMatch, decided_bills, merged_facets, topic_of
from tracker.tables import bill_table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass
class SearchResult:
    query: SearchQuery
    hits: list[dict[str, Any]]
    total: int
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bill_number: bool = False  # the box held a bill number and these hits are that bill
    topic: str | None = None  # the topic the words named (see .topical): its bills come first
    # False: `total` and the facet counts are lower bounds ("6,933+"), counted over part of a
    # big match set; the hits are exactly the ones an exact count ranks (see .cache)
    total_exact: bool = True

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def resolved(self) -> dict[str, Any] | None:
        """The one bill a typed bill number names, if it names exactly one."""
        return self.hits[0] if self.bill_number and len(self.hits) == 1 else None


HIT_COLUMNS = (
    "id",
    "state",
    "session",
    "identifier",
    "identifier_norm",
    "title",
    "stage",
    "topic",
    "relevant",
    "topic_decision",  # `possible`: the "possibly single-payer — under review" badge
    "latest_action_date",
    "latest_action_description",
)


def _connection(target: Session | Connection | Engine) -> tuple[Connection, bool]:
    if isinstance(target, Connection):
        return target, False
    if isinstance(target, Engine):
        return target.connect(), True
    return target.connection(), False


def search(
    target: Session | Connection | Engine,
    query: SearchQuery,
    warnings: Sequence[str] = (),
    *,
    exact: bool = False,
) -> SearchResult:
    """Run `query`: hits for its page, the total, facet counts and any warnings.

    The total and facet counts of a big PostgreSQL match set may be lower bounds
    (``total_exact`` False) unless `exact`; the hits are the same either way."""
    conn, owned = _connection(target)
    try:
        return _search(conn, query, list(warnings), exact)
    finally:
        if owned:
            conn.close()


def _search(
    conn: Connection, query: SearchQuery, warnings: list[str], exact: bool = False
) -> SearchResult:
    if query.q and query.page == 1:
        found = _by_bill_number(conn, query)
        if found:
            return SearchResult(query, found, len(found), {}, warnings, bill_number=True)
    text_query = parse_text(query.q)
    if query.q.strip() and text_query.empty:
        warnings.append('nothing searchable in the query: use words, "phrases" or word*')
        return SearchResult(query, [], 0, count_and_facets(conn, query, [false()])[1], warnings)
    match = match_words(conn, text_query, query.sponsor)
    filters = filter_conditions(query)
    ranked = not text_query.empty
    named = topic_of(query.q, text_query) if ranked else None
    if named is not None and match is not None:
        return _with_topic(conn, query, match, filters, named, warnings)
    start, stop = (query.page - 1) * query.per_page, query.page * query.per_page
    entry = first_look(conn, query, match, filters, ranked, stop, exact=exact)
    total, facets, head = entry.total, entry.copy_facets(), entry.head
    if not total:
        page: list[tuple[int, float]] = []
    elif stop <= len(head) or (head and entry.exact and total <= len(head)):
        page = head[start:stop]
    else:
        page = page_ids(conn, query, match, filters, ranked, query.per_page, start, total)
    hits = _hits_by_id(conn, page, with_score=by_relevance(query, match, ranked))
    return SearchResult(query, hits, total, facets, warnings, total_exact=entry.exact)


_MATCHED = 1e-9  # the score of a decided bill that has the words but ranks past the head


def _with_topic(
    conn: Connection,
    query: SearchQuery,
    match: Match,
    filters: list[Any],
    named: TopicMatch,
    warnings: list[str],
) -> SearchResult:
    """The bills decided on the named topic first (yes, then possible; each by the words'
    score, then latest action), then the bills that only contain the words, in their order."""
    # the literal matches, ranked and counted exactly (the total adds the decided bills)
    entry = first_look(conn, query, match, filters, True, 1, exact=True)
    decided = decided_bills(conn, named, filters, match_words(conn, TextQuery(), query.sponsor))
    ids = {bill.id for bill in decided}
    # the decided bills that also contain the words: with their score when among the first
    # ranked, else just above none (scoring a few bills among 19,000 matches costs more in FTS5
    # than listing every match)
    scores = {bill_id: score for bill_id, score in entry.head if bill_id in ids}
    if entry.total > len(entry.head):
        matched = ids.intersection(conn.execute(match.ids).scalars())
        scores.update({i: _MATCHED for i in matched if i not in scores})
    by_score = query.sort == "relevance"
    # a stable sort of the newest-first list: yes, then possible; by the words' score if asked
    decided.sort(key=lambda d: (d.rank, -scores.get(d.id, 0.0) if by_score else 0.0))
    first = [(bill.id, scores.get(bill.id, 0.0)) for bill in decided]
    start, stop = (query.page - 1) * query.per_page, query.page * query.per_page
    page = first[start:stop]
    wanted = max(0, stop - len(first)) + len(scores)  # literal rows, the decided ones included
    if len(page) < query.per_page and wanted > len(scores):
        head = entry.head
        if wanted <= len(head) or entry.total <= len(head):
            rows = head[:wanted]
        else:
            rows = page_ids(conn, query, match, filters, True, wanted, 0, entry.total)
        rest = [row for row in rows if row[0] not in ids]
        page += rest[max(0, start - len(first)) : stop - len(first)]
    hits = _hits_by_id(conn, page, with_score=True)
    for hit in hits:
        hit["topic_match"] = hit["id"] in ids
    facets = merged_facets(query, entry.copy_facets(), decided, set(scores))
    total = entry.total + len(first) - len(scores)
    return SearchResult(query, hits, total, facets, warnings, topic=named.topic)


_LATER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-search-count")
_PENDING: set[tuple[int, SearchQuery]] = set()
_PENDING_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def count_later(engine: Engine, query: SearchQuery) -> Future[None] | None:
    """Count `query`'s matches exactly in a background thread (one search at a time), after a
    page showed lower bounds: the result cache then holds the exact total and facet counts
    for this data version, and the next look at the search (another page, a reload) shows
    them. A search already waiting to be counted is not queued twice (None)."""
    key = (id(engine), replace(query, page=1, per_page=1))
    with _PENDING_LOCK:
        if key in _PENDING:
            return None
        _PENDING.add(key)

    def run() -> None:
        try:
            with engine.connect() as conn:
                search(conn, replace(query, page=1), exact=True)
        except Exception:  # a background count must never take the server down
            log.exception("counting a search exactly failed")
        finally:
            with _PENDING_LOCK:
                _PENDING.discard(key)

    return _LATER.submit(run)


def warm(target: Session | Connection | Engine) -> None:
    """Build the facet snapshot now (~0.5 s for 150,000 bills) rather than in the first big
    search after a change; a web process can call it after an ingest or at start."""
    conn, owned = _connection(target)
    try:
        snapshot_at(conn, cache_key(conn, SearchQuery())[2])
    finally:
        if owned:
            conn.close()


# Built once: building the select() and its cache key each time cost as much as running it.
_HITS = select(*[bill_table.c[name] for name in HIT_COLUMNS]).where(
    bill_table.c.id.in_(bindparam("ids", expanding=True))
)


def _hits_by_id(conn: Connection, page: list[Any], *, with_score: bool) -> list[dict[str, Any]]:
    """Full hit rows for a page of (bill id, score), in the page's order."""
    if not page:
        return []
    ids = [bill_id for bill_id, _ in page]
    rows = {r.id: dict(r._mapping) for r in conn.execute(_HITS, {"ids": ids})}
    return [
        _hit({**rows[bill_id], **({"score": score} if with_score else {})})
        for bill_id, score in page
        if bill_id in rows
    ]


def _hit(row: dict[str, Any]) -> dict[str, Any]:
    row["relevant"] = bool(row["relevant"])
    row["topic_match"] = False  # found as a bill of the topic the words named (see .topical)
    if "score" in row:
        row["score"] = round(float(row["score"] or 0.0), 4)
    return row


def _by_bill_number(conn: Connection, query: SearchQuery) -> list[dict[str, Any]]:
    found = detect_bill_number(query.q)
    if not found:
        return []
    state, norm = found
    stmt = select(*[bill_table.c[n] for n in HIT_COLUMNS]).where(
        bill_table.c.identifier_norm == norm
    )
    states = (state,) if state else query.state
    if states:
        stmt = stmt.where(bill_table.c.state.in_(states))
    if query.session:
        stmt = stmt.where(bill_table.c.session == query.session)
    stmt = stmt.order_by(
        bill_table.c.relevant.desc(), bill_table.c.latest_action_date.desc().nulls_last()
    )
    return [_hit(dict(r._mapping)) for r in conn.execute(stmt.limit(query.per_page))]
