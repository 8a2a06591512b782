"""The web app on real imported bills plus one synthetic hostile bill: every page renders, scraped
text is escaped everywhere, CSP and CSRF, the JSON/CSV API, feeds, hostile queries, static build."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conftest import _pg_admin, _pg_url_for
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from tracker.db import make_engine
from tracker.feeds import ics_fold
from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.search import reindex_bills
from tracker.settings import reset_settings
from tracker.web.app import create_app
from tracker.web.security import SecurityHeadersMiddleware, csrf_field, require_csrf
from tracker.web.site_build import MANIFEST, build_site, file_for

EVIL = '<script>alert("x")</script>'
QUOTE = '" onmouseover="alert(1)'
IMG = "<img src=x onerror=alert(1)>"
SOON = (date.today() + timedelta(days=30)).isoformat()


def synthetic_hostile_bill(title_suffix: str = "") -> dict[str, Any]:
    """A made-up (synthetic) bill whose every scraped field tries to break out of HTML."""
    return {
        "state": "ny",
        "legislative_session": "2025-2026",
        "identifier": "S 9999",
        "title": f"Synthetic single-payer universal health care act {EVIL} {QUOTE}{title_suffix}",
        "chamber": "upper",
        "abstracts": [{"abstract": f"Summary {EVIL} {QUOTE}"}],
        "actions": [
            {
                "date": "2025-02-01",
                "description": f"Referred to {EVIL} committee {QUOTE}",
                "chamber": "upper",
            }
        ],
        "sponsorships": [{"name": f"Evil {QUOTE} {IMG}", "primary": True}],
        "versions": [{"note": EVIL, "links": [{"url": "javascript:alert(2)"}]}],
        "hearings": [
            {
                "date": SOON,
                "committee": 'Health, Finance; and "Budget" ' + EVIL,
                "location": "Room 1, Albany\nNew York",
                "description": EVIL,
            }
        ],
        "sources": [{"url": "javascript:alert(1)"}, {"url": 'https://example.org/s9999?a=1&b="2"'}],
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[str, Any]]:
    """One database per backend for the whole module, with the real sample bills and the
    synthetic hostile one imported (tests that change data put it back)."""
    from scrapers.importers.openstates import iter_openstates

    name = None
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("site") / "site.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("postgres_template")
        name = f"t_site_{uuid.uuid4().hex[:10]}"
        with _pg_admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url = _pg_url_for(name)
    engine = make_engine(url)
    samples = shared_data / "openstates/windy_civi_2025/samples"
    report = ingest_bills(engine, iter_openstates([samples]), source="import:openstates")
    hostile = ingest_bills(engine, [synthetic_hostile_bill()], source="test")
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids | hostile.bill_ids)
    yield url, engine
    engine.dispose()
    if name:
        with _pg_admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def site(site_db, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url, engine = site_db
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    reset_settings()
    return TestClient(create_app(engine)), engine


def assert_escaped(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert not re.search(r'\son[a-z]+\s*=\s*"', html), "an event handler attribute leaked"
    assert 'href="javascript:' not in html.lower()


def test_every_page_renders_on_real_data(site) -> None:  # type: ignore[no-untyped-def]
    client, engine = site
    with engine.connect() as conn:
        bills = conn.execute(select(Bill.state, Bill.session, Bill.identifier_norm)).all()
    assert len(bills) >= 20
    for state, session, ident in bills:
        r = client.get(f"/bills/{state}/{session}/{ident}/")
        assert r.status_code == 200, (state, session, ident)
        assert "<h1>" in r.text and "Actions" in r.text
    for state in sorted({b.state for b in bills}):
        r = client.get(f"/states/{state}/")
        assert r.status_code == 200 and "Data health" in r.text
    home = client.get("/")
    assert home.status_code == 200 and "<svg" in home.text and "Minnesota" in home.text
    for path in (
        "/about/",
        "/docs",
        "/search/",
        "/search/?q=health&sort=recency",
        "/static/site.css",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/states/zz/").status_code == 404
    assert client.get("/bills/ny/2025-2026/S1/").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/api/bills"]


def test_scraped_text_is_escaped_everywhere(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    bill = client.get("/bills/ny/2025-2026/S9999/")
    assert bill.status_code == 200
    assert_escaped(bill.text)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in bill.text
    assert "Evil &#34; onmouseover=&#34;alert(1) &lt;img src=x onerror=alert(1)&gt;" in bill.text
    assert "https://example.org/s9999?a=1&amp;b=&#34;2&#34;" in bill.text
    for path in ("/", "/states/ny/", "/search/?q=synthetic", "/search/?q=S+9999+synthetic"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text)
    results = client.get("/search/?q=synthetic+universal")
    assert "&lt;script&gt;" in results.text
    api = client.get("/api/bills/ny/2025-2026/S9999").json()
    assert EVIL in api["bill"]["title"] and api["sponsors"][0]["name"].endswith(IMG)


def test_security_headers_on_every_kind_of_response(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    for path in ("/", "/api/bills", "/nope/", "/static/site.css", "/feeds/hearings.ics"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "*" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    html = client.get("/").text
    # no assets from other sites, no inline styles or scripts
    assert not re.search(r'(src|href)="(https?:)?//', html.split("<main")[0])
    assert " style=" not in html and "<script" not in html


def test_csrf_double_submit_token() -> None:
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/form", response_class=HTMLResponse)
    def form(request: Request) -> str:
        return f"<form method=post>{csrf_field(request)}</form>"

    @app.post("/form", dependencies=[Depends(require_csrf)])
    def submit() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    page = client.get("/form")
    token = re.search(r'value="([^"]+)"', page.text).group(1)
    assert "tracker_csrf" in page.cookies
    assert client.post("/form", data={"csrf_token": token}).json() == {"ok": True}
    assert client.post("/form", data={}).status_code == 403
    assert client.post("/form", data={"csrf_token": token + "x"}).status_code == 403
    other = TestClient(app)
    other.get("/form")  # a different browser has a different cookie
    assert other.post("/form", data={"csrf_token": token}).status_code == 403
    assert client.post("/form", headers={"x-csrf-token": token}).status_code == 200


def test_search_page_filters_facets_and_bill_numbers(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    r = client.get("/search/?q=health&state=mn")
    assert r.status_code == 200
    facet = re.search(r'href="(/search/\?[^"]*stage=[^"]+)"', r.text)
    assert facet, "facet links are missing"
    followed = client.get(facet.group(1).replace("&amp;", "&"))
    assert followed.status_code == 200 and 'aria-current="true"' in followed.text
    jump = client.get("/search/?q=wa+SJM+8004", follow_redirects=False)
    assert jump.status_code == 303 and jump.headers["location"] == "/bills/wa/2025-2026/SJM8004/"
    assert "Export" in r.text and "/api/bills.csv?q=health&amp;state=mn" in r.text


def _selected(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)" selected>', block.group(1))


def test_search_form_marks_the_query_filters(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    both = client.get("/search/?q=health&state=mn&state=wa&stage=dead&topic=single-payer").text
    assert _selected(both, "f-state") == ["mn", "wa"]
    assert _selected(both, "f-stage") == ["dead"]
    assert _selected(both, "f-topic") == ["single-payer"]
    assert '<option value="wa" selected>Washington</option>' in both
    assert '<option value="dead" selected>Died</option>' in both
    # another selection right after: the options are not those of the previous page
    one = client.get("/search/?q=health&state=wa&topic=public-option").text
    assert _selected(one, "f-state") == ["wa"] and _selected(one, "f-stage") == []
    assert _selected(one, "f-topic") == ["public-option"]
    plain = client.get("/search/?q=health").text
    assert all(_selected(plain, s) == [] for s in ("f-state", "f-stage", "f-topic"))
    assert plain.count("<option value=") == both.count("<option value=")  # every choice listed


HOSTILE = [
    '"',
    '"unbalanced',
    "((((",
    "a AND",
    "OR",
    "NOT",
    "*",
    "NEAR(a b)",
    "title:x",
    "'; DROP TABLE bill; --",
    "\\",
    "%00",
    "%E2%80%AE",
    "x" * 3000,
    "💊",
    "-",
    "medi:*B",
]


def test_hostile_queries_never_500(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    for raw in HOSTILE:
        for path in ("/search/", "/api/bills", "/feeds/search.atom", "/api/bills.csv"):
            params = {"q": raw, "sponsor": raw, "session": raw, "since": raw, "state": raw}
            r = client.get(path, params=params)
            assert r.status_code < 500, (path, raw)
    for bad in ("page=abc", "per_page=0", "sort=x", "relevant=maybe"):
        assert client.get(f"/search/?{bad}").status_code == 200
        assert client.get(f"/api/bills?{bad}").status_code in (200, 422)


def test_api_json_and_csv(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    data = client.get("/api/bills", params={"q": "health", "per_page": 5}).json()
    assert data["total"] >= 5 and len(data["results"]) == 5 and data["pages"] >= 1
    assert {"state", "stage", "topic", "session"} <= set(data["facets"])
    assert data["results"][0]["url"].startswith("http")
    page2 = client.get(data["links"]["next"]).json()
    assert page2["page"] == 2
    states = client.get("/api/states").json()["states"]
    assert {"mn", "wa", "ma", "vt"} <= {s["code"] for s in states}
    for url in ("/api/bills.csv?q=health", "/api/bills?q=health&format=csv"):
        r = client.get(url)
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == data["total"] and rows[0]["url"].startswith("http")
    hostile = list(csv.DictReader(io.StringIO(client.get("/api/bills.csv?q=synthetic").text)))
    assert hostile[0]["title"].endswith(QUOTE)
    bill = client.get("/api/bills/wa/2025-2026/SJM8004").json()
    assert bill["bill"]["identifier"] == "SJM 8004" and bill["actions"]
    assert client.get("/api/bills/wa/2025-2026/NOPE1").status_code == 404


def test_feeds_parse_as_atom_and_icalendar(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for path in (
        "/feeds/states/ny.atom",
        "/feeds/topics/single-payer.atom",
        "/feeds/search.atom?q=synthetic",
        "/feeds/states/wa.atom",
    ):
        r = client.get(path)
        assert r.status_code == 200 and "atom+xml" in r.headers["content-type"]
        root = ET.fromstring(r.content)
        assert root.tag == "{http://www.w3.org/2005/Atom}feed"
        assert root.find("a:updated", ns) is not None
    entries = ET.fromstring(client.get("/feeds/search.atom?q=synthetic").content).findall(
        "a:entry", ns
    )
    assert entries and any(EVIL in (e.findtext("a:title", namespaces=ns) or "") for e in entries)
    ics = client.get("/feeds/hearings.ics?all=1").text
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")
    lines = ics.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = ics.replace("\r\n ", "")
    assert f"DTSTART;VALUE=DATE:{SOON.replace('-', '')}" in unfolded
    assert "LOCATION:Room 1\\, Albany\\nNew York" in unfolded
    assert 'SUMMARY:Hearing: NY S 9999\\, Health\\, Finance\\; and "Budget" <script>' in unfolded
    assert unfolded.count("BEGIN:VEVENT") == unfolded.count("END:VEVENT") >= 1


def test_ics_folding_never_splits_a_character() -> None:
    line = "DESCRIPTION:" + "é💊" * 60
    folded = ics_fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


def test_static_build_and_incremental_rebuild(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, engine = site
    out = tmp_path / "public"
    with engine.connect() as conn:
        n_bills = len(conn.execute(select(Bill.id)).all())
    linked = build_site(engine, tmp_path / "linked")  # default: bills the static pages link to
    assert (tmp_path / "linked/bills/ny/2025-2026/S9999/index.html").is_file()
    linked_bills = list((tmp_path / "linked/bills").rglob("index.html"))
    assert linked.invalid == 0 and 0 < len(linked_bills) < n_bills
    first = build_site(engine, out, bills="all")
    assert first.rendered > n_bills and first.invalid == 0
    page = out / "bills/ny/2025-2026/S9999/index.html"
    assert_escaped(page.read_text())
    assert (out / "index.html").is_file() and (out / "states/mn/index.html").is_file()
    assert (out / "feeds/hearings.ics").is_file() and (out / MANIFEST).is_file()
    assert (out / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (out / "wave.csv").read_text().startswith("year,state,kind,topic,furthest_stage,bills")
    assert (out / "states/ny/wave.csv").is_file() and 'class="wave"' in (
        out / "index.html"
    ).read_text()
    assert 'action="/search/"' not in (out / "index.html").read_text()  # static: no server forms
    second = build_site(engine, out, bills="all")
    assert second.skipped == n_bills and second.written == 0
    ingest_bills(engine, [synthetic_hostile_bill(" amended")], source="test")
    third = build_site(engine, out, bills="all")
    assert third.skipped == n_bills - 1
    assert " amended" in page.read_text()
    assert third.written >= 1
    assert build_site(engine, out, full=True, bills="all").skipped == 0
    ingest_bills(engine, [synthetic_hostile_bill()], source="test")  # put the title back
    assert file_for(out, "/bills/ny/..%2F..%2Fetc/S1/") is None
    assert (
        file_for(out, "/bills/ny/2025%20Regular/S1/") == out / "bills/ny/2025 Regular/S1/index.html"
    )


def test_search_cli_formats(site, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tracker.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["search", "health", "--state", "mn", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["total"] >= 1 and all(r["state"] == "mn" for r in data["results"])
    out = runner.invoke(app, ["search", "synthetic", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows[0]["identifier"] == "S 9999"
    out = runner.invoke(app, ["search", "wa SJM 8004"])
    assert out.exit_code == 0 and "SJM 8004" in out.stdout
    assert runner.invoke(app, ["search", "x", "--state", "zz"]).exit_code == 2
    bad = runner.invoke(app, ["search", "x", "--since", "2025-13"])
    assert bad.exit_code == 2 and "ignored" not in bad.output and "2025-13" in bad.output

    out = runner.invoke(app, ["search", "health", "--limit", "40"], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert re.search(r"\b\d{4}-\d{2}-\d{2}\b", out.stdout) and "T00:00" not in out.stdout
    ends = [line.rstrip() for line in lines[2:]]  # titles take up to two lines
    for line in ends:  # a shortened title ends with an ellipsis after a whole word
        assert not line.endswith("…") or line.endswith(" …")
    assert any(line.endswith(" …") for line in ends)  # some titles are longer than the room
    assert re.search(r"^\d+ bills?; page 1 of \d+$", out.stderr, re.M)
    one = runner.invoke(app, ["search", "wa SJM 8004"])
    assert "1 bill; page 1 of 1" in one.stderr
    assert runner.invoke(app, ["site", "build", "out"]).exit_code == 0
    assert Path("out/index.html").is_file()


def test_wave_chart_table_and_csv(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    home = client.get("/").text
    figure = home[
        home.index('<figure class="wave"') : home.index(
            "</figure>", home.index('<figure class="wave"')
        )
    ]
    assert 'role="img"' in figure and "<title id=" in figure and "<desc id=" in figure
    assert "<a " not in figure.split("<figcaption")[0], "the chart is an image: no links inside"
    assert "<script" not in figure and "http" not in figure.split("<figcaption")[0]
    assert "By furthest stage reached</caption>" in home and 'href="/wave.csv"' in home
    r = client.get("/wave.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {r["state"] for r in rows} >= {"mn", "ny"} and all(int(r["bills"]) > 0 for r in rows)
    ny = list(csv.DictReader(io.StringIO(client.get("/states/ny/wave.csv").text)))
    assert ny and {r["state"] for r in ny} == {"ny"}
    assert client.get("/states/zz/wave.csv").status_code == 404
    state = client.get("/states/mn/").text
    assert "The wave in Minnesota" in state and 'href="/states/mn/wave.csv"' in state
    nothing = client.get("/states/ak/").text  # no bills: words, not an empty chart
    assert "No single-payer, study or public-option bills on file" in nothing
    assert 'class="wave"' not in nothing


def test_feeds_dated_by_action_conditional_and_based_on_the_served_address(  # type: ignore[no-untyped-def]
    site, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = site
    ns = {"a": "http://www.w3.org/2005/Atom"}
    r = client.get("/feeds/states/ny.atom")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    root = ET.fromstring(r.content)
    updated = [e.findtext("a:updated", namespaces=ns) for e in root.findall("a:entry", ns)]
    # the synthetic bill's referral is dated 2025-02-01: its entry says so, not the import time
    assert "2025-02-01T00:00:00Z" in updated
    assert updated == sorted(updated, reverse=True)
    assert root.findtext("a:updated", namespaces=ns) == max(updated)
    link = root.find("a:link[@rel='alternate']", ns)
    assert link is not None and link.get("href", "").startswith("http://testserver/")
    assert client.get("/feeds/states/ny.atom", headers={"If-None-Match": etag}).status_code == 304
    again = client.get("/feeds/states/ny.atom", headers={"If-Modified-Since": modified})
    assert again.status_code == 304 and again.content == b""
    assert (
        client.get("/feeds/states/ny.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    )
    ics = client.get("/feeds/hearings.ics?all=1")
    assert (
        client.get(
            "/feeds/hearings.ics?all=1", headers={"If-None-Match": ics.headers["etag"]}
        ).status_code
        == 304
    )
    # an empty feed carries the newest data date, not a made-up one
    empty = ET.fromstring(client.get("/feeds/states/ak.atom").content)
    assert not empty.findall("a:entry", ns)
    assert empty.findtext("a:updated", namespaces=ns)[:4] >= "2025"
    monkeypatch.setenv("TRACKER_BASE_URL", "https://tracker.example.org")
    reset_settings()
    configured = ET.fromstring(client.get("/feeds/states/ny.atom").content)
    assert configured.findtext("a:id", namespaces=ns).startswith("https://tracker.example.org/")


def test_many_sponsors_fold_into_a_details_list(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    html = client.get("/bills/ma/194th/H1405/").text
    found = re.search(
        r"<details class=\"more-sponsors\">\s*<summary>and (\d+) more</summary>", html
    )
    assert found, "a long sponsor list is folded"
    shown = html[: found.start()].count("<li>") - html[: html.index("<h2>Sponsors</h2>")].count(
        "<li>"
    )
    assert shown == 10 and int(found.group(1)) >= 40


def test_run_counts_are_labelled() -> None:
    from tracker.web.pages import count_items

    items = dict(
        count_items(
            {
                "new": 0,
                "updated": 2,
                "unchanged": 1500,
                "errors": 0,
                "index_unmatched": 0,
                "unknown_sessions": ["2027 Special"],
                "pages_fetched": 12,
            }
        )
    )
    assert items == {
        "New bills": "0",
        "Bills updated": "2",
        "Bills unchanged": "1,500",
        "Pages fetched": "12",
        "Sessions the config does not know": "2027 Special",
    }


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _hue(hex_colour: str) -> float:
    import colorsys

    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    return colorsys.rgb_to_hls(*rgb)[0] * 360


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_map_colour_has_a_legend_entry_and_readable_text(site) -> None:  # type: ignore[no-untyped-def]
    from tracker.paths import templates_dir
    from tracker.vocab import ALL_STAGES

    css = (templates_dir() / "site/static/site.css").read_text()
    pairs = dict(
        (name, (fill, on))
        for name, fill, on in re.findall(
            r"\.((?:st|tile)-[a-z_]+) \{ --fill:(#[0-9a-f]{6}); --on:(#[0-9a-f]{6}); \}", css
        )
    )
    wanted = [f"st-{s}" for s in ALL_STAGES] + ["tile-untracked", "tile-nodata"]
    assert set(wanted) <= set(pairs), set(wanted) - set(pairs)
    for name in wanted:
        fill, on = pairs[name]
        assert _contrast(fill, on) >= 4.5, (name, fill, on)  # WCAG AA for the state codes
    edge = re.search(r"--edge:(#[0-9a-f]{6})", css)
    assert edge and _contrast(edge.group(1), "#ffffff") >= 3  # swatch borders, WCAG 1.4.11
    # the first two stages differ in hue, not only in shade
    hues = [_hue(pairs[f"st-{s}"][0]) for s in ("introduced", "in_committee")]
    assert min(abs(hues[0] - hues[1]), 360 - abs(hues[0] - hues[1])) >= 30, hues
    home = site[0].get("/").text
    legend = home[home.index('<ul class="legend" aria-label="Map colours">') :]
    legend = legend[: legend.index("</ul>")]
    for name in wanted:
        assert f"swatch {name}" in legend, name
    assert "favicon.ico" in home


def test_data_health_box_shows_labelled_counts(site) -> None:  # type: ignore[no-untyped-def]
    from tracker.models import Run

    client, engine = site
    counts = {"new": 1, "updated": 0, "unchanged": 9, "index_unmatched": 3, "unknown_sessions": []}
    with engine.begin() as conn:
        run_id = conn.execute(
            Run.__table__.insert().values(
                source="scrape:ny", state="ny", kind="scrape", status="ok", counts=counts, errors=[]
            )
        ).inserted_primary_key[0]
    try:
        html = client.get("/states/ny/").text
    finally:
        with engine.begin() as conn:
            conn.execute(Run.__table__.delete().where(Run.__table__.c.id == run_id))
    box = html[html.index('<section class="health-box"') :]
    box = box[: box.index("</section>")]
    assert "<dt>Index entries not matched</dt><dd>3</dd>" in box
    assert "<dt>New bills</dt><dd>1</dd>" in box
    assert "unknown_sessions" not in box and "index_unmatched" not in box and "[]" not in box


def test_emails_use_one_font_family() -> None:
    from tracker.paths import templates_dir

    families = set()
    for path in (templates_dir() / "email").glob("*.html"):
        families |= {
            f.strip().rstrip(";").replace(" ", "")
            for f in re.findall(r"font-family:\s*([^;\"]+)", path.read_text())
        }
    assert families == {"Arial,Helvetica,sans-serif"}, families
