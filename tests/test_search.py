"""Search: our own tokens from any input, FTS5 and PostgreSQL behind one interface, filters,
facets, sorting, paging, bill numbers, and re-indexing kept in step with ingest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.search import (
    MAX_QUERY_CHARS,
    Item,
    SearchQuery,
    detect_bill_number,
    fts5_expression,
    indexed_count,
    parse_text,
    pg_tsquery,
    rebuild_index,
    reindex_bills,
    search,
)

HOSTILE = [
    '"',
    '""',
    '"unbalanced phrase',
    "((((",
    "))",
    "a AND",
    "OR",
    "NOT",
    "-",
    "*",
    "**",
    "health*)",
    "NEAR(a b)",
    "title:health",
    "{title}: x",
    "^health",
    "'; DROP TABLE bill; --",
    "\\",
    "\x00",
    "a & b | !c",
    "foo:*",
    "<->",
    "medi:*B",
    "💊 health 💊",
    "İstanbul ǅ ß",
    "١٢٣",
    "²",
    "x" * 5000,
    " ".join(["health"] * 400),
    '"' * 301,
    "-health",
    '-"single payer"',
    "%_%",
    "HB",
    "HB 99999999",
    "zz hb 1",
    "\u202e",
    "a\nb\tc",
]


def synthetic_bill(identifier: str, title: str, **over: Any) -> dict[str, Any]:
    """A made-up bill (synthetic) in ScrapedBill shape."""
    bill: dict[str, Any] = {
        "state": "ny",
        "legislative_session": "2025-2026",
        "identifier": identifier,
        "title": title,
        "chamber": "upper",
        "actions": [
            {"date": "2025-01-08", "description": "Referred to health", "chamber": "upper"}
        ],
        "sponsorships": [{"name": "Jane Example", "primary": True, "classification": "primary"}],
        "sources": [{"url": f"https://example.org/{identifier.replace(' ', '')}"}],
    }
    bill.update(over)
    return bill


SYNTHETIC = [
    synthetic_bill(
        "S 1234",
        "Establishes the New York Health Act, a single payer health plan",
        abstracts=[{"abstract": "Universal single-payer coverage for every resident"}],
    ),
    synthetic_bill(
        "A 5678",
        "Relates to payer of last resort for health insurance and single audits",
        chamber="lower",
        sponsorships=[{"name": "Robert Quimby", "primary": True}],
        actions=[{"date": "2025-03-02", "description": "Passed assembly", "chamber": "lower"}],
    ),
    synthetic_bill(
        "HB 2795",
        "Creates a commission to study medicare for all",
        state="ma",
        legislative_session="194th",
        actions=[
            {
                "date": "2025-06-10",
                "description": "Hearing scheduled on medicaid",
                "chamber": "lower",
            }
        ],
    ),
    synthetic_bill(
        "HB 2795",
        "Relating to fishing licenses",
        state="wa",
        actions=[
            {"date": "2024-02-01", "description": "Signed by governor", "chamber": "executive"}
        ],
    ),
    synthetic_bill(
        "SB 7",
        "Relating to medical cannabis dispensaries",
        state="wa",
        subject=["Cannabis", "Medicine"],
        sponsorships=[{"name": "Quimby, Jane", "primary": True}],
    ),
]


@pytest.fixture
def loaded(engine):  # type: ignore[no-untyped-def]
    report = ingest_bills(engine, SYNTHETIC, source="test")
    assert report.summary()["errors"] == 0
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    return engine


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{h['state']} {h['identifier']}" for h in result.hits]


# ----------------------------------------------------------------------------- parsing


def test_parse_text_reduces_input_to_words_phrases_prefixes_and_exclusions() -> None:
    tq = parse_text('single-payer "health  act" medi* -fishing OR "study"')
    assert tq.groups == (
        (Item(("single", "payer")), Item(("health", "act")), Item(("medi",), prefix=True)),
        (Item(("study",)),),
    )
    assert tq.excluded == (Item(("fishing",)),)


@pytest.mark.parametrize("raw", HOSTILE)
def test_any_input_becomes_only_quoted_word_tokens(raw: str) -> None:
    tq = parse_text(raw)
    fts = fts5_expression(tq, ["smith"])
    # outside the quoted words only our own operators remain
    stripped = re.sub(r'"[^"\W_]+(?: [^"\W_]+)*"\*?', "", fts)
    assert re.fullmatch(r"[()\sANDORNOT:sponsr]*", stripped), fts
    sql, params = pg_tsquery(tq, ["smith"])
    assert re.fullmatch(r"[()\s&|!:\w',*]*", sql.replace("quote_literal", "")), sql
    assert all(re.fullmatch(r"[^\W_]+(?: [^\W_]+)*|:\*|:C", v) for v in params.values())
    assert sum(len(i.words) for g in tq.groups for i in g) <= 24 + 24


def test_bill_numbers_are_detected_in_common_spellings() -> None:
    assert detect_bill_number("HB 2795") == (None, "HB2795")
    assert detect_bill_number("s6169") == (None, "S6169")
    assert detect_bill_number("S6169-B") == (None, "S6169")
    assert detect_bill_number("H.B. 12") == (None, "HB12")
    assert detect_bill_number("ny s6169") == ("ny", "S6169")
    assert detect_bill_number("single payer") is None
    assert detect_bill_number("zz hb 1") is None  # not a state: not a bill number


def test_query_params_are_lenient_and_round_trip_to_a_stable_url() -> None:
    q, warnings = SearchQuery.from_pairs(
        [
            ("q", "health"),
            ("state", "NY"),
            ("state", "xx"),
            ("stage", "in_committee,bogus"),
            ("since", "2025"),
            ("until", "2025-02"),
            ("relevant", "1"),
            ("page", "-3"),
            ("per_page", "100000"),
            ("sort", "nonsense"),
        ]
    )
    assert q.state == ("ny",) and q.stage == ("in_committee",)
    assert q.since == "2025-01-01" and q.until == "2025-02-28"
    assert q.page == 1 and q.per_page == 1000 and q.sort == "relevance"
    assert any("xx" in w for w in warnings) and any("bogus" in w for w in warnings)
    again, _ = SearchQuery.from_pairs(q.to_pairs())
    assert again == q
    assert q.toggled("state", "ny").state == () and q.toggled("state", "ca").state == ("ny", "ca")
    assert SearchQuery.from_pairs([("q", "x" * 9000)])[0].q == "x" * MAX_QUERY_CHARS
    assert SearchQuery.from_pairs([("since", "2025-13-45")])[1]


# ----------------------------------------------------------------------------- searching


def test_words_phrases_prefixes_exclusions_and_or(loaded) -> None:  # type: ignore[no-untyped-def]
    assert set(ids(search(loaded, SearchQuery(q="payer single")))) == {"ny S 1234", "ny A 5678"}
    # words naming a topic also find the bills decided on it (the study of medicare for all):
    # see tests/test_search_topic.py
    topical = ids(search(loaded, SearchQuery(q="single payer")))
    assert topical[:2] == ["ny S 1234", "ma HB 2795"] and topical[2:] == ["ny A 5678"]
    assert ids(search(loaded, SearchQuery(q='"single payer"'))) == ["ny S 1234"]
    assert set(ids(search(loaded, SearchQuery(q="medic*")))) == {"ma HB 2795", "wa SB 7"}
    assert ids(search(loaded, SearchQuery(q="single payer -audits"))) == ["ny S 1234"]
    assert set(ids(search(loaded, SearchQuery(q="cannabis OR fishing")))) == {
        "wa SB 7",
        "wa HB 2795",
    }
    # summary, subjects and action text are indexed too
    assert ids(search(loaded, SearchQuery(q="every resident"))) == ["ny S 1234"]
    assert ids(search(loaded, SearchQuery(q="dispensaries medicine"))) == ["wa SB 7"]
    assert ids(search(loaded, SearchQuery(q="signed governor"))) == ["wa HB 2795"]


def test_relevance_ranks_title_matches_above_other_fields(loaded) -> None:  # type: ignore[no-untyped-def]
    result = search(loaded, SearchQuery(q="health"))
    assert result.hits[0]["identifier"] in ("S 1234", "A 5678")
    assert result.hits[0]["score"] >= result.hits[-1]["score"]


def test_filters_facets_sort_and_pages(loaded) -> None:  # type: ignore[no-untyped-def]
    everything = search(loaded, SearchQuery())
    assert everything.total == 5
    assert {f.value: f.count for f in everything.facets["state"]} == {"ny": 2, "wa": 2, "ma": 1}
    assert sum(f.count for f in everything.facets["stage"]) == 5
    assert ids(search(loaded, SearchQuery(state=("wa",), sort="recency"))) == [
        "wa SB 7",
        "wa HB 2795",
    ]
    assert ids(search(loaded, SearchQuery(q="medicare", state=("ma",)))) == ["ma HB 2795"]
    assert search(loaded, SearchQuery(q="medicare", state=("wa",))).total == 0
    assert ids(search(loaded, SearchQuery(session="194th"))) == ["ma HB 2795"]
    assert ids(search(loaded, SearchQuery(since="2025-03-01", until="2025-03-31"))) == ["ny A 5678"]
    assert ids(search(loaded, SearchQuery(until="2024-12-31"))) == ["wa HB 2795"]
    assert set(ids(search(loaded, SearchQuery(sponsor="quimby")))) == {"ny A 5678", "wa SB 7"}
    assert ids(search(loaded, SearchQuery(q="medic*", sponsor="Jane Quimby"))) == ["wa SB 7"]
    recent = search(loaded, SearchQuery(sort="recency"))
    dates = [h["latest_action_date"] for h in recent.hits]
    assert dates == sorted(dates, reverse=True)
    page2 = search(loaded, SearchQuery(sort="recency", per_page=2, page=2))
    assert page2.total == 5 and page2.pages == 3 and ids(page2) == ids(recent)[2:4]
    stage = everything.hits[0]["stage"]
    assert all(h["stage"] == stage for h in search(loaded, SearchQuery(stage=(stage,))).hits)


def test_relevant_and_topic_filters(loaded) -> None:  # type: ignore[no-untyped-def]
    with loaded.begin() as conn:
        conn.execute(update(Bill).values(relevant=False, topic="none"))
        conn.execute(
            update(Bill)
            .where(Bill.identifier == "S 1234")
            .values(relevant=True, topic="single-payer")
        )
    assert ids(search(loaded, SearchQuery(relevant=True))) == ["ny S 1234"]
    assert ids(search(loaded, SearchQuery(topic=("single-payer",)))) == ["ny S 1234"]


def test_a_bill_number_resolves_to_the_bill(loaded) -> None:  # type: ignore[no-untyped-def]
    both = search(loaded, SearchQuery(q="HB 2795"))
    assert both.bill_number and set(ids(both)) == {"ma HB 2795", "wa HB 2795"}
    assert both.resolved is None
    one = search(loaded, SearchQuery(q="wa hb2795"))
    assert one.resolved is not None and one.resolved["title"] == "Relating to fishing licenses"
    assert search(loaded, SearchQuery(q="hb 2795", state=("ma",))).resolved["state"] == "ma"
    # a number that names no bill falls back to the words
    assert not search(loaded, SearchQuery(q="SB 999")).bill_number


def test_hostile_queries_never_raise(loaded) -> None:  # type: ignore[no-untyped-def]
    for raw in HOSTILE:
        query, _ = SearchQuery.from_pairs([("q", raw), ("sponsor", raw), ("session", raw)])
        assert search(loaded, query).total >= 0, raw
        assert search(loaded, SearchQuery(q=raw[:MAX_QUERY_CHARS])).total >= 0, raw


def test_reindex_follows_changes_and_rebuild_matches(loaded) -> None:  # type: ignore[no-untyped-def]
    changed = synthetic_bill("SB 7", "Relating to dental therapists", state="wa")
    report = ingest_bills(loaded, [changed], source="test")
    with loaded.begin() as conn:
        reindex_bills(conn, report.bill_ids)
        reindex_bills(conn, [])  # no-op
    assert ids(search(loaded, SearchQuery(q="dental"))) == ["wa SB 7"]
    before = {q: ids(search(loaded, SearchQuery(q=q))) for q in ("health", "medic*", "quimby")}
    assert rebuild_index(loaded) == 5
    with loaded.connect() as conn:
        assert indexed_count(conn) == 5
    assert {q: ids(search(loaded, SearchQuery(q=q))) for q in before} == before


def test_real_bills_are_found(engine, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from scrapers.importers.openstates import iter_openstates

    report = ingest_bills(
        engine,
        iter_openstates([shared_data / "openstates/windy_civi_2025/samples"]),
        source="import:openstates",
    )
    assert report.total >= 20
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    universal = search(engine, SearchQuery(q='"universal health"'))
    assert "wa SJM 8004" in ids(universal)
    assert search(engine, SearchQuery(q="wa SJM 8004")).resolved["identifier"] == "SJM 8004"
    mn = search(engine, SearchQuery(q="minnesota health plan", state=("mn",)))
    assert mn.total >= 1 and all(h["state"] == "mn" for h in mn.hits)
