"""`tracker run` (the main job), `tracker jobs`, `tracker status` and `tracker demo`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
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


STOP_SECONDS = 2.0  # how long running jobs get to stop at their next request boundary


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
    from scrapers.http import STOPPING  # imported now: a signal handler must not import

    signals = _SignalGuard(STOPPING)
    setup_logging(as_json=log_json)
    service = engine = server = None
    try:
        import uvicorn

        from tracker.cli.core import engine_ready
        from tracker.settings import get_settings

        get_settings().check_secrets()
        get_settings().check_base_url()  # as create_app does, before any web worker starts
        engine = engine_ready()
        log.info("database %s is migrated", engine.url.render_as_string(hide_password=True))
        service = signals.service = None if no_scheduler else JobProcess(log_json=log_json)
        processes = web_workers(workers)
        app: Any = None
        if processes == 1:
            from tracker.web.app import create_app

            app = create_app()  # its own engine, pooled for serving
            app.state.scheduler_service = service
        if signals.seen:  # a signal came while migrating (which is never cut short)
            raise _Stop
        if service is not None:
            service.start()
        else:
            log.info("--no-scheduler: serving the site only")
        log.info("serving the site at http://%s:%d/ (health: /health, /healthz)", host, port)
        if signals.seen:
            raise _Stop
        if processes == 1:
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                lifespan="on",
                timeout_graceful_shutdown=1,
            )
            server = signals.server = _server(config, signals)
            signals.phase = "serving"
            server.run()
        else:
            server = _serve_workers(processes, host, port, service, signals, log_json=log_json)
    except _Stop:
        pass
    finally:
        signals.phase = "stopping"
        _shut_down(service, engine, deadline=signals.deadline())
    started = server is None or server.started  # None: stopped by a signal while starting
    if not started:
        log.error("the site did not start (see above)")
    # Everything is stopped and recorded: skip the interpreter's teardown of every imported
    # module (seconds on a busy machine) and the join of job threads still in a request.
    _exit(0 if started else 1)


def web_workers(asked: int) -> int:
    """How many web server processes: `asked`, or for 0 one per core up to 4. A page costs a
    few milliseconds of CPU in one interpreter; a second process serves on the second core."""
    if asked > 0:
        return asked
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


# The web workers read the job process's role (for /healthz) from this file, which the parent
# keeps current: they are started by uvicorn, and nothing of the parent's is passed to them.
ROLE_FILE_ENV = "TRACKER_RUN_ROLE_FILE"
LOG_JSON_ENV = "TRACKER_RUN_LOG_JSON"


class _FileRole:
    """The job process's role as the parent last wrote it (see :data:`ROLE_FILE_ENV`)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def role(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read().strip() or "starting"
        except OSError:
            return "stopping"


def worker_app() -> Any:
    """The app in one of `tracker run --workers N`'s web processes (uvicorn's factory)."""
    from tracker.web.app import create_app

    setup_logging(as_json=os.environ.get(LOG_JSON_ENV) == "1")
    app = create_app()
    path = os.environ.get(ROLE_FILE_ENV)
    app.state.scheduler_service = _FileRole(path) if path else None
    return app


