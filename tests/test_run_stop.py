"""Ctrl-C in a terminal: SIGINT to the whole process group, as the shell sends it.

`tracker run` and `tracker demo` must stop cleanly (no traceback, the runs in progress recorded
as interrupted, the scheduler's heartbeat cleared, the database intact) and leave no process of
theirs behind: the job process, the web workers and multiprocessing's resource tracker are all
gone when the command has exited.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_run import ROOT, TRACKER, free_port, offline_config, run_env, start, wait_for

HANG_GUARD = 10  # seconds: a stop is expected well within this, so more means it hangs


def group_alive(pgid: int) -> bool:
    """Any process left in the group, a zombie included (signal 0 reaches zombies too)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def ctrl_c(proc: subprocess.Popen[str], command: str) -> tuple[int, str]:
    """Press Ctrl-C: SIGINT to every process of the group; (exit code, output), once no
    process of the group outlives `command`'s exit."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"still running {HANG_GUARD}s after Ctrl-C") from None
    assert not group_alive(proc.pid), f"a process of `{command}` outlived it"
    return code, proc.stdout.read() if proc.stdout else ""


def kill_group(proc: subprocess.Popen[str]) -> None:
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait()


def statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [status for (status,) in conn.execute("SELECT status FROM run")]


def stopped_cleanly(db: Path, out: str) -> list[str]:
    """The run statuses of a database whose scheduler has stopped, checked intact."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        beats = conn.execute("SELECT holder FROM scheduler_heartbeat").fetchall()
        assert not beats, f"heartbeat left: {beats}\n{out[-3000:]}"
    return statuses(db)


def clean(out: str) -> None:
    for bad in ("Traceback", "KeyboardInterrupt", "CancelledError", "Aborted", "leaked"):
        assert bad not in out, out[-3000:]


def test_ctrl_c_stops_tracker_run_with_its_workers_and_jobs(tmp_path: Path) -> None:
    """A scrape is waiting to retry an unreachable site when Ctrl-C comes: it is recorded as
    interrupted, the exit code is 0 (README), and no process of the group outlives the exit."""
    port = free_port()
    db = tmp_path / "run.db"
    env = run_env(tmp_path, f"sqlite:///{db}")
    env["TRACKER_HTTP_MAX_RETRIES"] = "6"  # backoff 1+2+4+8+16+32 s: far longer than a stop
    proc = start(
        [str(TRACKER), "run", "--port", str(port), "--workers", "2"],
        tmp_path,
        env,
        own_group=True,
    )
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        wait_for(lambda: httpx.get(health, timeout=2).json()["scheduler"], 90, "the scheduler")
        wait_for(lambda: db.exists() and "running" in statuses(db), 60, "a scrape to start")
        code, out = ctrl_c(proc, "tracker run")
    finally:
        kill_group(proc)
    assert code == 0, out[-3000:]
    clean(out)
    assert out.strip().splitlines()[-1].endswith("tracker.run: stopped"), out[-3000:]
    recorded = stopped_cleanly(db, out)
    assert "interrupted" in recorded and "running" not in recorded, recorded


