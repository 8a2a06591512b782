"""Web pages for the digest: subscribe, confirm, manage, unsubscribe (one-click too), resubscribe.

No logins: the signed links in every mail are the credentials. Answers never tell a stranger
whether an address is subscribed: every valid sign-up gets the same "check your inbox" page,
and only the mail sent to the address itself differs. The sign-up form has a CSRF token, a
honeypot field and in-memory rate limits per address and per client.

``POST /unsubscribe/{token}`` is RFC 8058 one-click: mail clients POST
``List-Unsubscribe=One-Click`` without any cookie or form token, so it needs no CSRF token;
the signed link is the proof.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from sqlmodel import Session

from tracker import subscriptions
from tracker.subscription_models import DETAIL_LEVELS, Subscriber
from tracker.vocab import STATE_NAMES, TOPIC_LABELS, TOPICS
from tracker.web.render import render
from tracker.web.security import require_csrf

log = logging.getLogger(__name__)
router = APIRouter(tags=["subscriptions"])

HONEYPOT_FIELD = "website"  # hidden from people by CSS; bots fill every field


class RateLimiter:
    """At most `limit` events per key within `window` seconds (a sliding window, in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 50_000:  # forget idle keys so memory stays bounded
                self._hits = {
                    k: v for k, v in self._hits.items() if v and v[-1] > now - self.window
                }
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


PER_ADDRESS = RateLimiter(limit=3, window=3600)
PER_CLIENT = RateLimiter(limit=10, window=3600)


def reset_limits() -> None:
    PER_ADDRESS.reset()
    PER_CLIENT.reset()


# ----------------------------------------------------------------------------- wiring


@lru_cache(maxsize=4)
def _default_engine(url: str) -> Engine:
    from tracker.db import make_engine

    return make_engine(url)


def get_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    if engine is not None:
        return engine
    from tracker.settings import get_settings

    return _default_engine(get_settings().resolved_database_url)


def send_subscription_mail(engine: Engine, subscriber_id: int, kind: str) -> None:
    """Background task: the confirmation (or 'already subscribed') mail. Failures are logged."""
    from tracker import mail

    with Session(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return
        message = mail.subscription_message(subscriber, kind=kind)
    try:
        with mail.SmtpTransport.from_settings(max_attempts=2, backoff_seconds=1.0) as transport:
            transport.send(message, to=subscriber.email)
    except (mail.DeliveryError, OSError) as exc:
        log.warning("could not send the %s mail to subscriber %s: %s", kind, subscriber_id, exc)


def _page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        render(name, request=request, path=request.url.path, **context),
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )


def _message(
    request: Request, title: str, text: str, code: int = 200, **extra: Any
) -> HTMLResponse:
    context = {"title": title, "text": text, "action": None, "button": None, "secondary": None}
    context.update(extra)
    return _page(request, "message.html", code, **context)


def _form_context(prefs: subscriptions.Preferences | None = None, **extra: Any) -> dict[str, Any]:
    prefs = prefs or subscriptions.make_preferences()
    return {
        "state_choices": sorted(
            ((c, n) for c, n in STATE_NAMES.items() if c != "us"), key=lambda x: x[1]
        ),
        "topic_choices": [(t, TOPIC_LABELS[t]) for t in TOPICS],
        "detail_choices": DETAIL_LEVELS,
        "prefs": prefs,
        "error": None,
        "email": "",
        "honeypot": HONEYPOT_FIELD,
        **extra,
    }


def _prefs_from_form(form: Any) -> subscriptions.Preferences:
    return subscriptions.make_preferences(
        # "state"/"topic" are what the small box on other pages posts.
        states=form.getlist("states") + form.getlist("state"),
        topics=form.getlist("topics") + form.getlist("topic"),
        query=str(form.get("query") or ""),
        detail=str(form.get("detail") or "full"),
        quiet_week="skip" if form.get("quiet_week") == "skip" else "send",
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ----------------------------------------------------------------------------- sign-up


@router.get("/subscribe/", response_class=HTMLResponse)
@router.get("/subscribe", response_class=HTMLResponse, include_in_schema=False)
def subscribe_form(request: Request) -> HTMLResponse:
    return _page(request, "subscribe.html", **_form_context())


@router.post("/subscribe/", response_class=HTMLResponse, dependencies=[Depends(require_csrf)])
@router.post(
    "/subscribe",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(require_csrf)],
)
async def subscribe_submit(
    request: Request, background: BackgroundTasks, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    form = await request.form()
    raw_email = str(form.get("email") or "")
    done = _message(
        request,
        "Check your inbox",
        "If that address can receive our mail, a message is on its way. "
        "Follow the link in it to confirm; until then nothing else is sent.",
    )
    if form.get(HONEYPOT_FIELD):
        return done  # a bot: look successful, do nothing
    try:
        email = subscriptions.normalize_email(raw_email)
        prefs = _prefs_from_form(form)
    except subscriptions.SubscriptionError as exc:
        return _page(
            request, "subscribe.html", 400, **_form_context(error=str(exc), email=raw_email[:254])
        )
    if not PER_CLIENT.allow(f"ip:{_client(request)}") or not PER_ADDRESS.allow(f"addr:{email}"):
        return _message(
            request,
            "Too many requests",
            "Too many sign-ups from here or for this address. Please try again in an hour.",
            429,
        )
    with Session(engine, expire_on_commit=False) as session:
        outcome = subscriptions.subscribe(session, email=email, preferences=prefs)
        session.commit()
        assert outcome.subscriber.id is not None  # committed
        background.add_task(send_subscription_mail, engine, outcome.subscriber.id, outcome.mail)
    return done


# ----------------------------------------------------------------------------- links


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    """A button, not an action: mail scanners follow GET links and must not confirm anything."""
    return _button_page(
        request,
        engine,
        token,
        "confirm",
        "Confirm your subscription",
        "One more click and the weekly digest starts.",
        "Yes, send me the weekly digest",
    )


def _button_page(
    request: Request,
    engine: Engine,
    token: str,
    purpose: subscriptions.Purpose,
    title: str,
    text: str,
    button: str,
) -> HTMLResponse:
    """The page a signed link opens: checks the token, then offers one button that POSTs back."""
    with Session(engine) as session:
        try:
            subscriptions.subscriber_for_token(session, token=token, purpose=purpose)
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
    return _message(request, title, text, action=f"/{purpose}/{token}", button=button)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_submit(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    # No CSRF token: the signed link is the secret, and confirming is what its owner asked for.
    with Session(engine, expire_on_commit=False) as session:
        try:
            subscriber = subscriptions.confirm(session, token=token)
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
        session.commit()
        manage = f"/manage/{subscriptions.make_token(subscriber, 'manage')}"
    return _message(
        request,
        "You are subscribed",
        "The digest arrives once a week. Every mail has a link to change what you get or to leave.",
        secondary=(manage, "Choose states and topics"),
    )


@router.get("/manage/{token}", response_class=HTMLResponse)
def manage_page(token: str, request: Request, engine: Engine = Depends(get_engine)) -> HTMLResponse:
    with Session(engine) as session:
        try:
            sub = subscriptions.subscriber_for_token(session, token=token, purpose="manage")
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
        return _page(request, "subscribe_manage.html", **_manage_context(sub, token))


def _manage_context(sub: Subscriber, token: str, **extra: Any) -> dict[str, Any]:
    prefs = subscriptions.Preferences(
        tuple(sub.states), tuple(sub.topics), sub.query, sub.detail, sub.quiet_week
    )
    return _form_context(
        prefs, email=sub.email, sub_status=sub.status, token=token, saved=False, **extra
    )


@router.post("/manage/{token}", response_class=HTMLResponse, dependencies=[Depends(require_csrf)])
async def manage_submit(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    form = await request.form()
    with Session(engine, expire_on_commit=False) as session:
        try:
            sub = subscriptions.subscriber_for_token(session, token=token, purpose="manage")
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
        try:
            prefs = _prefs_from_form(form)
        except subscriptions.SubscriptionError as exc:
            return _page(
                request, "subscribe_manage.html", 400, **_manage_context(sub, token, error=str(exc))
            )
        sub = subscriptions.update_preferences(session, token=token, preferences=prefs)
        session.commit()
        context = _manage_context(sub, token)
    context["saved"] = True
    return _page(request, "subscribe_manage.html", **context)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    return _button_page(
        request,
        engine,
        token,
        "unsubscribe",
        "Unsubscribe from the weekly digest?",
        "You will get no more digests. You can come back any time.",
        "Unsubscribe",
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_submit(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    """RFC 8058 one-click and the button on the page above; no CSRF token by design."""
    with Session(engine) as session:
        try:
            subscriptions.unsubscribe(session, token=token)
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
        session.commit()
    return _message(
        request,
        "You are unsubscribed",
        "No more digests will be sent to this address.",
        action=f"/resubscribe/{token}",
        button="Changed your mind? Resubscribe",
    )


@router.post(
    "/resubscribe/{token}", response_class=HTMLResponse, dependencies=[Depends(require_csrf)]
)
def resubscribe_submit(
    token: str, request: Request, engine: Engine = Depends(get_engine)
) -> HTMLResponse:
    with Session(engine) as session:
        try:
            subscriptions.resubscribe(session, token=token)
        except subscriptions.BadToken as exc:
            return _message(request, "This link does not work", str(exc), 400)
        session.commit()
    return _message(request, "Welcome back", "The weekly digest will start again.")


@router.get("/unsubscribe", include_in_schema=False)
def unsubscribe_without_token() -> RedirectResponse:
    return RedirectResponse("/subscribe/", status_code=303)
