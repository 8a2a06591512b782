"""The polite HTTP client and the page archive, exercised against a real local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import logging
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from httpserver import LocalSite, Reply, Request, http_date, real_page_urls

import scrapers.http as http_module
from scrapers.archive import PageArchive
from scrapers.encoding import sniff_encoding
from scrapers.fetch_types import (
    Cancelled,
    FetchError,
    HTTPStatusError,
    Page,
    RetriesExhausted,
    RobotsDisallowed,
    TooLarge,
)
from scrapers.http import HttpClient
from scrapers.retry import parse_retry_after
from scrapers.robots import ROBOTS_RECHECK_SECONDS

UA = "SinglePayerTracker-test/1.0 (+https://example.org; tests@example.org)"
SYNTHETIC = b"<html><head><title>synthetic page</title></head><body>synthetic</body></html>"


class FakeClock:
    """Injectable clock: sleeping only advances virtual time and records the request."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[PageArchive]:
    with PageArchive(tmp_path / "archive") as arch:
        yield arch


def client(**options: Any) -> HttpClient:
    settings: dict[str, Any] = {
        "user_agent": UA,
        "timeout": (2.0, 2.0),
        "max_bytes": 1_000_000,
        "default_delay": 0.0,
        "backoff_base": 0.001,
    }
    settings.update(options)
    return HttpClient(**settings)


# ----------------------------------------------------------------------------- basics


def test_page_fields_and_honest_user_agent(site: LocalSite) -> None:
    site.add("/page", SYNTHETIC)
    with client() as http:
        page = http.get(site.url("/page"))
    assert page.status == 200
    assert page.body == SYNTHETIC
    assert page.content_hash == hashlib.sha256(SYNTHETIC).hexdigest()
    assert page.fetched_at.tzinfo is not None and page.fetched_at <= datetime.now(UTC)
    assert page.url == page.requested_url == site.url("/page")
    assert not (page.from_cache or page.not_modified or page.unchanged)
    assert "synthetic page" in page.text
    sent = site.requests_for("/page")
    assert [r.header("User-Agent") for r in sent] == [UA]
    # robots.txt is asked for with the same User-Agent
    assert site.requests_for("/robots.txt")[0].header("User-Agent") == UA


def test_the_trackers_client_takes_user_agent_and_limits_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.scraping import http_client
    from tracker.settings import reset_settings

    monkeypatch.setenv("TRACKER_CONTACT_EMAIL", "scrapers@example.net")
    monkeypatch.setenv("TRACKER_HTTP_TIMEOUT", "7")
    monkeypatch.setenv("TRACKER_HTTP_MAX_BYTES", "12345")
    reset_settings()
    http = http_client(max_retries=0)  # an option passed in wins over the setting
    assert "scrapers@example.net" in http.user_agent
    assert http.user_agent.startswith("SinglePayerTracker/")
    assert http.timeout == (7.0, 7.0)
    assert http.max_bytes == 12345
    assert http.max_retries == 0


def test_params_are_added_to_the_query(site: LocalSite) -> None:
    site.add("/search?q=health care&page=2", b"results")
    with client() as http:
        page = http.get(site.url("/search"), params={"q": "health care", "page": 2})
    assert page.body == b"results"
    assert site.requests_for("/search")[0].query == "q=health+care&page=2"


def test_only_http_and_https(site: LocalSite) -> None:
    with client() as http:
        with pytest.raises(FetchError, match="only http and https"):
            http.get("file:///etc/passwd")
        with pytest.raises(FetchError, match="invalid URL"):
            http.get("not a url")


def test_real_saved_page_served_under_its_original_url(
    real_html: Path, site: LocalSite, archive: PageArchive
) -> None:
    rel = "nm/2019_SB11_legislation_detail.html"
    original = real_page_urls(real_html)[rel]
    assert original.startswith("https://www.nmlegis.gov/Legislation/Legislation?")
    served = site.serve_real_pages(real_html, states=["nm"], etag=True)
    with client(archive=archive) as http:
        page = http.get(served[rel])
    saved = (real_html / rel).read_bytes()
    assert page.body == saved
    assert page.encoding == "utf-8"
    assert "New Mexico Legislature" in page.text and "SB  11" in page.text
    assert archive.latest_body(served[rel]) == saved
    assert site.requests_for(served[rel])[0].path == "/Legislation/Legislation"


