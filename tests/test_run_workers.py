"""`tracker run --workers 2` as a real process: two web processes, one scheduler."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from test_run import TRACKER, run_env, start, wait_for

from tracker.service.web import web_workers


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.add(int(stat.parent.name))
    return found


def listening_pids(port: int) -> set[int]:
    """Processes holding a socket listening on `port` (the web workers share the parent's)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(fields[9])
    pids = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes:
                    pids.add(int(fd_dir.parent.name))
                    break
        except OSError:
            continue
    return pids


def test_workers_serve_with_one_scheduler(tmp_path: Path) -> None:
    from test_run import free_port

    port = free_port()
    env = run_env(tmp_path, f"sqlite:///{tmp_path / 'run.db'}")
    proc = start(
        [str(TRACKER), "run", "--port", str(port), "--workers", "2"],
        tmp_path,
        env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # the heartbeat is in the database before the parent copies the job process's role
        # to the workers (every 0.25 s): wait for both
        health = wait_for(
            lambda: (
                (h := httpx.get(f"{base}/healthz", timeout=2).json())["scheduler"]
                and h["this_process"] == "leader"
                and h
            ),
            60,
            "the scheduler",
        )
        holder = health["holder"]
        job_pid = int(holder.rsplit(":", 1)[1])
        workers = wait_for(lambda: len(listening_pids(port) - {proc.pid}) == 2 and True, 30, "2")
        assert workers
        web = listening_pids(port) - {proc.pid}
        assert web <= children(proc.pid) and job_pid in children(proc.pid)
        assert job_pid not in web  # the jobs are not in a web process
        others = children(proc.pid) - web - {job_pid}  # no second job process, in any worker
        for pid in others | {c for w in web for c in children(w)}:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"resource_tracker" in cmdline, cmdline
        # every answer, whichever worker gives it, names the same one scheduler
        seen = set()
        for _ in range(20):
            h = httpx.get(f"{base}/healthz", timeout=5).json()
            assert h["holder"] == holder and h["this_process"] == "leader", h
            seen.add(h["holder"])
        assert seen == {holder}
        page = httpx.get(f"{base}/search/?q=health", timeout=10)
        assert page.status_code == 200

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 5
        assert not (web | {job_pid}) & {int(p.name) for p in Path("/proc").glob("[0-9]*")}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    assert "2 web server processes" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


def test_default_workers_follow_the_cores() -> None:
    assert web_workers(3) == 3
    cores = len(os.sched_getaffinity(0))
    assert web_workers(0) == max(1, min(4, cores))
