"""`tracker run`'s jobs beside its web server: pages never wait for a job, one scheduler per database.

Real processes: `tracker run` started as a command, on a scratch database, its one state's site
a local port nobody listens on (see tests/test_run.py).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_run import ROOT, TRACKER, free_port, run_env, start, wait_for

from tracker.db import make_engine, upgrade


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def test_pages_answer_while_a_job_holds_the_database_write_lock(tmp_path: Path) -> None:
    """A scrape's ingest holds SQLite's write lock for seconds: the site reads on meanwhile.

    The job (tests/run_with_writing_job.py) runs inside the real scrape job, so its run row
    says ``running``, and keeps a write transaction open, busy, for 8 s. Each page must come
    back while that transaction is still open: a request that waited for the job (for the
    lock, or for the job's process) would come back after the commit.
    """
    db = tmp_path / "run.db"
    flag = tmp_path / "writing-job"
    port = free_port()
    env = run_env(
        tmp_path,
        f"sqlite:///{db}",
        WRITING_JOB_FLAG=str(flag),
        WRITING_JOB_SECONDS="8",
    )
    proc = start(
        [
            sys.executable,
            str(ROOT / "tests" / "run_with_writing_job.py"),
            "run",
            "--port",
            str(port),
        ],
        tmp_path,
        env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60, "/healthz")
        wait_for(lambda: flag.exists() and flag.read_text().startswith("writing"), 90, "the job")
        job_pid = int(flag.read_text().split()[1])
        assert job_pid != proc.pid  # the job runs in the job process
        reader = sqlite3.connect(db, timeout=0)
        try:
            # the job really holds the write lock: a writer that will not wait is refused
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                reader.execute("BEGIN IMMEDIATE")
            statuses = [
                r[0]
                for r in reader.execute("SELECT status FROM run WHERE source = 'job:scrape:mt'")
            ]
            assert statuses == ["running"], statuses
            answers = {}
            with httpx.Client(base_url=base, timeout=60) as client:
                for path in ("/", "/search/?q=health", "/search/?q=insur*", "/healthz"):
                    answers[path] = client.get(path).status_code
                    assert flag.read_text().startswith("writing"), f"{path} waited for the job"
        finally:
            reader.close()
        assert set(answers.values()) == {200}, answers
        wait_for(lambda: flag.read_text().startswith("committed"), 60, "the job to commit")
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


def test_two_tracker_runs_on_one_database_schedule_once(tmp_path: Path, db_url: str) -> None:
    """Two `tracker run`s (each with its job process) on one database: one schedules, the other
    stands by; when the first stops, the second takes over. The jobs' own processes hold the
    lock (a file lock on SQLite, an advisory lock on PostgreSQL), as the web servers did."""
    upgrade(make_engine(db_url))
    env = run_env(tmp_path, db_url)
    ports = free_port(), free_port()
    procs = [
        start(
            [str(TRACKER), "run", "--port", str(port)],
            tmp_path,
            env,
        )
        for port in ports
    ]
    first, second = (f"http://127.0.0.1:{port}/healthz" for port in ports)

    def role(url: str) -> str:
        return httpx.get(url, timeout=5).json()["this_process"]

    try:
        wait_for(lambda: {role(first), role(second)} & {"leader"}, 60, "a leader")
        # both elected (or tried): exactly one schedules, the other waits
        wait_for(lambda: sorted([role(first), role(second)]) == ["leader", "standby"], 30, "roles")
        time.sleep(1)  # and it stays so
        roles = [role(first), role(second)]
        assert sorted(roles) == ["leader", "standby"], roles
        leader = roles.index("leader")
        out = stop(procs[leader])
        assert procs[leader].returncode == 0, out[-3000:]
        other = (second, first)[leader]
        # the standby retries every 15 s
        wait_for(lambda: role(other) == "leader", 60, "the standby to take over")
    finally:
        outs = [stop(p) for p in procs]
    for out in outs:
        assert "Traceback" not in out, out[-3000:]
