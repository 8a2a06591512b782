"""Ordering a page of results: by relevance (scored matches) or by latest action.

On SQLite, FTS5 ranks big match sets itself, title matches first (:func:`_split_top`); a few
filtered matches are scored one by one (:func:`_score_few`); the rest is plain SQL ordering.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, literal, select

from tracker.search.backends import Match, Split
from tracker.search.plans import COVER_INDEX, execute
from tracker.search.query import SearchQuery
from tracker.tables import bill_table

# Thresholds between plans (tests lower them so a few synthetic bills take every path).
FEW_ROWS = 2000
SPLIT_RANK_MIN = 5000
FEW_MATCHES = 50


def by_relevance(query: SearchQuery, match: Match | None, ranked: bool) -> bool:
    return match is not None and ranked and query.sort == "relevance"


def page_ids(
    conn: Connection,
    query: SearchQuery,
    match: Match | None,
    filters: list[Any],
    ranked: bool,
    limit: int,
    offset: int,
    total: int,
) -> list[tuple[int, float]]:
    """(bill id, score) from `offset`, by relevance (scored matches) or by latest action."""
    latest: Any = bill_table.c.latest_action_date
    if match is None and total <= FEW_ROWS and conn.dialect.name == "sqlite":
        # few bills pass the filters: sort them, rather than let SQLite walk the date index
        # through every bill looking for them (200 ms for the 77 relevant bills)
        latest = latest.concat("")
    recency = [latest.desc().nulls_last(), bill_table.c.id.desc()]
    relevance = by_relevance(query, match, ranked)
    if relevance and not filters and match.top is not None:
        # nothing to filter on: let FTS5 sort by its configured rank (bm25 with our weights)
        if match.split is not None and total >= SPLIT_RANK_MIN:
            return _split_top(conn, match.split, limit, offset)
        return [tuple(r) for r in conn.execute(match.top.bindparams(limit=limit, offset=offset))]
    if relevance and match.split is not None and total <= FEW_MATCHES:
        return _score_few(conn, match, filters, limit, offset)
    if relevance and match.split is not None and total >= FEW_ROWS:
        if conn.execute(match.split.count).scalar_one() >= SPLIT_RANK_MIN:
            return _split_filtered(conn, match.split, filters, recency, limit, offset)
    if relevance:
        scored = match.scored
        # pick the page's ids from narrow columns first, then read those few full rows
        stmt = select(bill_table.c.id, scored.c.score).select_from(
            scored.join(bill_table, scored.c.bill_id == bill_table.c.id)
        )
        stmt = stmt.where(*filters).order_by(scored.c.score.desc(), *recency)
    else:
        conds = filters + ([bill_table.c.id.in_(match.ids)] if match is not None else [])
        stmt = select(bill_table.c.id, literal(0.0).label("score")).where(*conds).order_by(*recency)
    stmt = stmt.limit(limit).offset(offset)
    index = COVER_INDEX if match is not None else None
    return [tuple(r) for r in execute(conn, stmt, index=index)]


def _split_top(conn: Connection, split: Any, limit: int, offset: int) -> list[tuple[int, float]]:
    """Bills with the words in their identifier or title first, then the rest, each by bm25.

    FTS5 scores every match before it sorts (~4 us each): for a common word (19,000 bills)
    ranking the title matches alone costs half, and they rank first by weight anyway. The
    order is the same on every page, so paging neither repeats nor skips a bill.
    """
    # from the first row, a short page of title matches means they are all there: no count
    in_title = int(conn.execute(split.title_count).scalar_one()) if offset else limit + 1
    rows: list[tuple[int, float]] = []
    if offset < in_title:
        stmt = split.title_top.bindparams(limit=limit, offset=offset)
        rows = [tuple(r) for r in conn.execute(stmt)]
    if len(rows) < limit:
        rest_offset = max(0, offset - in_title) if offset else 0
        stmt = split.rest_top.bindparams(limit=limit - len(rows), offset=rest_offset)
        rows += [tuple(r) for r in conn.execute(stmt)]
    return rows


def _score_few(
    conn: Connection, match: Match, filters: list[Any], limit: int, offset: int
) -> list[tuple[int, float]]:
    """A handful of filtered matches: score just them (FTS5 seeks each rowid, ~0.5 ms)
    rather than every match of the words, then order as SQL would."""
    stmt = select(bill_table.c.id, bill_table.c.latest_action_date).where(
        *filters, bill_table.c.id.in_(match.ids)
    )
    latest = dict(tuple(r) for r in execute(conn, stmt, index=COVER_INDEX))
    if not latest:
        return []
    scores = dict(
        tuple(r) for r in conn.execute(match.split.scored_ids, {"ids": json.dumps(list(latest))})
    )
    ordered = sorted(latest, reverse=True)  # id, newest first
    ordered.sort(key=lambda i: latest[i] or "", reverse=True)  # latest action, nulls last
    ordered.sort(key=lambda i: -scores.get(i, 0.0))  # score: stable sorts keep the ties' order
    return [(i, scores.get(i, 0.0)) for i in ordered[offset : offset + limit]]


def _split_filtered(
    conn: Connection, split: Split, filters: list[Any], recency: list[Any], limit: int, offset: int
) -> list[tuple[int, float]]:
    """_split_top for filtered bills: title matches that pass the filters, then the rest."""

    def part(scored: Any, count: bool = False, limit: int = 0, offset: int = 0) -> Any:
        joined = scored.join(bill_table, scored.c.bill_id == bill_table.c.id)
        if count:
            stmt = select(func.count()).select_from(joined).where(*filters)
            return execute(conn, stmt, index=COVER_INDEX).scalar_one()
        stmt = select(bill_table.c.id, scored.c.score).select_from(joined).where(*filters)
        stmt = stmt.order_by(scored.c.score.desc(), *recency).limit(limit).offset(offset)
        return [tuple(r) for r in execute(conn, stmt, index=COVER_INDEX)]

    rows = part(split.title_scored, limit=limit, offset=offset)
    if len(rows) < limit:
        in_title = len(rows) if offset == 0 else part(split.title_scored, count=True)
        rows += part(split.rest_scored, limit=limit - len(rows), offset=max(0, offset - in_title))
    return rows


def score_ids(
    conn: Connection, split: Split, ids: Sequence[int], order: Sequence[int]
) -> list[tuple[int, float]]:
    """A few matched ids already filtered (by the snapshot), scored by FTS5 and ordered as SQL
    would: score, then `order` (the snapshot's recency position: latest action, then id)."""
    scores = dict(tuple(r) for r in conn.execute(split.scored_ids, {"ids": json.dumps(list(ids))}))
    ranked = sorted(ids, key=lambda i: (-scores.get(i, 0.0), order[i]))
    return [(i, scores.get(i, 0.0)) for i in ranked]