# ----------------------------------------------------------------------------- rate limits


def test_rate_limit_is_per_host_with_injected_clock(site: LocalSite) -> None:
    site.add("/a", b"a")
    clock = FakeClock()
    with client(default_delay=5.0, clock=clock, sleep=clock.sleep, respect_robots=False) as http:
        http.get(site.url("/a"))
        http.get(site.url("/a", host="localhost"))  # another host: no wait
        assert clock.sleeps == []
        http.get(site.url("/a"))  # same host again: waits the full delay
        assert clock.sleeps == [5.0]
        clock.now += 100  # long after: no wait
        http.get(site.url("/a", host="localhost"))
        assert clock.sleeps == [5.0]
        http.set_host_delay("localhost", 0.5)
        http.get(site.url("/a", host="localhost"))
        assert clock.sleeps == [5.0, 0.5]


def test_delays_mapping_overrides_default() -> None:
    http = client(default_delay=1.0, delays={"www.nmlegis.gov": 3.0, "localhost:8080": 0.25})
    assert http.delay_for("www.nmlegis.gov") == 3.0
    assert http.delay_for("www.nmlegis.gov:443") == 3.0  # the host name covers every port
    assert http.delay_for("localhost:8080") == 0.25
    assert http.delay_for("example.org") == 1.0
    with pytest.raises(ValueError):
        http.set_host_delay("example.org", -1)


