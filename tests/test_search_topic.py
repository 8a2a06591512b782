"""Search that knows the topic: words naming a topic find the bills the classifier decided on,
ranked first (yes, then possible, then bills with the words only), on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.search import SearchQuery, reindex_bills, search
from tracker.search.topical import normalize, synonyms
from tracker.settings import get_settings


@pytest.fixture
def real(engine, shared_data: Path):  # type: ignore[no-untyped-def]
    """The shared Open States samples, classified by ingest as usual."""
    from scrapers.importers.openstates import iter_openstates

    samples = shared_data / "openstates/windy_civi_2025/samples"
    report = ingest_bills(engine, iter_openstates([samples]), source="import:openstates")
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    return engine


def decided(engine: Any, **where: Any) -> set[tuple[str, str]]:
    conds = [getattr(Bill, k) == v for k, v in where.items()]
    with engine.connect() as conn:
        rows = conn.execute(select(Bill.state, Bill.identifier).where(*conds)).all()
    return {(s, i) for s, i in rows}


def keys(result: Any) -> list[tuple[str, str]]:
    return [(h["state"], h["identifier"]) for h in result.hits]


@pytest.mark.parametrize(
    "typed",
    [
        "single payer",
        "single-payer",
        "Medicare for All",
        "universal healthcare",
        "health care for all",
    ],
)
def test_topic_words_find_every_yes_bill_first(real, typed: str) -> None:  # type: ignore[no-untyped-def]
    yes = decided(real, relevant=True)
    assert len(yes) >= 10  # the samples hold a wave of single-payer bills
    result = search(real, SearchQuery(q=typed, per_page=200))
    assert result.topic == "single-payer"
    found = keys(result)
    assert set(found[: len(yes)]) == yes  # every yes bill, and before anything else
    assert all(h["topic_match"] for h in result.hits[: len(yes)])
    assert result.total == len(found) and len(set(found)) == len(found)


def test_quoted_phrase_stays_literal(real) -> None:  # type: ignore[no-untyped-def]
    literal = search(real, SearchQuery(q='"single payer"', per_page=200))
    assert literal.topic is None and not any(h["topic_match"] for h in literal.hits)
    assert literal.total < len(decided(real, relevant=True))
    assert all("payer" in (h["title"] or "").lower() or h["score"] > 0 for h in literal.hits)


def test_filters_apply_to_the_topic_bills(real) -> None:  # type: ignore[no-untyped-def]
    mn_yes = decided(real, relevant=True, state="mn")
    result = search(real, SearchQuery(q="single payer", state=("mn",), per_page=100))
    assert mn_yes and set(keys(result)[: len(mn_yes)]) == mn_yes
    assert {s for s, _ in keys(result)} == {"mn"}
    facets = {f.value: f.count for f in result.facets["state"]}
    assert facets == {"mn": result.total}


@pytest.fixture
def graded(engine):  # type: ignore[no-untyped-def]
    """Synthetic bills whose decisions are set by hand: two yes (neither says "single payer"),
    one possible, one literal-only, one unrelated."""
    from test_search import synthetic_bill

    bills = [
        synthetic_bill("S 1", "Establishes the Empire Health Program"),
        synthetic_bill("S 2", "Relates to a statewide health trust", state="ma"),
        synthetic_bill("S 3", "Relates to the Green Health Cooperative"),
        synthetic_bill("S 4", "Relates to payer audits for a single hospital"),
        synthetic_bill("S 5", "Relates to fishing licenses"),
    ]
    report = ingest_bills(engine, bills, source="test")
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
        for ident, decision in (("S 1", "yes"), ("S 2", "yes"), ("S 3", "possible")):
            conn.execute(
                update(Bill)
                .where(Bill.identifier == ident)
                .values(
                    topic="single-payer" if decision == "yes" else "none",
                    topic_decision=decision,
                    relevant=decision == "yes",
                )
            )
        conn.execute(
            update(Bill)
            .where(Bill.identifier.in_(["S 4", "S 5"]))
            .values(topic="none", topic_decision="no", relevant=False)
        )
    return engine


def test_yes_before_possible_before_words_and_paging(graded) -> None:  # type: ignore[no-untyped-def]
    whole = search(graded, SearchQuery(q="single payer", per_page=10))
    order = [h["identifier"] for h in whole.hits]
    assert set(order[:2]) == {"S 1", "S 2"} and order[2:] == ["S 3", "S 4"]
    assert whole.total == 4
    assert [h["topic_decision"] for h in whole.hits] == ["yes", "yes", "possible", "no"]
    assert [h["topic_match"] for h in whole.hits] == [True, True, True, False]
    paged = [
        h["identifier"]
        for page in (1, 2, 3, 4, 5)
        for h in search(graded, SearchQuery(q="single payer", per_page=1, page=page)).hits
    ]
    assert paged == order
    facets = {f.value: f.count for f in whole.facets["state"]}
    assert facets == {"ny": 3, "ma": 1}
    assert sum(f.count for f in whole.facets["topic"]) == 4
    recency = search(graded, SearchQuery(q="single payer", sort="recency", per_page=10))
    assert {h["identifier"] for h in recency.hits[:2]} == {"S 1", "S 2"}


def test_words_that_name_no_topic_stay_literal(graded) -> None:  # type: ignore[no-untyped-def]
    for typed in ("single", "payer audits", "single payer -hospital", "single OR payer", "singl*"):
        result = search(graded, SearchQuery(q=typed, per_page=10))
        assert result.topic is None, typed
        assert not {"S 1", "S 2"} & {h["identifier"] for h in result.hits}, typed


def test_synonyms_are_data_in_the_topics_file() -> None:
    found = synonyms(Path(get_settings().resolved_config_dir))
    assert found[normalize("Medicare-for-All")] == "single-payer"
    assert found[normalize("universal healthcare")] == "single-payer"
    assert found[normalize("public option")] == "public-option"
    assert "health" not in found and "none" not in found


def test_api_cli_and_page_show_the_topic(graded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from tracker.cli import app
    from tracker.settings import reset_settings
    from tracker.web.app import create_app

    monkeypatch.setenv(
        "TRACKER_DATABASE_URL", str(graded.url.render_as_string(hide_password=False))
    )
    reset_settings()
    client = TestClient(create_app(graded))
    data = client.get("/api/bills", params={"q": "medicare for all"}).json()
    assert data["topic"]["value"] == "single-payer" and data["total"] == 3
    assert [r["topic_decision"] for r in data["results"]] == ["yes", "yes", "possible"]
    page = client.get("/search/", params={"q": "single payer"}).text
    assert (
        page.count('class="badge relevant"') == 2 and "possibly single-payer — under review" in page
    )
    assert 'name="topic"' in page
    out = CliRunner().invoke(app, ["search", "single payer", "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)["results"]
    assert {r["identifier"] for r in rows[:2]} == {"S 1", "S 2"}
    table = CliRunner().invoke(app, ["search", "single payer"], env={"COLUMNS": "160"})
    assert "[single-payer]" in table.stdout and "[possibly single-payer]" in table.stdout


def test_the_command_line_table_shows_a_scraped_title_as_it_is(
    sqlite_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Titles are scraped text: neither rich's markup ([bold]) nor its emoji codes
    (:thumbs_up:) may change what `tracker search` prints."""
    from typer.testing import CliRunner

    from tests.test_search import synthetic_bill
    from tracker.cli import app
    from tracker.settings import reset_settings

    title = "Health care :thumbs_up: for all [bold]now[/bold] :smile:"
    ingest_bills(sqlite_engine, [synthetic_bill("S 77", title)], source="test")
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_engine.url.render_as_string(False))
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings()
    done = CliRunner().invoke(app, ["search", "health"])
    assert done.exit_code == 0, done.output
    assert title in done.output, done.output
