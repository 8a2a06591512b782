"""The digest's HTML part in headless Chromium (Debian's `chromium`) at phone and desktop widths:
it loads with no external requests, nothing overflows a phone screen, and scraped text with
markup and quotes shows as text.

Set DIGEST_SCREENSHOT_DIR to keep the screenshots (e.g. to look at them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import need
from synthetic_digest_data import EVIL_SPONSOR, EVIL_TITLE, PERIOD, load_synthetic_week

from tracker import digest, digest_render, subscriptions
from tracker.settings import reset_settings

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LINKS = {
    "email": "reader@example.org",
    "manage_url": "https://tracker.example/manage/T",
    "unsubscribe_url": "https://tracker.example/unsubscribe/T",
}


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    exe = os.environ.get("TRACKER_CHROMIUM") or "/usr/bin/chromium"
    need(
        Path(exe).exists(),
        f"no Chromium at {exe} (apt-get install chromium, or set TRACKER_CHROMIUM)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        b.tracker_exe = exe  # type: ignore[attr-defined]
        yield b
        b.close()


@pytest.fixture
def digest_html(sqlite_engine, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_BASE_URL", "https://tracker.example")
    reset_settings()
    load_synthetic_week(sqlite_engine)
    with sqlite_engine.connect() as conn:
        week = digest.load_week(conn, period=PERIOD)
    prefs = subscriptions.make_preferences(
        topics=["single-payer", "single-payer-study", "public-option"]
    )
    return digest_render.DigestRenderer(week).render(prefs, **LINKS).html


def _load(browser, html: str, width: int):  # type: ignore[no-untyped-def]
    """Open `html` in a fresh page; returns (page, every non-data: URL the page asked for)."""
    page = browser.new_page(viewport={"width": width, "height": 800})
    requested: list[str] = []

    def record(route):  # type: ignore[no-untyped-def]
        requested.append(route.request.url)
        route.abort()

    page.route("**/*", record)
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(100)
    return page, [u for u in requested if not u.startswith("data:")]


@pytest.mark.parametrize("width", [390, 1280])
def test_digest_renders_offline_at_phone_and_desktop_width(
    browser, digest_html: str, width: int, tmp_path: Path
) -> None:
    page, requested = _load(browser, digest_html, width)
    assert requested == []
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.images.length") == 0
    # nothing wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    text = page.inner_text("body")
    assert EVIL_TITLE in text and EVIL_SPONSOR in text  # shown as text, not run as markup
    assert "Vermont" in text and "Coming up" in text and "Across the country" in text
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    assert "https://tracker.example/bills/ny/2025-2026/S1234/" in links
    assert "https://www.nysenate.gov/legislation/bills/2025/S1234" in links
    shot = tmp_path / f"digest-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("DIGEST_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    page.close()


def test_the_request_check_would_catch_an_external_image(browser, digest_html: str) -> None:
    """The harness itself: an external image in the mail is recorded, so the test above can fail."""
    tampered = digest_html.replace(
        "</body>", '<img src="https://tracker.example/pixel.gif"></body>'
    )
    page, requested = _load(browser, tampered, 390)
    assert requested == ["https://tracker.example/pixel.gif"]
    page.close()
