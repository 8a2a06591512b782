"""Security headers and CSRF protection for the web app.

CSRF uses a signed double-submit token: a random value lives in the ``tracker_csrf`` cookie
(HttpOnly, SameSite=Lax) and every form carries the same value signed with TRACKER_SECRET_KEY
(itsdangerous, timestamped). A POST is accepted only when the signature is valid, not older than
:data:`CSRF_MAX_AGE` and the signed value equals the cookie. Forms use it like this::

    from tracker.web.security import csrf_field, require_csrf

    @router.post("/subscribe", dependencies=[Depends(require_csrf)])
    async def subscribe(...): ...

and in the template: ``{{ csrf_field(request) }}`` (or pass ``csrf_token(request)`` into a
hidden ``<input name="csrf_token">``).
"""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup, escape
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.settings import get_settings

CSRF_COOKIE = "tracker_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_MAX_AGE = 6 * 3600

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key.get_secret_value(), salt="tracker-csrf")


def _raw_token(request: Request) -> str:
    """The cookie's random value, or a new one that the middleware will set on the response."""
    raw = getattr(request.state, "csrf_raw", None)
    if raw:
        return raw
    raw = request.cookies.get(CSRF_COOKIE) or ""
    if len(raw) < 20:
        raw = secrets.token_urlsafe(24)
        request.state.csrf_new = True
    request.state.csrf_raw = raw
    return raw


def csrf_token(request: Request) -> str:
    """The signed token to put in a form's hidden ``csrf_token`` field."""
    return _serializer().dumps(_raw_token(request))


def csrf_field(request: Request) -> Markup:
    token = escape(csrf_token(request))
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">')


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise 403 unless `submitted` is a fresh signature of this browser's cookie value."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        raise HTTPException(403, "missing CSRF token: reload the form and try again")
    try:
        value = _serializer().loads(submitted, max_age=CSRF_MAX_AGE)
    except SignatureExpired as exc:
        raise HTTPException(403, "the form has expired: reload it and try again") from exc
    except BadSignature as exc:
        raise HTTPException(403, "invalid CSRF token") from exc
    if not secrets.compare_digest(str(value), cookie):
        raise HTTPException(403, "CSRF token does not match this browser")


async def require_csrf(request: Request) -> None:
    """FastAPI dependency for state-changing routes: the form field or X-CSRF-Token header."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette caches it; the route can read it again
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    check_csrf(request, submitted)


class SecurityHeadersMiddleware:
    """Adds the CSP and friends to every response, and the CSRF cookie when one was issued.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs each request in a task
    group with a memory stream between the two halves, a tenth of a page's CPU time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # request.state: where csrf_token() notes a cookie

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
                if state.get("csrf_new"):
                    headers.append("set-cookie", _csrf_cookie(state["csrf_raw"]))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _csrf_cookie(raw: str) -> str:
    response = Response()
    response.set_cookie(
        CSRF_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=get_settings().base_url.startswith("https://"),
        path="/",
    )
    return response.headers["set-cookie"]
