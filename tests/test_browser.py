"""In a real browser (Playwright driving Debian's chromium): search with filters, follow a facet,
open a bill, find the subscribe form; screenshots at phone and desktop widths; accessibility
basics (labelled fields, heading order, alt text, keyboard reachability) and axe-core's rules
(injected from the copy the `axe-playwright-python` package ships, so nothing is downloaded at
test time). No JavaScript of ours is involved: the site must work as plain HTML."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need

from tracker.ingest import ingest_bills
from tracker.search import reindex_bills

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = (
    ("overview", "/"),
    ("state", "/states/or/"),
    ("bill", "/bills/ma/194th/H1405/"),  # 58 sponsors: the folded list
    ("search", "/search/?q=health"),
)
SHOTS = Path(
    os.environ.get("TRACKER_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "tracker-screenshots")
)

A11Y_JS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button'].includes(el.type)) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!named) problems.push('unlabelled field ' + (el.name || el.id));
  }
  const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
  if (levels[0] !== 1) problems.push('first heading is not h1');
  if (levels.filter(l => l === 1).length !== 1) problems.push('not exactly one h1');
  levels.forEach((l, i) => { if (i && l > levels[i - 1] + 1) problems.push('heading jumps to h' + l); });
  for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push('img without alt');
  for (const svg of document.querySelectorAll('svg[role=img]'))
    if (!svg.getAttribute('aria-labelledby') && !svg.getAttribute('aria-label')) problems.push('svg without name');
  if (!document.documentElement.lang) problems.push('no lang');
  for (const a of document.querySelectorAll('a')) if (!a.textContent.trim() && !a.getAttribute('aria-label')) problems.push('empty link ' + a.href);
  return problems;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_url(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[str]:
    import shutil

    import uvicorn

    from scrapers.importers.openstates import iter_openstates
    from tracker.db import make_engine
    from tracker.web.app import create_app

    path = tmp_path_factory.mktemp("browser") / "site.db"
    shutil.copy(sqlite_template, path)
    sqlite_engine = make_engine(f"sqlite:///{path}")
    report = ingest_bills(
        sqlite_engine,
        iter_openstates([shared_data / "openstates/windy_civi_2025/samples"]),
        source="import:openstates",
    )
    # one Oregon session of LegiScan's archive, so the wave chart has more than one year
    from scrapers.importers.legiscan import iter_legiscan

    oregon = sorted((shared_data / "legiscan/archive").glob("OR_2019-2019_Regular_Session_*.zip"))
    assert oregon, "the Oregon 2019 LegiScan archive is missing from ../shared"
    older = ingest_bills(sqlite_engine, iter_legiscan(oregon), source="import:legiscan")
    with sqlite_engine.begin() as conn:
        reindex_bills(conn, report.bill_ids | older.bill_ids)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(sqlite_engine),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sqlite_engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    need(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _a11y(page) -> None:  # type: ignore[no-untyped-def]
    problems = page.evaluate(A11Y_JS)
    assert not problems, f"{page.url}: {problems}"


def test_search_facet_bill_and_subscribe_in_a_browser(live_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page.goto(live_url + "/search/")
    _a11y(page)
    page.fill("#q", "health")
    page.select_option("#f-state", "mn")
    page.click(".search-box button[type=submit]")
    page.wait_for_load_state()
    assert "state=mn" in page.url and "q=health" in page.url
    assert page.locator("ol.results li").count() >= 1
    results = page.inner_text("ol.results")
    assert "MN " in results and "WA " not in results
    _a11y(page)
    # follow a facet: the stage facet narrows the results and is marked as chosen
    page.locator(".facets ul").nth(1).locator("a").first.click()
    page.wait_for_load_state()
    assert "stage=" in page.url and page.locator('.facets a[aria-current="true"]').count() >= 1
    # open a bill
    page.locator("ol.results li a").first.click()
    page.wait_for_load_state()
    assert "/bills/mn/" in page.url
    assert page.locator("h1").inner_text().startswith("MN ")
    assert page.locator("table.timeline tbody tr").count() >= 1
    assert page.locator("ol.stage-bar li").count() >= 7
    _a11y(page)
    # the subscribe form is on the overview and is labelled
    page.goto(live_url + "/")
    form = page.locator('form[action="/subscribe/"]')
    assert form.count() == 1 and form.locator('input[type="email"]').count() == 1
    _a11y(page)
    page.close()


def test_keyboard_reaches_the_controls(live_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_url + "/search/?q=health")
    reached: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "() => { const e = document.activeElement; return e.id || e.className || e.getAttribute('href') || e.tagName; }"
            )
        )
    assert reached[0] == "skip-link"
    for control in ("q", "f-state", "f-stage", "f-relevant", "f-sort"):
        assert control in reached, f"#{control} is not reachable by keyboard"
    assert any(r and r.startswith("/bills/") for r in reached), "no result link reachable"
    page.keyboard.press("Shift+Tab")
    page.goto(live_url + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_screenshots_and_no_sideways_scrolling(live_url: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    for name, path in PAGES:
        r = page.goto(live_url + path)
        assert r is not None and r.status == 200, path
        _a11y(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{path} scrolls sideways at {width}px ({overflow}px)"
        shot = SHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5000
    # the overview's states table fits a phone without a scrollbar of its own
    page.goto(live_url + "/")
    widths = page.evaluate(
        "() => [...document.querySelectorAll('table.stack')].map(t => "
        "[t.parentElement.scrollWidth, t.parentElement.clientWidth])"
    )
    assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
    page.close()


def test_wave_chart_is_drawn(live_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page.goto(live_url + "/")
    chart = page.locator("figure.wave svg")
    assert chart.get_attribute("role") == "img"
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 200
    assert page.locator("figure.wave rect.bar").count() >= 3
    years = page.locator("figure.wave text.year").all_text_contents()
    assert "2019" in years and "2025" in years
    page.close()


AXE_BLOCKING = ("serious", "critical")
# Rules a user's audit reported, failed at any impact; the first is experimental in axe 4.x and
# only runs when asked for.
AXE_NAMED = ("label-content-name-mismatch", "nested-interactive", "landmark-unique")
AXE_RUN = """async () => await axe.run(document, {
  resultTypes: ['violations'],
  rules: {'label-content-name-mismatch': {enabled: true}},
})"""


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [390, 1280])
def test_axe_finds_no_serious_violations(live_url: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]
    source = _axe_source()
    page = browser.new_page(viewport={"width": width, "height": 900})
    found = {}
    for name, path in PAGES:
        page.goto(live_url + path)
        page.evaluate(source)  # evaluated by the driver: the page's CSP does not apply
        result = page.evaluate(AXE_RUN)
        assert result["testEngine"]["version"].startswith("4."), result["testEngine"]
        bad = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"]
            if v["impact"] in AXE_BLOCKING or v["id"] in AXE_NAMED
        ]
        if bad:
            found[name] = bad
    assert not found, found
    page.goto(live_url + "/search/?q=health")
    names = page.evaluate(
        "() => [...document.querySelectorAll('[role=search]')].map(f => f.getAttribute('aria-label'))"
    )
    assert len(names) == 2 and all(names) and len(set(names)) == 2, names
    page.close()


def test_favicon_is_served(live_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    r = page.goto(live_url + "/favicon.ico")
    assert r is not None and r.status == 200
    assert r.headers["content-type"] == "image/x-icon" and r.body()[:4] == b"\x00\x00\x01\x00"
    page.close()


# ----------------------------------------------------------------------------- curator review


class _Inbox:
    """An aiosmtpd handler keeping every message (the curator's sign-in link arrives here)."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        import email
        from email.policy import default

        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def wait_for_link(self, pattern: str, timeout: float = 15.0) -> str:
        import re

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.messages:
                body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
                found = re.search(pattern, body)
                if found:
                    return found.group(0)
            time.sleep(0.1)
        raise AssertionError(f"no mail with {pattern!r} arrived")


@pytest.fixture
def curator_site(
    sqlite_template: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, object, _Inbox]]:
    """Colorado's 2011 session from LegiScan's archive (SB 168, "Colorado Health Care
    Cooperative", is decided `possible`), one curator, and a loopback SMTP server."""
    import shutil

    import uvicorn
    from aiosmtpd.controller import Controller

    from scrapers.importers.legiscan import iter_legiscan
    from tracker.db import make_engine
    from tracker.settings import reset_settings
    from tracker.web.app import create_app

    archive = sorted((shared_data / "legiscan/archive").glob("CO_2011-2011_Regular_Session_*.zip"))
    assert archive, "the Colorado 2011 LegiScan archive is missing from ../shared"
    path = tmp_path / "curate.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    ingest_bills(engine, iter_legiscan(archive), source="import:legiscan")
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    port = _free_port()
    monkeypatch.setenv("TRACKER_CURATOR_EMAILS", '["curator@example.org"]')
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("TRACKER_SMTP_RATE_PER_SECOND", "0")
    monkeypatch.setenv("TRACKER_BASE_URL", f"http://127.0.0.1:{port}")
    reset_settings()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", engine, inbox
    server.should_exit = True
    thread.join(10)
    smtp.stop()
    engine.dispose()


