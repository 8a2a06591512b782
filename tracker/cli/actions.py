"""`tracker actions`: classify action texts with the rule tables, and explain a classification.

`classify` is a contract (see DESIGN.md): IN.csv has `state`, `description`, `actor` and any other
columns, which pass through unchanged and in order; OUT.csv adds `classification` (Open States
types joined with `|`, empty when none apply).
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Classify legislative actions (Open States vocabulary) with data-only rules.\n\n"
    "Example: tracker actions classify --input actions.csv --output classified.csv",
    no_args_is_help=True,
)

REQUIRED = ("state", "description", "actor")


class CsvInputError(ValueError):
    """Bad input CSV; the message names the file and line."""


def read_rows(
    path: Path, required: tuple[str, ...]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and a stream of (line number, row); checks required columns and row widths."""
    fh = path.open(encoding="utf-8-sig", newline="")
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise CsvInputError(
            f"{path}:1: empty file; expected a header with {', '.join(required)}"
        ) from None
    missing = [c for c in required if c not in header]
    if missing:
        fh.close()
        raise CsvInputError(
            f"{path}:1: missing required column(s) {', '.join(missing)} "
            f"(header has {', '.join(header)})"
        )

    def rows() -> Iterator[tuple[int, list[str]]]:
        with fh:
            start = reader.line_num + 1
            for row in reader:
                if not row:
                    start = reader.line_num + 1
                    continue
                if len(row) < len(header):
                    raise CsvInputError(
                        f"{path}:{start}: row has {len(row)} field(s) but the header has "
                        f"{len(header)}; missing {', '.join(header[len(row) :])}"
                    )
                if len(row) > len(header):
                    raise CsvInputError(
                        f"{path}:{start}: row has {len(row)} fields, more than the header's {len(header)}"
                    )
                yield start, row
                start = reader.line_num + 1

    return header, rows()


def write_atomically(path: Path, header: list[str], rows: Iterator[list[str]]) -> int:
    """Write to a temporary file beside `path`, renamed into place only when every row succeeded."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)  # plain: a wrapped path would not be copyable
    raise typer.Exit(code=2)


@app.command("classify")
def classify_command(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="CSV with state, description, actor columns",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV to write (input columns + classification)")
    ],
) -> None:
    """Add a `classification` column (Open States types joined by '|') to a CSV of actions.

    `actor` is upper, lower, executive, legislature or empty; other columns pass through.

    Example: tracker actions classify --input actions.csv --output classified.csv
    """
    from tracker.actions import RuleError, load_rules

    try:
        header, rows = read_rows(input, REQUIRED)
    except CsvInputError as exc:
        _fail(str(exc))
        return
    col = {name: header.index(name) for name in REQUIRED}
    out_header = header if "classification" in header else [*header, "classification"]
    target = out_header.index("classification")

    def classified() -> Iterator[list[str]]:
        for line, row in rows:
            state = row[col["state"]].strip().lower() or None
            try:
                rules = load_rules(state)
            except RuleError as exc:
                raise CsvInputError(f"{input}:{line}: rules for state {state!r}: {exc}") from exc
            labels = rules.classify(row[col["description"]], row[col["actor"]].strip() or None)
            out = list(row) if target < len(row) else [*row, ""]
            out[target] = "|".join(labels)
            yield out

    try:
        count = write_atomically(output, out_header, classified())
    except (CsvInputError, RuleError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"classified {count} action(s) -> {output}", err=True)


@app.command("explain")
def explain_command(
    text: Annotated[str, typer.Argument(help="the action text, quoted")],
    state: Annotated[
        str | None, typer.Option("--state", help="two-letter state code (its own rules first)")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="upper, lower, executive or legislature")
    ] = None,
) -> None:
    """Show which rules match an action text, in order, and the resulting classification.

    Example: tracker actions explain "Third reading, passed; yeas, 95; nays, 0" --state wa --actor lower
    """
    from tracker.actions import RuleError, load_rules

    try:
        rules = load_rules(state)
    except RuleError as exc:
        _fail(str(exc))
        return
    matches = rules.explain(text, actor)
    out = Console(file=sys.stdout, width=160, emoji=False)
    if not matches:
        out.print("no rule matched: classification is empty", highlight=False)
        return
    table = Table("rule", "pattern", "matched", "adds", "stop", show_lines=False)
    for m in matches:
        where = f"{Path(m.file).name}#{m.index}" + (f" {m.rule_id}" if m.rule_id else "")
        # patterns and action texts hold "[...]", which rich would read as markup
        table.add_row(
            escape(where),
            escape(m.pattern),
            escape(m.matched),
            ", ".join(m.classifications) or "(nothing)",
            "stop" if m.stop else "",
        )
    out.print(table)
    out.print(
        "classification: " + ("|".join(rules.classify(text, actor)) or "(empty)"), highlight=False
    )
