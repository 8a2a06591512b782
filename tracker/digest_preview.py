"""One subscriber's digest written to files (.eml, .html, .txt) instead of sent.

``tracker digest preview`` and the offline demo both call :func:`write_preview`, so a preview is
exactly what the sender would build: the same week's changes, the same renderer, and the same
message builder (:func:`tracker.delivery.digest_message`), so the ``.eml`` is byte for byte the
message ``digest send`` sends, apart from its Date and Message-ID. An address that is not a subscriber previews the default choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from tracker import delivery, digest, digest_render, mail, subscriptions
from tracker.settings import get_settings
from tracker.subscription_models import Subscriber


@dataclass
class Preview:
    subject: str
    stem: Path  # the files are stem.eml, stem.html and stem.txt
    subscriber: bool  # False: the address is not a subscriber, default choices were used

    def line(self) -> str:
        return f"{self.subject}\nwrote {self.stem}.eml, {self.stem}.html and {self.stem}.txt"


def write_preview(engine: Engine, *, email: str, period: str, out: Path) -> Preview:
    """Render `email`'s digest of `period` (``YYYY-Www``) into `out`; raises
    :class:`tracker.subscriptions.SubscriptionError` for an address that cannot be one."""
    with Session(engine) as session:
        sub = subscriptions.find(session, email=email)
    known = sub is not None
    if sub is None:
        sub = Subscriber(id=0, email=subscriptions.normalize_email(email))
        prefs = subscriptions.make_preferences()
    else:
        prefs = digest_render.prefs_of(sub)
    settings = get_settings()
    with engine.connect() as conn:
        renderer = digest_render.DigestRenderer(
            digest.load_week(conn, period=period, settings=settings)
        )
    links = delivery.digest_links(sub, settings)
    _, msg = delivery.digest_message(
        sub, prefs=prefs, renderer=renderer, settings=settings, preview=True, links=links
    )
    result = renderer.render(prefs, email=sub.email, **links)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"digest-{period}"
    stem.with_suffix(".eml").write_bytes(mail.as_bytes(msg))
    stem.with_suffix(".html").write_text(result.html, encoding="utf-8")
    stem.with_suffix(".txt").write_text(result.text, encoding="utf-8")
    return Preview(subject=result.subject, stem=stem, subscriber=known)
