"""The `tracker` command. Each group lives in its own module; this file only wires them."""

from __future__ import annotations

import typer

from tracker.cli import (
    actions,
    core,
    digest,
    mail,
    scrapers,
    site,
    sources,
    subscribers,
    topics,
)
from tracker.cli import run as run_cli
from tracker.cli import search as search_cli
from tracker.cli.helptext import reflow_all

app = typer.Typer(
    name="tracker",
    help="Single-Payer Tracker: collect, understand and report state single-payer legislation.\n\n"
    "Example: tracker import openstates ../shared/data/openstates",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)

core.register(app)
run_cli.register(app)
search_cli.register(app)

# Command groups, one module each. Registration order is help order.
GROUPS: list[tuple[str, typer.Typer]] = [
    ("actions", actions.app),
    ("topics", topics.app),
    ("scrapers", scrapers.app),
    ("subscribers", subscribers.app),
    ("mail", mail.app),
    ("digest", digest.app),
    ("sources", sources.app),
    ("site", site.app),
]
for name, group in GROUPS:
    app.add_typer(group, name=name)
reflow_all(app)  # help texts wrap at the terminal's width, not mid-sentence


def main() -> None:
    import sys

    from tracker.cli.errors import run_guarded

    argv = sys.argv[1:]
    if "--debug" in argv:  # anywhere on the line: tracker --debug status, tracker status --debug
        sys.argv.remove("--debug")
    run_guarded(lambda: app(), argv)
