"""The subscriber lifecycle: subscribe, confirm, manage, unsubscribe, resubscribe, bounce.

Every function takes keyword-only arguments and a session; the caller commits. Links in mails
carry signed tokens (itsdangerous, one salt per purpose) naming the subscriber id and a hash of
the address, so a token never reveals the address and never acts on a different person.

Answers to the public never reveal whether an address is subscribed: :func:`subscribe`
returns an outcome the web page ignores (it always says "check your inbox"), and only the
mail that goes to the address itself differs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, Protocol

import idna
from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes
from sqlalchemy import delete
from sqlmodel import Session, col, select

from tracker.settings import Settings, get_settings
from tracker.subscription_models import (
    DETAIL_LEVELS,
    QUIET_WEEK,
    DigestLedger,
    Subscriber,
)
from tracker.vocab import RELEVANT_TOPICS, STATE_NAMES, TOPICS

Purpose = Literal["confirm", "manage", "unsubscribe"]
# How long a link stays valid. Unsubscribe links never expire: an old mail must still let
# people leave (and RFC 8058 clients may POST to it much later).
TOKEN_MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "manage": 400 * 24 * 3600,
    "unsubscribe": None,
}
DEFAULT_TOPICS: tuple[str, ...] = tuple(t for t in TOPICS if t in RELEVANT_TOPICS)
MAX_QUERY_LENGTH = 200
DEFAULT_BOUNCE_THRESHOLD = 3

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class SubscriptionError(ValueError):
    """A request the subscription rules refuse; the message is safe to show to the user."""


class InvalidEmail(SubscriptionError):
    pass


class InvalidPreferences(SubscriptionError):
    pass


class BadToken(SubscriptionError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- validation


def normalize_email(raw: str) -> str:
    """The address lower-cased and checked, or :class:`InvalidEmail` saying what is wrong."""
    email = (raw or "").strip().lower()
    if not email:
        raise InvalidEmail("Please enter an e-mail address.")
    if len(email) > 254:
        raise InvalidEmail("That e-mail address is too long (254 characters at most).")
    if any(c.isspace() or ord(c) < 32 for c in email):
        raise InvalidEmail("An e-mail address cannot contain spaces or control characters.")
    if email.count("@") != 1:
        raise InvalidEmail("An e-mail address needs exactly one '@', like name@example.org.")
    local, domain = email.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        raise InvalidEmail("The part before '@' is empty, too long or has characters not allowed.")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail("The part before '@' cannot start or end with a dot or have two dots.")
    return f"{local}@{_check_domain(domain)}"


def _check_domain(domain: str) -> str:
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii") if domain else ""
    except idna.IDNAError as exc:
        raise InvalidEmail(f"The domain after '@' is not valid: {exc}") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        raise InvalidEmail("The part after '@' must be a domain name like example.org.")
    if labels[-1].isdigit():
        raise InvalidEmail("The part after '@' must be a domain name, not a number.")
    return domain


@dataclass(frozen=True, slots=True)
class Preferences:
    states: tuple[str, ...] = ()
    topics: tuple[str, ...] = DEFAULT_TOPICS
    query: str | None = None
    detail: str = "full"
    quiet_week: str = "send"


def make_preferences(
    *,
    states: Iterable[str] = (),
    topics: Iterable[str] = (),
    query: str | None = None,
    detail: str = "full",
    quiet_week: str = "send",
) -> Preferences:
    """Checked preferences; no states means every state, no topics means the relevant ones."""
    codes = sorted({s.strip().lower() for s in states if s and s.strip()})
    unknown = [c for c in codes if c not in STATE_NAMES]
    if unknown:
        raise InvalidPreferences(f"Unknown state code(s): {', '.join(unknown)}.")
    chosen = sorted({t.strip() for t in topics if t and t.strip()}) or list(DEFAULT_TOPICS)
    bad = [t for t in chosen if t not in TOPICS]
    if bad:
        raise InvalidPreferences(f"Unknown topic(s): {', '.join(bad)}; use {', '.join(TOPICS)}.")
    if detail not in DETAIL_LEVELS:
        raise InvalidPreferences(f"Detail must be one of {', '.join(DETAIL_LEVELS)}.")
    if quiet_week not in QUIET_WEEK:
        raise InvalidPreferences(f"Quiet week must be one of {', '.join(QUIET_WEEK)}.")
    q = " ".join((query or "").split()) or None
    if q and len(q) > MAX_QUERY_LENGTH:
        raise InvalidPreferences(f"The saved search is too long ({MAX_QUERY_LENGTH} characters).")
    return Preferences(tuple(codes), tuple(chosen), q, detail, quiet_week)


def _apply(subscriber: Subscriber, prefs: Preferences) -> None:
    subscriber.states = list(prefs.states)
    subscriber.topics = list(prefs.topics)
    subscriber.query = prefs.query
    subscriber.detail = prefs.detail
    subscriber.quiet_week = prefs.quiet_week


# ----------------------------------------------------------------------------- tokens


class Addressed(Protocol):
    """Anything with a subscriber id and address: a Subscriber or a plain result row."""

    @property
    def id(self) -> int | None: ...

    @property
    def email(self) -> str: ...


def _serializer(purpose: str, settings: Settings) -> URLSafeTimedSerializer:
    return _serializer_for(settings.secret_key.get_secret_value(), purpose)


@lru_cache(maxsize=16)
def _serializer_for(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"tracker-subscription-{purpose}")


@lru_cache(maxsize=16)
def _signer_for(secret: str, purpose: str) -> Signer:
    return _serializer_for(secret, purpose).make_signer()


def _fingerprint(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def make_token(subscriber: Addressed, purpose: Purpose, *, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return _serializer(purpose, settings).dumps(
        {"s": subscriber.id, "h": _fingerprint(subscriber.email)}
    )


def subscriber_for_token(
    session: Session, *, token: str, purpose: Purpose, settings: Settings | None = None
) -> Subscriber:
    """The subscriber a token names, or :class:`BadToken` (forged, expired or unknown)."""
    settings = settings or get_settings()
    try:
        data = _serializer(purpose, settings).loads(token, max_age=TOKEN_MAX_AGE[purpose])
    except SignatureExpired:
        raise BadToken("This link has expired. Please sign up again to get a new one.") from None
    except BadSignature:
        raise BadToken(
            "This link is not valid. Please use the link from your latest e-mail."
        ) from None
    subscriber = session.get(Subscriber, data.get("s")) if isinstance(data, dict) else None
    if subscriber is None or _fingerprint(subscriber.email) != data.get("h"):
        raise BadToken("This link is not valid any more.")
    return subscriber


def link(subscriber: Addressed, purpose: Purpose, *, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.base_url.rstrip('/')}/{purpose}/{make_token(subscriber, purpose, settings=settings)}"


def links(
    subscriber: Addressed, purposes: Sequence[Purpose], *, settings: Settings | None = None
) -> dict[str, str]:
    """:func:`link` for each of `purposes` (the same links), the token's payload made once: the
    payload does not depend on the purpose, only the signature does (a digest carries two
    links for each of thousands of subscribers)."""
    settings = settings or get_settings()
    secret = settings.secret_key.get_secret_value()
    base = settings.base_url.rstrip("/")
    payload = want_bytes(
        _serializer_for(secret, purposes[0]).dump_payload(
            {"s": subscriber.id, "h": _fingerprint(subscriber.email)}
        )
    )
    return {
        purpose: f"{base}/{purpose}/{_signer_for(secret, purpose).sign(payload).decode('utf-8')}"
        for purpose in purposes
    }


# ----------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, slots=True)
class SubscribeOutcome:
    """What happened, for the mail that goes to the address (never for the web answer)."""

    subscriber: Subscriber
    mail: Literal["confirm", "already"]  # which mail to send to the address


def find(session: Session, *, email: str) -> Subscriber | None:
    return session.exec(
        select(Subscriber).where(Subscriber.email == normalize_email(email))
    ).first()


def subscribe(
    session: Session, *, email: str, preferences: Preferences, now: datetime | None = None
) -> SubscribeOutcome:
    """Start a double opt-in, idempotently.

    A new address (or one that left) becomes pending with these preferences and gets a
    confirmation mail. A pending address gets the confirmation again; a confirmed one gets a
    note with its manage link. Neither changes what is stored: a stranger typing someone
    else's address must not alter their subscription.
    """
    now = now or _now()
    address = normalize_email(email)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    if subscriber is None:
        subscriber = Subscriber(email=address, status="pending", created_at=now)
        _apply(subscriber, preferences)
        session.add(subscriber)
        session.flush()
        return SubscribeOutcome(subscriber, "confirm")
    if subscriber.status == "unsubscribed":
        subscriber.status = "pending"
        _apply(subscriber, preferences)
        session.add(subscriber)
        return SubscribeOutcome(subscriber, "confirm")
    if subscriber.status == "pending":
        return SubscribeOutcome(subscriber, "confirm")
    return SubscribeOutcome(subscriber, "already")


def add(
    session: Session,
    *,
    email: str,
    preferences: Preferences,
    confirmed: bool,
    now: datetime | None = None,
) -> tuple[Subscriber, bool]:
    """Operator import: create or update a subscriber; returns (subscriber, created).

    ``confirmed`` skips the opt-in (the operator vouches for consent); otherwise the row is
    pending and the caller sends the confirmation mail.
    """
    now = now or _now()
    address = normalize_email(email)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    created = subscriber is None
    if subscriber is None:
        subscriber = Subscriber(email=address, status="pending", created_at=now)
    _apply(subscriber, preferences)
    if confirmed and subscriber.status != "confirmed":
        subscriber.status = "confirmed"
        subscriber.confirmed_at = now
        subscriber.bounce_count = 0
    elif not confirmed and subscriber.status == "unsubscribed":
        subscriber.status = "pending"
    session.add(subscriber)
    session.flush()
    return subscriber, created


def confirm(session: Session, *, token: str, now: datetime | None = None) -> Subscriber:
    """Confirm the address a confirmation link names; confirming twice is harmless."""
    subscriber = subscriber_for_token(session, token=token, purpose="confirm")
    if subscriber.status == "unsubscribed":
        raise BadToken("This address was unsubscribed after the link was sent; sign up again.")
    if subscriber.status != "confirmed":
        _set_confirmed(subscriber, now or _now())
        session.add(subscriber)
    return subscriber


def _set_confirmed(subscriber: Subscriber, now: datetime) -> None:
    subscriber.status = "confirmed"
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.bounce_count = 0


def update_preferences(session: Session, *, token: str, preferences: Preferences) -> Subscriber:
    subscriber = subscriber_for_token(session, token=token, purpose="manage")
    _apply(subscriber, preferences)
    session.add(subscriber)
    return subscriber


def unsubscribe(session: Session, *, token: str, now: datetime | None = None) -> Subscriber:
    """Stop all mail to the address a link names (manage or unsubscribe link); idempotent."""
    try:
        subscriber = subscriber_for_token(session, token=token, purpose="unsubscribe")
    except BadToken:
        subscriber = subscriber_for_token(session, token=token, purpose="manage")
    if subscriber.status != "unsubscribed":
        subscriber.status = "unsubscribed"
        subscriber.unsubscribed_at = now or _now()
        session.add(subscriber)
    return subscriber


def resubscribe(session: Session, *, token: str, now: datetime | None = None) -> Subscriber:
    """Undo an unsubscribe from the link in a mail: the link proves the address, so no opt-in."""
    try:
        subscriber = subscriber_for_token(session, token=token, purpose="unsubscribe")
    except BadToken:
        subscriber = subscriber_for_token(session, token=token, purpose="manage")
    if subscriber.status != "confirmed":
        _set_confirmed(subscriber, now or _now())
        session.add(subscriber)
    return subscriber


def mark_bounce(
    session: Session,
    *,
    subscriber_id: int,
    threshold: int = DEFAULT_BOUNCE_THRESHOLD,
    now: datetime | None = None,
) -> Subscriber | None:
    """Count a permanent delivery failure; at `threshold` the address is marked bouncing."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    subscriber.bounce_count += 1
    subscriber.last_bounce_at = now or _now()
    if subscriber.bounce_count >= threshold and subscriber.status == "confirmed":
        subscriber.status = "bouncing"
    session.add(subscriber)
    return subscriber


def mark_delivered(session: Session, *, subscriber_id: int) -> None:
    """A delivery succeeded: bounces count only when consecutive."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.bounce_count:
        subscriber.bounce_count = 0
        session.add(subscriber)


def remove(session: Session, *, email: str) -> bool:
    """Delete an address and its delivery history entirely (a data-removal request)."""
    subscriber = find(session, email=email)
    if subscriber is None:
        return False
    session.execute(delete(DigestLedger).where(col(DigestLedger.subscriber_id) == subscriber.id))
    session.delete(subscriber)
    session.flush()
    return True


def list_subscribers(session: Session, *, statuses: Sequence[str] = ()) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.email)
    if statuses:
        query = query.where(col(Subscriber.status).in_(list(statuses)))
    return list(session.exec(query))