def test_curator_signs_in_by_mail_and_accepts_a_possible_bill(curator_site, browser) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import Session, select

    from tracker.models import Bill, Change
    from tracker.urls import bill_path

    url, engine, inbox = curator_site
    page = browser.new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    bill_page = url + bill_path("co", "2011A", "SB168")
    page.goto(bill_page)
    assert "possibly single-payer — under review" in page.inner_text("main")
    page.goto(url + "/curate/")
    assert "SB 168" not in page.inner_text("main")  # nothing for anonymous visitors
    _a11y(page)
    page.fill("#curator-email", "curator@example.org")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "Check your inbox" in page.inner_text("h1")
    link = inbox.wait_for_link(r"http://127\.0\.0\.1:\d+/curate/signin/\S+")
    page.goto(link)
    page.click("main button[type=submit]")  # the link opens a button; the click signs in
    page.wait_for_load_state()
    assert page.url.endswith("/curate/")
    assert "Signed in as curator@example.org" in page.inner_text("main")
    _a11y(page)
    item = page.locator("ol.review-queue li", has_text="SB 168")
    assert "Cooperative" in item.inner_text()
    item.locator("input[name=reason]").fill("creates a statewide cooperative covering everyone")
    item.locator("button[value=accept]").click()
    page.wait_for_load_state()
    assert "accepted, now single-payer" in page.inner_text("main")
    page.goto(bill_page)
    main = page.inner_text("main")
    assert "Single-payer" in page.inner_text("h1 + p")
    assert "under review" not in main
    assert "creates a statewide cooperative covering everyone" in main
    with Session(engine) as session:
        bill = session.exec(select(Bill).where(Bill.identifier == "SB 168")).one()
        assert (bill.topic, bill.topic_decision) == ("single-payer", "yes")
        rows = session.exec(
            select(Change).where(Change.bill_id == bill.id, Change.source == "curator")
        ).all()
        assert {(c.field, c.new) for c in rows} == {
            ("topic", "single-payer"),
            ("topic_decision", "yes"),
        }
    page.close()
