"""The page cache (tracker.web.pagecache): a cached page is served again only while nothing was
written; a write by another connection or process, or by this one, is seen on the next request;
ETags revalidate; pages that issued a CSRF token are never shared; the cache is bounded."""

from __future__ import annotations

from typing import Any

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
