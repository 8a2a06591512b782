"""`LocalSite`: a scriptable local HTTP(S) server for tests of anything that fetches.

It serves bytes or files under URL paths (with or without a query) on 127.0.0.1 and a free port,
lets a test script misbehaviour per path, and records every request so tests can count them.

    from httpserver import LocalSite          # tests/ is on sys.path under pytest

    with LocalSite() as site:
        site.add("/bill?id=1", b"<html>synthetic</html>", etag=True)        # 304 on If-None-Match
        site.add("/flaky", b"ok", statuses=[503, 503, 200], retry_after="2")
        site.add("/slow", b"ok", delays=[2.0, 0])                            # only the 1st is slow
        site.add("/big", b"x" * 10_000, content_length=False)                # close-delimited body
        site.add("/cut", b"x" * 10_000, truncate=100)                        # promises more than sent
        site.add("/drip", b"x" * 10_000, drip=0.1)                           # 1 KiB per 0.1 s
        site.add("/api", handler=lambda req: Reply(200, req.body[::-1]), methods=("POST",))
        site.robots("User-agent: *\\nDisallow: /private\\nCrawl-delay: 2\\n")
        site.url("/bill?id=1")                  # http://127.0.0.1:PORT/bill?id=1
        site.url("/bill?id=1", host="localhost") # the same server under a second host name
        site.hits("/flaky"), site.requests       # counts and the full request log

Saved real pages can be served under their original URLs (hosts are dropped, paths and queries
kept); :func:`real_page_urls` reads them from ``fixtures/real/html/PROVENANCE.md``::

    pages = site.serve_real_pages(shared_dir / "fixtures/real/html", states=["nm"])
    client.get(pages["nm/2019_SB11_legislation_detail.html"])

Per-path behaviour is a sequence indexed by how often the path was asked for; the last element
repeats (``statuses=[503, 200]``: the first request fails, every later one succeeds). Routes added
without a query match only requests without one, unless ``any_query=True``; a ``handler`` computes
the reply itself (for fake APIs and SOAP services that answer by request body).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

QueryKey = tuple[tuple[str, str], ...] | None
_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "text/xml",
    ".json": "application/json",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class Reply:
    """What a ``handler`` returns."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    """How one path (and query) answers; see :meth:`LocalSite.add` for the fields."""

    body: bytes | Path = b""
    statuses: list[int] = field(default_factory=lambda: [200])
    delays: list[float] = field(default_factory=lambda: [0.0])
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html"
    etag: str | bool | None = None
    last_modified: str | None = None
    retry_after: str | None = None
    content_length: bool = True
    truncate: int | None = None
    drip: float = 0.0
    handler: Callable[[Request], Reply] | None = None
    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    hits: int = 0

    def body_bytes(self) -> bytes:
        # Files are read at serve time, so a test can rewrite one to simulate a changed page.
        return self.body.read_bytes() if isinstance(self.body, Path) else self.body

    def reply(self, n: int, request: Request) -> Reply:
        if self.handler is not None:
            return self.handler(request)
        status = _nth(self.statuses, n)
        headers = {"Content-Type": self.content_type, **self.headers}
        if not 200 <= status < 300:
            if status in (429, 503) and self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            return Reply(status, f"synthetic {status} response\n".encode(), headers)
        body = self.body_bytes()
        etag = self._etag(body)
        if etag:
            headers["ETag"] = etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        if _not_modified(request, etag, self.last_modified):
            headers.pop("Content-Type", None)
            return Reply(304, b"", headers)
        return Reply(status, body, headers)

    def _etag(self, body: bytes) -> str | None:
        if self.etag is True:
            return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return self.etag or None


def _nth(seq: Sequence[Any], n: int) -> Any:
    return seq[min(n, len(seq) - 1)]


def _not_modified(request: Request, etag: str | None, last_modified: str | None) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.header("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip() for t in if_none_match.split(",")}
        return etag is not None and (etag in tags or "*" in tags)
    since = request.header("If-Modified-Since")
    if since and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _split(target: str) -> tuple[str, str | None]:
    """Path and query (None when absent) of a path or a full URL; hosts are dropped."""
    if "://" in target:
        parts = urlsplit(target)
        return parts.path or "/", parts.query if "?" in target else None
    path, sep, query = target.partition("?")
    return path or "/", query if sep else None


def _key(path: str, query: str | None) -> tuple[str, QueryKey]:
    # Compare decoded paths and sorted query pairs: clients differ in escaping and order.
    pairs = None if query is None else tuple(sorted(parse_qsl(query, keep_blank_values=True)))
    return unquote(path), pairs


def http_date(when: float | None = None) -> str:
    """An HTTP-date (for Last-Modified / Retry-After) for a POSIX time, default now."""
    from datetime import UTC, datetime

    return format_datetime(datetime.fromtimestamp(when or time.time(), UTC), usegmt=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler sleeping in a "slow response" must not delay stop()
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response (timeouts, TooLarge) are what these tests provoke.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: LocalSite

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        request = self._record()
        route, n = self.site._claim(request)
        if route is None:
            self._write(request, Reply(404, b"synthetic 404: no such path\n"), None)
            return
        if request.method not in route.methods:
            self._write(request, Reply(405, b"synthetic 405\n"), None)
            return
        delay = _nth(route.delays, n)
        if delay:
            time.sleep(delay)
        self._write(request, route.reply(n, request), route)

    def _record(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, query = _split(self.path)
        request = Request(
            method=self.command,
            path=path,
            query=query or "",
            headers=dict(self.headers.items()),
            body=body,
            at=time.monotonic(),
        )
        self.site._log(request)
        return request

    def _write(self, request: Request, reply: Reply, route: Route | None) -> None:
        close_delimited = route is not None and not route.content_length
        truncate = route.truncate if route is not None else None
        drip = route.drip if route is not None else 0.0
        step = 1024 if drip else 65536
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if close_delimited:
                self.send_header("Connection", "close")
                self.close_connection = True
            elif reply.status != 304:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if request.method == "HEAD" or reply.status == 304:
                return
            payload = reply.body if truncate is None else reply.body[:truncate]
            for start in range(0, len(payload), step):
                self.wfile.write(payload[start : start + step])
                if drip:
                    self.wfile.flush()
                    time.sleep(drip)
            if truncate is not None:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


class LocalSite:
    """A threaded local HTTP(S) server whose paths a test scripts; use it as a context manager."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._routes: dict[tuple[str, QueryKey], Route] = {}
        self._any_query: dict[str, Route] = {}
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._ssl_context = ssl_context
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LocalSite:
        handler = type("LocalSiteHandler", (_Handler,), {"site": self})
        server = _Server(("127.0.0.1", 0), handler)
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalSite is not running; use it as a context manager or start()")
        return self._server.server_address[1]

    def url(self, target: str = "/", *, host: str = "127.0.0.1") -> str:
        """The local URL for a path (or for a full original URL, whose host is replaced)."""
        path, query = _split(target)
        scheme = "https" if self._ssl_context is not None else "http"
        suffix = f"?{query}" if query is not None else ""
        return f"{scheme}://{host}:{self.port}{path}{suffix}"

    # scripting ----------------------------------------------------------------------------------

    def add(
        self,
        target: str,
        body: bytes | str | Path = b"",
        *,
        status: int = 200,
        statuses: Sequence[int] | None = None,
        delay: float = 0.0,
        delays: Sequence[float] | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        etag: str | bool | None = None,
        last_modified: str | None = None,
        retry_after: str | None = None,
        content_length: bool = True,
        truncate: int | None = None,
        drip: float = 0.0,
        handler: Callable[[Request], Reply] | None = None,
        methods: Iterable[str] = ("GET", "HEAD"),
        any_query: bool = False,
    ) -> Route:
        """Serve ``body`` (bytes, text or a file) at ``target`` (a path or a full URL).

        ``statuses``/``delays``: per-request sequences (last repeats). ``etag=True`` derives an
        ETag from the body; with ``etag`` or ``last_modified`` conditional requests get a 304.
        ``retry_after`` is sent with 429 and 503. ``content_length=False`` sends a close-delimited
        body; ``truncate=N`` promises the whole body but sends only N bytes, then hangs up;
        ``drip=S`` sends the body 1 KiB at a time, sleeping S seconds between pieces.
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        path, query = _split(target)
        route = Route(
            body=body,
            statuses=list(statuses or [status]),
            delays=list(delays or [delay]),
            headers=dict(headers or {}),
            content_type=content_type or _guess_type(path, body),
            etag=etag,
            last_modified=last_modified,
            retry_after=retry_after,
            content_length=content_length,
            truncate=truncate,
            drip=drip,
            handler=handler,
            methods=frozenset(m.upper() for m in methods),
        )
        with self._lock:
            if any_query:
                self._any_query[unquote(path)] = route
            else:
                self._routes[_key(path, query)] = route
        return route

    def add_file(self, target: str, file: Path, **options: Any) -> Route:
        if not Path(file).is_file():
            raise FileNotFoundError(f"LocalSite.add_file: {file} does not exist")
        return self.add(target, Path(file), **options)

    def update(self, target: str, **changes: Any) -> Route:
        """Change a route in place (e.g. ``body=`` to simulate a page that changed)."""
        route = self.route(target)
        for name, value in changes.items():
            if not hasattr(route, name):
                raise AttributeError(f"Route has no field {name!r}")
            setattr(
                route,
                name,
                value.encode("utf-8") if isinstance(value, str) and name == "body" else value,
            )
        return route

    def route(self, target: str) -> Route:
        path, query = _split(target)
        with self._lock:
            route = self._routes.get(_key(path, query)) or self._any_query.get(unquote(path))
        if route is None:
            raise KeyError(f"LocalSite has no route for {target}")
        return route

    def robots(self, text: str, **options: Any) -> Route:
        """Serve ``text`` as /robots.txt (without it, /robots.txt is a 404: everything allowed)."""
        return self.add("/robots.txt", text, content_type="text/plain", **options)

    def serve_real_pages(
        self, html_dir: Path, *, states: Iterable[str] | None = None, **options: Any
    ) -> dict[str, str]:
        """Serve saved pages under their original URLs; returns {"nm/file.html": local URL}.

        Files without a recorded URL are skipped. Captures of the same URL (MT, NY S5186): the
        last file in name order is served; switch with :meth:`update`.
        """
        wanted = {s.lower() for s in states} if states is not None else None
        served: dict[str, str] = {}
        for rel, original in sorted(real_page_urls(html_dir).items()):
            if wanted is not None and rel.split("/", 1)[0] not in wanted:
                continue
            self.add_file(original, html_dir / rel, **options)
            served[rel] = self.url(original)
        return served

    # the request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, target: str) -> list[Request]:
        path, query = _split(target)
        want = _key(path, query)
        return [
            r
            for r in self.requests
            if _key(r.path, r.query or None) == want
            or (query is None and unquote(r.path) == want[0])
        ]

    def hits(self, target: str) -> int:
        """How many requests arrived for ``target`` (a path without query counts every query)."""
        return len(self.requests_for(target))

    def clear_log(self) -> None:
        with self._lock:
            self._requests.clear()

    def _log(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _claim(self, request: Request) -> tuple[Route | None, int]:
        """The route for a request and how many times it was asked for before."""
        with self._lock:
            route = self._routes.get(_key(request.path, request.query or None))
            route = route or self._any_query.get(unquote(request.path))
            if route is None:
                return None, 0
            n = route.hits
            route.hits += 1
            return route, n


def _guess_type(path: str, body: bytes | Path) -> str:
    name = body.name if isinstance(body, Path) else path
    suffix = Path(name).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/html"


_ENTRY = re.compile(r"^### `([^`]+)`\s*$")
_URL_LINE = re.compile(r"^- \*\*URL\*\*:\s*(\S+)(.*)$")


def real_page_urls(html_dir: Path) -> dict[str, str]:
    """{"st/file": original URL} for every saved page whose PROVENANCE.md entry has a full URL."""
    provenance = Path(html_dir) / "PROVENANCE.md"
    urls: dict[str, str] = {}
    current: str | None = None
    for line in provenance.read_text(encoding="utf-8").splitlines():
        if m := _ENTRY.match(line):
            current = m.group(1)
        elif current and (m := _URL_LINE.match(line)):
            url, rest = m.group(1), m.group(2)
            # Elided queries ("...&"), prose and "not recorded" guesses are not fetchable URLs.
            fetchable = url.startswith(("http://", "https://")) and "..." not in url
            if fetchable and "URL not recorded" not in rest:
                urls[current] = url
            current = None
    return urls


@pytest.fixture
def local_site() -> Iterator[LocalSite]:
    """A running :class:`LocalSite`, stopped after the test."""
    with LocalSite() as site:
        yield site
