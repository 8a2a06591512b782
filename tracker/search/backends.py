"""Matching words: SQLite FTS5 MATCH expressions and PostgreSQL tsquery, behind one `Match`.

Both are built only from :class:`~tracker.search.query.TextQuery` tokens and always bound as
parameters. On SQLite, FTS5 also ranks (bm25 with our column weights) and can split the matches
into those with the words in the identifier or title and the rest (see :mod:`.ranking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Float, Integer, text

from tracker.search.query import WORD, Item, TextQuery


@dataclass(frozen=True)
class Split:
    """SQLite: the matches with the words in identifier or title, and the rest (_split_top)."""

    count: Any  # all matches, before filters
    title_count: Any
    title_top: Any  # FTS5's ORDER BY rank with :limit and :offset
    rest_top: Any
    title_scored: Any  # (bill_id, score), to join with filtered bills
    rest_scored: Any
    scored_ids: Any  # (bill_id, score) of the matches among :ids (a JSON list)
    title_among: Any = None  # (bill_id, score) of the title matches among :ids, unsorted
    rest_among: Any = None  # (bill_id, score) of the rest among :ids, unsorted


@dataclass(frozen=True)
class Match:
    """The bills matching the words: `ids` (for IN, cheap) and `scored` (bill_id, score)."""

    ids: Any
    scored: Any
    top: Any = None  # SQLite: FTS5's own ORDER BY rank with :limit and :offset
    split: Any = None  # SQLite: the same matches in two parts, see Split
    # PostgreSQL, one plain word: (bill_id, score) of the matches with the word in the
    # identifier or title (weight A), from bill_search_title; see :func:`pg_title_first`
    title_scored: Any = None
    # PostgreSQL: every match has this ts_rank (see :func:`pg_same_score`), so relevance
    # order is recency order and nothing needs scoring
    same_score: float | None = None
    # SQLite: every matched id as one JSON array (json_group_array): reading 19,000 ids
    # as one string costs a quarter of reading them as 19,000 rows
    id_json: Any = None
    scored_among: Any = None  # SQLite: (bill_id, score) of the matches among :ids, unsorted
    # PostgreSQL: the matches among :probe (a list of bill ids), each looked up by its key
    probe: Any = None


def match_words(conn: Connection, tq: TextQuery, sponsor: str | None) -> Match | None:
    sponsor_words = tuple(WORD.findall((sponsor or "").lower()))[:8]
    if tq.empty and not sponsor_words:
        return None
    if conn.dialect.name == "sqlite":
        return _fts5_match(tq, sponsor_words)
    return _pg_match(tq, sponsor_words, conn)


# FTS5 column weights: identifier, title, body, sponsors, actions.
FTS5_WEIGHTS = "10.0, 5.0, 2.0, 1.0, 0.5"
_BM25 = f"bm25(bill_fts, {FTS5_WEIGHTS})"


def _fts5_item(item: Item) -> str:
    return '"' + " ".join(item.words) + '"' + ("*" if item.prefix else "")


def _fts5_excluding(expr: str, tq: TextQuery) -> str:
    for item in tq.excluded:
        expr = f"({expr} NOT {_fts5_item(item)})"
    return expr


def _fts5_groups(tq: TextQuery) -> str:
    groups = ["(" + " AND ".join(_fts5_item(i) for i in g) + ")" for g in tq.groups]
    return "(" + " OR ".join(groups) + ")"


def fts5_expression(tq: TextQuery, sponsor_words: Sequence[str] = ()) -> str:
    """The FTS5 MATCH string. Every word is [^\\W_]+ (no quotes), written inside quotes."""
    parts = [_fts5_excluding(_fts5_groups(tq), tq)] if not tq.empty else []
    parts += [f'sponsors : "{w}"' for w in sponsor_words]
    return " AND ".join(parts)


def fts5_title_split(tq: TextQuery) -> tuple[str, str]:
    """The same matches in two parts: those with the words in the identifier or title, and the
    rest. Together they are exactly ``fts5_expression(tq)``."""
    in_title = "({identifier title} : " + _fts5_groups(tq) + ")"
    return _fts5_excluding(in_title, tq), f"({fts5_expression(tq)} NOT {in_title})"


def _fts5_match(tq: TextQuery, sponsor_words: Sequence[str]) -> Match:
    expr = fts5_expression(tq, sponsor_words)
    ids = text("SELECT rowid FROM bill_fts WHERE bill_fts MATCH :fts").bindparams(fts=expr)
    scored = text(
        f"SELECT rowid AS bill_id, -{_BM25} AS score FROM bill_fts WHERE bill_fts MATCH :fts"  # noqa: S608 - constants only
    ).bindparams(fts=expr)
    top = text(
        "SELECT rowid AS bill_id, -rank AS score FROM bill_fts WHERE bill_fts MATCH :fts "
        "ORDER BY rank LIMIT :limit OFFSET :offset"
    ).bindparams(fts=expr)
    # (bill_id, score) of the matches among :ids (a JSON list), unsorted. +rowid: handed to
    # FTS5 as a constraint, the IN list made FTS5 compute bm25 for every match (7 ms for 16
    # ids among 19,000 matches); tested by SQLite, bm25 is computed for the listed ids only
    among = text(
        f"SELECT rowid, -{_BM25} FROM bill_fts WHERE bill_fts MATCH :fts "  # noqa: S608
        "AND +rowid IN (SELECT value FROM json_each(:ids))"
    )
    split = None
    if not tq.empty and not sponsor_words:
        title, rest = fts5_title_split(tq)
        count = text("SELECT count(*) FROM bill_fts WHERE bill_fts MATCH :fts")
        split = Split(
            count.bindparams(fts=expr),
            count.bindparams(fts=title),
            top.bindparams(fts=title),
            top.bindparams(fts=rest),
            _materialized(scored.bindparams(fts=title), "mt"),
            _materialized(scored.bindparams(fts=rest), "mr"),
            among.bindparams(fts=expr),
            among.bindparams(fts=title),
            among.bindparams(fts=rest),
        )
    return Match(
        ids.columns(rowid=Integer),
        _materialized(scored, "m"),
        top,
        split,
        id_json=text(
            "SELECT json_group_array(rowid) FROM bill_fts WHERE bill_fts MATCH :fts"
        ).bindparams(fts=expr),
        scored_among=among.bindparams(fts=expr),
    )


def _materialized(scored: Any, name: str) -> Any:
    # MATERIALIZED: run MATCH once, never once per candidate row of a filtered bill scan
    return scored.columns(bill_id=Integer, score=Float).cte(name).prefix_with("MATERIALIZED")


def pg_tsquery(tq: TextQuery, sponsor_words: Sequence[str] = ()) -> tuple[str, dict[str, str]]:
    """A tsquery SQL expression built only from parameter placeholders, and its parameters."""
    params: dict[str, str] = {}

    def bind(value: str) -> str:
        name = f"tq{len(params)}"
        params[name] = value
        return f":{name}"

    def one(item: Item) -> str:
        if item.prefix:
            return f"to_tsquery('english', quote_literal({bind(item.words[0])}) || {bind(':*')})"
        if len(item.words) > 1:
            return f"phraseto_tsquery('english', {bind(' '.join(item.words))})"
        return f"plainto_tsquery('english', {bind(item.words[0])})"

    parts = []
    if not tq.empty:
        groups = ["(" + " && ".join(one(i) for i in g) + ")" for g in tq.groups]
        expr = "(" + " || ".join(groups) + ")"
        for item in tq.excluded:
            expr = f"({expr} && !!{one(item)})"
        parts.append(expr)
    for word in sponsor_words:
        parts.append(f"to_tsquery('english', quote_literal({bind(word)}) || {bind(':C')})")
    return "(" + " && ".join(parts) + ")", params


def pg_sponsor_query(sponsor_words: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The sponsor words' tsquery over ``bill_search_sponsor``, and its parameters.

    That table holds exactly the document's lexemes of weight C, with their C positions only,
    so it matches the bills that ``pg_tsquery((), sponsor_words)`` matches in ``bill_search``.
    A plain word (one lexeme at most, see :func:`_plain_word`) is tested without its ``:C``:
    a plain lexeme needs no recheck of the rows the GIN index finds. Any other word keeps its
    ``:C`` (every position there has weight C, so it is the same test)."""
    params: dict[str, str] = {}
    parts = []
    for word in sponsor_words:
        name = f"sp{len(params)}"
        params[name] = word
        if word.isascii() and word.isalnum():
            parts.append(f"to_tsquery('english', quote_literal(:{name}))")
        else:
            params[f"{name}c"] = ":C"
            parts.append(f"to_tsquery('english', quote_literal(:{name}) || :{name}c)")
    return "(" + " && ".join(parts) + ")", params