def test_ctrl_c_while_the_job_process_starts_does_not_kill_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terminal's Ctrl-C reaches the job process too, and may come while its interpreter is
    still importing (a person pressing Ctrl-C just after `tracker run`): it must not die there
    with a "Fatal Python error" or KeyboardInterrupt traceback, but start, then stop when asked."""
    import time

    from tracker.db import make_engine, upgrade
    from tracker.service.jobprocess import JobProcess
    from tracker.settings import reset_settings

    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(offline_config(tmp_path, free_port())))
    monkeypatch.setenv("TRACKER_HTTP_MAX_RETRIES", "0")
    reset_settings()
    upgrade(make_engine())
    jobs = JobProcess(log_json=False)
    jobs.start()
    try:
        pid = jobs._process.pid
        assert pid is not None
        until = time.monotonic() + 20
        while jobs.role == "starting" and jobs._process.exitcode is None:
            os.kill(pid, signal.SIGINT)  # again and again, all through its start-up
            assert time.monotonic() < until, "the job process never started"
            time.sleep(0.005)
        assert jobs._process.exitcode is None, "the job process died of Ctrl-C while starting"
        assert not jobs.stop(deadline=time.monotonic() + HANG_GUARD), "it had to be killed"
        assert jobs._process.exitcode == 0
    finally:
        jobs.kill()


def test_one_ctrl_c_stops_the_job_process_cleanly_not_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tracker run` asks the job process to stop when the signal comes, then stops it: that
    must stay one request. Two SIGTERMs read as "signal again: quit at once" (exit 130), and the
    child quit without clearing its scheduler heartbeat, so status said the scheduler ran."""
    import time

    from tracker.db import make_engine, upgrade
    from tracker.scheduler import last_heartbeat
    from tracker.service.jobprocess import JobProcess
    from tracker.settings import reset_settings

    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(offline_config(tmp_path, free_port())))
    monkeypatch.setenv("TRACKER_HTTP_MAX_RETRIES", "0")
    reset_settings()
    engine = make_engine()
    upgrade(engine)
    jobs = JobProcess(log_json=False)
    jobs.start()
    sent: list[int] = []
    kill = os.kill

    def recorded(pid: int, signum: int) -> None:
        if pid == jobs._process.pid:
            sent.append(signum)
        kill(pid, signum)

    monkeypatch.setattr(os, "kill", recorded)
    try:
        until = time.monotonic() + HANG_GUARD
        while last_heartbeat(engine) is None:
            assert jobs._process.exitcode is None and time.monotonic() < until, "never led"
            time.sleep(0.05)
        jobs.request_stop()  # what the first signal's notice does
        assert not jobs.stop(deadline=time.monotonic() + HANG_GUARD), "it had to be killed"
        assert sent == [signal.SIGTERM]  # a second one whenever the stop takes a moment
        assert jobs._process.exitcode == 0, "the job process quit at once, not cleanly"
        assert last_heartbeat(engine) is None
    finally:
        jobs.kill()
        engine.dispose()


def test_a_job_process_that_does_not_stop_in_time_is_ended_and_its_heartbeat_cleared(
    tmp_path: Path,
) -> None:
    """The job holds its process's GIL for seconds (tests/run_with_busy_job.py), so the job
    process cannot obey: `tracker run` ends it after the stop's grace time, and what it left
    (its heartbeat, its runs) reads stopped and interrupted."""
    port = free_port()
    db, flag = tmp_path / "run.db", tmp_path / "busy-job"
    env = run_env(tmp_path, f"sqlite:///{db}", BUSY_JOB_FLAG=str(flag), BUSY_JOB_SECONDS="20")
    proc = start(
        [sys.executable, str(ROOT / "tests" / "run_with_busy_job.py"), "run", "--port", str(port)],
        tmp_path,
        env,
        own_group=True,
    )
    try:
        wait_for(lambda: flag.exists() and flag.read_text().startswith("started"), 90, "the job")
        code, out = ctrl_c(proc, "tracker run")
    finally:
        kill_group(proc)
    assert code == 0, out[-3000:]
    clean(out)
    assert "the job process did not stop in time" in out, out[-3000:]
    assert flag.read_text().startswith("started")  # it was ended, not waited for
    assert "running" not in stopped_cleanly(db, out)


@pytest.mark.slow
def test_ctrl_c_stops_the_demo(tmp_path: Path, shared_dir: Path) -> None:
    """The demo serves its site, scheduler and saved sites in one process: Ctrl-C stops all of
    them, says so, and exits 130 (as an interrupted command does)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["TRACKER_SHARED_DIR"] = str(shared_dir)
    workdir = tmp_path / "demo"
    proc = start(
        [str(TRACKER), "demo", "--quick", "--state", "nm", "--workdir", str(workdir)]
        + ["--port", str(port)],
        tmp_path,
        env,
        own_group=True,
    )
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        wait_for(lambda: httpx.get(health, timeout=2).json()["scheduler"], 240, "the demo's site")
        code, out = ctrl_c(proc, "tracker demo")
    finally:
        kill_group(proc)
    assert code == 130, out[-3000:]
    clean(out)
    assert out.strip().splitlines()[-1].startswith("stopped"), out[-3000:]
    recorded = stopped_cleanly(workdir / "data" / "demo.db", out)
    assert recorded and "running" not in recorded, recorded
