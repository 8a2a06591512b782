"""`tracker digest`: send a period's digests, or preview one subscriber's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

# soft_wrap: messages name files and lines; never break them. markup=False: user text.
console = Console(stderr=True, soft_wrap=True)
app = typer.Typer(
    help="Weekly what-changed digests.\n\nExample: tracker digest send --period 2025-W10 --dry-run",
    no_args_is_help=True,
)

PeriodOpt = Annotated[
    str | None, typer.Option("--period", help="ISO week YYYY-Www; default: last complete week")
]


def _period(period: str | None) -> str:
    from tracker import digest

    value = period or digest.last_complete_period()
    try:
        digest.parse_period(value)
    except digest.PeriodError as exc:
        console.print(f"error: --period: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    return value.upper()


@app.command("send")
def send(
    period: PeriodOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="render everything, send and record nothing")
    ] = False,
) -> None:
    """Send the period's digest to every confirmed subscriber who has not had it yet.

    Safe to rerun: the ledger records each message, so a rerun after a crash sends only the rest.
    Example: tracker digest send --period 2025-W10
    """
    from tracker import delivery, mail
    from tracker.cli.core import engine_ready

    value = _period(period)
    engine = engine_ready()
    if dry_run:
        report = delivery.send_digests(engine, period=value, transport=None, dry_run=True)
    else:
        try:
            with mail.SmtpTransport.from_settings() as transport:
                report = delivery.send_digests(engine, period=value, transport=transport)
        except (OSError, mail.DeliveryError) as exc:
            console.print(f"error: SMTP: {exc}", style="red", markup=False)
            raise typer.Exit(1) from None
    print(report.line())
    if report.failed:
        raise typer.Exit(1)


@app.command("preview")
def preview(
    email: Annotated[
        str, typer.Option("--email", help="a subscriber's address (others get default choices)")
    ],
    period: PeriodOpt = None,
    out: Annotated[Path, typer.Option("--out", help="folder for the .eml, .html and .txt")] = Path(
        "digest-preview"
    ),
) -> None:
    """Write one subscriber's digest as .eml, .html and .txt without sending anything.

    Example: tracker digest preview --email ann@example.org --period 2025-W10 --out /tmp/preview
    """
    from tracker import digest, digest_render, mail, subscriptions
    from tracker.cli.core import engine_ready
    from tracker.subscription_models import Subscriber

    value = _period(period)
    engine = engine_ready()
    try:
        with Session(engine) as session:
            sub = subscriptions.find(session, email=email)
    except subscriptions.SubscriptionError as exc:
        console.print(f"error: --email {email!r}: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    if sub is None:
        console.print(f"{email} is not a subscriber: previewing the default choices", markup=False)
        sub = Subscriber(id=0, email=subscriptions.normalize_email(email))
        prefs = subscriptions.make_preferences()
    else:
        prefs = digest_render.prefs_of(sub)
    with engine.connect() as conn:
        renderer = digest_render.DigestRenderer(digest.load_week(conn, period=value))
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
    stem = out / f"digest-{value}"
    stem.with_suffix(".eml").write_bytes(msg.as_bytes())
    stem.with_suffix(".html").write_text(result.html, encoding="utf-8")
    stem.with_suffix(".txt").write_text(result.text, encoding="utf-8")
    print(f"{result.subject}\nwrote {stem}.eml, {stem}.html and {stem}.txt")
