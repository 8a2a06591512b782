"""`create_app()`: the FastAPI app serving pages, the JSON API and feeds.

Each feature contributes a module with an ``APIRouter`` named ``router``, listed in
:data:`ROUTERS` (registration order is matching order). Pages are rendered on the server and work without JavaScript; every response
carries a Content-Security-Policy that allows only this site's own assets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from tracker.paths import templates_dir
from tracker.settings import get_settings
from tracker.web import api, curate, feeds, health, pages, schemas, subscribe
from tracker.web.pagecache import configured_cache
from tracker.web.render import render
from tracker.web.security import SECURITY_HEADERS, SecurityHeadersMiddleware

log = logging.getLogger(__name__)

# The feature routers, in the order they are matched.
ROUTERS = (
    pages.router,
    api.router,
    feeds.router,
    health.router,
    subscribe.router,
    curate.router,
)
# Pages for people (forms with CSRF tokens and signed links): not part of the API's schema.
FORMS = (subscribe.router, curate.router)

_HEADINGS = {
    404: "Page not found",
    403: "Not allowed",
    400: "Bad request",
    405: "Method not allowed",
    422: "Bad request",
    500: "Something went wrong",
}


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app on `engine` (default: the configured database)."""
    settings = get_settings()
    settings.check_secrets()
    settings.check_base_url()
    if engine is None:
        engine = serving_engine()
    app = FastAPI(
        title="Single-Payer Tracker",
        description="State single-payer and universal health care legislation: search, bills, "
        "states and feeds. Every page of the site is also available as JSON here.",
        version=_version(),
        docs_url=None,  # /docs is our own server-rendered page: Swagger UI loads assets from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.engine = engine
    app.state.page_cache = configured_cache()
    # Starlette's own trailing-slash redirect builds an absolute URL from the Host header;
    # ours (in the 404 handler) answers with a relative one.
    app.router.redirect_slashes = False
    app.add_middleware(RefuseBadTargets)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: covers the 400s too
    app.mount("/static", StaticFiles(directory=templates_dir() / "site" / "static"), name="static")
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    for router in ROUTERS:
        app.include_router(
            router,
            responses=schemas.BAD_REQUEST,  # RefuseBadTargets
            include_in_schema=router not in FORMS,
        )
    _error_handlers(app)
    _document_refusals(app)
    return app


# Pooled connections kept open, so no request opens one (and warms its cache) anew; more than
# the worker threads below, so a thread never waits for a connection.
WEB_CONNECTIONS = 8
# Requests are answered in worker threads (pagecache.serve), this many at once; the others wait
# their turn in the order they came. A page is CPU in one interpreter: eight running together
# share it (and the GIL) in 5 ms slices, so each took up to eight times as long as alone, and a
# search missing the page cache, stretched so, made the slowest 5% (8 clients on MN data: p95
# 107 -> 54 ms at the same CPU per request). Two keep a core busy: one runs Python while the
# other waits on the database.
WEB_RUNNING = 2
# SQLite's page cache is per connection: at the default 64 MB each pooled connection grew to the
# size of the database it had read (the server grew 94 -> 211 MB on MN data). Pages the cache
# does not hold come from the operating system's file cache, shared and cheap. (A memory map
# instead counts the file once per connection in the server's resident size.)
SQLITE_CACHE_KIB = 2048


def serving_engine(url: str | None = None) -> Engine:
    """An engine for the web server: a pool of :data:`WEB_CONNECTIONS` connections kept open, and
    on SQLite a small page cache per connection."""
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from tracker.db import make_engine, normalize_url

    url = normalize_url(url or get_settings().resolved_database_url)
    if make_url(url).database in (None, "", ":memory:") and url.startswith("sqlite"):
        return make_engine(url)  # one connection shared by all: nothing to size
    engine = make_engine(url, pool_size=WEB_CONNECTIONS, max_overflow=WEB_CONNECTIONS)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_cache)
    return engine


