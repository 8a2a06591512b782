"""The polite HTTP client: the only way anything in the project fetches from the network.

It rate-limits per host, obeys robots.txt (Crawl-delay included), sends an honest User-Agent,
retries transient failures with exponential backoff and jitter, honours ``Retry-After``, caps body
sizes, never turns TLS verification off, follows redirects itself (so every hop is checked against
robots.txt and the rate limit), and with a :class:`~scrapers.archive.PageArchive` makes conditional
requests and flags pages whose content did not change. The rules it applies live beside it:
:mod:`scrapers.robots`, :mod:`scrapers.pacing` (per-host rate limit), :mod:`scrapers.retry` and
:mod:`scrapers.encoding`.

The caller gives the User-Agent and limits (the tracker's come from its settings through
:func:`tracker.scraping.http_client`); the library reads no settings.

Example::

    from scrapers.archive import PageArchive
    from scrapers.http import HttpClient

    ua = "SinglePayerTracker/0.1 (+https://example.org; you@example.org)"
    with HttpClient(user_agent=ua, archive=PageArchive(Path("data/archive"))) as client:
        client.set_host_delay("www.nmlegis.gov", 2.0)
        page = client.get("https://www.nmlegis.gov/Legislation/Legislation_List", params={"Session": 57})
        if not page.unchanged:
            parse(page.text)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from scrapers.archive import ArchivedPage, PageArchive, sha256_hex
from scrapers.fetch_types import (
    Cancelled,
    FetchError,
    HTTPStatusError,
    Page,
    RetriesExhausted,
    RobotsDisallowed,
    TooLarge,
)
from scrapers.pacing import HostPacer
from scrapers.redact import redact_url
from scrapers.retry import (
    RETRY_AFTER_STATUSES,
    describe,
    parse_retry_after,
    retryable_exception,
    retryable_status,
)
from scrapers.robots import ROBOTS_MAX_BYTES, ROBOTS_MAX_REDIRECTS, RobotsAnswer, RobotsRules

log = logging.getLogger("scrapers.http")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_BACKOFF_SECONDS = 60.0
CHUNK_BYTES = 64 * 1024
# Headers of a 304 that describe the (empty) 304 message itself, not the archived representation.
_HOP_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in args)
        record.msg = redact_url(str(record.msg))
        return True


log.addFilter(_RedactFilter())


# Set when the process stops (SIGINT/SIGTERM in `tracker run`): every client that was not given
# an event of its own gives up at its next request, retry or wait, so a stop is never held up
# by backoff sleeps against an unreachable site.
STOPPING = threading.Event()


@dataclass
class _Response:
    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    elapsed: float


def host_key(url: str) -> str:
    """``host`` or ``host:port`` of a URL, lower-cased; the unit of rate limiting."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise FetchError(url, f"invalid port in URL ({exc})") from None
    host = (parts.hostname or "").lower()
    return f"{host}:{port}" if port else host


def _chunks(resp: requests.Response) -> Iterator[bytes]:
    """The decoded body in pieces as they arrive (``read1``), so slow bodies are noticed.

    ``iter_content`` blocks until a whole chunk is in, which lets a dripping server hide from
    the deadline; urllib3 errors are mapped to the requests exceptions ``iter_content`` raises.
    """
    read1 = getattr(resp.raw, "read1", None)
    if read1 is None:  # not a urllib3 response (a test double or an adapter of another kind)
        yield from resp.iter_content(CHUNK_BYTES)
        return
    try:
        while chunk := read1(CHUNK_BYTES, decode_content=True):
            yield chunk
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc


class Offline(FetchError):
    """Offline mode (``tracker demo``): a request for a host that is not served locally."""


_OFFLINE: dict[str, str] | None = None  # host (no www.) -> local origin, while offline


@contextmanager
def offline(origins: Mapping[str, str]) -> Iterator[None]:
    """Within this block every client of the process sends requests for the hosts in `origins`
    (``"ilga.gov": "http://127.0.0.1:9101"``, with or without ``www.``) to those local servers
    and refuses any other host that is not loopback: nothing leaves the machine."""
    global _OFFLINE
    previous, _OFFLINE = _OFFLINE, {k.lower().removeprefix("www."): v for k, v in origins.items()}
    try:
        yield
    finally:
        _OFFLINE = previous


def _offline_url(url: str) -> str:
    """`url` as sent in offline mode: re-pointed at the local server, or refused."""
    if _OFFLINE is None:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    target = _OFFLINE.get(host.removeprefix("www."))
    if target is not None:
        return target.rstrip("/") + urlunsplit(("", "", parts.path, parts.query, ""))
    if host in ("127.0.0.1", "localhost", "::1"):
        return url
    raise Offline(url, f"offline: {host} is not served locally, so it is not fetched")


