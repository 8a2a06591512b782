"""The real fetch path: whole-state scrapes through HttpClient against a local copy of the sites.

A LocalSite serves the saved real pages under their original URL paths; the scraper is pointed
at it with a base_url override, and misbehaviour is scripted per path: 503s, 429 with
Retry-After, slow answers, robots.txt disallows, oversized and truncated bodies, a changed
layout (a synthetic page). In every case errors are recorded with their URL and no blank or
half-read bill is yielded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from httpserver import LocalSite, Reply, Request

from scrapers.archive import PageArchive
from scrapers.http import HttpClient
from scrapers.scrape import ParseCache, Scraper
from tracker.collect.examples import understood_for
from tracker.collect.scrape import scrape_state
from tracker.scraping import load_state_config

pytestmark = pytest.mark.shared

NM_LIST = "https://www.nmlegis.gov/Legislation/Legislation_List?Session=57"
NM_SESSIONS = "https://www.nmlegis.gov/Legislation/Legislation_List"
NM_SB11 = "https://www.nmlegis.gov/Legislation/Legislation?chamber=S&legType=B&legNo=11&year=19"
NM_HB73 = "https://www.nmlegis.gov/Legislation/Legislation?chamber=H&legType=B&legNo=73&year=19"
NM_HEARINGS = "https://www.nmlegis.gov/Committee/Standing_Committee?CommitteeCode=HHHC"


class FakeClock:
    """Time that passes only when the client sleeps: rate limits and Retry-After cost nothing."""

    def __init__(self) -> None:
        self.now_value = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_value += seconds


@pytest.fixture
def html(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "real" / "html"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def shared_cache() -> ParseCache:
    """Parses of identical bytes shared by the failure tests (the 3.6 MB list is parsed once)."""
    return ParseCache()


def client_for(tmp_path: Path, clock: FakeClock, **kw) -> HttpClient:  # type: ignore[no-untyped-def]
    options = {
        "user_agent": "tracker-tests",
        "timeout": 5.0,
        "max_bytes": 8_000_000,
        "default_delay": 0.0,
        "max_retries": 3,
        "backoff_base": 0.5,
        "clock": clock.now,
        "sleep": clock.sleep,
    }
    options.update(kw)
    return HttpClient(archive=PageArchive(tmp_path / "archive"), **options)


def serve_nm(site: LocalSite, html: Path, **bill_options) -> None:  # type: ignore[no-untyped-def]
    site.add_file(NM_SESSIONS, html / "nm/legislation_list_no_results.html", etag=True)
    site.add_file(NM_HEARINGS, html / "nm/2021_HHHC_house_health_committee.html", etag=True)
    site.add_file(NM_LIST, html / "nm/2019_legislation_list_session57.html", etag=True)
    site.add_file(NM_SB11, html / "nm/2019_SB11_legislation_detail.html", etag=True, **bill_options)
    site.add_file(NM_HB73, html / "nm/2019_HB73_legislation_detail.html", etag=True)


def stage(bill: Any) -> str | None:
    """The stage ingest would store: the scraper only parses, understanding is tracker's."""
    return understood_for(load_state_config(bill.state), bill).stage


def run_nm(site: LocalSite, client: HttpClient, cache: ParseCache | None = None) -> Scraper:
    """Scrape NM's 2019 session limited to the two bills whose pages are saved."""
    scraper = Scraper(
        load_state_config("nm"), client, cache=cache, base_url=site.url("/").rstrip("/")
    )
    scraper.bills = list(scraper.run(sessions=["2019"], bills=["SB 11", "HB 73"]))  # type: ignore[attr-defined]
    return scraper


def test_nm_scrape_yields_the_bills_its_pages_show(
    tmp_path: Path, html: Path, clock: FakeClock
) -> None:
    with LocalSite() as site:
        serve_nm(site, html)
        with client_for(tmp_path, clock) as client:
            scraper = run_nm(site, client)
            delay = client.delay_for(site.url("/").split("//")[1].rstrip("/"))
    bills = {b.identifier: b for b in scraper.bills}  # type: ignore[attr-defined]
    assert set(bills) == {"SB 11", "HB 73"}
    sb11 = bills["SB 11"]
    assert (sb11.title, stage(sb11), len(sb11.actions), len(sb11.sponsorships)) == (
        "GROSS RECEIPTS FOR NONPROFIT ORGANIZATIONS",
        "enacted",
        11,
        5,
    )
    assert sb11.sources[0].url == NM_SB11  # the public address, not the local copy
    stats = scraper.stats
    assert stats.errors == [] and stats.unknown_sessions == []
    assert (stats.pages_fetched, stats.parsed, stats.list_items) == (5, 5, 1663)
    assert delay == 2.0  # politeness: the config's two seconds between requests to one host