def _sqlite_cache(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # after db.py's pragmas
    cur.close()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from anyio import to_thread

    to_thread.current_default_thread_limiter().total_tokens = WEB_RUNNING
    if getattr(app.state, "warm_on_start", False):
        threading.Thread(target=warm, args=(app.state.engine,), name="warm", daemon=True).start()
    yield


# The templates a visitor's first pages use: compiled once, at start.
WARM_TEMPLATES = ("index.html", "search.html", "bill.html", "state.html", "error.html")


def warm(engine: Engine) -> None:
    """What the first requests would otherwise pay for, built as the server starts (`tracker
    run`), in a thread of its own so that it answers meanwhile: the page templates compiled and
    search's facet snapshot (:func:`tracker.search.warm`)."""
    from tracker.search import warm as warm_search
    from tracker.templating import get_env

    try:
        env = get_env()
        for name in WARM_TEMPLATES:
            env.get_template(f"site/{name}")
        with engine.connect() as conn:
            warm_search(conn)
    except Exception:  # only slower first requests: they build what is missing themselves
        log.warning("warming the caches at start failed", exc_info=True)


def _document_refusals(app: FastAPI) -> None:
    """The schema says what :class:`RefuseBadTargets` refuses: control characters in text."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = schemas.document_printable_text(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; it is the icon in static/."""
    return FileResponse(
        templates_dir() / "site" / "static" / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _version() -> str:
    from tracker import __version__

    return __version__


def _wants_json(request: Request) -> bool:
    """Errors for machine clients (the API, feeds, exports) are JSON; for people, a page."""
    path = request.url.path
    return path.startswith(("/api", "/feeds/")) or path.endswith((".json", ".csv"))


def bad_target(scope: Mapping[str, Any]) -> str | None:
    """Why a request's path or query cannot be served (NUL or other control characters, bytes
    that are not UTF-8), or None. Such text would reach the database as a key."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    for part, what in ((raw_path, "path"), (scope.get("query_string") or b"", "query")):
        try:
            text = unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return f"the {what} is not valid UTF-8"
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            return f"the {what} holds a control character"
    return None


class RefuseBadTargets:
    """Answers 400 to a request whose path or query :func:`bad_target` refuses (plain ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = bad_target(scope) if scope["type"] == "http" else None
        if reason is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        if _wants_json(request):
            response = JSONResponse({"detail": reason}, status_code=400)
        else:
            response = _error_page(request, 400, f"This address cannot be served: {reason}.")
        await response(scope, receive, send)


def _slash_redirect(request: Request) -> str | None:
    """A relative Location for the same path with the trailing slash added or removed, when no
    route matched this one but one matches that; never built from the Host header."""
    path = request.scope["path"]
    if request.scope.get("route") is not None or path == "/":
        return None
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    if not other.startswith("/") or other.startswith(("//", "/\\")):
        return None  # would read as another host
    scope = {**request.scope, "path": other}
    if not any(route.matches(scope)[0] is not Match.NONE for route in request.app.router.routes):
        return None
    query = request.url.query
    return quote(other, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    html = render(
        "error.html",
        request=request,
        status=status,
        heading=_HEADINGS.get(status, "Error"),
        message=message,
    )
    return HTMLResponse(html, status_code=status)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 404 and (location := _slash_redirect(request)):
            return RedirectResponse(location, status_code=307)
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        message = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
        page = _error_page(request, exc.status_code, message)
        page.headers.update(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
        return page

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        # FastAPI's own shape (schemas.ValidationIssue) without the rejected input echoed back
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return _error_page(request, 422, text or "Bad request")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Any:
        # Runs outside the middleware stack: the security headers are added here.
        log.exception("unhandled error serving %s", request.url.path)
        if _wants_json(request):
            response: Response = JSONResponse({"detail": "internal error"}, status_code=500)
        else:
            response = _error_page(request, 500, "The request could not be served.")
        response.headers.update(SECURITY_HEADERS)
        return response