def _pg_match(tq: TextQuery, sponsor_words: Sequence[str], conn: Connection | None = None) -> Match:
    # The tsquery expression is written inline (not in a joined subquery) so the planner sees
    # it in the WHERE clause and uses the GIN index.
    expr, params = pg_tsquery(tq, sponsor_words)
    ids = text(f"SELECT bill_id FROM bill_search WHERE document @@ {expr}")  # noqa: S608
    ids = ids.bindparams(**params)
    # a few thousand bills tested one by one (their rows found by key), rather than the GIN
    # index's every match read from the heap (a join with unnest(:probe) was planned as a
    # hash join over every match once the list was long); the tsquery as a subquery, computed
    # once rather than for each bill tested as in a generic plan (`tax` by latest action: 10.5
    # ms of CPU, process and server, down to 8.7)
    probe = text(
        "SELECT bill_id FROM bill_search "  # noqa: S608
        f"WHERE bill_id = ANY(CAST(:probe AS integer[])) AND document @@ (SELECT {expr})"
    ).bindparams(**params)
    if tq.empty:
        # a sponsor's name alone: the bills with its words in weight C are those with them in
        # bill_search_sponsor, whose narrow rows the GIN index finds with no recheck (4,454
        # for smith), rather than every document holding the words in any weight (7,125),
        # each read whole to look for weight C. With words too, the document's own GIN test
        # of all of them at once stays cheaper than a join of the two tables.
        sponsor_expr, sponsor_params = pg_sponsor_query(sponsor_words)
        ids = text(
            f"SELECT bill_id FROM bill_search_sponsor WHERE words @@ {sponsor_expr}"  # noqa: S608
        ).bindparams(**sponsor_params)
        # the tsquery as a subquery, as above (4,564 bills tested: 7.7 ms of server time in
        # a generic plan with it inline)
        probe = text(
            "SELECT bill_id FROM bill_search_sponsor "  # noqa: S608
            f"WHERE bill_id = ANY(CAST(:probe AS integer[])) AND words @@ (SELECT {sponsor_expr})"
        ).bindparams(**sponsor_params)
    # ts_rank's tsquery as a subquery: computed once (an InitPlan), not once per matched row as
    # a function of parameters is in a generic plan (a third of the query's time for 19,000 rows)
    scored = text(
        f"SELECT bill_id, ts_rank(document, (SELECT {expr})) AS score "  # noqa: S608
        f"FROM bill_search WHERE document @@ {expr}"
    )
    title_scored = None
    if pg_title_first(tq, sponsor_words) is not None:
        # bill_search_title holds only the lexemes found in the identifier or a title, with
        # all their positions: the word matches there exactly when it has weight A in the
        # document, and its ts_rank there is its ts_rank over the whole document
        title_scored = (
            text(
                f"SELECT bill_id, ts_rank(words, (SELECT {expr})) AS score "  # noqa: S608
                f"FROM bill_search_title WHERE words @@ {expr}"
            )
            .bindparams(**params)
            .columns(bill_id=Integer, score=Float)
            .subquery("mt")
        )
    same = None
    if conn is not None and pg_same_score(tq, sponsor_words):
        # a stop word drops out of the tsquery: only the full shape has the constant score
        nodes = conn.execute(text(f"SELECT numnode({expr})").bindparams(**params)).scalar_one()
        same = PG_NO_PAIR_SCORE if nodes == 1 + 3 * len(tq.excluded) else None
    return Match(
        ids.columns(bill_id=Integer),
        scored.bindparams(**params).columns(bill_id=Integer, score=Float).subquery("m"),
        title_scored=title_scored,
        same_score=same,
        probe=probe.columns(bill_id=Integer),
    )


