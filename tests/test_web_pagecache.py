"""The page cache (tracker.web.pagecache): a cached page is served again only while nothing was
written; a write by another connection or process, or by this one, is seen on the next request;
ETags revalidate; pages that issued a CSRF token are never shared; the cache is bounded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tracker.db import make_engine
from tracker.ingest import ingest_bills
from tracker.search import reindex_bills
from tracker.web.app import create_app
from tracker.web.pagecache import Page, PageCache

BILL = "/bills/mn/2025-2026/HF9901/"


def synthetic_bill(title: str) -> dict[str, Any]:
    """A made-up (synthetic) bill."""
    return {
        "state": "mn",
        "legislative_session": "2025-2026",
        "identifier": "HF 9901",
        "title": title,
        "chamber": "lower",
        "actions": [{"date": "2025-02-01", "description": "Introduced", "chamber": "lower"}],
        "sources": [{"url": "https://example.org/hf9901"}],
    }


def put_bill(engine: Any, title: str) -> None:
    report = ingest_bills(engine, [synthetic_bill(title)], source="test")
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)


def test_pages_revalidate_when_data_changes(db_url: str) -> None:
    server_engine = make_engine(db_url)  # the web server's engine
    elsewhere = make_engine(db_url)  # another process's (an import, the job process)
    try:
        put_bill(elsewhere, "Synthetic first title")
        app = create_app(server_engine)
        client = TestClient(app)
        first = client.get(BILL)
        assert first.status_code == 200 and "Synthetic first title" in first.text
        etag = first.headers["etag"]
        again = client.get(BILL)
        assert again.text == first.text and again.headers["etag"] == etag
        if db_url.startswith("sqlite"):  # PostgreSQL's snapshot moves with any commit anywhere
            assert app.state.page_cache.hits >= 1  # in the cluster (other databases' too)
        not_modified = client.get(BILL, headers={"If-None-Match": etag})  # hit or not
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert "content-security-policy" in not_modified.headers

        put_bill(elsewhere, "Synthetic second title")  # another connection writes
        changed = client.get(BILL, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and "Synthetic second title" in changed.text
        assert changed.headers["etag"] != etag
        found = client.get("/api/bills", params={"q": "second"}).json()
        assert [r["identifier"] for r in found["results"]] == ["HF 9901"]

        put_bill(server_engine, "Synthetic third title")  # this process's own engine writes
        assert "Synthetic third title" in client.get(BILL).text
        assert client.get("/api/bills", params={"q": "third"}).json()["total"] == 1
    finally:
        server_engine.dispose()
        elsewhere.dispose()


def test_pages_with_a_csrf_form_are_not_shared(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        put_bill(engine, "Synthetic title")
        app = create_app(engine)
        one, two = TestClient(app), TestClient(app)
        page_one, page_two = one.get("/"), two.get("/")  # the overview has the subscribe form
        assert page_one.status_code == page_two.status_code == 200
        assert one.cookies["tracker_csrf"] != two.cookies["tracker_csrf"]
        assert page_one.text != page_two.text  # each form carries its own browser's token
        assert app.state.page_cache.entries == {} or all(
            key[0] != "/" for key in app.state.page_cache.entries
        )
    finally:
        engine.dispose()


def test_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = PageCache(max_bytes=8000)
    page = Page(b"x" * 900, (), '"e"')
    for i in range(20):
        cache.put((f"/p{i}", "", 1), page)
        cache.get(("/p0", "", 1))  # kept in use
    assert cache.size <= 8000 and len(cache.entries) == 8
    assert ("/p0", "", 1) in cache.entries and ("/p1", "", 1) not in cache.entries
    cache.put(("/big", "", 1), Page(b"x" * 5000, (), '"b"'))  # over an eighth: not kept
    assert ("/big", "", 1) not in cache.entries


def test_pages_are_built_two_at_a_time(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight requests at once: two pages are built at a time (WEB_RUNNING), the others wait
    their turn, rather than all eight sharing the interpreter and each taking eight times as
    long."""
    from tracker.web import app as web_app
    from tracker.web import pages

    monkeypatch.setenv("TRACKER_PAGE_CACHE_MB", "0")  # every request builds its page
    engine = make_engine(db_url)
    render_bill = pages.render_bill
    lock = threading.Lock()
    running, most = 0, 0

    def slow_render(*args: Any, **kw: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return render_bill(*args, **kw)

    monkeypatch.setattr(pages, "render_bill", slow_render)
    try:
        put_bill(engine, "Synthetic title")
        with TestClient(create_app(engine)) as client, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: client.get(BILL).status_code, range(8)))
        assert answers == [200] * 8
        assert most == 2 == web_app.WEB_RUNNING
    finally:
        engine.dispose()


def test_tracker_run_warms_search_and_templates_at_start(db_url: str) -> None:
    """`tracker run`'s app builds search's facet snapshot and compiles the page templates as it
    starts, in a thread of its own; an app built elsewhere (tests, the static build) does not."""
    from tracker.search import SearchQuery
    from tracker.search.cache import cache_key
    from tracker.search.snapshot import snapshot_ready
    from tracker.templating import get_env

    engine = make_engine(db_url)
    try:
        put_bill(engine, "Synthetic title")
        with engine.connect() as conn:
            version = cache_key(conn, SearchQuery())[2]
        with TestClient(create_app(engine)):
            pass
        with engine.connect() as conn:
            assert not snapshot_ready(conn, version)
        get_env().cache.clear()  # type: ignore[union-attr]
        app = create_app(engine)
        app.state.warm_on_start = True  # as tracker run (in process or --workers) sets it
        with TestClient(app):
            for thread in threading.enumerate():
                if thread.name == "warm":
                    thread.join(30)
        with engine.connect() as conn:
            assert snapshot_ready(conn, version)
        assert any(key[1] == "site/bill.html" for key in get_env().cache)  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_without_a_cache_no_version_is_asked(
    sqlite_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TRACKER_PAGE_CACHE_MB=0: every page is built, and the data version (a query per request
    on PostgreSQL) is not asked; the same page with the cache asks it."""
    from tracker.web.pagecache import DataVersion

    asked: list[int] = []
    real = DataVersion.of

    def counted(self: DataVersion, conn: Any) -> Any:
        asked.append(1)
        return real(self, conn)

    monkeypatch.setattr(DataVersion, "of", counted)
    put_bill(sqlite_engine, "Synthetic uncached title")
    app = create_app(sqlite_engine)
    app.state.page_cache = None
    client = TestClient(app)
    first, again = client.get(BILL), client.get(BILL)
    assert first.status_code == 200 and "Synthetic uncached title" in first.text
    assert again.text == first.text and again.headers["etag"] == first.headers["etag"]
    assert asked == []
    app.state.page_cache = PageCache(1 << 20)
    assert client.get(BILL).text == first.text
    assert asked == [1]
