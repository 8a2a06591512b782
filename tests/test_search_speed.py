"""Search's shortcuts for big result sets (result cache, facet snapshot, title-first ranking on
SQLite) give the same answers as the plain queries. The thresholds are lowered so a handful
of synthetic bills take the shortcuts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import tracker.search as S
from tracker.ingest import ingest_bills
from tracker.search import SearchQuery, cache, ranking, reindex_bills, search, snapshot


def synthetic(n: int, title: str, state: str, stage_date: str, **over: Any) -> dict[str, Any]:
    """A made-up bill (synthetic) in ScrapedBill shape."""
    bill: dict[str, Any] = {
        "state": state,
        "legislative_session": "2025-2026" if state != "ma" else "194th",
        "identifier": f"SB {n}",
        "title": title,
        "chamber": "upper",
        "actions": [
            {"date": stage_date, "description": "Referred to committee", "chamber": "upper"}
        ],
        "abstracts": [{"abstract": "Health coverage for residents" if n % 3 == 0 else "Roads"}],
        "sponsorships": [{"name": "Jane Example", "primary": True}],
        "sources": [{"url": f"https://example.org/{state}/{n}"}],
    }
    bill.update(over)
    return bill


BILLS = [
    synthetic(
        n,
        ("Health insurance market" if n % 2 else "Highway funding") + f" number {n}",
        ("ny", "wa", "ma")[n % 3],
        f"2025-0{1 + n % 9}-1{n % 10}",
    )
    for n in range(1, 25)
]
QUERIES = [
    SearchQuery(q="health"),
    SearchQuery(q="health", sort="recency"),
    SearchQuery(q="health -insurance"),
    SearchQuery(q="health", state=("ny", "wa")),
    SearchQuery(q="health", session="194th"),
    SearchQuery(q="health", stage=("introduced", "in_committee")),
    SearchQuery(q="health", since="2025-03-01"),
    SearchQuery(q="highway OR coverage", per_page=5, page=2),
    SearchQuery(sponsor="example"),
]


@pytest.fixture
def loaded(engine):  # type: ignore[no-untyped-def]
    report = ingest_bills(engine, BILLS, source="test")
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    S.clear_cache()
    return engine


def shortcuts(monkeypatch: pytest.MonkeyPatch, on: bool, split_filtered: bool = False) -> None:
    big = 10**9
    # filtered matches on SQLite: scored one by one when few, else title-first like the rest
    monkeypatch.setattr(ranking, "FEW_MATCHES", 0 if split_filtered else 50)
    monkeypatch.setattr(ranking, "FEW_ROWS", 0 if split_filtered else 2000)
    monkeypatch.setattr(cache, "SNAPSHOT_MIN", 0 if on else big)
    monkeypatch.setattr(ranking, "SPLIT_RANK_MIN", 0 if on else big)
    monkeypatch.setattr(cache, "CACHE_MIN_TOTAL", 0 if on else big)
    monkeypatch.setattr(cache, "CACHED_IDS", 4 if on else 200)
    S.clear_cache()


def answer(engine, query: SearchQuery) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    result = search(engine, query)
    facets = {k: [(f.value, f.count, f.selected) for f in v] for k, v in result.facets.items()}
    return result.total, facets, [h["id"] for h in result.hits]


@pytest.mark.parametrize("split_filtered", [False, True])
def test_shortcuts_give_the_plain_answers(loaded, monkeypatch, split_filtered: bool) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=False)
    plain = {q: answer(loaded, q) for q in QUERIES}
    # health: in the odd titles (12) and the abstract of every third bill (4 more even ones)
    assert plain[QUERIES[0]][0] == 16 and plain[QUERIES[3]][0] == 12
    shortcuts(monkeypatch, on=True, split_filtered=split_filtered)
    for query in QUERIES:
        total, facets, hits = answer(loaded, query)
        assert (total, facets) == plain[query][:2], query
        scored_one_by_one = query.has_filters and not split_filtered
        if query.sort == "recency" or loaded.dialect.name == "postgresql" or scored_one_by_one:
            assert hits == plain[query][2], query
        elif total <= query.per_page:  # title-first ranking on SQLite: same bills, new order
            assert set(hits) == set(plain[query][2]), query
        assert answer(loaded, query) == (total, facets, hits), "cached answer differs"


def test_pages_from_the_cache_neither_repeat_nor_skip(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=True)
    for sort in ("relevance", "recency"):
        pages = [
            [
                h["id"]
                for h in search(loaded, SearchQuery(q="health", sort=sort, per_page=3, page=p)).hits
            ]
            for p in range(1, 7)
        ]
        seen = [bill_id for page in pages for bill_id in page]
        assert len(seen) == len(set(seen)) == 16, sort


def test_title_matches_rank_first_on_big_sets(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=True)
    hits = search(loaded, SearchQuery(q="health", per_page=50)).hits
    in_title = ["health" in h["title"].lower() for h in hits]
    assert in_title == sorted(in_title, reverse=True) and in_title[0] and not in_title[-1]


def test_a_change_in_the_data_is_seen_despite_the_cache(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=True)
    before = search(loaded, SearchQuery(q="health", state=("ny", "wa")))
    # an existing bill (wa SB 4, about highways) changes: its id stays, last_changed moves
    changed = synthetic(4, "Health care for fishermen", "wa", "2025-05-14")
    report = ingest_bills(loaded, [changed], source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    after = search(loaded, SearchQuery(q="health", state=("ny", "wa")))
    assert after.total == before.total + 1
    assert after.facets["state"] != before.facets["state"]


def test_warm_builds_the_snapshot_searches_then_use(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=True)
    snapshot.SNAPSHOTS.clear()
    S.warm(loaded)
    (snap,) = snapshot.SNAPSHOTS.values()
    assert sum(snap.sizes) == len(BILLS)
    search(loaded, SearchQuery(q="health"))
    assert next(iter(snapshot.SNAPSHOTS.values())) is snap  # same data version: not rebuilt


def test_title_first_ranking_gives_the_full_ranking(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL ranks only the bills with the word in the title when they fill the first
    pages, else every match (12 of the 16 'health' bills have it in the title); SQLite ranks
    title matches first too. Either way the order is the plain query's."""
    shortcuts(monkeypatch, on=False)
    plain = [h["id"] for h in search(loaded, SearchQuery(q="health", per_page=16)).hits]
    for cached in (4, 12, 13, 20):  # fewer, as many and more first ids than title matches
        shortcuts(monkeypatch, on=True)
        monkeypatch.setattr(cache, "CACHED_IDS", cached)
        result = search(loaded, SearchQuery(q="health", per_page=16))
        assert result.total == 16
        if loaded.dialect.name == "postgresql":
            assert [h["id"] for h in result.hits] == plain, cached
        else:
            assert set(h["id"] for h in result.hits) == set(plain), cached