def test_second_scrape_of_an_unchanged_site_reparses_nothing(
    tmp_path: Path, html: Path, clock: FakeClock
) -> None:
    cache = ParseCache(tmp_path / "parse-cache.sqlite")
    with LocalSite() as site:
        serve_nm(site, html)
        with client_for(tmp_path, clock) as client:
            first = run_nm(site, client, cache)
        site.clear_log()
        with client_for(tmp_path, clock) as client:
            second = run_nm(site, client, ParseCache(tmp_path / "parse-cache.sqlite"))
        conditional = [r for r in site.requests if r.path != "/robots.txt"]
    assert first.stats.parsed == 5 and first.stats.bytes > 3_000_000
    assert (second.stats.pages_fetched, second.stats.not_modified, second.stats.parsed) == (5, 5, 0)
    assert second.stats.bytes == 0 and second.stats.reused == 5
    assert all(r.header("If-None-Match") for r in conditional)
    assert [b.model_dump() for b in second.bills] == [b.model_dump() for b in first.bills]  # type: ignore[attr-defined]


def test_503_429_and_slow_answers_are_retried_and_waited_for(
    tmp_path: Path, html: Path, clock: FakeClock, shared_cache: ParseCache
) -> None:
    with LocalSite() as site:
        serve_nm(site, html, statuses=[503, 503, 200], retry_after="3")
        site.update(NM_HB73, statuses=[429, 200], retry_after="7")
        site.update(NM_LIST, delays=[0.3, 0])
        with client_for(tmp_path, clock) as client:
            scraper = run_nm(site, client, shared_cache)
        hits = (site.hits(NM_SB11), site.hits(NM_HB73))
    assert {b.identifier for b in scraper.bills} == {"SB 11", "HB 73"}  # type: ignore[attr-defined]
    assert scraper.stats.errors == []
    assert hits == (3, 2)
    assert any(s >= 7 for s in clock.slept) and sum(1 for s in clock.slept if s >= 3) >= 2


def test_robots_disallow_is_recorded_and_that_bill_skipped(
    tmp_path: Path, html: Path, clock: FakeClock, shared_cache: ParseCache
) -> None:
    with LocalSite() as site:
        serve_nm(site, html)
        site.robots("User-agent: *\nDisallow: /Legislation/Legislation?chamber=S\n")
        with client_for(tmp_path, clock) as client:
            scraper = run_nm(site, client, shared_cache)
        asked_sb11 = site.hits(NM_SB11)
    assert [b.identifier for b in scraper.bills] == ["HB 73"]  # type: ignore[attr-defined]
    assert asked_sb11 == 0
    (error,) = scraper.stats.errors
    assert error.kind == "bill" and "RobotsDisallowed" in error.message
    assert error.url and "chamber=S" in error.url and scraper.stats.bills_skipped == 1


def test_oversized_truncated_and_malformed_pages(
    tmp_path: Path, html: Path, clock: FakeClock, shared_cache: ParseCache
) -> None:
    with LocalSite() as site:
        serve_nm(site, html)
        site.add(NM_SB11, b"<html>" + b"x" * 4_500_000 + b"</html>")
        site.add(
            NM_HB73, (html / "nm/2019_HB73_legislation_detail.html").read_bytes(), truncate=2000
        )
        with client_for(tmp_path, clock, max_bytes=4_000_000, max_retries=1) as client:
            scraper = run_nm(site, client, shared_cache)
        site.add(NM_HB73, b"\x00\xff<<<not html at all", content_type="text/html")
        with client_for(tmp_path / "b", clock, max_bytes=4_000_000) as client:
            garbage = run_nm(site, client, shared_cache)
    assert scraper.bills == [] and scraper.stats.bills_skipped == 2  # type: ignore[attr-defined]
    messages = " | ".join(e.message for e in scraper.stats.errors)
    assert "TooLarge" in messages and NM_SB11 in {e.url for e in scraper.stats.errors}
    assert NM_HB73 in {e.url for e in scraper.stats.errors}
    assert [b.identifier for b in garbage.bills] == []  # type: ignore[attr-defined]
    hb73 = next(e for e in garbage.stats.errors if e.url == NM_HB73)
    assert hb73.selector and hb73.count == 0  # the strict selector, not a blank bill