def _serve_workers(
    processes: int,
    host: str,
    port: int,
    service: JobProcess | None,
    signals: _SignalGuard,
    *,
    log_json: bool,
) -> Any:
    """Serve with `processes` uvicorn workers on one socket; the jobs stay in their one process
    (the scheduler's lock is taken there, once, whatever the number of web processes)."""
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    stop_copying = threading.Event()
    role_path = None
    if service is not None:
        fd, role_path = tempfile.mkstemp(prefix="tracker-role-")
        os.close(fd)
        os.environ[ROLE_FILE_ENV] = role_path

        def copy_role() -> None:
            last = None
            while True:
                role = service.role
                if role != last:
                    tmp = f"{role_path}.tmp"
                    with open(tmp, "w", encoding="utf-8") as f:
                        f.write(role)
                    os.replace(tmp, role_path)
                    last = role
                if stop_copying.wait(0.25):
                    return

        threading.Thread(target=copy_role, name="role-file", daemon=True).start()
    os.environ[LOG_JSON_ENV] = "1" if log_json else "0"
    config = uvicorn.Config(
        "tracker.cli.run:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        # a worker that does not answer the supervisor's ping in time is killed and replaced;
        # one still importing the app on a busy machine takes more than uvicorn's 5 s
        timeout_worker_healthcheck=120,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )

    class Supervisor(Multiprocess):
        started = False

        def _stop(self, signum: int) -> None:
            if signals.seen:  # a second signal: the workers go now, then run() quits at once
                for process in self.processes:
                    process.kill()
            signals.notice(signum)  # the jobs stop while the workers do
            self.should_exit.set()

        def handle_int(self) -> None:
            self._stop(signal.SIGINT)

        def handle_term(self) -> None:
            self._stop(signal.SIGTERM)

        def init_processes(self) -> None:
            super().init_processes()
            self.started = True

    sock = config.bind_socket()
    supervisor = Supervisor(config, sockets=[sock])  # takes over SIGINT/SIGTERM
    signals.phase = "serving"
    log.info("%d web server processes", processes)
    try:
        supervisor.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal now quits at once
            signal.signal(sig, signals._handle)
        stop_copying.set()
        sock.close()
        if role_path:
            for path in (role_path, f"{role_path}.tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
    return supervisor


def _server(config: Any, signals: _SignalGuard) -> Any:
    """A uvicorn server that also tells our guard about each signal as it comes."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            signals.notice(sig)
            super().handle_exit(sig, frame)

    return Server(config)


def _shut_down(service: JobProcess | None, engine: Any, *, deadline: float) -> None:
    """Stop the job process (it records its runs), or end it and record them here; then stop."""
    from scrapers.http import STOPPING

    STOPPING.set()
    if service is not None and service.stop(deadline=deadline):
        interrupted = _interrupt_runs_of(service.holder)
        log.warning(
            "the job process did not stop in time; %d run(s) recorded as interrupted", interrupted
        )
    if engine is not None:
        engine.dispose()
    log.info("stopped")


def _exit(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _Stop(Exception):
    """A signal came while starting up: once the database is migrated, stop cleanly."""


class _SignalGuard:
    """SIGINT/SIGTERM: the first stops cleanly (exit 0), a second quits at once (exit 130).

    While serving, uvicorn's handler is in charge and tells us (:meth:`notice`); it re-raises
    the signals it caught after serving, which we have counted already and so ignore.
    """

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.phase = "starting"
        self.server: Any = None
        self.service: JobProcess | None = None
        self.seen = 0
        self.first_at: float | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def notice(self, signum: int) -> None:
        self.seen += 1
        if self.seen > 1:
            _quit_now(self.service)
        self.first_at = time.monotonic()
        self.stopping.set()  # fetches in progress give up now, while uvicorn stops serving
        if self.service is not None:
            self.service.request_stop()  # the jobs stop while uvicorn does
        log.info("signal %s: stopping (signal again to quit at once)", signal.Signals(signum).name)

    def deadline(self) -> float:
        """When the job process must be gone: a stop takes under 3 s from the first signal."""
        return (self.first_at or time.monotonic()) + STOP_SECONDS + 0.6

    def _handle(self, signum: int, _frame: Any) -> None:
        serving = self.phase == "serving"
        if serving and self.server.should_exit:  # uvicorn re-raising a signal it reported
            return
        self.notice(signum)  # while starting, run() stops once the step in progress is done
        if serving:  # came just before uvicorn put its own handler in place
            self.server.should_exit = True


def _quit_now(service: JobProcess | None) -> None:
    log.warning("second signal: quitting at once; unfinished runs show as interrupted")
    if service is not None:
        service.kill()
    _exit(130)


# --------------------------------------------------------------------------------- job process


class JobProcess:
    """The scheduler and its jobs, in a child process of `tracker run`.

    A scrape parses pages in pure Python; in the web server's process that took the GIL from
    requests (p95 195 ms while the first scrapes ran, against 30 ms idle). The child runs
    :class:`tracker.scheduler.SchedulerService` unchanged, so the lock semantics are the same:
    on PostgreSQL the advisory lock is held on the child's connection, on SQLite the file lock
    by the child; either vanishes with it. The child obeys its parent only (it ignores the
    terminal's Ctrl-C, which the parent forwards as SIGTERM) and stops if its parent dies.
    :attr:`role` is the child's election role, shared for /healthz.
    """

    def __init__(self, *, log_json: bool) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a process that has threads
        # A char array (.value is bytes) with no lock: one writer, and a lock is a semaphore
        # that the resource tracker reports as leaked at exit.
        role: Any = ctx.Array("c", 16, lock=False)
        role.value = b"starting"
        self._role = role
        self._process = ctx.Process(
            target=job_process_main,
            kwargs={"role": self._role, "log_json": log_json},
            name="tracker-jobs",
        )

    @property
    def role(self) -> str:
        return self._role.value.decode()

    @property
    def holder(self) -> str:
        """``host:pid`` of the child, as its runs record it."""
        import socket

        return f"{socket.gethostname()}:{self._process.pid}"

    def start(self) -> None:
        self._process.start()
        log.info("jobs run in process %s", self._process.pid)

    def request_stop(self) -> None:
        """Ask the child to stop cleanly (safe in a signal handler)."""
        if self._process.pid is not None and self._process.exitcode is None:
            os.kill(self._process.pid, signal.SIGTERM)

    def stop(self, *, deadline: float) -> bool:
        """Stop the child, waiting until `deadline` (monotonic); True if it had to be killed."""
        if self._process.pid is None:
            return False
        self.request_stop()
        self._process.join(timeout=max(0.1, deadline - time.monotonic()))
        if self._process.exitcode is not None:
            return False
        self.kill()
        return True

    def kill(self) -> None:
        if self._process.pid is not None and self._process.exitcode is None:
            self._process.kill()
            self._process.join(timeout=2)


def job_process_main(*, role: Any, log_json: bool) -> None:
    """The child: run the scheduler until SIGTERM or the parent's death, then stop cleanly."""
    import multiprocessing

    from scrapers.http import STOPPING

    stop = threading.Event()
    seen: list[int] = []

    def handle(signum: int, _frame: Any) -> None:
        seen.append(signum)
        if len(seen) > 1:
            _exit(130)
        STOPPING.set()
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards the terminal's Ctrl-C
    setup_logging(as_json=log_json)
    parent = multiprocessing.parent_process()
    service = engine = None
    try:
        from tracker.db import make_engine

        engine = make_engine()  # the parent has migrated it
        service = _shared_role_service(engine, shared=role)
        if not stop.is_set():
            service.start()
        while not stop.wait(0.1):
            if parent is not None and not parent.is_alive():
                log.warning("the web server's process is gone: stopping the jobs")
                break
    finally:
        role.value = b"stopping"
        STOPPING.set()
        _stop_jobs(service)
        if engine is not None:
            engine.dispose()
    _exit(0)


def _shared_role_service(engine: Any, *, shared: Any) -> Any:
    """A :class:`SchedulerService` whose role is written where the web server reads it."""
    from tracker.scheduler import SchedulerService

    class SharedRoleService(SchedulerService):
        def __init__(self) -> None:
            self._shared = shared
            super().__init__(engine)

        @property
        def role(self) -> str:
            return self._shared.value.decode()

        @role.setter
        def role(self, value: str) -> None:
            self._shared.value = value.encode()

    return SharedRoleService()


def _stop_jobs(service: Any) -> None:
    """Stop scheduling; runs still going after STOP_SECONDS are recorded as interrupted."""
    left = service.stop(timeout=STOP_SECONDS) if service is not None else 0
    if left:
        from tracker import jobs, runs

        interrupted = runs.interrupt_active_runs(jobs.job_engine())
        log.warning(
            "%d job(s) still running after %.0fs; %d run(s) recorded as interrupted",
            left, STOP_SECONDS, interrupted,
        )  # fmt: skip
    log.info("jobs stopped")


def _interrupt_runs_of(holder: str) -> int:
    """Record the running job runs of a process that was ended (`holder`: host:pid) interrupted."""
    from sqlalchemy import update

    from tracker import jobs, runs

    table = runs.run_table
    with jobs.job_engine().begin() as conn:
        done = conn.execute(
            update(table)
            .where(table.c.status == "running", table.c.message == runs.RUNNING_IN + holder)
            .values(
                status=runs.INTERRUPTED,
                finished_at=datetime.now(UTC),
                message="interrupted: the job process was ended before the run finished",
            )
        )
    return done.rowcount or 0


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

    setup_logging(level=logging.WARNING)
    try:
        run_demo(
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
