"""`tracker run` (the main job), `tracker jobs`, `tracker status` and `tracker demo`."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(emoji=False)
err = Console(stderr=True, emoji=False)

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
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="web server processes; 0: one per core, up to 4 (the jobs always run once, in "
            "their own process)",
        ),
    ] = 1,
) -> None:
    """Run everything: scheduled scrapes of every state, the weekly digest, and the web site.

    Several processes may share one PostgreSQL database: exactly one schedules, the others only
    serve the site and take over if it stops. Jobs run in a child process beside the site.

    Ctrl-C or SIGTERM stops within seconds: fetches in progress give up at their next request,
    their runs are recorded as interrupted, and the exit code is 0. A second signal quits at once.

    Example: tracker run --host 0.0.0.0 --port 8000 --log-json
    """
    from tracker.cli.core import engine_ready
    from tracker.service.supervisor import run_service

    run_service(
        engine_ready,
        host=host,
        port=port,
        log_json=log_json,
        scheduler=not no_scheduler,
        workers=workers,
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
    rows: list[dict[str, Any]] = [
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
    from tracker.service.logs import setup_logging

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
    """Per-state scraper health: last success, last failure and why, failures in a row, flags.

    Exits 0 when every configured state is ok and 1 otherwise, in both forms, so scripts and
    monitors can use it.

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
    else:
        for line in status_lines(system, states, width=_width()):
            console.print(line, highlight=False, soft_wrap=True)
        for q in quotas:
            console.print(f"API quota {q.line()}", highlight=False, soft_wrap=True)
    if not all(s.ok for s in states if s.configured) or system.get("held"):
        raise typer.Exit(1)


def _width() -> int:
    """The terminal's width, at most 100 (80 when not a terminal)."""
    import shutil

    return max(60, min(shutil.get_terminal_size((80, 24)).columns, 100))


def _quotas(engine: Any) -> list[Any]:
    """API usage against quotas."""
    from tracker.sources_health import quota_usage

    return quota_usage(engine)


STATUS_COLUMNS = "{:<5} {:<16} {:>5} {:>6}  {}"


def status_lines(system: dict[str, Any], states: list[Any], *, width: int = 80) -> list[str]:
    """The text form of `tracker status` (rich markup), every line within `width` columns.

    One line per state; a state that is not ok gets its reason on wrapped lines beneath, in
    full (with when it last failed): the reason is what the reader came for.
    """
    import textwrap

    from rich.markup import escape

    header = STATUS_COLUMNS.format("STATE", "LAST SUCCESS", "FAILS", "BILLS", "FLAGS")
    lines = [_scheduler_line(system)]
    lines += [f"[red]held:[/] {escape(h['text'])}" for h in system.get("held", ())]
    lines += ["", f"[bold]{header}[/]"]
    for s in states:
        row = STATUS_COLUMNS.format(
            s.state.upper(), _when(s.last_success), s.consecutive_failures, s.bills, ""
        )
        flags = " ".join(s.flags) or "ok"
        lines.append(escape(row) + f"[{'green' if s.ok else 'red'}]{escape(flags)}[/]")
        if s.reason:
            failed = f" (failed {_when(s.last_failure)})" if s.last_failure else ""
            wrapped = textwrap.wrap(
                f"why{failed}: {s.reason}",
                width=width,
                initial_indent="      ",
                subsequent_indent="      ",
                break_on_hyphens=False,
            )
            lines.extend(escape(part) for part in wrapped)
    bad = sum(1 for s in states if s.configured and not s.ok)
    total = sum(1 for s in states if s.configured)
    noun = "state" if total == 1 else "states"
    lines.append("")
    if bad:
        lines.append(f"[red]{bad} of {total} {noun} {'needs' if bad == 1 else 'need'} attention[/]")
    else:
        lines.append(f"[green]all {total} {noun} ok[/]")
    return lines


def _when(run: Any) -> str:
    return f"{run.at:%Y-%m-%d %H:%M}" if run is not None and run.at else "never"


def _scheduler_line(system: dict[str, Any]) -> str:
    state = system.get("scheduler_state") or ("running" if system["scheduler"] else "stopped")
    colour = {"running": "green", "stopped": "yellow"}.get(state, "red")
    line = f"scheduler: [{colour}]{state}[/]"
    if system.get("holder"):
        line += f" ({system['holder']}"
        age = system.get("heartbeat_age_seconds")
        line += f", heartbeat {age} s ago)" if age is not None else ")"
    return line


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
    site_ports: Annotated[
        str | None,
        typer.Option(
            help="ports for the local servers of the saved sites, e.g. 9100-9120 (one per site; "
            "default: free ports the system picks)"
        ),
    ] = None,
) -> None:
    """A first look with no internet: saved real pages served locally, one scheduled cycle, the site.

    Serves the saved legislature pages from ../shared under their original paths, points the
    state configs at that local server, runs one scheduled cycle (scrape, ingest, classify,
    digest preview), imports the shared Open States and LegiScan data, then serves the site.

    Example: tracker demo --quick
    """
    from pathlib import Path

    from tracker.demo import DemoError, parse_ports, run_demo
    from tracker.service.logs import setup_logging

    setup_logging(level=logging.WARNING)
    try:
        result = run_demo(
            Path(workdir),
            site_ports=parse_ports(site_ports) if site_ports else None,
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
    if result.stopped:  # by Ctrl-C, as before (130); all is stopped and recorded: no teardown
        from tracker.service.signals import exit_now

        exit_now(130)
