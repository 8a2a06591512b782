"""`tracker site build OUT`: the public site as static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, emoji=False)
app = typer.Typer(
    help="Static site commands.\n\nExample: tracker site build ./public",
    no_args_is_help=True,
)


@app.command("build")
def build(
    out: Annotated[Path, typer.Argument(help="output folder (created if missing)")],
    full: Annotated[
        bool, typer.Option("--full", help="re-render every page, ignoring the manifest")
    ] = False,
    bills: Annotated[
        str,
        typer.Option(
            help="bill pages: linked (those the site links to: tracked and related "
            "bills and their lineage) or all"
        ),
    ] = "linked",
) -> None:
    """Render every public page (overview, states, bills, about, feeds) as files for any static
    host. Only pages whose data changed since the last build are rendered again; the manifest
    is OUT/.tracker-manifest.json.

    Example: tracker site build ./public && python -m http.server -d ./public
    """
    from tracker.cli.core import engine_ready
    from tracker.web.site_build import build_site

    if bills not in ("all", "linked"):
        raise typer.BadParameter("use linked or all", param_hint="--bills")
    report = build_site(engine_ready(), out, full=full, bills=bills)
    err.print(report.line())
