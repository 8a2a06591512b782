"""Serving read-only pages: one trip to the thread pool, a response cache per data version, ETags.

A page (the bill page, a search, the JSON API's answers) is a function of its URL and the
database. :func:`serve` answers it in one worker thread with one pooled connection; the first
thing it asks the database is its *data version* (:class:`DataVersion`), a value that changes
whenever a write could have been committed since it was last asked. The rendered body is
kept (bounded, least recently used first) under (path, query, version), so the same page asked
again before anything is written costs one cheap query; its ETag lets a browser or proxy
revalidate it with ``If-None-Match`` and get a ``304``.

What is never kept: anything but a 200, a page whose rendering issued a CSRF token (forms
carry a per-browser token; see :mod:`tracker.web.security`), an answer setting a cookie and
one marked ``Cache-Control: no-store`` (a search showing lower bounds for its counts).

``TRACKER_PAGE_CACHE_MB`` (default 32) bounds the bodies kept per server process; 0 turns the
cache off (pages are still served in one thread trip, with ETags; no data version is asked).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

# The client may keep a copy but must ask again each time (a bill can change any minute).
CACHE_CONTROL = "no-cache"


class DataVersion:
    """A token per engine that moves whenever a commit could have changed what pages show.

    SQLite: ``PRAGMA data_version`` tells a connection whether *another* connection (another
    thread's, the job process's, an import's) committed since it last asked; this process's own
    commits are counted by the engine's ``commit`` event. Whenever a connection sees a change,
    or is new, the epoch moves on. The first request after any commit therefore moves it: the
    connection serving it last looked before that commit.

    PostgreSQL: the current snapshot (``xmax`` and the transactions in progress) changes with
    every commit of a transaction that wrote; read-only transactions do not move it. Writes in
    the cluster's other databases move it too, so on a shared server pages are kept less often.
    """

    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self.postgresql = engine.dialect.name == "postgresql"
        self._epoch = itertools.count(1)
        self.epoch = next(self._epoch)
        self._lock = threading.Lock()
        event.listen(engine, "commit", self._bump)

    def _bump(self, *_: Any) -> None:
        with self._lock:
            self.epoch = next(self._epoch)

    def of(self, conn: Connection) -> Any:
        """The data version as `conn` sees it now; None when it cannot be told."""
        if self.sqlite:
            # asked of the sqlite3 connection itself: through SQLAlchemy's execution (a
            # result, its cursor wrapper) it cost a twentieth of a bill page's CPU
            dbapi = conn.connection.dbapi_connection
            seen = dbapi.execute("PRAGMA data_version").fetchone()[0]  # type: ignore[union-attr]
            info = conn.connection.info  # lives as long as the DBAPI connection
            if info.get("tracker_data_version") != seen:
                info["tracker_data_version"] = seen
                self._bump()
            return self.epoch
        if self.postgresql:
            snapshot = conn.exec_driver_sql("SELECT pg_current_snapshot()::text").scalar()
            return (self.epoch, snapshot)
        return None


_VERSIONS: weakref.WeakKeyDictionary[Engine, DataVersion] = weakref.WeakKeyDictionary()
_VERSIONS_LOCK = threading.Lock()


def data_version(engine: Engine) -> DataVersion:
    with _VERSIONS_LOCK:
        found = _VERSIONS.get(engine)
        if found is None:
            found = _VERSIONS[engine] = DataVersion(engine)
        return found


@dataclass(frozen=True)
class Page:
    body: bytes
    headers: tuple[tuple[str, str], ...]  # the route's own headers (content-type…) but its length
    etag: str


class PageCache:
    """Rendered pages by (path, query, data version), least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[tuple[Any, ...], Page] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Page | None:
        with self.lock:
            page = self.entries.get(key)
            if page is None:
                self.misses += 1
                return None
            self.hits += 1
            self.entries.move_to_end(key)
            return page

    def put(self, key: tuple[Any, ...], page: Page) -> None:
        if len(page.body) > self.max_bytes // 8:  # one export must not empty the cache
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self.entries[key] = page
            self.size += len(page.body)
            while self.size > self.max_bytes and self.entries:
                _, dropped = self.entries.popitem(last=False)
                self.size -= len(dropped.body)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.size = 0


def configured_cache() -> PageCache | None:
    from tracker.settings import get_settings

    mb = get_settings().page_cache_mb
    return PageCache(int(mb * 1024 * 1024)) if mb > 0 else None


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _page(response: Response) -> Page:
    headers = tuple(
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in response.raw_headers
        if k.lower() != b"content-length"
    )
    body = bytes(response.body)
    return Page(body, headers, _etag(body))


def _respond(request: Request, page: Page, status: int = 200) -> Response:
    headers = dict(page.headers)
    headers["etag"] = page.etag
    headers.setdefault("cache-control", CACHE_CONTROL)
    if page.etag in _if_none_match(request):
        headers.pop("content-type", None)
        return Response(status_code=304, headers=headers)
    return Response(page.body, status_code=status, headers=headers)


def _if_none_match(request: Request) -> set[str]:
    value = request.headers.get("if-none-match")
    if not value:
        return set()
    return {tag.strip().removeprefix("W/") for tag in value.split(",")}


async def serve(request: Request, build: Callable[[Connection], Response]) -> Response:
    """`build`'s response for this request: from the cache when the same URL was rendered at
    the current data version, else built on a pooled connection (both in one worker thread)."""
    app = request.app
    cache: PageCache | None = getattr(app.state, "page_cache", None)
    versions = data_version(app.state.engine)

    def work() -> tuple[Response | Page, int]:
        with app.state.engine.connect() as conn:
            # without a cache (TRACKER_PAGE_CACHE_MB=0) neither the version nor the URL is asked
            version = versions.of(conn) if cache is not None else None
            keep = cache if version is not None else None
            key = (request.url.path, request.url.query, version) if keep is not None else ()
            if keep is not None:
                hit = keep.get(key)
                if hit is not None:
                    return hit, 200
            response = build(conn)
        if response.status_code != 200 or not isinstance(response.body, bytes | memoryview):
            return response, response.status_code
        page = _page(response)
        # a provisional answer (a search with lower bounds for counts) says no-store: the
        # same URL gets the exact counts once they are computed
        never_kept = (
            _issued_csrf(request)
            or "set-cookie" in response.headers
            or "no-store" in response.headers.get("cache-control", "")
        )
        if keep is not None and not never_kept:
            keep.put(key, page)
        return page, 200

    got, status = await run_in_threadpool(work)
    if isinstance(got, Page):
        return _respond(request, got, status)
    return got


def _issued_csrf(request: Request) -> bool:
    return bool(request.scope.get("state", {}).get("csrf_raw"))
