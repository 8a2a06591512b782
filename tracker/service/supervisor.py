"""`tracker run`: migrate, start the job process, serve the site, stop cleanly on a signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tracker.service.jobprocess import JobProcess, interrupt_runs_of, stop_jobs
from tracker.service.logs import setup_logging
from tracker.service.signals import SignalGuard, Stop, exit_now
from tracker.service.web import serve_workers, server, web_workers

log = logging.getLogger("tracker.run")


def run_service(
    engine_ready: Callable[[], Any],
    *,
    host: str,
    port: int,
    log_json: bool,
    scheduler: bool,
    workers: int,
) -> None:
    """Run everything until a signal, then exit the process (0 once stopped cleanly).

    `engine_ready` gives the migrated database's engine (the command line's, which also closes
    the runs of dead processes). Jobs run in a child process (:class:`JobProcess`) unless
    `scheduler` is False; the site is served by `workers` uvicorn processes (0: one per core,
    up to 4; 1: in this process).
    """
    from scrapers.http import STOPPING  # imported now: a signal handler must not import

    signals = SignalGuard(STOPPING)
    setup_logging(as_json=log_json)
    service = engine = running = None
    try:
        import uvicorn

        from tracker.settings import get_settings

        get_settings().check_secrets()
        get_settings().check_base_url()  # as create_app does, before any web worker starts
        engine = engine_ready()
        log.info("database %s is migrated", engine.url.render_as_string(hide_password=True))
        service = signals.service = JobProcess(log_json=log_json) if scheduler else None
        processes = web_workers(workers)
        app: Any = None
        if processes == 1:
            from tracker.web.app import create_app

            app = create_app()  # its own engine, pooled for serving
            app.state.scheduler_service = service
            app.state.warm_on_start = True
        if signals.seen:  # a signal came while migrating (which is never cut short)
            raise Stop
        if service is not None:
            service.start()
        else:
            log.info("--no-scheduler: serving the site only")
        log.info("serving the site at http://%s:%d/ (health: /health, /healthz)", host, port)
        if signals.seen:
            raise Stop
        if processes == 1:
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                lifespan="on",
                timeout_graceful_shutdown=1,
            )
            running = signals.server = server(config, signals)
            signals.phase = "serving"
            running.run()
        else:
            running = serve_workers(processes, host, port, service, signals, log_json=log_json)
    except Stop:
        pass
    finally:
        signals.phase = "stopping"
        _shut_down(service, engine, deadline=signals.deadline())
    started = running is None or running.started  # None: stopped by a signal while starting
    if not started:
        log.error("the site did not start (see above)")
    # Everything is stopped and recorded: skip the interpreter's teardown of every imported
    # module (seconds on a busy machine) and the join of job threads still in a request.
    exit_now(0 if started else 1)


def _shut_down(service: JobProcess | None, engine: Any, *, deadline: float) -> None:
    """Stop the job process (it records its runs), or end it and record them here; then stop."""
    from scrapers.http import STOPPING

    STOPPING.set()
    if service is not None and service.stop(deadline=deadline):
        interrupted = interrupt_runs_of(service.holder)
        log.warning(
            "the job process did not stop in time; %d run(s) recorded as interrupted", interrupted
        )
    if engine is not None:
        engine.dispose()
    log.info("stopped")


def serve_here(app: Any, jobs: Any, *, host: str, port: int) -> bool:
    """Serve `app` in this process, `jobs` (a started-here :class:`SchedulerService`, or None)
    running beside it, until SIGINT/SIGTERM; then stop as `tracker run` does. True if a signal
    stopped it (the demo's site: its saved-page servers live in this process).

    The first signal sets :data:`scrapers.http.STOPPING` (fetches give up at their next
    request, their runs read interrupted) while uvicorn stops serving (open connections get a
    second); jobs still running after :data:`STOP_SECONDS` are recorded interrupted. A second
    signal quits at once (130).
    """
    import uvicorn

    from scrapers.http import STOPPING

    signals = SignalGuard(STOPPING)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=1
    )
    running = signals.server = server(config, signals)
    if jobs is not None:
        jobs.start()
    signals.phase = "serving"
    running.should_exit = signals.seen > 0  # a signal while starting: stop at once
    try:
        running.run()
    finally:
        signals.phase = "stopping"  # from now on a signal quits at once
        STOPPING.set()
        stop_jobs(jobs)
    log.info("stopped")
    return signals.seen > 0