class HttpClient:
    """Rate-limited, robots-obeying, retrying HTTP client; share one per scrape (thread-safe)."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        max_bytes: int = 20_000_000,
        default_delay: float = 1.0,
        delays: Mapping[str, float] | None = None,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        max_retry_after: float = 120.0,
        archive: PageArchive | None = None,
        respect_robots: bool = True,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_redirects: int = 10,
        max_seconds: float = 300.0,
        cancel: threading.Event | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.max_bytes = max_bytes
        self.default_delay = default_delay
        if max_retries < 0 or backoff_base < 0 or self.default_delay < 0 or self.max_bytes <= 0:
            raise ValueError("max_retries, backoff_base and delays must be >= 0, max_bytes > 0")
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_retry_after = max_retry_after
        self.max_redirects = max_redirects
        self.max_seconds = max_seconds
        self.archive = archive
        self.respect_robots = respect_robots
        self._own_session = session is None
        self.session = session or requests.Session()
        self._check_tls()
        self._sleep = sleep
        self.cancel = cancel or STOPPING
        self._rng = rng or random.Random()
        self._robots = RobotsRules(
            user_agent=self.user_agent, fetch=self._robots_txt, host_key=host_key, clock=clock
        )
        self._pacer = HostPacer(
            default_delay=self.default_delay,
            delays=delays,
            crawl_delay=self._robots.crawl_delay,
            clock=clock,
            sleep=self._nap,
        )
        self._stats_lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._per_host: defaultdict[str, Counter[str]] = defaultdict(Counter)

    # lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # public API ---------------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = True,
    ) -> Page:
        """Fetch ``url`` (with ``params`` added to its query); raises a :class:`FetchError`."""
        full = self._prepare_url(url, params)
        return self._fetch("GET", full, data=None, headers=headers, conditional=conditional)

    def post(
        self,
        url: str,
        data: bytes | str | Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        """POST (for SOAP and form services that only read); robots, rate limit and retries apply."""
        full = self._prepare_url(url, params)
        return self._fetch("POST", full, data=data, headers=headers, conditional=False)

    def set_host_delay(self, host: str, seconds: float) -> None:
        """Seconds between requests to ``host`` (``example.org`` or ``example.org:8080``)."""
        self._pacer.set_delay(host, seconds)

    def delay_for(self, host: str) -> float:
        """The effective delay for a host key: configured delay, raised to robots' Crawl-delay."""
        return self._pacer.delay_for(host)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, bytes, not_modified, retries, errors; totals and per host."""
        names = ("requests", "bytes", "not_modified", "retries", "errors")
        with self._stats_lock:
            totals = {n: self._totals[n] for n in names}
            hosts = {h: {n: c[n] for n in names} for h, c in sorted(self._per_host.items())}
        return {**totals, "hosts": hosts}

    # the fetch ----------------------------------------------------------------------------------

    def _prepare_url(self, url: str, params: Mapping[str, Any] | None) -> str:
        prepared = requests.models.PreparedRequest()
        try:
            prepared.prepare_url(url, params)
        except requests.RequestException as exc:
            raise FetchError(url, f"invalid URL ({exc})") from None
        full = prepared.url or url
        if urlsplit(full).scheme not in ("http", "https"):
            raise FetchError(url, "only http and https URLs can be fetched")
        return full

    def _fetch(
        self,
        method: str,
        url: str,
        *,
        data: Any,
        headers: Mapping[str, str] | None,
        conditional: bool,
    ) -> Page:
        requested = url
        digest = self._request_digest(method, url, data)
        extra = dict(headers or {})
        for _hop in range(self.max_redirects + 1):
            if self.respect_robots:
                self._check_robots(url)
            cached = self._validators(url) if conditional and method == "GET" else None
            resp = self._exchange(
                method,
                url,
                data=data,
                headers=self._headers(extra, cached),
                max_bytes=self.max_bytes,
            )
            location = resp.headers.get("Location") or resp.headers.get("location")
            if resp.status not in REDIRECT_STATUSES or not location:
                return self._to_page(resp, requested, method, digest, cached)
            target = self._prepare_url(urljoin(url, location), None)
            if host_key(target) != host_key(url):
                # Caller headers may carry API keys meant for the first host only.
                extra = {}
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, data, digest = "GET", None, ""
            log.debug("%s redirects (%d) to %s", url, resp.status, target)
            url = target
        raise FetchError(requested, f"more than {self.max_redirects} redirects")

    @staticmethod
    def _request_digest(method: str, url: str, data: Any) -> str:
        if method == "GET" or data is None:
            return ""
        body = requests.Request(method, url, data=data).prepare().body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):  # a file or generator: not replayable, not comparable
            raise FetchError(url, "POST data must be bytes, str or a mapping")
        return sha256_hex(body)

    def _headers(self, extra: Mapping[str, str], cached: ArchivedPage | None) -> dict[str, str]:
        headers = CaseInsensitiveDict(extra)
        if cached is not None:
            if cached.etag and "If-None-Match" not in headers:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified and "If-Modified-Since" not in headers:
                headers["If-Modified-Since"] = cached.last_modified
        headers["User-Agent"] = self.user_agent  # honesty is not optional
        return dict(headers)

    def _validators(self, url: str) -> ArchivedPage | None:
        """The archived fetch to revalidate, if it has a validator and its body is on disk."""
        if self.archive is None:
            return None
        entry = self.archive.latest(url)
        if (
            entry
            and (entry.etag or entry.last_modified)
            and self.archive.has_body(entry.content_hash)
        ):
            return entry
        return None

    def _to_page(
        self,
        resp: _Response,
        requested: str,
        method: str,
        digest: str,
        cached: ArchivedPage | None,
    ) -> Page:
        common: dict[str, Any] = dict(
            url=resp.url,
            fetched_at=datetime.now(UTC),
            elapsed=resp.elapsed,
            requested_url=requested,
            method=method,
            request_digest=digest,
        )
        if resp.status == 304 and cached is not None and self.archive is not None:
            self._count(host_key(resp.url), "not_modified")
            merged = CaseInsensitiveDict(cached.headers)
            merged.update({k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS})
            page = Page(
                status=cached.status,
                headers=dict(merged),
                body=self.archive.body(cached.content_hash),
                content_hash=cached.content_hash,
                from_cache=True,
                not_modified=True,
                unchanged=True,
                **common,
            )
        elif 200 <= resp.status < 300:
            content_hash = sha256_hex(resp.body)
            previous = (
                self.archive.latest(resp.url, method=method, request_digest=digest)
                if self.archive is not None
                else None
            )
            page = Page(
                status=resp.status,
                headers=resp.headers,
                body=resp.body,
                content_hash=content_hash,
                unchanged=previous is not None and previous.content_hash == content_hash,
                **common,
            )
        else:
            self._count(host_key(resp.url), "errors")
            raise HTTPStatusError(
                resp.url, f"HTTP {resp.status} {resp.reason}".strip(), status=resp.status
            )
        if self.archive is not None:
            self.archive.record(page)
        return page

    # retries ------------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        data: Any,
        headers: dict[str, str],
        max_bytes: int,
        truncate: bool = False,
        retries: int | None = None,
    ) -> _Response:
        """One request with retries; returns the first non-retryable response."""
        host = host_key(url)
        attempts = (self.max_retries if retries is None else retries) + 1
        last_error, last_status = "", None
        for attempt in range(attempts):
            if attempt:
                self._count(host, "retries")
            self._pacer.wait_turn(host, check=lambda: self._check_cancel(url or host))
            try:
                resp = self._send_once(method, url, data, headers, max_bytes, truncate)
            except requests.RequestException as exc:
                if not retryable_exception(exc):
                    self._count(host, "errors")
                    raise FetchError(url, f"request failed ({describe(exc)})") from exc
                last_error, last_status = describe(exc), None
                wait = self._backoff(attempt)
            else:
                if not retryable_status(resp.status):
                    return resp
                last_error, last_status = f"HTTP {resp.status} {resp.reason}".strip(), resp.status
                wait = self._retry_wait(url, resp, attempt)
            if attempt + 1 < attempts:
                log.info(
                    "retrying %s in %.1fs after %s (attempt %d of %d)",
                    url, wait, last_error, attempt + 2, attempts,
                )  # fmt: skip
                self._pacer.defer(host, wait)
        self._count(host, "errors")
        raise RetriesExhausted(
            url,
            f"gave up on {url} after {attempts} attempts; last: {last_error}",
            status=last_status,
        )

    def _backoff(self, attempt: int) -> float:
        # Jitter keeps parallel workers from retrying in lock-step.
        base = min(MAX_BACKOFF_SECONDS, self.backoff_base * (2**attempt))
        return base + self._rng.uniform(0, self.backoff_base)

    def _retry_wait(self, url: str, resp: _Response, attempt: int) -> float:
        if resp.status in RETRY_AFTER_STATUSES:
            raw = CaseInsensitiveDict(resp.headers).get("Retry-After")
            seconds = parse_retry_after(raw)
            if seconds is not None:
                if seconds > self.max_retry_after:
                    log.warning(
                        "%s asks to wait %.0fs (Retry-After); capped at %.0fs",
                        url, seconds, self.max_retry_after,
                    )  # fmt: skip
                return min(seconds, self.max_retry_after)
        return self._backoff(attempt)

    # one request --------------------------------------------------------------------------------

    def _check_tls(self) -> None:
        # Verification is never disabled; a custom CA bundle path (a str) still verifies.
        if self.session.verify is False:
            raise ValueError("TLS verification cannot be disabled (session.verify is False)")

    def _send_once(
        self,
        method: str,
        url: str,
        data: Any,
        headers: dict[str, str],
        max_bytes: int,
        truncate: bool,
    ) -> _Response:
        self._check_tls()
        host = host_key(url)
        sent = _offline_url(url)
        self._count(host, "requests")
        started = time.perf_counter()
        resp = self.session.request(
            method,
            sent,
            data=data,
            headers=headers,
            timeout=self.timeout,
            # Passed explicitly because requests lets REQUESTS_CA_BUNDLE override a session's
            # own CA bundle; _check_tls() guarantees this is True or a CA bundle path.
            verify=self.session.verify,
            stream=True,
            allow_redirects=False,
        )
        body = b""
        try:
            if 200 <= resp.status_code < 300 and method != "HEAD":
                body = self._read_body(resp, url, max_bytes, truncate, started)
        finally:
            wire = getattr(resp.raw, "tell", None)
            self._count(host, "bytes", wire() if callable(wire) else len(body))
            resp.close()
        elapsed = time.perf_counter() - started
        log.debug(
            "%s %s -> %d (%d bytes, %.2fs)", method, url, resp.status_code, len(body), elapsed
        )
        return _Response(
            url, resp.status_code, resp.reason or "", dict(resp.headers), body, elapsed
        )

    def _read_body(
        self, resp: requests.Response, url: str, max_bytes: int, truncate: bool, started: float
    ) -> bytes:
        declared = resp.headers.get("Content-Length", "")
        if not truncate and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(
                url,
                f"{url} declares {declared} bytes, over the limit of {max_bytes}",
                status=resp.status_code,
            )
        chunks: list[bytes] = []
        total = 0
        for chunk in _chunks(resp):
            if total + len(chunk) > max_bytes:
                if truncate:
                    chunks.append(chunk[: max_bytes - total])
                    break
                raise TooLarge(
                    url,
                    f"{url} sent more than the limit of {max_bytes} bytes",
                    status=resp.status_code,
                )
            chunks.append(chunk)
            total += len(chunk)
            # The read timeout bounds each read, not the whole body; a server dripping one byte
            # at a time must not hold a worker for ever.
            if time.perf_counter() - started > self.max_seconds:
                raise requests.exceptions.ReadTimeout(
                    f"body not complete after {self.max_seconds:.0f}s"
                )
        return b"".join(chunks)

    # cancellation -------------------------------------------------------------------------------

    def _check_cancel(self, what: str) -> None:
        if self.cancel.is_set():
            raise Cancelled(what, "cancelled: the process is stopping")

    def _nap(self, seconds: float) -> None:
        """Sleep `seconds`, waking at once when the fetch is cancelled."""
        if self._sleep is time.sleep:
            self.cancel.wait(seconds)
        else:  # an injected clock (tests) keeps its own notion of time
            self._sleep(seconds)

    # robots.txt -------------------------------------------------------------------------------

    def _check_robots(self, url: str) -> None:
        if not self._robots.allows(url):
            raise RobotsDisallowed(
                url,
                f"robots.txt of {host_key(url)} disallows {url} for {self.user_agent!r}",
            )

    def _robots_txt(self, url: str) -> RobotsAnswer:
        """Fetch a robots.txt (redirects followed, body truncated, no retries) for RobotsRules."""
        try:
            for _ in range(ROBOTS_MAX_REDIRECTS + 1):
                resp = self._exchange(
                    "GET",
                    url,
                    data=None,
                    headers=self._headers({}, None),
                    max_bytes=ROBOTS_MAX_BYTES,
                    truncate=True,
                    retries=0,
                )
                location = CaseInsensitiveDict(resp.headers).get("Location")
                if resp.status not in REDIRECT_STATUSES or not location:
                    return RobotsAnswer(resp.status, resp.body)
                url = urljoin(url, location)
            raise FetchError(url, "robots.txt redirects too often")
        except FetchError as exc:
            return RobotsAnswer(error=str(exc))

    # counters -----------------------------------------------------------------------------------

    def _count(self, host: str, name: str, amount: int = 1) -> None:
        with self._stats_lock:
            self._totals[name] += amount
            self._per_host[host][name] += amount
