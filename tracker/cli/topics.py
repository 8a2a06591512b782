"""`tracker topics`: is a bill about single-payer? Classify a CSV of bills or explain one title.

`classify` is a contract (see DESIGN.md): IN.csv has `state`, `bill`, `title` and optionally
`description` (also used when present: `session`, for curator pins, and `subjects`, separated by
`|` or `;`); OUT.csv adds `topic`, `relevant` (`true`/`false`), `score`, `evidence` (the
matched phrases joined by `; `) and `decision` (`yes`, `possible` or `no`; `relevant` is true
exactly for `yes`). Other input columns pass through unchanged.

Bills are judged in two passes: the names of programmes that bills decided `yes` create (e.g.
"(Green Mountain Care)") are learned per state, and another bill of that state naming one, and
otherwise `no`, becomes `possible` (see :class:`tracker.topics.NameLineage`).

`review` is the curator queue: it lists `possible` bills from the database, and `review accept`
or `review reject` pins one bill's topic with a reason, saved in ``curator_pins.yaml`` in
``TRACKER_DATA_DIR`` like the reviews made on the web page ``/curate/`` (see
:mod:`tracker.topic_review`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tracker.cli.actions import CsvInputError, read_rows, write_atomically

app = typer.Typer(
    help="Decide whether bills are single-payer bills, with evidence.\n\n"
    "Example: tracker topics classify --input bills.csv --output topics.csv",
    no_args_is_help=True,
)

REQUIRED = ("state", "bill", "title")
ADDED = ("topic", "relevant", "score", "evidence", "decision")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)  # plain: a wrapped path would not be copyable
    raise typer.Exit(code=2)


def evidence_text(evidence: list[dict]) -> str:
    """Matched phrases, strongest first; negative evidence is marked with a minus sign."""
    ordered = sorted(evidence, key=lambda e: -abs(e.get("weight", 0)))
    return "; ".join(("-" if e.get("weight", 0) < 0 else "") + str(e["phrase"]) for e in ordered)


@app.command("classify")
def classify_command(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="CSV with state, bill, title[, description]",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV to write (input columns + topic columns)")
    ],
) -> None:
    """Add topic, relevant, score, evidence and decision columns to a CSV of bills.

    Example: tracker topics classify --input bills.csv --output topics.csv
    """
    from tracker.topics import NameLineage, TopicConfigError, TopicResult, get_classifier

    try:
        classifier = get_classifier()
        lineage = NameLineage(classifier)
        header, rows = read_rows(input, REQUIRED)
    except (CsvInputError, TopicConfigError) as exc:
        _fail(str(exc))
        return
    idx = {name: header.index(name) for name in header}
    out_header = header + [c for c in ADDED if c not in header]

    def get(row: list[str], name: str) -> str:
        return row[idx[name]] if name in idx else ""

    def judged() -> list[tuple[list[str], TopicResult]]:
        out = []
        for _line, row in rows:
            subjects = [s.strip() for s in re.split(r"[|;]", get(row, "subjects")) if s.strip()]
            result = classifier.classify(
                title=get(row, "title"),
                description=get(row, "description"),
                subjects=subjects,
                state=get(row, "state").strip().lower() or None,
                identifier=get(row, "bill") or None,
                session=get(row, "session") or None,
            )
            lineage.learn(
                state=get(row, "state"),
                identifier=get(row, "bill"),
                title=get(row, "title"),
                result=result,
            )
            out.append((row, result))
        return out

    def classified() -> Iterator[list[str]]:
        for row, first in judged():
            result = lineage.apply(state=get(row, "state"), title=get(row, "title"), result=first)
            values = {
                "topic": result.topic,
                "relevant": "true" if result.relevant else "false",
                "score": f"{result.score:g}",
                "evidence": evidence_text(result.evidence),
                "decision": result.decision,
            }
            out = list(row) + [""] * (len(out_header) - len(row))
            for name in ADDED:
                out[out_header.index(name)] = values[name]
            yield out

    count = write_atomically(output, out_header, classified())
    typer.echo(f"classified {count} bill(s) -> {output}", err=True)


@app.command("explain")
def explain_command(
    title: Annotated[str, typer.Option("--title", help="the bill's title")],
    description: Annotated[str, typer.Option("--description", help="description or abstract")] = "",
    state: Annotated[
        str | None, typer.Option("--state", help="two-letter code (for curator pins)")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="session identifier (for pins)")
    ] = None,
    bill: Annotated[str | None, typer.Option("--bill", help="bill identifier (for pins)")] = None,
) -> None:
    """Print the topic of one bill and every phrase that counted for or against it.

    Example: tracker topics explain --title "Minnesota Health Plan establishment"
    """
    from tracker.topics import TopicConfigError, classify_topic

    try:
        result = classify_topic(
            title=title, description=description, state=state, session=session, identifier=bill
        )
    except TopicConfigError as exc:
        _fail(str(exc))
        return
    out = Console(file=sys.stdout, width=160, emoji=False)
    out.print(
        f"topic: {result.topic}  decision: {result.decision}  "
        f"relevant: {str(result.relevant).lower()}  score: {result.score:g}",
        highlight=False,
    )
    if not result.evidence:
        out.print("no evidence: nothing in the text matched the topic rules", highlight=False)
        return
    table = Table("topic", "field", "weight", "phrase")
    for e in sorted(result.evidence, key=lambda e: -abs(e["weight"])):
        table.add_row(e["topic"], e["field"], f"{e['weight']:+g}", str(e["phrase"]))
    out.print(table)


review_app = typer.Typer(
    help="The curator queue: bills decided `possible`, and accept/reject with a reason.\n\n"
    "Example: tracker topics review accept mn 2025-2026 SF 1234 --reason 'creates a health trust'",
    invoke_without_command=True,
)
app.add_typer(review_app, name="review")


@review_app.callback()
def review_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="only this state (code)")] = None,
    limit: Annotated[int, typer.Option("--limit", help="at most this many bills")] = 500,
) -> None:
    """List the bills waiting for review (decision `possible`), strongest evidence first, after
    adding those that name a programme a `yes` bill of their state created.

    Example: tracker topics review --state mn
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.cli.core import engine_ready
    from tracker.db import session_scope
    from tracker.topic_review import refresh_name_lineage, review_queue

    with session_scope(engine_ready()) as session:
        refresh_name_lineage(session, state=state)
        bills = review_queue(session, state=state, limit=limit)
    out = Console(file=sys.stdout, width=200, emoji=False)
    if not bills:
        out.print("no bill is waiting for review", highlight=False)
        return
    table = Table("state", "session", "bill", "topic", "score", "evidence", "title")
    for b in bills:
        table.add_row(
            b.state.upper(),
            b.session,
            b.identifier,
            b.topic or "",
            f"{b.topic_score or 0:g}",
            evidence_text(b.topic_evidence)[:80],
            b.title[:80],
        )
    out.print(table)
    out.print(f"{len(bills)} bill(s) to review", highlight=False)


