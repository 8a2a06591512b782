"""`tracker search QUERY`: the site's search from the command line (a contract; see DESIGN.md)."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tracker.search import SearchResult


def _err() -> Console:
    """The error stream's console (rich is loaded only for a table or a message)."""
    from rich.console import Console

    return Console(stderr=True, emoji=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a search runs: loading SQLAlchemy and the settings
    creates some 33,000 objects that live until the command ends, and the 150 collections run
    among them as they appear free almost nothing (3% of a `tracker search`'s instructions).
    The search leaves little garbage; the collector is on again afterwards (tests run the
    command in-process)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)


def search_command(
    query: Annotated[
        str,
        typer.Argument(
            help="words, \"phrases\", prefix*, -exclude, OR, or a bill number such as 'HB 2795'"
        ),
    ] = "",
    state: Annotated[
        list[str] | None, typer.Option("--state", help="two-letter code; repeatable")
    ] = None,
    session: Annotated[str | None, typer.Option(help="session identifier, e.g. 2025-2026")] = None,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="stage, e.g. in_committee; repeatable")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="topic, e.g. single-payer; repeatable")
    ] = None,
    sponsor: Annotated[str | None, typer.Option(help="words of a sponsor's name")] = None,
    since: Annotated[
        str | None, typer.Option(help="last action on or after YYYY[-MM[-DD]]")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="last action on or before YYYY[-MM[-DD]]")
    ] = None,
    relevant: Annotated[bool, typer.Option("--relevant", help="only single-payer bills")] = False,
    sort: Annotated[str, typer.Option(help="relevance or recency")] = "relevance",
    limit: Annotated[int | None, typer.Option(help="rows to print (default 25; csv: all)")] = None,
    page: Annotated[int, typer.Option(help="page of `limit` rows")] = 1,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
) -> None:
    """Search bills by words, phrases, prefixes or number, with filters; print a table, JSON or CSV.

    JSON has the same shape as GET /api/bills; CSV has the columns state, session, identifier,
    title, stage, topic, relevant, latest_action_date, latest_action_description, url.

    Example: tracker search "single payer" --state ny --relevant --since 2025-01-01 --format csv
    """
    with collector_paused():  # see there
        from tracker.cli.core import engine_ready
        from tracker.search import (
            MAX_EXPORT_ROWS,
            SearchQuery,
            export_rows,
            result_json,
            search,
            write_csv,
        )
        from tracker.settings import get_settings

        if sort not in ("relevance", "recency"):
            raise typer.BadParameter("use relevance or recency", param_hint="--sort")
        per_page = limit or (MAX_EXPORT_ROWS if fmt is Format.csv else 25)
        pairs = [
            ("q", query),
            ("state", state or []),
            ("session", session),
            ("stage", stage or []),
            ("topic", topic or []),
            ("sponsor", sponsor),
            ("since", since),
            ("until", until),
            ("relevant", "1" if relevant else None),
            ("sort", sort),
            ("page", str(page)),
        ]
        q, warnings = SearchQuery.from_pairs(pairs)
        if warnings:
            from rich.markup import escape

            err = _err()
            for w in warnings:  # the site ignores a bad filter; here it is an error
                err.print(
                    f"[red]error:[/] {escape(w.removeprefix('ignored '))}; nothing was searched"
                )
            raise typer.Exit(2)
        q = SearchQuery(**{**q.__dict__, "per_page": max(1, min(per_page, MAX_EXPORT_ROWS))})
        # counted exactly: a command runs once, so no later look would show what a first
        # look's lower bounds (PostgreSQL, a common word) left out
        result = search(engine_ready(), q, exact=True)
        base = get_settings().base_url
        if fmt is Format.json:
            print(json.dumps(result_json(result, base), indent=2, default=str))
        elif fmt is Format.csv:
            write_csv(export_rows(result.hits, base), sys.stdout)
        else:
            _table(result)


def _table(result: SearchResult) -> None:
    """A table that fits the terminal: titles shortened at a word, dates as dates."""
    import textwrap

    from rich.console import Console
    from rich.markup import escape
    from rich.measure import Measurement

    from tracker.vocab import STAGE_LABELS

    console = Console(emoji=False)
    rows = [
        (
            f"{h['state'].upper()} {h['identifier']}",
            h["session"] or "",
            STAGE_LABELS.get(h["stage"] or "", h["stage"] or ""),
            _day(h["latest_action_date"]),
        )
        for h in result.hits
    ]
    # The title gets what is left of the line once the other columns are laid out.
    others = Measurement.get(console, console.options, _grid(rows)).maximum
    room = max(console.width - others - 3, 15)  # 3: the gap before the title column
    table = _grid(rows, title_width=room)
    for row, h in zip(rows, result.hits, strict=True):
        title = _badge(h) + " ".join((h["title"] or "").split())
        # Up to two lines of title: at 80 columns one line leaves room for only a few words.
        short = textwrap.shorten(title, width=2 * room - 4, placeholder=" …") if title else ""
        table.add_row(*(escape(cell) for cell in row), escape(short))  # titles are scraped text
    console.print(table, highlight=False)
    total = result.total
    _err().print(
        f"{total} {'bill' if total == 1 else 'bills'}; page {result.query.page} of {result.pages}",
        highlight=False,
    )


def _badge(hit: dict[str, Any]) -> str:
    """The topic badge the site shows, as a title prefix: ``[single-payer]``, ``[possibly]``."""
    if hit["relevant"] or (hit.get("topic_match") and hit.get("topic_decision") != "possible"):
        return f"[{hit['topic']}] "
    return "[possibly single-payer] " if hit.get("topic_decision") == "possible" else ""


def _grid(rows: Sequence[tuple[str, ...]], *, title_width: int | None = None) -> Table:
    """The results table; without `title_width`, holding the other columns only (to measure)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for head in ("Bill", "Session", "Stage", "Last action"):
        table.add_column(head, no_wrap=True)
    if title_width is None:
        for row in rows:
            table.add_row(*map(escape, row))  # measured as they will be printed
    else:
        table.add_column("Title", overflow="fold", width=title_width)
    return table


def _day(value: object) -> str:
    """``2025-06-25T04:00:00+00:00`` (or a date) as ``2025-06-25``."""
    text = str(value or "")
    return text[:10] if len(text) >= 10 and text[4] == "-" and text[7] == "-" else text
