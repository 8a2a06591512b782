"""The `tracker` command. Each group lives in its own module; this file only wires them.

Only `db` and `import` (tracker.cli.core) are registered here; the other modules are listed in
:data:`tracker.cli.lazy.MODULES` and imported when a command line names them, so that
`tracker search` does not import and build every other command first.
"""

from __future__ import annotations

import typer

from tracker.cli import core
from tracker.cli.helptext import reflow_all
from tracker.cli.lazy import LazyGroup

app = typer.Typer(
    name="tracker",
    help="Single-Payer Tracker: collect, understand and report state single-payer legislation.\n\n"
    "Example: tracker import openstates ../shared/data/openstates",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    cls=LazyGroup,
)

core.register(app)  # db, import; the rest: tracker.cli.lazy.MODULES (help order: HELP_ORDER)
reflow_all(app)  # help texts wrap at the terminal's width, not mid-sentence


def main() -> None:
    import sys

    from tracker.cli.errors import run_guarded

    argv = sys.argv[1:]
    if "--debug" in argv:  # anywhere on the line: tracker --debug status, tracker status --debug
        sys.argv.remove("--debug")
    run_guarded(lambda: app(), argv)
