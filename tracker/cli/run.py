"""`tracker run` (the main job), `tracker jobs`, `tracker status` and `tracker demo`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)
log = logging.getLogger("tracker.run")

jobs_app = typer.Typer(
    help="Scheduled jobs: list them with their next run, or run one now.\n\n"
    "Example: tracker jobs run scrape:nm",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
    app.command("demo")(demo)
    app.add_typer(jobs_app, name="jobs")


# --------------------------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(*, as_json: bool = False, level: int = logging.INFO) -> None:
    """One handler on stdout: readable lines, or one JSON object per line with --log-json."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if not as_json else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# --------------------------------------------------------------------------------- run


def run(
    host: Annotated[str, typer.Option(help="address to serve the site on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve the site on")] = 8000,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="log one JSON object per line")
    ] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="serve the site only")
    ] = False,
) -> None:
    """Run everything: scheduled scrapes of every state, the weekly digest, and the web site.

    Several processes may share one PostgreSQL database: exactly one schedules, the others only
    serve the site and take over if it stops. Stops cleanly on Ctrl-C or SIGTERM, after the job
    in progress.

    Example: tracker run --host 0.0.0.0 --port 8000 --log-json
    """
    import uvicorn

    from tracker.cli.core import engine_ready
    from tracker.scheduler import SchedulerService
    from tracker.settings import get_settings
    from tracker.web.app import create_app

    setup_logging(as_json=log_json)
    get_settings().check_secrets()
    engine = engine_ready()
    log.info("database %s is migrated", engine.url.render_as_string(hide_password=True))
    service = None if no_scheduler else SchedulerService(engine)
    app = create_app(engine)
    app.state.scheduler_service = service
    if service is not None:
        service.start()
    else:
        log.info("--no-scheduler: serving the site only")
    signals = _SignalGuard()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    )
    log.info("serving the site at http://%s:%d/ (health: /health, /healthz)", host, port)
    try:
        server.run()
    finally:
        signals.shutting_down = True
        if service is not None:
            service.stop(wait=True)
        engine.dispose()
        log.info("stopped")


class _SignalGuard:
    """Our SIGINT/SIGTERM handlers, installed under uvicorn's so they are what it restores.

    Uvicorn stops serving on the first signal and then re-raises it; we take that as "stop
    after the job in progress". A second signal while waiting quits at once.
    """

    def __init__(self) -> None:
        self.shutting_down = False
        self.seen = 0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.seen += 1
        if self.shutting_down and self.seen > 1:
            log.warning("second signal: quitting without waiting for the running job")
            os._exit(130)
        log.info(
            "signal %s: stopping after the job in progress (signal again to quit now)",
            signal.Signals(signum).name,
        )


