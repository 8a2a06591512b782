"""The curator review page: the `possible` bills with their evidence, accept/reject with a reason.

Only curators may see the queue or change a decision. A curator is an address named in
``TRACKER_CURATOR_EMAILS``; there are no passwords. Signing in:

1. the curator types the address on ``/curate/``; if it is a curator's, a sign-in link goes to
   it (the answer is the same for any address, so the page does not tell who curates);
2. the link (signed with TRACKER_SECRET_KEY, valid ``TRACKER_CURATOR_LINK_MINUTES``) opens a page
   with one button: mail scanners follow GET links and must not sign anyone in;
3. the button POSTs (with the CSRF token); the link is spent (it works once per process) and a
   signed session cookie is set: HttpOnly, SameSite=Lax, Secure when the site is https, path
   ``/curate``, expiring after ``TRACKER_CURATOR_SESSION_HOURS``.

Every request checks the cookie's signature and age and that the address is still a curator's,
so removing an address from the setting ends its sessions. Every form carries the CSRF token
(:mod:`tracker.web.security`). A review calls :func:`tracker.topic_review.apply_review`, like
``tracker topics review``: the pin lands in the data folder, the bill changes at once, change
rows record it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session

from tracker import subscriptions, urls
from tracker.settings import Settings, get_settings
from tracker.web.render import render
from tracker.web.security import require_csrf
from tracker.web.subscribe import RateLimiter, get_engine

log = logging.getLogger(__name__)
router = APIRouter(tags=["curators"], include_in_schema=False)

SESSION_COOKIE = "tracker_curator"
COOKIE_PATH = "/curate"
SIGNIN_LIMIT = RateLimiter(limit=5, window=3600)  # sign-in mails per address and per client


class _SpentLinks:
    """Nonces of sign-in links already used (until they would have expired anyway)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, nonce: str, *, ttl: float) -> bool:
        """True the first time a nonce is spent, False after."""
        now = time.monotonic()
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if t > now}
            if nonce in self._seen:
                return False
            self._seen[nonce] = now + ttl
            return True


SPENT = _SpentLinks()


def reset_limits() -> None:
    SIGNIN_LIMIT.reset()


# ----------------------------------------------------------------------------- who is a curator


def curator_addresses(settings: Settings) -> frozenset[str]:
    return frozenset(e.strip().lower() for e in settings.curator_emails if e.strip())


def _signer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        settings.secret_key.get_secret_value(), salt=f"tracker-curator-{purpose}"
    )


