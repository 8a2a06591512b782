"""The web server of `tracker run`: one uvicorn server in this process, or `--workers N`."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

from tracker.service.logs import setup_logging

if TYPE_CHECKING:
    from tracker.service.jobprocess import JobProcess
    from tracker.service.signals import SignalGuard

log = logging.getLogger("tracker.run")


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


class FileRole:
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
    app.state.scheduler_service = FileRole(path) if path else None
    app.state.warm_on_start = True
    return app


def serve_workers(
    processes: int,
    host: str,
    port: int,
    service: JobProcess | None,
    signals: SignalGuard,
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
        f"{__name__}:worker_app",
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
            signal.signal(sig, signals.handle)
        stop_copying.set()
        sock.close()
        if role_path:
            for path in (role_path, f"{role_path}.tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
    return supervisor


def server(config: Any, signals: SignalGuard) -> Any:
    """A uvicorn server that also tells our guard about each signal as it comes."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            signals.notice(sig)
            super().handle_exit(sig, frame)

    return Server(config)