PG_NO_PAIR_SCORE = 1e-20  # ts_rank of an AND query none of whose pairs of words occur


def pg_same_score(tq: TextQuery, sponsor_words: Sequence[str]) -> bool:
    """One plain word and excluded plain words (``health -dental``): ts_rank ranks a query
    with AND by pairs of its words found in the document (calc_rank_and), the excluded words
    counting as words, and a match holds none of them: no pair, every match scores 1e-20."""
    if sponsor_words or not tq.excluded or len(tq.groups) != 1 or len(tq.groups[0]) != 1:
        return False
    return all(_plain_word(item) for item in (tq.groups[0][0], *tq.excluded))


def _plain_word(item: Item) -> bool:
    # an ASCII run of letters and digits is one token of PostgreSQL's parser: one lexeme at most
    word = item.words[0]
    return not item.prefix and len(item.words) == 1 and word.isascii() and word.isalnum()


def pg_title_first(tq: TextQuery, sponsor_words: Sequence[str]) -> str | None:
    """The word, when the query is one plain word whose ts_rank puts every bill with it in the
    identifier or title (weight A) before every bill without.

    For a query of one lexeme ts_rank is ``sum(w[j] / (j + 1)^2) / 1.6449`` over the lexeme's
    positions j in document order (PostgreSQL's calc_rank_or, no normalisation), and the
    index's documents are A || B || C || D (see :mod:`.indexing`), so a bill with the word in
    A starts with weight 1.0 and scores at least 1 / 1.6449 = 0.61, while one without starts
    with at most B (0.4) and scores below 0.4 (the sum of 1 / (j + 1)^2 stays under 1.6449).
    (PostgreSQL clamps positions at 16,383: only titles and abstracts longer than that could
    put a lower weight first.) tests/test_search_speed.py compares it with the full ranking.
    """
    if sponsor_words or tq.excluded or len(tq.groups) != 1 or len(tq.groups[0]) != 1:
        return None
    item = tq.groups[0][0]
    return item.words[0] if _plain_word(item) else None
