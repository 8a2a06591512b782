"""The `tracker` command. Each group lives in its own module; this file only wires them."""

from __future__ import annotations

import typer

from tracker.cli import core
from tracker.cli import run as run_cli
from tracker.cli import search as search_cli

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

# Command groups, one module each (name, module path). Registration order is help order.
GROUPS: list[tuple[str, str]] = [
    ("actions", "tracker.cli.actions"),
    ("topics", "tracker.cli.topics"),
    ("scrapers", "tracker.cli.scrapers"),
    ("subscribers", "tracker.cli.subscribers"),
    ("digest", "tracker.cli.digest"),
    ("sources", "tracker.cli.sources"),
    ("site", "tracker.cli.site"),
]


def _register_groups() -> None:
    import importlib

    for name, module_path in GROUPS:
        module = importlib.import_module(module_path)
        app.add_typer(module.app, name=name)


_register_groups()


def main() -> None:
    import sys

    from tracker.cli.errors import run_guarded

    argv = sys.argv[1:]
    if "--debug" in argv:  # anywhere on the line: tracker --debug status, tracker status --debug
        sys.argv.remove("--debug")
    run_guarded(lambda: app(), argv)
