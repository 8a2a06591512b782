"""Mail maintainers once when a state's scraper keeps failing, and once when it recovers.

After ``settings.alert_after_failures`` failed or empty scrape runs in a row, the state's row in
``scraper_alert`` is switched on with a conditional UPDATE (only one process can win it) and ONE
mail goes out; further failures send nothing. The first good run switches it off the same way
and sends ONE recovery mail. If the mail cannot be sent, the switch is undone so the next run
tries again instead of the problem going unreported.

Mail goes through :class:`tracker.mail.SmtpTransport` (the digest's sender, same settings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker.health import GOOD, state_health
from tracker.scheduler_models import ScraperAlert
from tracker.settings import Settings, get_settings

log = logging.getLogger(__name__)
alert_table = ScraperAlert.__table__

Sender = Callable[[list[str], str, str, str], None]  # (recipients, subject, text, html)


def _ensure_row(engine: Engine, state: str) -> None:
    with engine.connect() as conn:
        if conn.execute(select(alert_table.c.state).where(alert_table.c.state == state)).first():
            return
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(alert_table),
                {"state": state, "active": False, "failures": 0, "last_error": ""},
            )
    except IntegrityError:
        pass  # another process created it first


def _flip(engine: Engine, state: str, *, to: bool, values: dict[str, Any]) -> bool:
    """Set ``active`` to `to` if it is not already; True for the one caller that did it."""
    with engine.begin() as conn:
        done = conn.execute(
            update(alert_table)
            .where(alert_table.c.state == state, alert_table.c.active.is_(not to))
            .values(active=to, **values)
        )
    return done.rowcount == 1


def update_alert(
    engine: Engine,
    state: str,
    *,
    settings: Settings | None = None,
    send: Sender | None = None,
    now: datetime | None = None,
) -> str | None:
    """Look at the state's latest runs; returns ``"alert"`` or ``"recovered"`` when a mail went."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    send = send or send_mail
    _ensure_row(engine, state)
    h = state_health(engine, state)
    error = h.last_failure.message if h.last_failure else ""
    threshold = max(1, settings.alert_after_failures)
    if h.consecutive_failures >= threshold:
        if not _flip(
            engine,
            state,
            to=True,
            values={"opened_at": now, "failures": h.consecutive_failures, "last_error": error},
        ):
            _record(engine, state, h.consecutive_failures, error)
            return None
        if _notify(h, settings, send, recovered=False):
            _record(engine, state, h.consecutive_failures, error, notified_at=now)
            return "alert"
        _flip(engine, state, to=False, values={})  # undo: the next run tries to tell them again
        return None
    if h.last_run is not None and h.last_run.status in GOOD:
        before = _failures(engine, state)
        if _flip(engine, state, to=False, values={"recovered_at": now}):
            _record(engine, state, 0, "")
            h.consecutive_failures = before
            if _notify(h, settings, send, recovered=True):
                _record(engine, state, 0, "", notified_at=now)
                return "recovered"
            return None
    _record(engine, state, h.consecutive_failures, error)
    return None


def _failures(engine: Engine, state: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(alert_table.c.failures).where(alert_table.c.state == state)
            ).scalar()
            or 0
        )


def _record(engine: Engine, state: str, failures: int, error: str, **extra: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_table)
            .where(alert_table.c.state == state)
            .values(failures=failures, last_error=error, **extra)
        )


def _notify(h: Any, settings: Settings, send: Sender, *, recovered: bool) -> bool:
    to = [a for a in settings.maintainer_emails if a]
    if not to:
        log.warning(
            "state %s %s, but TRACKER_MAINTAINER_EMAILS is empty: nobody was mailed",
            h.state,
            "recovered" if recovered else f"failed {h.consecutive_failures} times in a row",
        )
        return True
    subject, text, html = compose(h, settings, recovered=recovered)
    try:
        send(to, subject, text, html)
    except Exception as exc:  # noqa: BLE001 - logged; the switch is undone by the caller
        log.error("could not mail maintainers about %s: %s", h.state, exc)
        return False
    log.info("mailed %d maintainer(s): %s", len(to), subject)
    return True


def compose(h: Any, settings: Settings, *, recovered: bool) -> tuple[str, str, str]:
    """Subject, plain text and HTML of an alert or recovery mail."""
    from tracker.templating import render

    st = h.state.upper()
    subject = (
        f"[tracker] {st} scraper recovered"
        if recovered
        else f"[tracker] {st} scraper failing: {h.consecutive_failures} runs in a row"
    )
    ctx = {
        "subject": subject,
        "recovered": recovered,
        "state": h.state,
        "name": h.name,
        "failures": h.consecutive_failures,
        "last_success": _when(h.last_success),
        "last_failure": _when(h.last_failure),
        "error": h.last_failure.message if h.last_failure else "",
        "bills": h.bills,
        "health_url": settings.base_url.rstrip("/") + "/health",
    }
    lines = [
        f"The {h.name} ({st}) scraper "
        + (
            f"has recovered after {h.consecutive_failures} failed or empty runs."
            if recovered
            else f"has failed or come back empty {h.consecutive_failures} times in a row.\n"
            "You will get one more mail when it recovers."
        ),
        "",
        f"Last success: {ctx['last_success'] or 'never'}",
        f"Last failure: {ctx['last_failure'] or 'none'}",
        f"Reason: {ctx['error'] or 'none recorded'}",
        f"Bills stored: {h.bills}",
        "",
        f"Details: {ctx['health_url']} (on the server: tracker status)",
    ]
    return subject, "\n".join(lines) + "\n", render("email/scraper_alert.html", **ctx)


def _when(run: Any) -> str:
    return run.at.strftime("%Y-%m-%d %H:%M UTC") if run is not None and run.at else ""


def send_mail(to: list[str], subject: str, text: str, html: str) -> None:
    """Send one message per maintainer through the project's SMTP transport."""
    from tracker.mail import SmtpTransport, build_message

    settings = get_settings()
    with SmtpTransport.from_settings(settings, max_attempts=2, backoff_seconds=1.0) as transport:
        for address in to:
            transport.send(
                build_message(to=address, subject=subject, text=text, html=html, settings=settings),
                to=address,
            )