def test_changed_layout_is_caught_by_strict_selectors(
    tmp_path: Path, html: Path, clock: FakeClock, shared_cache: ParseCache
) -> None:
    real = (html / "nm/2019_SB11_legislation_detail.html").read_bytes()
    changed = tmp_path / "nm_SB11_changed_layout_synthetic.html"  # synthetic: one id renamed
    changed.write_bytes(
        real.replace(b"MainContent_formViewLegislation_lblTitle", b"MainContent_lblTitle2")
    )
    with LocalSite() as site:
        serve_nm(site, html)
        site.add_file(NM_SB11, changed)
        with client_for(tmp_path, clock) as client:
            scraper = run_nm(site, client, shared_cache)
    assert [b.identifier for b in scraper.bills] == ["HB 73"]  # type: ignore[attr-defined]
    (error,) = scraper.stats.errors
    assert (
        error.url == NM_SB11
        and error.selector
        and "lblTitle" in error.selector
        and error.count == 0
    )


def test_unknown_session_on_the_site_is_flagged(
    tmp_path: Path, html: Path, clock: FakeClock
) -> None:
    config = load_state_config("nm").model_copy(update={"ignored_sessions": []})
    with LocalSite() as site:
        serve_nm(site, html)
        with client_for(tmp_path, clock) as client:
            scraper = Scraper(config, client, base_url=site.url("/").rstrip("/"))
            bills = list(scraper.run(sessions=["2019"], bills=["HB 73"]))
    assert [b.identifier for b in bills] == ["HB 73"]
    assert "2020 1st Special" in scraper.stats.unknown_sessions
    assert "2019 Regular" not in scraper.stats.unknown_sessions  # configured
    assert "2020 Regular" not in scraper.stats.unknown_sessions  # the current_session rule's
    assert any("does not know" in e.message for e in scraper.stats.errors)


def test_empty_result_is_an_error(
    tmp_path: Path, html: Path, clock: FakeClock, shared_cache: ParseCache
) -> None:
    with LocalSite() as site:
        serve_nm(site, html)
        site.add_file(NM_LIST, html / "nm/legislation_list_no_results.html")
        with client_for(tmp_path, clock) as client:
            scraper = run_nm(site, client, shared_cache)
    assert scraper.bills == []  # type: ignore[attr-defined]
    assert any("no bills found for session 2019" in e.message for e in scraper.stats.errors)


def test_mo_senate_bill_with_augment_pages(tmp_path: Path, html: Path, clock: FakeClock) -> None:
    base = "http://www.senate.mo.gov/11info/BTS_Web/"
    with LocalSite() as site:
        site.add_file(base + "BillList.aspx?SessionType=R", html / "mo/2011_senate_bill_list.html")
        site.add_file(
            base + "Bill.aspx?SessionType=R&BillID=4068821",
            html / "mo/2011_senate_SB70_bill_detail.html",
        )
        site.add_file(
            base + "Actions.aspx?SessionType=R&BillID=4068821",
            html / "mo/2011_senate_SB70_actions_passed.html",
        )
        site.add_file(
            base + "BillText.aspx?SessionType=R&BillID=4068821",
            html / "mo/2011_senate_SB70_bill_text_versions.html",
        )
        site.add_file(
            base + "Bill.aspx?SessionType=R&BillID=4150831",
            html / "mo/2011_senate_SB285_bill_detail_with_cosponsor.html",
        )
        site.add_file(
            base + "CoSponsors.aspx?SessionType=R&BillID=4150831",
            html / "mo/2011_senate_SB285_cosponsors.html",
        )
        with client_for(tmp_path, clock) as client:
            scraper = Scraper(load_state_config("mo"), client, base_url=site.url("/").rstrip("/"))
            bills = list(scraper.run(sessions=["2011"], source="senate", bills=["SB 70", "SB 285"]))
    assert [b.identifier for b in bills] == ["SB 70"]
    sb70 = bills[0]
    assert (len(sb70.actions), len(sb70.versions), stage(sb70)) == (43, 4, "enacted")
    # SB 285's actions page is not saved: the bill is skipped, not yielded without actions
    assert scraper.stats.bills_skipped == 1
    assert any("4150831" in (e.url or "") and "404" in e.message for e in scraper.stats.errors)


def test_ga_soap_service_through_post(tmp_path: Path, html: Path, clock: FakeClock) -> None:
    listing = (html / "ga/2011-2012_GetLegislationForSession_soap.xml").read_bytes()
    detail = (html / "ga/2012_HB397_GetLegislationDetail_soap.xml").read_bytes()

    def soap(request: Request) -> Reply:
        if b"<GetLegislationForSession" in request.body and b"<SessionId>21<" in request.body:
            return Reply(200, listing, {"Content-Type": "text/xml"})
        if b"<LegislationId>33209<" in request.body:
            return Reply(200, detail, {"Content-Type": "text/xml"})
        return Reply(500, b"<Fault/>")

    with LocalSite() as site:
        site.add("/GGAServices/Legislation/Service.svc", handler=soap, methods=("POST",))
        with client_for(tmp_path, clock) as client:
            config = load_state_config("ga")
            # the saved session (today's would read its id from GetSessions, not saved here)
            config = config.model_copy(
                update={"pages": {k: p for k, p in config.pages.items() if p.role != "sessions"}}
            )
            scraper = Scraper(config, client, base_url=site.url("/").rstrip("/"))
            bills = list(scraper.run(sessions=["2011_12"], bills=["HB 397"]))
        actions = {r.header("SOAPAction") for r in site.requests if r.method == "POST"}
    assert [(b.identifier, stage(b), len(b.votes)) for b in bills] == [("HB 397", "enacted", 4)]
    assert scraper.stats.errors == [] and scraper.stats.list_items == 5424
    assert any(a and a.endswith("/GetLegislationDetail") for a in actions)