def test_two_hosts_in_threads_do_not_block_each_other(site: LocalSite) -> None:
    site.add("/p", b"p")
    delay = 0.2
    http = client(default_delay=delay, respect_robots=False)
    # When the client lets each request go, per host (the server's arrival times bunch up on a
    # loaded machine: a CI run once saw two requests to one host closer than the delay there)
    sent: dict[str, list[float]] = {}
    wait_turn = http._pacer.wait_turn

    def recorded(key: str, **kwargs: object) -> None:
        wait_turn(key, **kwargs)  # type: ignore[arg-type]
        sent.setdefault(key, []).append(time.monotonic())

    http._pacer.wait_turn = recorded  # type: ignore[method-assign]

    def three(host: str) -> None:
        for _ in range(3):
            http.get(site.url("/p", host=host))

    started = time.monotonic()
    threads = [threading.Thread(target=three, args=(h,)) for h in ("127.0.0.1", "localhost")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # Each host needs two gaps (0.4s); one shared limiter would need five (1.0s).
    assert 2 * delay * 0.95 <= elapsed < 4.5 * delay
    for host in ("127.0.0.1", "localhost"):
        assert len([r for r in site.requests if r.header("Host").startswith(host)]) == 3
    assert len(sent) == 2  # one pacing key per host
    for times in sent.values():
        assert len(times) == 3
        assert all(b - a >= delay * 0.95 for a, b in zip(times, times[1:], strict=False))


def test_threads_on_one_host_are_spaced(site: LocalSite) -> None:
    site.add("/p", b"p")
    http = client(default_delay=0.1, respect_robots=False)
    # When the client lets each request go (the server's arrival times bunch up on a loaded
    # machine, so they say less about the client's spacing).
    sent: list[float] = []
    wait_turn = http._pacer.wait_turn

    def recorded(key: str, **kwargs: object) -> None:
        wait_turn(key, **kwargs)  # type: ignore[arg-type]
        sent.append(time.monotonic())

    http._pacer.wait_turn = recorded  # type: ignore[method-assign]
    threads = [threading.Thread(target=http.get, args=(site.url("/p"),)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(site.requests) == 5 and len(sent) == 5
    times = sorted(sent)
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.07


# ----------------------------------------------------------------------------- robots.txt


def test_robots_disallow_raises_a_clear_error(site: LocalSite) -> None:
    site.robots("User-agent: *\nDisallow: /private\n")
    site.add("/private/bill", b"secret")
    site.add("/public", b"ok")
    with client() as http:
        with pytest.raises(RobotsDisallowed) as caught:
            http.get(site.url("/private/bill"))
        assert http.get(site.url("/public")).body == b"ok"
        with pytest.raises(RobotsDisallowed):
            http.post(site.url("/private/bill"), data=b"x")
    message = str(caught.value)
    assert f"robots.txt of 127.0.0.1:{site.port} disallows" in message
    assert site.url("/private/bill") in message and UA in message
    assert caught.value.url == site.url("/private/bill")
    assert site.hits("/private/bill") == 0
    assert site.hits("/robots.txt") == 1  # fetched once per host per client


def test_robots_group_for_our_user_agent(site: LocalSite) -> None:
    site.robots("User-agent: SinglePayerTracker-test\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    site.add("/page", b"ok")
    with client() as http, pytest.raises(RobotsDisallowed):
        http.get(site.url("/page"))
    with client(user_agent="OtherBot/1.0") as other:
        assert other.get(site.url("/page")).body == b"ok"


def test_redirect_target_is_checked_against_robots(site: LocalSite) -> None:
    site.robots("User-agent: *\nDisallow: /private\n")
    site.add("/go", status=302, headers={"Location": "/private/x"})
    site.add("/private/x", b"secret")
    with client() as http, pytest.raises(RobotsDisallowed):
        http.get(site.url("/go"))
    assert site.hits("/private/x") == 0


def test_robots_404_allows_everything(site: LocalSite) -> None:
    site.add("/page", b"ok")
    with client() as http:
        assert http.get(site.url("/page")).body == b"ok"
        assert http.get(site.url("/page")).body == b"ok"
    assert site.hits("/robots.txt") == 1


def test_robots_5xx_allows_with_warning_and_is_asked_again_later(
    site: LocalSite, caplog: pytest.LogCaptureFixture
) -> None:
    site.robots("User-agent: *\nDisallow: /page\n", statuses=[500, 200])
    site.add("/page", b"ok")
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger="scrapers.http")
    with client(clock=clock, sleep=clock.sleep) as http:
        assert http.get(site.url("/page")).body == b"ok"
        assert any(
            "robots.txt" in r.getMessage() and "allowing" in r.getMessage() for r in caplog.records
        )
        clock.now += ROBOTS_RECHECK_SECONDS + 1
        with pytest.raises(RobotsDisallowed):
            http.get(site.url("/page"))
    assert site.hits("/robots.txt") == 2


def test_crawl_delay_raises_the_configured_delay(site: LocalSite) -> None:
    site.robots("User-agent: *\nCrawl-delay: 3\n")
    site.add("/a", b"a")
    clock = FakeClock()
    with client(default_delay=1.0, clock=clock, sleep=clock.sleep) as http:
        http.get(site.url("/a"))
        http.get(site.url("/a"))
        assert http.delay_for(f"127.0.0.1:{site.port}") == 3.0
    # robots.txt, then each page three seconds after the previous request
    assert clock.sleeps == [3.0, 3.0]


def test_crawl_delay_smaller_than_configured_is_ignored(site: LocalSite) -> None:
    site.robots("User-agent: *\nCrawl-delay: 1\n")
    site.add("/a", b"a")
    clock = FakeClock()
    with client(default_delay=4.0, clock=clock, sleep=clock.sleep) as http:
        http.get(site.url("/a"))
    assert clock.sleeps == [4.0]


# ----------------------------------------------------------------------------- retries


def test_503_503_200_is_retried(site: LocalSite) -> None:
    site.add("/flaky", b"finally", statuses=[503, 503, 200])
    with client() as http:
        page = http.get(site.url("/flaky"))
        stats = http.stats()
    assert page.body == b"finally"
    assert site.hits("/flaky") == 3
    assert stats["retries"] == 2
    assert stats["requests"] == 4  # robots.txt + three attempts
    assert stats["hosts"][f"127.0.0.1:{site.port}"]["retries"] == 2


def test_429_retry_after_seconds_is_honoured(site: LocalSite) -> None:
    site.add("/busy", b"ok", statuses=[429, 200], retry_after="7")
    clock = FakeClock()
    with client(clock=clock, sleep=clock.sleep) as http:
        assert http.get(site.url("/busy")).body == b"ok"
    assert clock.sleeps == [7.0]


def test_503_retry_after_http_date_is_honoured(site: LocalSite) -> None:
    site.add("/busy", b"ok", statuses=[503, 200], retry_after=http_date(time.time() + 30))
    clock = FakeClock()
    with client(clock=clock, sleep=clock.sleep) as http:
        http.get(site.url("/busy"))
    assert len(clock.sleeps) == 1 and 27 <= clock.sleeps[0] <= 30


def test_retry_after_is_capped(site: LocalSite, caplog: pytest.LogCaptureFixture) -> None:
    site.add("/busy", b"ok", statuses=[429, 200], retry_after="3600")
    clock = FakeClock()
    with client(clock=clock, sleep=clock.sleep, max_retry_after=10) as http:
        http.get(site.url("/busy"))
    assert clock.sleeps == [10.0]
    assert any("capped" in r.getMessage() for r in caplog.records)


def test_404_is_not_retried(site: LocalSite) -> None:
    site.add("/gone", status=404)
    with client() as http:
        with pytest.raises(HTTPStatusError) as caught:
            http.get(site.url("/gone"))
        assert http.stats()["retries"] == 0
    assert caught.value.status == 404
    assert site.url("/gone") in str(caught.value) and "404" in str(caught.value)
    assert site.hits("/gone") == 1


def test_retries_exhausted_names_the_url_and_backs_off_exponentially(site: LocalSite) -> None:
    site.add("/down", status=500)
    clock = FakeClock()
    http = client(
        max_retries=3, backoff_base=1.0, clock=clock, sleep=clock.sleep, rng=random.Random(1)
    )
    with pytest.raises(RetriesExhausted) as caught:
        http.get(site.url("/down"))
    assert site.url("/down") in str(caught.value)
    assert "4 attempts" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert caught.value.status == 500
    assert site.hits("/down") == 4
    # 1, 2, 4 seconds, each plus up to one second of jitter
    assert [int(s) for s in clock.sleeps] == [1, 2, 4]
    assert len(set(clock.sleeps)) == 3


def test_slow_response_times_out_and_is_retried(site: LocalSite) -> None:
    site.add("/slow", b"eventually", delays=[1.5, 0.0])
    with client(timeout=(1.0, 0.3)) as http:
        page = http.get(site.url("/slow"))
        assert http.stats()["retries"] == 1
    assert page.body == b"eventually"
    assert site.hits("/slow") == 2


def test_dripping_body_is_cut_off_by_the_total_deadline(site: LocalSite) -> None:
    # Every read arrives within the read timeout, but the whole body would take about a second.
    site.add("/drip", b"x" * 20_000, drip=0.05)
    with client(max_seconds=0.2, max_retries=0) as http:
        started = time.monotonic()
        with pytest.raises(RetriesExhausted, match="not complete after"):
            http.get(site.url("/drip"))
    assert time.monotonic() - started < 0.8


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nothing"
    with client(max_retries=1, respect_robots=False) as http:
        with pytest.raises(RetriesExhausted, match="ConnectionError") as caught:
            http.get(url)
        assert http.stats()["requests"] == 2
    assert caught.value.url == url and url in str(caught.value)


def test_truncated_body_is_retried_then_reported(site: LocalSite) -> None:
    site.add("/cut", b"x" * 5000, truncate=100)
    with client(max_retries=1) as http, pytest.raises(RetriesExhausted) as caught:
        http.get(site.url("/cut"))
    assert site.hits("/cut") == 2
    assert "ChunkedEncodingError" in str(caught.value) or "ConnectionError" in str(caught.value)


def test_malformed_bytes_decode_with_replacement(site: LocalSite) -> None:
    site.add("/bad", b"<html>caf\xe9 \x80\xff</html>", content_type="text/html; charset=utf-8")
    with client() as http:
        page = http.get(site.url("/bad"))
    assert page.body == b"<html>caf\xe9 \x80\xff</html>"
    assert "\ufffd" in page.text and page.text.startswith("<html>caf")


# ----------------------------------------------------------------------------- size limits


def test_declared_oversized_body_is_refused(site: LocalSite, archive: PageArchive) -> None:
    site.add("/big", b"x" * 10_000)
    with client(max_bytes=1000, archive=archive) as http, pytest.raises(TooLarge) as caught:
        http.get(site.url("/big"))
    assert "10000" in str(caught.value) and site.url("/big") in str(caught.value)
    assert site.hits("/big") == 1  # not retried
    assert archive.latest(site.url("/big")) is None


def test_streamed_oversized_body_is_aborted(site: LocalSite) -> None:
    site.add("/big", b"x" * 300_000, content_length=False)
    with client(max_bytes=100_000) as http:
        with pytest.raises(TooLarge, match="more than the limit of 100000"):
            http.get(site.url("/big"))
        # it stopped reading early instead of downloading everything
        assert http.stats()["bytes"] < 300_000
    assert site.hits("/big") == 1


def test_gzip_bodies_are_decoded_and_limited_by_their_decoded_size(site: LocalSite) -> None:
    site.add("/gz", gzip.compress(SYNTHETIC), headers={"Content-Encoding": "gzip"})
    bomb = gzip.compress(b"\0" * 5_000_000)
    site.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    site.add("/broken", b"\x1f\x8b not really gzip", headers={"Content-Encoding": "gzip"})
    with client(max_bytes=100_000, max_retries=0) as http:
        assert http.get(site.url("/gz")).body == SYNTHETIC
        with pytest.raises(TooLarge):
            http.get(site.url("/bomb"))
        with pytest.raises(RetriesExhausted, match="ContentDecodingError"):
            http.get(site.url("/broken"))
    assert len(bomb) < 100_000  # small on the wire, so only the streamed check can catch it


def test_body_at_the_limit_is_accepted(site: LocalSite) -> None:
    site.add("/exact", b"y" * 1000, content_length=False)
    with client(max_bytes=1000) as http:
        assert len(http.get(site.url("/exact")).body) == 1000


# ----------------------------------------------------------------------------- conditional GET


def test_conditional_get_returns_archived_body_on_304(
    site: LocalSite, archive: PageArchive
) -> None:
    body = SYNTHETIC * 20
    site.add("/bill", body, etag=True)
    with client(archive=archive) as http:
        first = http.get(site.url("/bill"))
        after_first = http.stats()
        second = http.get(site.url("/bill"))
        stats = http.stats()
    assert not first.not_modified and not first.unchanged
    assert second.not_modified and second.from_cache and second.unchanged
    assert second.status == 200 and second.body == body
    assert second.content_hash == first.content_hash
    assert second.header("ETag") == first.header("ETag")
    sent = site.requests_for("/bill")
    assert sent[0].header("If-None-Match") is None
    assert sent[1].header("If-None-Match") == first.header("ETag")
    assert stats["requests"] == 3  # robots.txt + two
    assert stats["not_modified"] == 1
    assert after_first["bytes"] >= len(body)
    assert stats["bytes"] == after_first["bytes"]  # the 304 carried no body
    history = archive.history(site.url("/bill"))
    assert [h.not_modified for h in history] == [False, True]


def test_conditional_get_with_last_modified(site: LocalSite, archive: PageArchive) -> None:
    site.add("/list", b"list", last_modified=http_date(time.time() - 3600))
    with client(archive=archive) as http:
        http.get(site.url("/list"))
        again = http.get(site.url("/list"))
    assert again.not_modified and again.body == b"list"
    assert site.requests_for("/list")[1].header("If-Modified-Since") is not None


def test_changed_page_is_downloaded_and_not_unchanged(
    site: LocalSite, archive: PageArchive
) -> None:
    site.add("/bill", b"version 1", etag=True)
    with client(archive=archive) as http:
        http.get(site.url("/bill"))
        site.update("/bill", body=b"version 2")
        page = http.get(site.url("/bill"))
    assert page.body == b"version 2" and not page.not_modified and not page.unchanged
    assert [archive.body(h.content_hash) for h in archive.history(site.url("/bill"))] == [
        b"version 1",
        b"version 2",
    ]


def test_conditional_false_sends_no_validators(site: LocalSite, archive: PageArchive) -> None:
    site.add("/bill", b"v", etag=True)
    with client(archive=archive) as http:
        http.get(site.url("/bill"))
        page = http.get(site.url("/bill"), conditional=False)
    assert not page.not_modified and page.unchanged
    assert site.requests_for("/bill")[1].header("If-None-Match") is None


def test_unchanged_by_content_hash_without_etag(site: LocalSite, archive: PageArchive) -> None:
    site.add("/plain", SYNTHETIC)
    with client(archive=archive) as http:
        first = http.get(site.url("/plain"))
        second = http.get(site.url("/plain"))
        assert http.stats()["bytes"] == 2 * len(SYNTHETIC)
        site.update("/plain", body=SYNTHETIC + b"<!-- changed -->")
        third = http.get(site.url("/plain"))
    assert not first.unchanged
    assert second.unchanged and not second.not_modified and not second.from_cache
    assert not third.unchanged
    assert site.hits("/plain") == 3


def test_failures_never_lose_what_was_archived(site: LocalSite, archive: PageArchive) -> None:
    site.add("/bill", b"good", statuses=[200, 503])
    with client(archive=archive, max_retries=1) as http:
        http.get(site.url("/bill"))
        with pytest.raises(RetriesExhausted):
            http.get(site.url("/bill"))
    latest = archive.latest(site.url("/bill"))
    assert latest is not None and archive.body(latest.content_hash) == b"good"
    assert len(archive.history(site.url("/bill"))) == 1


# ----------------------------------------------------------------------------- redirects, POST


def test_redirect_is_followed_and_recorded(site: LocalSite, archive: PageArchive) -> None:
    site.add("/old", status=301, headers={"Location": "/new"})
    site.add("/new", b"moved here")
    with client(archive=archive) as http:
        page = http.get(site.url("/old"))
    assert page.body == b"moved here"
    assert page.url == site.url("/new") and page.requested_url == site.url("/old")
    assert archive.latest(site.url("/old")) == archive.latest(site.url("/new"))


def test_cross_host_redirect_drops_caller_headers(site: LocalSite) -> None:
    site.add("/api", status=302, headers={"Location": site.url("/elsewhere", host="localhost")})
    site.add("/elsewhere", b"ok")
    with client() as http:
        http.get(site.url("/api"), headers={"X-API-Key": "secret"})
    assert site.requests_for("/api")[0].header("X-API-Key") == "secret"
    assert site.requests_for("/elsewhere")[0].header("X-API-Key") is None


def test_too_many_redirects(site: LocalSite) -> None:
    site.add("/loop", status=302, headers={"Location": "/loop"})
    with client(max_redirects=3) as http, pytest.raises(FetchError, match="more than 3 redirects"):
        http.get(site.url("/loop"))


def test_post_for_soap_services(site: LocalSite, archive: PageArchive) -> None:
    def soap(request: Request) -> Reply:
        action = request.header("SOAPAction") or ""
        return Reply(200, b"<reply>" + action.encode() + request.body + b"</reply>", {})

    site.add("/Service.svc", handler=soap, methods=("POST",))
    headers = {"Content-Type": "text/xml", "SOAPAction": "GetVote"}
    with client(archive=archive) as http:
        one = http.post(site.url("/Service.svc"), data=b"<id>1</id>", headers=headers)
        two = http.post(site.url("/Service.svc"), data=b"<id>2</id>", headers=headers)
        one_again = http.post(site.url("/Service.svc"), data=b"<id>1</id>", headers=headers)
    assert one.body == b"<reply>GetVote<id>1</id></reply>"
    assert one.method == "POST" and one.request_digest
    assert not two.unchanged  # a different request body is a different document
    assert one_again.unchanged
    assert [r.method for r in site.requests_for("/Service.svc")] == ["POST"] * 3


# ----------------------------------------------------------------------------- TLS


def test_tls_verification_cannot_be_disabled() -> None:
    source = inspect.getsource(http_module)
    assert "verify=False" not in source and "verify = False" not in source
    assert "verify" not in inspect.signature(HttpClient).parameters
    http = client()
    assert http.session.verify is True
    insecure = requests.Session()
    insecure.verify = False
    with pytest.raises(ValueError, match="TLS verification cannot be disabled"):
        client(session=insecure)
    http.session.verify = False  # switched off behind the client's back: refused at send time
    with pytest.raises(ValueError):
        http.get("https://127.0.0.1:1/")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_untrusted_certificate_is_rejected_without_retries(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LocalSite(ssl_context=context) as tls_site:
        tls_site.add("/page", b"over tls")
        with client(respect_robots=False) as http:
            with pytest.raises(FetchError, match="SSLError") as caught:
                http.get(tls_site.url("/page"))
            assert not isinstance(caught.value, RetriesExhausted)
            assert http.stats()["requests"] == 1
        # The same server is fine once its certificate is trusted: verification is really on.
        trusting = requests.Session()
        trusting.verify = str(cert)
        with client(session=trusting) as http:
            assert http.get(tls_site.url("/page")).body == b"over tls"


# ----------------------------------------------------------------------------- encodings, helpers


def test_sniff_encoding_order() -> None:
    assert sniff_encoding(b"\xef\xbb\xbf<html>", "text/html; charset=iso-8859-1") == "utf-8"
    assert sniff_encoding(b"<html>", "text/html; charset=UTF-8") == "utf-8"
    assert sniff_encoding(b"<html>", "text/html; charset=iso-8859-1") == "cp1252"
    assert sniff_encoding(b'<meta charset="windows-1252">', "text/html") == "cp1252"
    assert sniff_encoding(b'<?xml version="1.0" encoding="ISO-8859-15"?>', None) == "iso8859-15"
    assert sniff_encoding(b"<html>", "text/html; charset=bogus") == "utf-8"
    page = Page(
        url="http://x/", status=200, headers={"content-type": "text/html; charset=windows-1252"},
        body=b"\x93quoted\x94", content_hash="", fetched_at=datetime.now(UTC),
    )  # fmt: skip
    assert page.text == "\u201cquoted\u201d" and page.header("Content-Type").endswith("1252")


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Mon, 01 Jan 2024 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Sun, 31 Dec 2023 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_json_helper(site: LocalSite) -> None:
    site.add("/api.json", b'{"bills": [1, 2]}')
    site.add("/notjson", b"<html>")
    with client() as http:
        assert http.get(site.url("/api.json")).json() == {"bills": [1, 2]}
        with pytest.raises(FetchError, match="not valid JSON"):
            http.get(site.url("/notjson")).json()


# ----------------------------------------------------------------------------- the archive


def _page(url: str, body: bytes, **extra: Any) -> Page:
    return Page(
        url=url,
        status=200,
        headers={"Content-Type": "text/html", **extra},
        body=body,
        content_hash=hashlib.sha256(body).hexdigest(),
        fetched_at=datetime.now(UTC),
    )


def test_archive_stores_bodies_once_by_hash(archive: PageArchive) -> None:
    first = archive.record(_page("https://a.example/x", b"same", ETag='"1"'))
    archive.record(_page("https://a.example/y", b"same"))
    path = archive.root / "bodies" / first.content_hash[:2] / f"{first.content_hash}.gz"
    assert path.is_file()
    assert len(list((archive.root / "bodies").rglob("*.gz"))) == 1
    assert archive.body(first.content_hash) == b"same"
    latest = archive.latest("https://a.example/x")
    assert latest is not None and latest.etag == '"1"' and latest.status == 200
    assert latest.fetched_at.tzinfo is not None
    assert archive.urls() == ["https://a.example/x", "https://a.example/y"]
    assert archive.latest("https://a.example/none") is None


def test_archive_errors_are_clear(archive: PageArchive) -> None:
    missing = "0" * 64
    with pytest.raises(KeyError, match="no archived body"):
        archive.body(missing)
    with pytest.raises(ValueError, match="not a sha256"):
        archive.body("../../etc/passwd")
    entry = archive.record(_page("https://a.example/c", b"intact"))
    path = archive.root / "bodies" / entry.content_hash[:2] / f"{entry.content_hash}.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="corrupt"):
        archive.body(entry.content_hash)
    bad = _page("https://a.example/d", b"body")
    bad.content_hash = "f" * 64
    with pytest.raises(ValueError, match="does not match"):
        archive.record(bad)


def test_archive_is_safe_across_threads(archive: PageArchive) -> None:
    def work(n: int) -> None:
        for i in range(25):
            archive.record(_page(f"https://t.example/{n}", f"{n}-{i}".encode()))
            assert archive.latest(f"https://t.example/{n}") is not None

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(6):
        history = archive.history(f"https://t.example/{n}")
        assert [archive.body(h.content_hash) for h in history] == [
            f"{n}-{i}".encode() for i in range(25)
        ]


def test_the_trackers_archive_is_in_the_data_dir(tmp_path: Path) -> None:
    from tracker.scraping import page_archive

    with page_archive() as arch:
        assert arch.root == tmp_path / "data" / "archive"
        assert (arch.root / "index.sqlite").is_file()


def test_api_keys_never_reach_logs_errors_or_the_archive(local_site, tmp_path, caplog) -> None:
    from scrapers.archive import PageArchive
    from scrapers.fetch_types import FetchError
    from scrapers.http import HttpClient
    from scrapers.redact import redact_url

    assert (
        redact_url("https://x/?op=getBill&key=SECRET123&id=4")
        == "https://x/?op=getBill&key=***&id=4"
    )
    local_site.add(
        "/api?op=getBill&key=SECRET123", b'{"status": "OK"}', content_type="application/json"
    )
    archive = PageArchive(tmp_path / "archive")
    client = HttpClient(user_agent=UA, archive=archive, default_delay=0, respect_robots=False)
    caplog.set_level("DEBUG", logger="scrapers.http")
    client.get(local_site.url("/api") + "?op=getBill&key=SECRET123")
    try:
        client.get(local_site.url("/missing") + "?key=SECRET123")
    except FetchError as exc:
        assert "SECRET123" not in str(exc)
    assert "SECRET123" not in caplog.text
    assert all(
        "SECRET123" not in e.url
        for e in archive.history(local_site.url("/api") + "?op=getBill&key=SECRET123")
    )
    assert archive.latest(local_site.url("/api") + "?op=getBill&key=SECRET123") is not None


# ----------------------------------------------------------------------------- cancellation


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/list"


def test_a_fetch_waiting_to_retry_gives_up_as_soon_as_it_is_cancelled() -> None:
    stop = threading.Event()
    # Refused connections, then backoff of 30, 60, 60... seconds: minutes before giving up.
    http = client(max_retries=5, backoff_base=30.0, respect_robots=False, cancel=stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled) as caught:
        http.get(_dead_url())
    assert time.monotonic() - started < 10  # woke from the 30 s backoff, did not sit it out
    assert "stopping" in str(caught.value)
    assert http.stats()["requests"] == 1 and http.stats()["retries"] == 1


def test_a_cancelled_client_sends_nothing_and_others_are_unaffected(site: LocalSite) -> None:
    site.add("/page", SYNTHETIC)
    stop = threading.Event()
    stop.set()
    cancelled = client(respect_robots=False, cancel=stop)
    with pytest.raises(Cancelled):
        cancelled.get(site.url("/page"))
    assert cancelled.stats()["requests"] == 0
    assert client(respect_robots=False).get(site.url("/page")).body == SYNTHETIC
    assert not http_module.STOPPING.is_set()  # the process-wide stop is the default, unset