def signin_token(email: str, *, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return _signer(settings, "link").dumps({"e": email, "n": secrets.token_urlsafe(12)})


def _link_data(token: str, settings: Settings) -> dict[str, str]:
    """The address and nonce a sign-in link names, or 400 saying why it does not work."""
    try:
        data = _signer(settings, "link").loads(token, max_age=settings.curator_link_minutes * 60)
    except SignatureExpired:
        raise HTTPException(400, "This sign-in link has expired; ask for a new one.") from None
    except BadSignature:
        raise HTTPException(400, "This sign-in link is not valid.") from None
    if not isinstance(data, dict) or data.get("e") not in curator_addresses(settings):
        raise HTTPException(400, "This sign-in link is not valid.")
    return data


def current_curator(request: Request) -> str | None:
    """The signed-in curator's address, or None (no cookie, bad or old signature, or the
    address is no longer a curator's)."""
    settings = get_settings()
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        email = _signer(settings, "session").loads(
            raw, max_age=int(settings.curator_session_hours * 3600)
        )
    except BadSignature:  # includes SignatureExpired
        return None
    return email if isinstance(email, str) and email in curator_addresses(settings) else None


def require_curator(request: Request) -> str:
    email = current_curator(request)
    if email is None:
        raise HTTPException(403, "Only signed-in curators may review topic decisions.")
    return email


# ----------------------------------------------------------------------------- pages


def _page(request: Request, code: int = 200, **context: Any) -> HTMLResponse:
    base: dict[str, Any] = {"curator": None, "bills": [], "notice": None, "title": "Curator review"}
    return HTMLResponse(
        render("curate.html", request=request, path=request.url.path, **(base | context)),
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )


def _message(request: Request, title: str, text: str, code: int = 200, **extra: Any) -> Response:
    return HTMLResponse(
        render(
            "message.html",
            request=request,
            path=request.url.path,
            title=title,
            text=text,
            **({"action": None, "button": None, "secondary": None} | extra),
        ),
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/curate/", response_class=HTMLResponse)
@router.get("/curate", response_class=HTMLResponse)
def queue_page(request: Request, engine: Engine = Depends(get_engine)) -> HTMLResponse:
    """Signed in: the queue. Otherwise: the sign-in form (and nothing about any bill)."""
    curator = current_curator(request)
    if curator is None:
        return _page(request)
    from tracker.topic_review import refresh_name_lineage, review_queue

    with Session(engine, expire_on_commit=False) as session:
        refresh_name_lineage(session)
        session.commit()
        bills = [
            b.model_dump() | {"path": urls.bill_path(b.state, b.session, b.identifier)}
            for b in review_queue(session)
        ]
    done = request.query_params.get("done")
    return _page(request, curator=curator, bills=bills, notice=done[:300] if done else None)


@router.post("/curate/signin", response_class=HTMLResponse, dependencies=[Depends(require_csrf)])
async def ask_for_link(request: Request, background: BackgroundTasks) -> Response:
    form = await request.form()
    settings = get_settings()
    try:
        email = subscriptions.normalize_email(str(form.get("email") or ""))
    except subscriptions.SubscriptionError as exc:
        return _page(request, 400, notice=str(exc))
    client = request.client.host if request.client else "unknown"
    if not SIGNIN_LIMIT.allow(f"ip:{client}") or not SIGNIN_LIMIT.allow(f"addr:{email}"):
        return _message(request, "Too many requests", "Please try again in an hour.", 429)
    if email in curator_addresses(settings):
        background.add_task(send_signin_mail, email)
    return _message(
        request,
        "Check your inbox",
        "If that address belongs to a curator, a sign-in link is on its way. "
        f"It works once, within {settings.curator_link_minutes} minutes.",
    )


def send_signin_mail(email: str) -> None:
    """Background task: the sign-in link. Failures are logged (the page already answered)."""
    from tracker import mail

    settings = get_settings()
    url = f"{settings.base_url.rstrip('/')}/curate/signin/{signin_token(email, settings=settings)}"
    minutes = settings.curator_link_minutes
    text = (
        "Someone (we hope you) asked to sign in to review topic decisions.\n\n"
        f"Sign in: {url}\n\n"
        f"The link works once, within {minutes} minutes. If you did not ask, ignore this mail.\n"
    )
    html = (
        "<p>Someone (we hope you) asked to sign in to review topic decisions.</p>"
        f'<p><a href="{escape(url)}">Sign in as a curator</a></p>'
        f"<p>The link works once, within {minutes} minutes. If you did not ask, ignore this mail.</p>"
    )
    message = mail.build_message(
        to=email, subject="Your curator sign-in link", text=text, html=html, settings=settings
    )
    try:
        with mail.SmtpTransport.from_settings(max_attempts=2, backoff_seconds=1.0) as transport:
            transport.send(message, to=email)
    except (mail.DeliveryError, OSError) as exc:
        log.warning("could not send a curator sign-in link: %s", exc)


@router.get("/curate/signin/{token}", response_class=HTMLResponse)
def signin_page(token: str, request: Request) -> Response:
    """A button, not an action: mail scanners follow GET links."""
    settings = get_settings()
    try:
        _link_data(token, settings)
    except HTTPException as exc:
        return _message(request, "This link does not work", str(exc.detail), 400)
    return _message(
        request,
        "Sign in as a curator",
        "One click to sign in and review topic decisions.",
        action=f"/curate/signin/{token}",
        button="Sign in",
    )


@router.post("/curate/signin/{token}", dependencies=[Depends(require_csrf)])
def signin_submit(token: str, request: Request) -> Response:
    settings = get_settings()
    try:
        data = _link_data(token, settings)
    except HTTPException as exc:
        return _message(request, "This link does not work", str(exc.detail), 400)
    if not SPENT.spend(str(data.get("n")), ttl=settings.curator_link_minutes * 60 + 60):
        return _message(
            request, "This link does not work", "This sign-in link was already used.", 400
        )
    response = RedirectResponse("/curate/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        _signer(settings, "session").dumps(data["e"]),
        max_age=int(settings.curator_session_hours * 3600),
        httponly=True,
        secure=settings.base_url.startswith("https://"),
        samesite="lax",
        path=COOKIE_PATH,
    )
    return response


@router.post("/curate/signout", dependencies=[Depends(require_csrf)])
def signout(request: Request) -> Response:
    response = _message(request, "Signed out", "You are signed out of the curator pages.")
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=get_settings().base_url.startswith("https://"),
        samesite="lax",
    )
    return response


@router.post("/curate/review", dependencies=[Depends(require_csrf)])
async def review_submit(request: Request, engine: Engine = Depends(get_engine)) -> Response:
    curator = require_curator(request)
    form = await request.form()
    from tracker.topic_review import ReviewError, apply_review
    from tracker.topics import TopicConfigError

    verdict = str(form.get("verdict") or "")
    if verdict not in ("accept", "reject"):
        raise HTTPException(400, "choose accept or reject")
    accept_as = str(form.get("topic") or "") or None  # a rejection keeps the rules' topic
    try:
        with Session(engine, expire_on_commit=False) as session:
            outcome = apply_review(
                session,
                state=str(form.get("state") or ""),
                bill_session=str(form.get("session") or ""),
                identifier=str(form.get("identifier") or ""),
                accept=verdict == "accept",
                reason=str(form.get("reason") or "")[:1000],
                reviewer=curator,
                topic=accept_as if verdict == "accept" else None,
            )
            session.commit()
            bill = outcome.bill
            done = (
                f"{bill.state.upper()} {bill.identifier} ({bill.session}): "
                f"{'accepted' if verdict == 'accept' else 'rejected'}, now {outcome.pin.topic}"
            )
    except (ReviewError, TopicConfigError) as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse(f"/curate/?{urlencode({'done': done})}", status_code=303)