def _review(
    *, accept: bool, state: str, session_name: str, bill: str, reason: str, topic: str | None
) -> None:
    from tracker.cli.core import engine_ready
    from tracker.db import session_scope
    from tracker.topic_review import ReviewError, apply_review
    from tracker.topics import TopicConfigError

    try:
        with session_scope(engine_ready()) as session:
            outcome = apply_review(
                session,
                state=state,
                bill_session=session_name,
                identifier=bill,
                accept=accept,
                reason=reason,
                reviewer=os.environ.get("USER"),
                topic=topic,
            )
            summary = (
                f"{outcome.bill.state.upper()} {outcome.bill.session} {outcome.bill.identifier}: "
                f"{outcome.pin.topic} ({outcome.bill.topic_decision}), "
                f"{len(outcome.changes)} change(s) recorded"
            )
    except (ReviewError, TopicConfigError) as exc:
        _fail(str(exc))
        return
    typer.echo(summary)


_STATE = typer.Argument(help="two-letter state code")
_SESSION = typer.Argument(help="session as the tracker stores it, e.g. 2025-2026")
_BILL = typer.Argument(help="bill identifier, any spelling: 'SF 1234', 'SF1234'")
_REASON = typer.Option("--reason", help="why (shown on the bill's page)")
_TOPIC = typer.Option("--topic", help="topic to pin (default: single-payer / the rules' topic)")


@review_app.command("accept")
def review_accept(
    state: Annotated[str, _STATE],
    session_name: Annotated[str, _SESSION],
    bill: Annotated[str, _BILL],
    reason: Annotated[str, _REASON],
    topic: Annotated[str | None, _TOPIC] = None,
) -> None:
    """Pin the bill as single-payer (or --topic single-payer-study), with a reason.

    Example: tracker topics review accept vt 2025-2026 "H 433" --reason "phases in Green Mountain Care"
    """
    _review(
        accept=True, state=state, session_name=session_name, bill=bill, reason=reason, topic=topic
    )


@review_app.command("reject")
def review_reject(
    state: Annotated[str, _STATE],
    session_name: Annotated[str, _SESSION],
    bill: Annotated[str, _BILL],
    reason: Annotated[str, _REASON],
    topic: Annotated[str | None, _TOPIC] = None,
) -> None:
    """Pin the bill as not single-payer (its rule topic, or --topic), with a reason.

    Example: tracker topics review reject ks 2025-2026 SB 151 --reason "KanCare is Medicaid"
    """
    _review(
        accept=False, state=state, session_name=session_name, bill=bill, reason=reason, topic=topic
    )
