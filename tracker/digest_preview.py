"""One subscriber's digest written to files (.eml, .html, .txt) instead of sent.

``tracker digest preview`` and the offline demo both call :func:`write_preview`, so a preview is
exactly what the sender would build: the same week's changes, the same renderer, the same
message headers. An address that is not a subscriber previews the default choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from tracker import digest, digest_render, mail, subscriptions
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
    with engine.connect() as conn:
        renderer = digest_render.DigestRenderer(digest.load_week(conn, period=period))
    links = {
        "manage_url": subscriptions.link(sub, "manage"),
        "unsubscribe_url": subscriptions.link(sub, "unsubscribe"),
    }
    result = renderer.render(prefs, email=sub.email, **links)
    msg = mail.build_message(
        to=sub.email,
        subject=result.subject,
        text=result.text,
        html=result.html,
        unsubscribe_url=links["unsubscribe_url"],
    )
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"digest-{period}"
    stem.with_suffix(".eml").write_bytes(msg.as_bytes())
    stem.with_suffix(".html").write_text(result.html, encoding="utf-8")
    stem.with_suffix(".txt").write_text(result.text, encoding="utf-8")
    return Preview(subject=result.subject, stem=stem, subscriber=known)
