"""`tracker topics`: is a bill about single-payer? Classify a CSV of bills or explain one title.

`classify` is a contract (see DESIGN.md): IN.csv has `state`, `bill`, `title` and optionally
`description` (also used when present: `session`, for curator pins, and `subjects`, separated by
`|` or `;`); OUT.csv adds `topic`, `relevant` (`true`/`false`), `score` and `evidence` (the
matched phrases joined by `; `).
"""

from __future__ import annotations

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
ADDED = ("topic", "relevant", "score", "evidence")


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
    """Add topic, relevant, score and evidence columns to a CSV of bills.

    Example: tracker topics classify --input bills.csv --output topics.csv
    """
    from tracker.topics import TopicConfigError, get_classifier

    try:
        classifier = get_classifier()
        header, rows = read_rows(input, REQUIRED)
    except (CsvInputError, TopicConfigError) as exc:
        _fail(str(exc))
        return
    idx = {name: header.index(name) for name in header}
    out_header = header + [c for c in ADDED if c not in header]

    def get(row: list[str], name: str) -> str:
        return row[idx[name]] if name in idx else ""

    def classified() -> Iterator[list[str]]:
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
            values = {
                "topic": result.topic,
                "relevant": "true" if result.relevant else "false",
                "score": f"{result.score:g}",
                "evidence": evidence_text(result.evidence),
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
    out = Console(file=sys.stdout, width=160)
    out.print(
        f"topic: {result.topic}  relevant: {str(result.relevant).lower()}  score: {result.score:g}",
        highlight=False,
    )
    if not result.evidence:
        out.print("no evidence: nothing in the text matched the topic rules", highlight=False)
        return
    table = Table("topic", "field", "weight", "phrase")
    for e in sorted(result.evidence, key=lambda e: -abs(e["weight"])):
        table.add_row(e["topic"], e["field"], f"{e['weight']:+g}", str(e["phrase"]))
    out.print(table)
