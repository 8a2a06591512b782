"""`create_app()`: the FastAPI app serving pages, the JSON API and feeds.

Each feature contributes a module with an ``APIRouter`` named ``router``, listed in
:data:`ROUTERS` (registration order is matching order). Pages are rendered on the server and work without JavaScript; every response
carries a Content-Security-Policy that allows only this site's own assets.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracker.paths import templates_dir
from tracker.settings import get_settings
from tracker.web import api, feeds, health, pages, subscribe
from tracker.web.render import render
from tracker.web.security import SecurityHeadersMiddleware

# The feature routers, in the order they are matched.
ROUTERS = (pages.router, api.router, feeds.router, health.router, subscribe.router)

_HEADINGS = {
    404: "Page not found",
    403: "Not allowed",
    405: "Method not allowed",
    422: "Bad request",
    500: "Something went wrong",
}


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app on `engine` (default: the configured database)."""
    settings = get_settings()
    settings.check_secrets()
    if engine is None:
        from tracker.db import make_engine

        engine = make_engine()
    app = FastAPI(
        title="Single-Payer Tracker",
        description="State single-payer and universal health care legislation: search, bills, "
        "states and feeds. Every page of the site is also available as JSON here.",
        version=_version(),
        docs_url=None,  # /docs is our own server-rendered page: Swagger UI loads assets from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.engine = engine
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=templates_dir() / "site" / "static"), name="static")
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    for router in ROUTERS:
        app.include_router(router)
    _error_handlers(app)
    return app


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
    path = request.url.path
    return path.startswith("/api") or path.endswith((".json", ".csv")) or path == "/openapi.json"


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
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        message = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return _error_page(request, 422, text or "Bad request")
