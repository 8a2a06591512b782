"""`tracker digest`: send a period's digests, or preview one subscriber's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy import Engine

# soft_wrap: messages name files and lines; never break them. markup=False: user text.
console = Console(stderr=True, soft_wrap=True, emoji=False)
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
        except KeyboardInterrupt:
            _interrupted(engine, value)
            raise typer.Exit(130) from None
    print(report.line())
    if report.failed:
        raise typer.Exit(1)


def _interrupted(engine: Engine, period: str) -> None:
    """What a stopped run leaves, from the ledger, and what running again does with it."""
    from tracker import delivery

    counts = delivery.ledger_counts(engine, period)
    done = [f"{counts[s]} {s}" for s in ("sent", "skipped", "bounced", "failed") if s in counts]
    unsure = counts.get("sending", 0) + counts.get("uncertain", 0)
    console.print(
        f"interrupted: {period} so far: {', '.join(done) or 'nothing sent'}."
        + (
            f" {unsure} message{'s' if unsure > 1 else ''} may or may not have arrived: the next"
            f" run resends {'them' if unsure > 1 else 'it'} with the same Message-ID."
            if unsure
            else ""
        )
        + f" Run `tracker digest send --period {period}` again to send the rest.",
        markup=False,
    )


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
    from tracker import subscriptions
    from tracker.cli.core import engine_ready
    from tracker.digest_preview import write_preview

    value = _period(period)
    engine = engine_ready()
    try:
        result = write_preview(engine, email=email, period=value, out=out)
    except subscriptions.SubscriptionError as exc:
        console.print(f"error: --email {email!r}: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    if not result.subscriber:
        console.print(f"{email} is not a subscriber: previewing the default choices", markup=False)
    print(result.line())
