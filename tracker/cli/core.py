"""Core commands: `db upgrade`, `import openstates|legiscan`, `status`.

Heavy libraries (SQLAlchemy, Alembic, the importers) are imported inside the commands, so that
`tracker --help` and commands that do not need them start at once.
"""

from __future__ import annotations

import ast
import json
import re
import signal
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import threading

    from rich.console import Console
    from sqlalchemy import Engine


@lru_cache(maxsize=1)
def console() -> Console:
    """The commands' message console, on stderr (built when a message is printed: `tracker
    search --format json` loads no rich)."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, emoji=False)


db_app = typer.Typer(help="Database commands.\n\nExample: tracker db upgrade", no_args_is_help=True)
import_app = typer.Typer(
    help="Import Open States or LegiScan data through ingest.\n\n"
    "Example: tracker import legiscan ../shared/data/legiscan/bulk_csv",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(import_app, name="import")


def engine_ready() -> Engine:
    """An engine for the configured database, migrated to the latest schema; runs left
    ``running`` by dead processes are closed as interrupted.

    A database already at the migrations' heads (the usual case) is checked with one query:
    loading Alembic costs more than a whole `tracker search`.
    """
    from tracker.db import make_engine, upgrade
    from tracker.runs import close_stale_runs

    engine = make_engine()
    if stored_revisions(engine) != script_heads():
        upgrade(engine)
    close_stale_runs(engine)
    return engine


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+)$", re.MULTILINE)


def script_heads() -> frozenset[str]:
    """The heads of the migration scripts, read from their `revision`/`down_revision` lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    for path in versions.glob("*.py"):
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            parsed = ast.literal_eval(value.split("#")[0].strip())
            if key == "revision":
                revisions.add(parsed)
            elif parsed is not None:
                parents.update((parsed,) if isinstance(parsed, str) else parsed)
    return frozenset(revisions - parents)


def stored_revisions(engine: Any) -> frozenset[str] | None:
    """The revisions the database says it is at (None: not migrated yet, or unreadable)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            return frozenset(
                conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    except DBAPIError:
        return None


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads", help="Alembic revision")) -> None:
    """Create or migrate the database to the latest schema.

    Example: TRACKER_DATABASE_URL=postgresql://localhost/test tracker db upgrade
    """
    from tracker.db import make_engine, upgrade

    engine = make_engine()
    upgrade(engine, revision)
    console().print(
        f"database at {engine.url.render_as_string(hide_password=True)} is at {revision}"
    )


@db_app.command("reindex")
def db_reindex() -> None:
    """Rebuild the full-text search index from the bill tables (after a restore, or to repair it).

    Example: tracker db reindex
    """
    from tracker.search import rebuild_index

    engine = engine_ready()
    count = rebuild_index(engine)
    console().print(f"search index rebuilt: {count} bills")


PathsArg = Annotated[list[Path], typer.Argument(help="files, folders, .tar.gz or .zip archives")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON")]


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=0,
        help="importer processes beside the database writer (0: none; default: when over 8 MB "
        "is left to read after skipping unchanged files, one per core beside the writer's, at "
        "most 2, else none)",
    ),
]


def _stop(stop: threading.Event, signum: int, _frame: Any) -> None:
    """SIGTERM ends an import as Ctrl-C does: through KeyboardInterrupt, so the batch in
    progress rolls back, the run is recorded interrupted and the workers are stopped. The stop
    is also left in `stop` (``tracker.ingest.STOP``), which ingest checks before each batch:
    the raise alone was lost once in 30 stops and the import went on to the end (Python drops
    an exception raised while a finaliser runs, for one)."""
    stop.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


FullOpt = Annotated[
    bool,
    typer.Option(
        "--full",
        help="read every file, even those an earlier import read and that have not changed "
        "since (size and SHA-256)",
    ),
]


def _run_import(
    kind: str, paths: list[Path], as_json: bool, workers: int | None, full: bool = False
) -> None:
    from tracker.ingest import STOP

    handler = partial(_stop, STOP)
    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _import(kind, paths, as_json, workers, full)
    except KeyboardInterrupt:
        console().print(
            f"[yellow]import {kind} interrupted:[/] the run is recorded interrupted; "
            "the batches it finished are kept, and a rerun continues from them"
        )
        raise typer.Exit(130) from None
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)
        STOP.clear()


def _import(
    kind: str, paths: list[Path], as_json: bool, workers: int | None, full: bool = False
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from tracker.collect.parallel import import_stream
    from tracker.ingest import ingest_bills
    from tracker.settings import get_settings

    get_settings().export_import_limits()
    engine = engine_ready()
    items, _workers = import_stream(
        kind, paths, engine=engine, source=f"import:{kind}", workers=workers, full=full
    )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bills"),
        TimeElapsedColumn(),
        console=console(),
        disable=as_json or not console().is_terminal,
    ) as progress:
        task = progress.add_task(f"import {kind}", total=None)
        report = ingest_bills(
            engine,
            items,
            source=f"import:{kind}",
            kind="import",
            progress=lambda n: progress.advance(task, n),
        )
    for warning in report.warnings[:20]:
        console().print(f"[yellow]warning[/] {warning}")
    if len(report.warnings) > 20:
        console().print(
            f"[yellow]... and {len(report.warnings) - 20} more warnings (see the run record)[/]"
        )
    for err in report.errors[:50]:
        console().print(f"[red]skipped[/] {err}")
    if len(report.errors) > 50:
        console().print(f"[yellow]... and {len(report.errors) - 50} more skipped records[/]")
    if as_json:
        print(json.dumps(report.summary()))
    else:
        print(report.line())
    if report.errors:
        raise typer.Exit(1)


def _check_paths(paths: list[Path]) -> None:
    for p in paths:
        if not p.exists():
            console().print(f"[red]error:[/] {p}: no such file or folder")
            raise typer.Exit(2)


@import_app.command("openstates")
def import_openstates(
    paths: PathsArg, as_json: JsonOpt = False, workers: WorkersOpt = None, full: FullOpt = False
) -> None:
    """Import Open States scrape JSON (bill_*.json, metadata.json, folders, .tar.gz) or old CSV.

    Example: tracker import openstates ../shared/data/openstates/windy_civi_2025 --json
    """
    _check_paths(paths)
    _run_import("openstates", paths, as_json, workers, full)


@import_app.command("legiscan")
def import_legiscan(
    paths: PathsArg, as_json: JsonOpt = False, workers: WorkersOpt = None, full: FullOpt = False
) -> None:
    """Import LegiScan weekly bulk CSV zips (or folders of them) and API bill JSON.

    Example: tracker import legiscan ../shared/data/legiscan/bulk_csv --json --workers 2
    """
    _check_paths(paths)
    _run_import("legiscan", paths, as_json, workers, full)
