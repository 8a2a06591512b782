"""`tracker run` as a real process: it serves, records an unreachable state, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tracker.db import make_engine
from tracker.models import Run

ROOT = Path(__file__).resolve().parent.parent
TRACKER = Path(sys.executable).parent / "tracker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Montana's scraper starts from one list page, so the failure takes one fetch (and its retries).
STATE, NAME = "mt", "Montana (MT)"


def offline_config(tmp: Path, dead_port: int) -> Path:
    """The project config with one state whose site is a local port nobody listens on."""
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    for path in (config / "states").glob("*.yaml"):
        if path.stem != STATE:
            path.unlink()
    path = config / "states" / f"{STATE}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["base_url"] = f"http://127.0.0.1:{dead_port}"
    data.setdefault("politeness", {})["delay"] = 0
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def run_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `tracker run` under test: its own database, data folder and an
    offline config whose one state's site is a port nobody listens on; `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=db_url,
        TRACKER_CONFIG_DIR=str(offline_config(tmp_path, free_port())),
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_ENVIRONMENT="test",
        TRACKER_HTTP_DEFAULT_DELAY="0",
        TRACKER_HTTP_MAX_RETRIES="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def start(
    argv: list[str], tmp_path: Path, env: dict[str, str], *, own_group: bool = False
) -> subprocess.Popen[str]:
    """`argv` (tracker, or a tests/run_with_*.py wrapper) started in `tmp_path`, its stdout and
    stderr together as text; `own_group`: its own process group, as a shell's foreground job
    (so Ctrl-C can be sent to the whole group)."""
    return subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_group,
    )


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_tracker_run_serves_records_an_unreachable_state_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port, dead = free_port(), free_port()
    db_url = f"sqlite:///{tmp_path / 'run.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=db_url,
        TRACKER_CONFIG_DIR=str(offline_config(tmp_path, dead)),
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_ENVIRONMENT="test",
        TRACKER_HTTP_DEFAULT_DELAY="0",
        TRACKER_HTTP_MAX_RETRIES="0",
    )
    proc = subprocess.Popen(
        [str(TRACKER), "run", "--port", str(port), "--log-json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).json(), 30, "/healthz")
        assert health["database"] is True
        wait_for(
            lambda: httpx.get(f"{base}/healthz", timeout=2).json()["scheduler"], 60, "the scheduler"
        )

        # the database is empty, so the state is scraped at once; its site refuses connections
        engine = make_engine(db_url)
        query = select(Run.__table__.c.status, Run.__table__.c.message).where(
            Run.__table__.c.source == f"job:scrape:{STATE}", Run.__table__.c.status != "running"
        )

        def recorded():  # type: ignore[no-untyped-def]
            with engine.connect() as conn:
                return conn.execute(query).first()

        row = wait_for(recorded, 90, "the scrape to be recorded")
        engine.dispose()
        assert row.status == "failed"
        assert f"127.0.0.1:{dead}" in row.message or "refused" in row.message.lower(), row.message

        page = httpx.get(f"{base}/health", timeout=5)  # the site still serves, showing why
        assert page.status_code == 200 and NAME in page.text and "failing" in page.text
        jobs = subprocess.run(
            [str(TRACKER), "jobs", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ids = {j["id"]: j for j in json.loads(jobs.stdout)}
        assert {f"scrape:{STATE}", "digest:weekly", "maintenance:daily"} <= set(ids)
        assert ids[f"scrape:{STATE}"]["next_run"] and ids[f"scrape:{STATE}"]["scheduled"]

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]  # --log-json: all JSON
    messages = [entry["message"] for entry in lines]
    assert any(f"scrape {STATE}: failed" in m for m in messages)
    assert messages[-1] == "stopped"


def unreachable_config(tmp: Path, dead_port: int) -> Path:
    """The project config with every state's site on a local port nobody listens on."""
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    for path in (config / "states").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["base_url"] = f"http://127.0.0.1:{dead_port}"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGTERM], [signal.SIGINT], [signal.SIGINT, signal.SIGINT]],
    ids=["SIGTERM", "SIGINT", "SIGINT-twice"],
)
def test_tracker_run_stops_within_3_seconds_with_fetches_in_backoff(
    tmp_path: Path, signals: list[signal.Signals]
) -> None:
    """No network: the first scrapes retry with backoff; a stop must not wait for them.

    A second Ctrl-C quits at once (130) unless the clean stop was already done (0).
    """
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'run.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=db_url,
        TRACKER_CONFIG_DIR=str(unreachable_config(tmp_path, free_port())),
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_ENVIRONMENT="test",
        TRACKER_HTTP_MAX_RETRIES="6",  # backoff 1+2+4+8+16+32 s: far longer than a stop may take
    )
    proc = start([str(TRACKER), "run", "--port", str(port)], tmp_path, env)
    engine = make_engine(db_url)
    r = Run.__table__

    def runs():  # type: ignore[no-untyped-def]
        try:
            with engine.connect() as conn:
                query = select(r.c.id, r.c.status).where(r.c.kind == "job")
                return dict(conn.execute(query).all())
        except OperationalError:  # not migrated yet
            return {}

    try:
        wait_for(lambda: "running" in runs().values(), 60, "a scrape to start")
        time.sleep(1.5)  # its first attempts were refused; it is waiting to retry
        started = time.monotonic()
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.02)
        code = proc.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    assert code == 0 or (len(signals) > 1 and code == 130), out[-3000:]
    assert took < 3, f"stopping took {took:.1f}s:\n{out[-3000:]}"
    for bad in ("Traceback", "CancelledError", "cannot schedule new futures", "JobLookupError"):
        assert bad not in out, out[-3000:]
    statuses = runs()
    engine.dispose()
    if code == 0:
        assert "interrupted" in statuses.values(), statuses
        assert not {"running", "failed"} & set(statuses.values()), statuses  # none lost or blamed

    status = subprocess.run(
        [str(TRACKER), "status", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(status.stdout)
    system = data["system"]
    assert system["scheduler"] is False and system["scheduler_state"] == "stopped", system
    assert status.returncode == 1  # no state has been scraped successfully
    if "running" in statuses.values():  # quit at once: runs its process left read interrupted
        assert any("interrupted" in s["flags"] for s in data["states"]), data["states"]


def test_the_site_answers_while_a_job_holds_the_gil(tmp_path: Path) -> None:
    """Jobs run in their own process: a request never waits for a scrape's parsing.

    The scrape (tests/run_with_busy_job.py) holds its process's GIL for seconds in one C call;
    in the web server's process no request could be answered until it ended.
    """
    port = free_port()
    flag = tmp_path / "busy-job"
    env = run_env(
        tmp_path, f"sqlite:///{tmp_path / 'run.db'}", BUSY_JOB_FLAG=str(flag), BUSY_JOB_SECONDS="5"
    )
    proc = start(
        [sys.executable, str(ROOT / "tests" / "run_with_busy_job.py"), "run", "--port", str(port)],
        tmp_path,
        env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60, "/healthz")
        wait_for(lambda: flag.exists() and flag.read_text().startswith("started"), 90, "the job")
        started = time.monotonic()
        answer = httpx.get(f"{base}/healthz", timeout=30)
        took = time.monotonic() - started
        during = flag.read_text()
        assert answer.status_code == 200
        assert answer.json()["this_process"] == "leader"  # the job process's role, shared
        done = wait_for(
            lambda: flag.read_text().startswith("finished") and flag.read_text(),
            120,
            "the job to end",
        )
        _word, job_pid, busy = done.split()
        assert int(job_pid) != proc.pid  # the job ran in another process
        assert during.startswith("started"), during  # answered while the job held its GIL
        assert took < float(busy) / 2, (took, busy)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in out, out[-3000:]
