"""SIGINT/SIGTERM in `tracker run`: the first stops cleanly, a second quits at once."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.service.jobprocess import JobProcess

log = logging.getLogger("tracker.run")

STOP_SECONDS = 2.0  # how long running jobs get to stop at their next request boundary


class Stop(Exception):
    """A signal came while starting up: once the database is migrated, stop cleanly."""


class SignalGuard:
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
            signal.signal(sig, self.handle)

    def notice(self, signum: int) -> None:
        self.seen += 1
        if self.seen > 1:
            quit_now(self.service)
        self.first_at = time.monotonic()
        self.stopping.set()  # fetches in progress give up now, while uvicorn stops serving
        if self.service is not None:
            self.service.request_stop()  # the jobs stop while uvicorn does
        log.info("signal %s: stopping (signal again to quit at once)", signal.Signals(signum).name)

    def deadline(self) -> float:
        """When the job process must be gone: a stop takes under 3 s from the first signal."""
        return (self.first_at or time.monotonic()) + STOP_SECONDS + 0.6

    def handle(self, signum: int, _frame: Any) -> None:
        serving = self.phase == "serving"
        if serving and self.server.should_exit:  # uvicorn re-raising a signal it reported
            return
        self.notice(signum)  # while starting, run() stops once the step in progress is done
        if serving:  # came just before uvicorn put its own handler in place
            self.server.should_exit = True


def quit_now(service: JobProcess | None) -> None:
    log.warning("second signal: quitting at once; unfinished runs show as interrupted")
    if service is not None:
        service.kill()
    exit_now(130)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown (seconds on a busy machine, and a join of every
    job thread still in a request): everything that matters is stopped, recorded and flushed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    end_resource_tracker()
    os._exit(code)


def end_resource_tracker(timeout: float = 1.0) -> None:
    """End multiprocessing's resource tracker if this process started it, and reap it.

    It starts with the first spawned process (the job process, a web worker, an importer) and
    ends when the last holder of its pipe does, that is when we exit; orphaned then, it lingers
    as a zombie of the process group until init reaps it (1-2 s here), and a shell or a test
    waiting for the group to be gone waits for it. Our children are gone by now; if one is not,
    the tracker stays and we do not wait longer than `timeout`.
    """
    module = sys.modules.get("multiprocessing.resource_tracker")
    tracker = getattr(module, "_resource_tracker", None)
    fd, pid = getattr(tracker, "_fd", None), getattr(tracker, "_pid", None)
    if fd is None or pid is None:  # never started, or a child's inherited copy
        return
    try:
        os.close(fd)  # its end of file: the tracker cleans up and exits
        tracker._fd = None  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)
        tracker._pid = None  # type: ignore[union-attr]
    except OSError:  # already reaped
        return