def test_title_first_ranking_follows_a_changed_title(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bill whose title loses the word still matches (by its abstract) and ranks where the
    plain query ranks it: on PostgreSQL its row of ``bill_search_title`` is rewritten with its
    document, so the title-first ranking no longer scores it as a title match."""
    # ny SB 3: 'health' in the title and the abstract; now in the abstract only
    changed = synthetic(3, "Highway funding number 3", "ny", "2025-04-13")
    report = ingest_bills(loaded, [changed], source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    shortcuts(monkeypatch, on=False)
    query = SearchQuery(q="health", per_page=16)
    plain = scored_answer(loaded, query)
    # 11 title matches first, then the 5 with the word in the abstract only, SB 3 among them
    assert plain[0] == 16 and set(report.bill_ids) <= {bill_id for bill_id, _ in plain[2][-5:]}
    # the first 12 from the snapshot: scored from the title rows if they held 12 (a stale row
    # for SB 3 would), else from every match
    query = SearchQuery(q="health", per_page=12)
    plain = scored_answer(loaded, query)
    shortcuts(monkeypatch, on=True)
    monkeypatch.setattr(cache, "CACHED_IDS", 12)
    now = scored_answer(loaded, query)
    if loaded.dialect.name == "postgresql":
        assert now == plain
    else:  # FTS5's title-first ranking: the same bills, in its own order
        assert now[:2] == plain[:2] and {i for i, _ in now[2]} == {i for i, _ in plain[2]}


def test_title_words_are_the_documents_title_lexemes(loaded) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: a word is in a bill's ``bill_search_title`` row exactly when it has weight
    A in its document, and ts_rank over the row is ts_rank over the document."""
    if loaded.dialect.name != "postgresql":
        return  # FTS5 matches in the identifier and title columns themselves
    from sqlalchemy import text

    with loaded.connect() as conn:
        lexemes = conn.execute(
            text("SELECT DISTINCT u.lexeme FROM bill_search s, unnest(s.document) u")
        ).scalars()
        for lexeme in lexemes:
            in_a = conn.execute(
                text(
                    "SELECT bill_id, ts_rank(document, to_tsquery('simple', quote_literal(:w))) "
                    "FROM bill_search "
                    "WHERE document @@ to_tsquery('simple', quote_literal(:w) || :a) "
                    "ORDER BY bill_id"
                ),
                {"w": lexeme, "a": ":A"},
            ).all()
            in_title = conn.execute(
                text(
                    "SELECT bill_id, ts_rank(words, to_tsquery('simple', quote_literal(:w))) "
                    "FROM bill_search_title "
                    "WHERE words @@ to_tsquery('simple', quote_literal(:w)) ORDER BY bill_id"
                ),
                {"w": lexeme},
            ).all()
            assert in_title == in_a, lexeme


# sponsors whose words also occur in titles, abstracts and actions (weights A, B, D), names
# with stop words and punctuation, and a name outside ASCII
SPONSORED = [
    synthetic(
        100 + n,
        title,
        "ma",
        "2025-06-1" + str(n),
        sponsorships=[{"name": name, "primary": True} for name in names],
    )
    for n, (title, names) in enumerate(
        [
            ("Health coverage for all", ["Committee on Health", "Mary O'Brien-Smith"]),
            ("Roads and highways", ["Joint Committee on Health Care Financing"]),
            ("Smith Act on referred committees", ["Ana Gómez", "Jane Example"]),
            ("Coverage", ["Tom Smith, Jr.", "Office of the Treasurer"]),
            ("The health of rivers", []),
        ]
    )
]
SPONSOR_NAMES = [
    "example",
    "health",
    "smith",
    "committee on health",
    "Mary O'Brien-Smith",
    "o brien",
    "Gómez",
    "gomez",
    "Tom Smith, Jr.",
    "the treasurer",
    "of the",
    "referred",
    "coverage",
    "jane example",
    "nobody",
]


def _weight_c_pairs(engine) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    """(bill id, lexeme) with a position of weight C in the document, and in bill_search_sponsor
    (there, any lexeme with a position of another weight counts too)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        in_doc = conn.execute(
            text(
                "SELECT s.bill_id, u.lexeme FROM bill_search s, unnest(s.document) u "
                "WHERE 'C' = ANY(u.weights)"
            )
        ).all()
        in_table = conn.execute(
            text(
                "SELECT p.bill_id, u.lexeme FROM bill_search_sponsor p, unnest(p.words) u "
                "WHERE 'C' = ANY(u.weights) AND u.weights = ARRAY['C']"
            )
        ).all()
        stray = conn.execute(
            text(
                "SELECT p.bill_id, u.lexeme FROM bill_search_sponsor p, unnest(p.words) u "
                "WHERE u.weights <> ARRAY['C'] OR u.positions IS NULL"
            )
        ).all()
    assert stray == []
    return {tuple(r) for r in in_doc}, {tuple(r) for r in in_table}  # type: ignore[misc]


def test_sponsor_words_are_the_documents_weight_c_lexemes(loaded) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: a bill's ``bill_search_sponsor`` row holds exactly the lexemes of weight C
    (sponsor names) of its document, after import, after a bill's sponsors change and after a
    whole rebuild."""
    if loaded.dialect.name != "postgresql":
        return  # FTS5 has a sponsors column
    report = ingest_bills(loaded, SPONSORED, source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    in_doc, in_table = _weight_c_pairs(loaded)
    assert in_doc == in_table and len(in_doc) > len(BILLS)
    # ny SB 3 changes sponsor: Jane Example leaves, a committee on health comes
    changed = synthetic(
        3, "Health insurance market number 3", "ny", "2025-04-13",
        sponsorships=[{"name": "Committee on Health", "primary": True}],
    )  # fmt: skip
    report = ingest_bills(loaded, [changed], source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    in_doc, in_table = _weight_c_pairs(loaded)
    assert in_doc == in_table
    (bill_id,) = report.bill_ids
    assert (bill_id, "health") in in_table and (bill_id, "jane") not in in_table
    with loaded.begin() as conn:
        conn.exec_driver_sql("DELETE FROM bill_search_sponsor")
    S.rebuild_index(loaded)
    assert _weight_c_pairs(loaded) == (in_doc, in_table)


def test_sponsor_search_from_the_sponsor_table_is_the_documents(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A sponsor's name alone matches, from ``bill_search_sponsor`` on PostgreSQL, the bills
    whose document has its words in weight C; and searches by it give the plain answers."""
    report = ingest_bills(loaded, SPONSORED, source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    from sqlalchemy import text

    from tracker.search.backends import WORD, match_words, pg_tsquery
    from tracker.search.query import TextQuery

    matched = []
    with loaded.connect() as conn:
        for name in SPONSOR_NAMES:
            match = match_words(conn, TextQuery(), name)
            assert match is not None
            ids = sorted(conn.execute(match.ids).scalars())
            if loaded.dialect.name == "postgresql":
                expr, params = pg_tsquery(TextQuery(), WORD.findall(name.lower()))
                stmt = f"SELECT bill_id FROM bill_search WHERE document @@ {expr} ORDER BY 1"  # noqa: S608
                assert ids == list(conn.execute(text(stmt), params).scalars()), name
                probed = match.probe.bindparams(probe=list(range(1, 200)))
                assert sorted(conn.execute(probed).scalars()) == ids, name
            matched.append(len(ids))
    # example, health, smith, committee on health, O'Brien-Smith, o brien, Gómez, gomez,
    # Tom Smith Jr., the treasurer, of the, referred, coverage, jane example, nobody; FTS5
    # folds diacritics and keeps stop words
    pg = loaded.dialect.name == "postgresql"
    assert matched == [25, 2, 2, 2, 1, 1, 1, 0 if pg else 1, 1, 1, 0 if pg else 1, 0, 0, 25, 0]
    shortcuts(monkeypatch, on=False)
    queries = [SearchQuery(sponsor=name, per_page=4) for name in SPONSOR_NAMES]
    queries += [
        SearchQuery(q="health", sponsor="example"),
        SearchQuery(q="coverage", sponsor="smith"),
    ]
    plain = {q: answer(loaded, q) for q in queries}
    shortcuts(monkeypatch, on=True)
    for query in queries:
        S.clear_cache()
        found = search(loaded, query)  # lower bounds when found among the newest bills
        assert [h["id"] for h in found.hits] == plain[query][2], query
        if found.total_exact:
            assert answer(loaded, query) == plain[query], query
        S.clear_cache()
        exact = search(loaded, query, exact=True)
        facets = {k: [(f.value, f.count, f.selected) for f in v] for k, v in exact.facets.items()}
        assert (exact.total, facets, [h["id"] for h in exact.hits]) == plain[query], query


def test_few_filtered_matches_are_scored_from_the_snapshot(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shortcuts(monkeypatch, on=False)
    query = SearchQuery(q="health", state=("wa",))
    plain = answer(loaded, query)
    shortcuts(monkeypatch, on=True)
    assert answer(loaded, query) == plain
    assert plain[0] == len(plain[2]) == 4


@pytest.mark.parametrize(
    ("typed", "word"),
    [
        ("health", "health"),
        ("Medicaid2025", "medicaid2025"),
        ("health*", None),
        ('"health plan"', None),
        ("health insurance", None),
        ("health -dental", None),
        ("medicare OR medicaid", None),
        ("santé", None),
    ],
)
def test_title_first_only_for_one_plain_word(typed: str, word: str | None) -> None:
    from tracker.search.backends import pg_title_first
    from tracker.search.query import parse_text

    assert pg_title_first(parse_text(typed), ()) == word
    assert pg_title_first(parse_text(typed), ("smith",)) is None


@pytest.mark.parametrize("typed", ["health -insurance", "health -insurance -the", "health -the"])
def test_one_word_with_exclusions_in_recency_order(loaded, monkeypatch, typed: str) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL every match of `word -other` has the same ts_rank, so the snapshot orders
    them by recency without scoring; when a stop word drops out of the tsquery it is scored as
    usual (``health -the`` ranks by the word). The answers are the plain query's."""
    shortcuts(monkeypatch, on=False)
    query = SearchQuery(q=typed, per_page=16)
    plain = answer(loaded, query)
    assert plain[0] == (16 if typed == "health -the" else 4)
    if loaded.dialect.name == "postgresql":
        from tracker.search.backends import PG_NO_PAIR_SCORE, match_words
        from tracker.search.query import parse_text

        with loaded.connect() as conn:
            same = match_words(conn, parse_text(typed), None).same_score  # type: ignore[union-attr]
        # a stop word dropped from the tsquery: not the expected shape, scored as usual
        assert same == (PG_NO_PAIR_SCORE if typed == "health -insurance" else None)
    for cached in (2, 200):
        shortcuts(monkeypatch, on=True)
        monkeypatch.setattr(cache, "CACHED_IDS", cached)
        now = answer(loaded, query)
        assert now[:2] == plain[:2]
        if loaded.dialect.name == "postgresql":
            assert now[2] == plain[2]
        else:
            assert set(now[2]) == set(plain[2])


FILTERED = [
    SearchQuery(q="health", state=("ny", "wa")),
    SearchQuery(q="health", stage=("introduced", "in_committee")),
    SearchQuery(q="health insurance", state=("ma", "ny")),
    SearchQuery(q="highway OR coverage", state=("ny", "ma")),
    SearchQuery(q="health -insurance", session="2025-2026"),
    SearchQuery(q="health", sponsor="example", state=("ny", "wa")),
    SearchQuery(q="health", state=("wa",)),
    SearchQuery(q="highway OR coverage", state=("ma",)),
]


def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Calls of ``cache.<name>`` from now on (the function still runs): one item per call."""
    calls: list[int] = []
    real = getattr(cache, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, name, spy)
    return calls


def scored_answer(engine, query: SearchQuery, exact: bool = False) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    result = search(engine, query, exact=exact)
    facets = {k: [(f.value, f.count) for f in v] for k, v in result.facets.items()}
    return result.total, facets, [(h["id"], h["score"]) for h in result.hits]


@pytest.mark.parametrize("split_filtered", [False, True])
@pytest.mark.parametrize("cached", [4, 10])
def test_filtered_matches_ranked_from_the_snapshot_in_the_sql_order(  # type: ignore[no-untyped-def]
    loaded, monkeypatch, split_filtered: bool, cached: int
) -> None:
    """Filtered matches the snapshot has kept are ordered here as the SQL join orders them
    (SQLite: scored by FTS5 among themselves, title matches first when split): the same
    bills, scores and order as with the snapshot off, on the first look and past it (where
    PostgreSQL lists the matches without scoring them)."""
    calls = counted(monkeypatch, "_fts5_filtered_head")
    for query in FILTERED:
        for page, per_page in ((1, cached), (2, cached // 2), (2, cached)):
            asked = SearchQuery(**{**query.__dict__, "page": page, "per_page": per_page})
            shortcuts(monkeypatch, on=True, split_filtered=split_filtered)
            monkeypatch.setattr(cache, "CACHED_IDS", cached)
            with monkeypatch.context() as plain:  # counted, faceted and ranked in SQL
                plain.setattr(cache, "snapshot_applies", lambda *args, **kwargs: False)
                in_sql = scored_answer(loaded, asked)
            assert in_sql[0] > 0, asked
            S.clear_cache()
            # the first look may count a big set's title matches only: the same hits
            assert scored_answer(loaded, asked)[2] == in_sql[2], asked
            assert scored_answer(loaded, asked, exact=True) == in_sql, asked
    if loaded.dialect.name == "sqlite":
        assert calls  # the snapshot's ranking ran (queries with more than FEW_MATCHES hits)


@pytest.mark.parametrize("cached", [4, 200])
def test_filters_only_from_the_snapshot_give_the_sql_answer(
    loaded, monkeypatch, cached: int
) -> None:  # type: ignore[no-untyped-def]
    """No words: with the snapshot built, totals, facets and the newest bills come from it;
    they are the SQL count, GROUP BY and ORDER BY's, on the first look and on later pages."""
    calls = counted(monkeypatch, "_filters_from_snapshot")
    queries = [
        SearchQuery(),
        SearchQuery(state=("ny", "wa")),
        SearchQuery(session="194th"),
        SearchQuery(stage=("in_committee",), state=("ma", "ny")),
        SearchQuery(state=("tx",)),  # none
        SearchQuery(state=("wa",), relevant=True),  # the SQL answer: relevant is not in it
    ]
    for query in queries:
        for page, per_page in ((1, 3), (2, 3), (5, 2), (1, 50)):
            asked = SearchQuery(**{**query.__dict__, "page": page, "per_page": per_page})
            shortcuts(monkeypatch, on=True)
            monkeypatch.setattr(cache, "CACHED_IDS", cached)
            snapshot.SNAPSHOTS.clear()
            in_sql = answer(loaded, asked)
            S.warm(loaded)
            S.clear_cache()
            assert answer(loaded, asked) == in_sql, asked
    assert len(calls) == 5 * 4  # every query but the relevant one


@pytest.mark.parametrize("spread", ["even", "oldest", "newest"])
def test_newest_from_the_recency_list_is_the_sorted_answer(spread: str) -> None:
    """cache.newest looks for the ids from the newest bill on when it has the snapshot's
    recency list, and sorts them when they are not where an even spread puts them: either way
    the first n by recency position, newest first."""
    import random

    size = 5000
    recency = list(range(size))
    random.Random(3).shuffle(recency)  # bill ids by position, newest first
    order = [0] * size
    for position, bill_id in enumerate(recency):
        order[bill_id] = position
    picked = {"even": recency[::3], "oldest": recency[-2000:], "newest": recency[:2000]}[spread]
    ids = random.Random(4).sample(picked, len(picked))  # in no order, as the database lists them
    for n in (1, 50, 400, len(ids) - 1, len(ids)):
        expected = sorted(ids, key=order.__getitem__)[:n]
        assert cache.newest(ids, n, order) == expected
        assert cache.newest(ids, n, order, recency) == expected, n


BOUNDED = [
    SearchQuery(q="health", per_page=4),
    SearchQuery(q="health", per_page=2, page=2),
    SearchQuery(q="health", state=("ny", "wa"), per_page=4),
    SearchQuery(q="health", stage=("introduced", "in_committee"), per_page=4),
]


def _scored(result: S.SearchResult) -> list[tuple[int, float | None]]:
    return [(h["id"], h.get("score")) for h in result.hits]  # no score in recency order


def _counts(result: S.SearchResult) -> dict[tuple[str, str], int]:
    return {(name, f.value): f.count for name, values in result.facets.items() for f in values}


def test_big_title_first_sets_are_first_counted_with_lower_bounds(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: when the bills with the one word in their title fill the first ids, the
    first look counts those alone: the same hits and scores as the exact count, a total and
    facet counts no higher than the exact ones, marked as lower bounds (12 of the 16 'health'
    bills have it in the title); an exact look replaces the cached bounds. SQLite counts
    exactly, as before."""
    shortcuts(monkeypatch, on=True)
    for query in BOUNDED:
        S.clear_cache()
        exact = search(loaded, query, exact=True)
        assert exact.total_exact and exact.hits, query
        S.clear_cache()
        first = search(loaded, query)
        assert _scored(first) == _scored(exact), query
        if loaded.dialect.name == "sqlite":
            assert first.total_exact and first.total == exact.total, query
            assert _counts(first) == _counts(exact), query
            continue
        assert not first.total_exact, query
        assert 0 < first.total < exact.total, query
        counts = _counts(exact)
        assert all(n <= counts[key] for key, n in _counts(first).items()), query
        assert search(loaded, query).total == first.total  # the bounds are kept...
        again = search(loaded, query, exact=True)  # ...until counted exactly
        assert (again.total, again.total_exact, _counts(again)) == (exact.total, True, counts)
        assert _scored(again) == _scored(exact)
        later = search(loaded, query)  # the exact count is what the cache holds now
        assert (later.total, later.total_exact) == (exact.total, True), query


def test_pages_past_the_first_ids_after_lower_bounds(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """New York: 4 of the 8 'health' bills have it in the title, as many as the first ids: the
    lower bound (4) is no sign that the first ids are all the results. A later page and an
    export of every row (which read the cached bounds) still list every match."""
    shortcuts(monkeypatch, on=True)
    ny = SearchQuery(q="health", state=("ny",), per_page=4)
    every = SearchQuery(q="health", state=("ny",), per_page=100)
    exact = [h["id"] for h in search(loaded, every, exact=True).hits]
    assert len(exact) == 8
    S.clear_cache()
    first = search(loaded, ny)
    assert first.total == (4 if loaded.dialect.name == "postgresql" else 8)
    second = search(loaded, SearchQuery(**{**ny.__dict__, "page": 2}))
    assert [h["id"] for h in first.hits + second.hits] == exact
    assert [h["id"] for h in search(loaded, every).hits] == exact


IN_RECENCY = [
    SearchQuery(q="health", sort="recency", per_page=4),
    SearchQuery(q="health", sort="recency", per_page=2, page=2),
    SearchQuery(q="health", sort="recency", state=("ny", "wa"), per_page=4),
    SearchQuery(q="health -insurance", per_page=4),  # every match scores the same
    SearchQuery(sponsor="example", per_page=4),
    SearchQuery(sponsor="example", stage=("introduced", "in_committee"), per_page=4),
]


@pytest.mark.parametrize("first", [1, 3, 30])
def test_recency_order_found_among_the_newest(loaded, monkeypatch, first: int) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL tests the newest bills passing the filters, in batches, until the first ids
    are found: the same hits as listing every match; the total and facet counts are lower
    bounds unless every bill passing the filters was tested (then exact)."""
    shortcuts(monkeypatch, on=True)
    monkeypatch.setattr(cache, "PROBE_FIRST", first)
    bounded = 0
    for query in IN_RECENCY:
        S.clear_cache()
        exact = search(loaded, query, exact=True)
        assert exact.total_exact and exact.hits, query
        S.clear_cache()
        found = search(loaded, query)
        assert _scored(found) == _scored(exact), query
        if found.total_exact:  # SQLite, or every bill passing the filters tested
            assert (found.total, _counts(found)) == (exact.total, _counts(exact)), query
            continue
        bounded += 1
        assert 4 <= found.total < exact.total, query
        counts = _counts(exact)
        assert all(n <= counts[key] for key, n in _counts(found).items()), query
        assert (search(loaded, query, exact=True).total, exact.total_exact) == (exact.total, True)
    # 24 bills: a first batch of 30 tests them all (exact); smaller ones stop early
    assert bool(bounded) == (loaded.dialect.name == "postgresql" and first < 30), bounded


def test_too_few_matches_among_the_newest_are_listed(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the share of matches among the first bills tested says too many would have to be
    tested, every match is listed and counted, as before."""
    shortcuts(monkeypatch, on=True)
    monkeypatch.setattr(cache, "PROBE_FIRST", 2)
    monkeypatch.setattr(cache, "PROBE_LIMIT", 3)
    result = search(loaded, SearchQuery(q="health", sort="recency", per_page=4))
    assert (result.total, result.total_exact) == (16, True)


def test_too_few_title_matches_are_counted_exactly(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Fewer bills with the word in the title than the first ids: every match is listed and
    counted, as before."""
    shortcuts(monkeypatch, on=True)
    monkeypatch.setattr(cache, "CACHED_IDS", 13)  # 12 title matches
    result = search(loaded, SearchQuery(q="health", per_page=4))
    assert (result.total, result.total_exact) == (16, True)


def test_a_search_with_lower_bounds_is_marked_and_counted_exactly_next(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The site and the API mark lower bounds ("12+ bills", total_exact false), keep such an
    answer out of caches and count the search exactly in the background: the next request
    gets the exact numbers. SQLite answers exactly at once, with the same field."""
    from fastapi.testclient import TestClient

    from tracker.search import results
    from tracker.web.app import create_app

    shortcuts(monkeypatch, on=True)
    client = TestClient(create_app(loaded))
    params = {"q": "health", "per_page": "4"}
    hold = threading.Event()  # the background count waits until both answers are in
    held = results._LATER.submit(hold.wait, 30)
    try:
        first = client.get("/api/bills", params=params)
        page = client.get("/search/", params=params)
    finally:
        hold.set()
        held.result()
    assert first.status_code == page.status_code == 200
    if loaded.dialect.name == "sqlite":
        assert (first.json()["total"], first.json()["total_exact"]) == (16, True)
        assert "16 bills" in page.text and "no-store" not in first.headers["cache-control"]
        return
    assert (first.json()["total"], first.json()["total_exact"]) == (12, False)
    assert "12+ bills" in page.text and "At least this many" in page.text
    assert "no-store" in first.headers["cache-control"]
    assert "no-store" in page.headers["cache-control"]
    results._LATER.submit(lambda: None).result()  # one worker: the queued count has run
    second = client.get("/api/bills", params=params)
    assert (second.json()["total"], second.json()["total_exact"]) == (16, True)
    assert second.json()["results"] == first.json()["results"]
    again = client.get("/search/", params=params)
    assert "16 bills" in again.text and "At least" not in again.text
    assert "no-store" not in again.headers["cache-control"]


def test_the_command_line_counts_exactly(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A command runs once: no later look would show the exact count, so `tracker search`
    counts exactly where the site's first look shows lower bounds (12+ of 16 on PostgreSQL)."""
    import json

    from typer.testing import CliRunner

    from tracker.cli import app
    from tracker.settings import reset_settings

    shortcuts(monkeypatch, on=True)
    S.clear_cache()
    assert search(loaded, SearchQuery(q="health", per_page=4)).total_exact == (
        loaded.dialect.name == "sqlite"
    )
    S.clear_cache()
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded.url.render_as_string(False))
    reset_settings()
    done = CliRunner().invoke(app, ["search", "health", "--limit", "4"])
    assert done.exit_code == 0, done.output
    assert "16 bills; page 1 of 4" in done.output, done.output
    S.clear_cache()
    done = CliRunner().invoke(app, ["search", "health", "--limit", "4", "--format", "json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert (answer["total"], answer["total_exact"]) == (16, True)
