"""`tracker subscribers`: add, list, remove, import and export digest subscribers."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from tracker.vocab import SUBSCRIBER_STATUSES

if TYPE_CHECKING:
    from tracker.subscription_models import Subscriber

if TYPE_CHECKING:
    from sqlalchemy import Engine

# soft_wrap: messages name files and lines; never break them. markup=False: user text.
console = Console(stderr=True, soft_wrap=True, emoji=False)
app = typer.Typer(
    help="Manage digest subscribers.\n\nExample: tracker subscribers add ann@example.org --state ny --confirmed",
    no_args_is_help=True,
)

CSV_COLUMNS = (
    "email",
    "status",
    "states",
    "topics",
    "query",
    "detail",
    "quiet_week",
    "bounce_count",
    "created_at",
    "confirmed_at",
)
StatesOpt = Annotated[
    list[str], typer.Option("--state", help="two-letter state code; repeat; none = all")
]
TopicsOpt = Annotated[
    list[str], typer.Option("--topic", help="topic; repeat; none = single-payer + study")
]


def _engine() -> Engine:
    from tracker.cli.core import engine_ready

    return engine_ready()


def _fail(message: str) -> NoReturn:
    console.print(f"error: {message}", style="red", markup=False)
    raise typer.Exit(1)


def _send_confirmation(subscriber: Subscriber) -> None:
    from tracker import mail

    try:
        with mail.SmtpTransport.from_settings() as transport:
            transport.send(
                mail.subscription_message(subscriber, kind="confirm"), to=subscriber.email
            )
    except (mail.DeliveryError, OSError) as exc:
        from tracker.cli.mail import smtp_hint

        console.print(
            f"warning: the confirmation mail was not sent, so {subscriber.email} stays pending: "
            f"{smtp_hint(exc)} Then add the subscriber again to resend it.",
            style="yellow",
            markup=False,
        )


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="the subscriber's e-mail address")],
    state: StatesOpt = [],  # noqa: B006 - typer reads the default, never mutates it
    topic: TopicsOpt = [],  # noqa: B006
    query: Annotated[str | None, typer.Option(help="only bills matching these words")] = None,
    detail: Annotated[str, typer.Option(help="full or brief")] = "full",
    quiet_week: Annotated[str, typer.Option(help="send or skip a mail in a quiet week")] = "send",
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="skip the opt-in mail (the operator has consent)")
    ] = False,
) -> None:
    """Add (or update) a subscriber. Without --confirmed a confirmation mail is sent.

    Example: tracker subscribers add ann@example.org --state ny --state ca --topic single-payer --confirmed
    """
    from sqlmodel import Session

    from tracker import subscriptions

    try:
        prefs = subscriptions.make_preferences(
            states=state, topics=topic, query=query, detail=detail, quiet_week=quiet_week
        )
        with Session(_engine(), expire_on_commit=False) as session:
            sub, created = subscriptions.add(
                session, email=email, preferences=prefs, confirmed=confirmed
            )
            session.commit()
    except subscriptions.SubscriptionError as exc:
        _fail(f"{email!r}: {exc}")
    if not confirmed and sub.status == "pending":
        _send_confirmation(sub)
    print(f"{'added' if created else 'updated'} {sub.email} ({sub.status})")


@app.command("list")
def list_(
    status: Annotated[
        list[str], typer.Option(help=f"only these statuses: {', '.join(SUBSCRIBER_STATUSES)}")
    ] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """List subscribers.

    Example: tracker subscribers list --status confirmed --format csv
    """
    from sqlmodel import Session

    from tracker import subscriptions

    bad = [s for s in status if s not in SUBSCRIBER_STATUSES]
    if bad:
        _fail(f"unknown status {', '.join(bad)}; use {', '.join(SUBSCRIBER_STATUSES)}")
    with Session(_engine()) as session:
        subs = subscriptions.list_subscribers(session, statuses=status)
    if fmt == "json":
        print(json.dumps([_row(s) for s in subs], indent=2))
    elif fmt == "csv":
        _write_csv(subs, sys.stdout)
    elif fmt == "table":
        for s in subs:
            print(
                f"{s.email:40} {s.status:12} {','.join(s.states) or 'all':20} "
                f"{','.join(s.topics)} {s.detail}"
            )
        console.print(f"{len(subs)} subscriber(s)")
    else:
        _fail(f"--format must be table, csv or json, not {fmt!r}")


def _row(s: Subscriber) -> dict[str, str]:
    return {
        "email": s.email,
        "status": s.status,
        "states": " ".join(s.states),
        "topics": " ".join(s.topics),
        "query": s.query or "",
        "detail": s.detail,
        "quiet_week": s.quiet_week,
        "bounce_count": str(s.bounce_count),
        "created_at": s.created_at.isoformat() if s.created_at else "",
        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else "",
    }


def _write_csv(subs: list[Subscriber], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in subs:
        writer.writerow(_row(s))


@app.command("remove")
def remove(email: Annotated[str, typer.Argument(help="the address to delete")]) -> None:
    """Delete a subscriber and their delivery history (a data-removal request).

    Example: tracker subscribers remove ann@example.org
    """
    from sqlmodel import Session

    from tracker import subscriptions

    try:
        with Session(_engine()) as session:
            found = subscriptions.remove(session, email=email)
            session.commit()
    except subscriptions.SubscriptionError as exc:
        _fail(f"{email!r}: {exc}")
    if not found:
        _fail(f"no subscriber {email!r}")
    print(f"removed {email.strip().lower()}")


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").replace(",", " ").replace("|", " ").split() if v]


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV with an 'email' column; optional states, topics, query, detail, quiet_week"
        ),
    ],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="import as confirmed (no opt-in mail)")
    ] = False,
) -> None:
    """Import subscribers from CSV (the format `export` writes). Bad rows are reported by line.

    Example: tracker subscribers import members.csv --confirmed
    """
    from sqlmodel import Session

    from tracker import subscriptions

    if not path.is_file():
        _fail(f"{path}: no such file")
    errors, added, updated = [], 0, 0
    with path.open(newline="", encoding="utf-8-sig") as fh, Session(_engine()) as session:
        reader = csv.DictReader(fh)
        if "email" not in (reader.fieldnames or []):
            _fail(f"{path}:1: the header has no 'email' column (found {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            try:
                prefs = subscriptions.make_preferences(
                    states=_split(row.get("states")),
                    topics=_split(row.get("topics")),
                    query=row.get("query") or None,
                    detail=row.get("detail") or "full",
                    quiet_week=row.get("quiet_week") or "send",
                )
                _sub, created = subscriptions.add(
                    session, email=row.get("email") or "", preferences=prefs, confirmed=confirmed
                )
            except subscriptions.SubscriptionError as exc:
                errors.append(f"{path}:{line}: {row.get('email')!r}: {exc}")
                continue
            added, updated = added + created, updated + (not created)
        session.commit()
    for e in errors:
        console.print(e, style="red", markup=False)
    print(f"imported {added} new, {updated} updated, {len(errors)} rejected")
    if errors:
        raise typer.Exit(1)


@app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default stdout)")
    ] = None,
) -> None:
    """Export every subscriber as CSV (the columns `import` reads).

    Example: tracker subscribers export --output subscribers.csv
    """
    from sqlmodel import Session

    from tracker import subscriptions

    with Session(_engine()) as session:
        subs = subscriptions.list_subscribers(session)
    if output is None:
        _write_csv(subs, sys.stdout)
        return
    with output.open("w", newline="", encoding="utf-8") as fh:
        _write_csv(subs, fh)
    console.print(f"wrote {len(subs)} subscriber(s) to {output}", markup=False)
