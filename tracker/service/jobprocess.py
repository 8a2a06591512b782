"""The scheduler and its jobs in a child process of `tracker run`."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any

from tracker.service.logs import setup_logging
from tracker.service.signals import STOP_SECONDS, exit_now

log = logging.getLogger("tracker.run")


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
        self._stop_asked = False
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
        # The terminal's Ctrl-C goes to the whole process group, this child too, and until it
        # ignores SIGINT (the first thing job_process_main does) one would kill it while its
        # interpreter starts ("Fatal Python error" or a KeyboardInterrupt traceback). An ignored
        # signal stays ignored through exec, so the child is started with SIGINT ignored. Here
        # SIGINT is blocked meanwhile: one that comes is held (Linux keeps a blocked signal
        # pending even while it is ignored) and handled once the handler is back.
        if threading.current_thread() is not threading.main_thread():
            self._process.start()  # signal handlers can only be changed by the main thread
        else:
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self._process.start()
            finally:
                signal.signal(signal.SIGINT, handler)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        log.info("jobs run in process %s", self._process.pid)

    def request_stop(self) -> None:
        """Ask the child to stop cleanly (safe in a signal handler). Asked once only: a second
        SIGTERM tells the child to quit at once, so the first signal's notice and the stop that
        follows it must not both send one (the child then quit without clearing its heartbeat
        whenever its stop took longer than the gap between the two)."""
        if self._stop_asked:
            return
        if self._process.pid is not None and self._process.exitcode is None:
            self._stop_asked = True
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
            exit_now(130)
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
        stop_jobs(service)
        if engine is not None:
            engine.dispose()
    exit_now(0)


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


def stop_jobs(service: Any) -> None:
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


def interrupt_runs_of(holder: str) -> int:
    """Record the running job runs of a process that was ended (`holder`: host:pid) interrupted,
    and remove its scheduler heartbeat (its lock went with it), so status says stopped."""
    from sqlalchemy import update

    from tracker import jobs, runs
    from tracker.scheduler import clear_heartbeat

    clear_heartbeat(jobs.job_engine(), holder=holder)
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