# --------------------------------------------------------------------------------- jobs


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the scheduled jobs and when each runs next.

    Example: tracker jobs --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.cli.core import engine_ready
    from tracker.scheduler import invalid_configs, plan_jobs, stored_jobs

    engine = engine_ready()
    stored = {j.id: j for j in stored_jobs(engine)}
    planned = {s.id: s for s in plan_jobs()}
    invalid = {f"scrape:{st}": why for st, why in invalid_configs().items()}
    rows = [
        {"id": job_id, "name": f"INVALID config: {why}", "next_run": None, "scheduled": False}
        for job_id, why in invalid.items()
        if job_id not in planned
    ]
    for job_id in sorted((set(stored) | set(planned)) - {r["id"] for r in rows}):
        job, spec = stored.get(job_id), planned.get(job_id)
        nxt = job.next_run_time if job is not None else None
        rows.append(
            {
                "id": job_id,
                "name": (job.name if job is not None else spec.name).rsplit(" [", 1)[0],  # type: ignore[union-attr]
                "next_run": nxt.astimezone(UTC).isoformat() if nxt else None,
                "scheduled": job is not None,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Scheduled jobs")
    for col in ("id", "next run (UTC)", "what"):
        table.add_column(col)
    for r in rows:
        nxt = (
            r["next_run"][:16].replace("T", " ")
            if r["next_run"]
            else "[red]never: fix the config[/]"
            if r["id"] in invalid
            else ("[yellow]not scheduled yet (starts with tracker run)[/]")
        )
        table.add_row(r["id"], nxt, r["name"])
    console.print(table)


@jobs_app.command("run")
def jobs_run(job_id: Annotated[str, typer.Argument(help="a job id from `tracker jobs`")]) -> None:
    """Run one job now, in this process, and print its recorded result.

    Example: tracker jobs run scrape:nm
    """
    from tracker.cli.core import engine_ready
    from tracker.scheduler import FIRST_SCRAPE_PREFIX, plan_jobs, stored_jobs

    setup_logging()
    engine = engine_ready()
    specs = {s.id: s for s in plan_jobs()}
    stored = {j.id: j for j in stored_jobs(engine)}
    if job_id in specs:
        func_ref, kwargs = specs[job_id].func, specs[job_id].kwargs
    elif job_id in stored:
        func_ref, kwargs = f"{stored[job_id].func_ref}", dict(stored[job_id].kwargs)
    elif job_id.startswith(("scrape:", FIRST_SCRAPE_PREFIX)):
        func_ref, kwargs = "tracker.jobs:scrape_state", {"state": job_id.rsplit(":", 1)[1]}
    else:
        known = ", ".join(sorted(set(specs) | set(stored))) or "none"
        err.print(f"[red]error:[/] no job {job_id!r} (known: {known})")
        raise typer.Exit(2)
    from apscheduler.util import ref_to_obj

    run_id = ref_to_obj(func_ref)(**kwargs)
    _print_run(engine, run_id)


def _print_run(engine: Any, run_id: int) -> None:
    from sqlalchemy import select

    from tracker.models import Run

    with engine.connect() as conn:
        row = (
            conn.execute(select(Run.__table__).where(Run.__table__.c.id == run_id)).mappings().one()
        )
    colour = {"ok": "green", "partial": "yellow"}.get(row["status"], "red")
    console.print(f"run {run_id}: [{colour}]{row['status']}[/] {row['message']}")
    if row["status"] in ("failed", "empty"):
        raise typer.Exit(1)


# --------------------------------------------------------------------------------- status


def status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Per-state scraper health: last success, last failure and why, failures in a row, counts, freshness.

    Example: tracker status --json
    """
    from tracker import health
    from tracker.cli.core import engine_ready

    engine = engine_ready()
    states = health.all_health(engine)
    system = health.system_health(engine)
    quotas = _quotas(engine)
    if as_json:
        data = {
            "system": system,
            "states": [s.as_dict() for s in states],
            "quotas": [q.__dict__ | {"exhausted": q.exhausted} for q in quotas],
        }
        print(json.dumps(data, indent=2, default=str))
        return
    alive = "[green]running[/]" if system["scheduler"] else "[red]no recent heartbeat[/]"
    console.print(
        f"scheduler: {alive}" + (f" ({system['holder']})" if system.get("holder") else "")
    )
    console.print(_status_table(states))
    for q in quotas:
        console.print(f"API quota {q.line()}")


def _quotas(engine: Any) -> list[Any]:
    """API usage against quotas, when the API-sources feature is installed."""
    try:
        from tracker.sources_health import quota_usage
    except ImportError:
        return []
    return quota_usage(engine)


def _status_table(states: list[Any]) -> Table:
    table = Table(title="Scraper health")
    for col in (
        "state",
        "data from",
        "last success",
        "last failure",
        "fails",
        "bills",
        "actions",
        "flags",
    ):
        table.add_column(col, overflow="fold")
    for s in states:
        fail = ""
        if s.last_failure:
            fail = f"{s.last_failure.at:%Y-%m-%d %H:%M} {s.last_failure.message[:120]}"
        ok = (
            f"{s.last_success.at:%Y-%m-%d %H:%M} ({s.last_success.bills} bills)"
            if s.last_success
            else "never"
        )
        flags = " ".join(s.flags) or "ok"
        table.add_row(
            s.state.upper(),
            s.freshness,
            ok,
            fail,
            str(s.consecutive_failures),
            str(s.bills),
            str(s.actions),
            f"[{'green' if s.ok else 'red'}]{flags}[/]",
        )
    return table


# --------------------------------------------------------------------------------- demo


def demo(
    quick: Annotated[
        bool, typer.Option("--quick", help="import only small samples (under a minute)")
    ] = False,
    host: Annotated[str, typer.Option(help="address to serve the site on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve the site on")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="stop after the cycle and imports")
    ] = False,
    workdir: Annotated[str, typer.Option(help="folder for the demo database and outputs")] = "demo",
    state: Annotated[
        list[str] | None, typer.Option("--state", help="scrape only this state (repeatable)")
    ] = None,
) -> None:
    """A first look with no internet: saved real pages served locally, one scheduled cycle, the site.

    Serves the saved legislature pages from ../shared under their original paths, points the
    state configs at that local server, runs one scheduled cycle (scrape, ingest, classify,
    digest preview), imports the shared Open States and LegiScan data, then serves the site.

    Example: tracker demo --quick
    """
    from pathlib import Path

    from tracker.demo import DemoError, run_demo

    setup_logging(level=logging.WARNING)
    try:
        run_demo(
            Path(workdir),
            quick=quick,
            host=host,
            port=port,
            serve=not no_serve,
            states=state,
            say=console.print,
        )
    except DemoError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