def test_scrape_state_ingests_and_records_the_run(
    tmp_path: Path, html: Path, clock: FakeClock, sqlite_engine
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    url = "http://laws.leg.mt.gov/legprd/LAW0217W$BAIV.return_all_bills?P_SESS=20231"
    with LocalSite() as site:
        site.add_file(url, html / "mt/2023_all_bills_list_20230113.html", etag=True)
        with client_for(tmp_path, clock) as client:
            first = scrape_state(
                sqlite_engine,
                "mt",
                client=client,
                base_url=site.url("/").rstrip("/"),
                cache=ParseCache(),
                sessions=["2023"],  # the saved session; by default today's is scraped
            )
            site.add_file(url, html / "mt/2023_all_bills_list_20230118.html", etag=True)
            second = scrape_state(
                sqlite_engine,
                "mt",
                client=client,
                base_url=site.url("/").rstrip("/"),
                cache=ParseCache(),
                sessions=["2023"],  # the saved session; by default today's is scraped
            )
    assert (first.status, first.new) == ("ok", 431)
    assert second.status == "ok" and second.new == 476 - 431 and second.updated > 0
    with sqlite_engine.connect() as conn:
        run = conn.execute(
            text("select status, counts from run where id = :i"), {"i": second.run_id}
        ).one()
    assert run[0] == "ok" and '"pages_fetched": 1' in str(run[1]).replace("'", '"')


def test_cli_scrape_runs_through_ingest_and_reports(html: Path) -> None:
    from typer.testing import CliRunner

    from tracker.cli.scrapers import app

    listing = (html / "ga/2011-2012_GetLegislationForSession_soap.xml").read_bytes()
    detail = (html / "ga/2012_HB397_GetLegislationDetail_soap.xml").read_bytes()
    broken = {"on": False}

    def soap(request: Request) -> Reply:
        if b"<GetLegislationForSession" in request.body:
            body = (
                b"<Envelope><Body>synthetic: nothing listed</Body></Envelope>"
                if broken["on"]
                else listing
            )
            return Reply(200, body, {"Content-Type": "text/xml"})
        return Reply(200, detail, {"Content-Type": "text/xml"})

    with LocalSite() as site:
        site.add("/GGAServices/Legislation/Service.svc", handler=soap, methods=("POST",))
        # the session check (GetSessions) gets the detail too: its <Session> names the session
        site.add("/GGAServices/Session/Service.svc", handler=soap, methods=("POST",))
        base = site.url("/").rstrip("/")
        # the saved session (by default today's is scraped)
        args = ["scrape", "ga", "--session", "2011_12", "--bill", "HB 397", "--base-url", base]
        ok = CliRunner().invoke(app, args)
        broken["on"] = True
        failed = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    # pages: the session list (answered with the detail, whose session is known), list, bill
    assert "1 new" in ok.output and "pages 3" in ok.output
    assert failed.exit_code == 1
    assert "no items on a list page" in failed.output and "LegislationIndex" in failed.output
    assert CliRunner().invoke(app, ["scrape"]).exit_code == 1  # a state or --all is required


def test_cli_record_saves_a_fixture_with_provenance(tmp_path: Path, html: Path) -> None:
    import hashlib

    from typer.testing import CliRunner

    from tracker.cli.scrapers import app

    page = (html / "nm/2019_HB73_legislation_detail.html").read_bytes()
    with LocalSite() as site:
        site.add(NM_HB73, page)
        local = site.url(NM_HB73)
        result = CliRunner().invoke(
            app,
            ["record", "nm", local, "--kind", "bill", "--name", "hb73", "--dest", str(tmp_path)],
        )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hb73.html").read_bytes() == page
    provenance = (tmp_path / "PROVENANCE.md").read_text()
    assert (
        local in provenance
        and hashlib.sha256(page).hexdigest() in provenance
        and "**kind**: bill" in provenance
    )
    parsed = CliRunner().invoke(app, ["parse", "nm", "--page", f"bill={tmp_path / 'hb73.html'}"])
    assert parsed.exit_code == 0 and '"identifier": "HB 73"' in parsed.stdout
