"""Scraper health flags, the /health and /healthz pages, and maintainer alerts over real SMTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from tracker import health, jobs
from tracker.models import Run
from tracker.runs import finish_run, start_run
from tracker.scheduler import beat
from tracker.settings import reset_settings


def add_run(
    engine,
    state: str,
    status: str,
    bills: int = 0,
    message: str = "",
    *,
    ago: timedelta | None = None,
) -> int:  # type: ignore[no-untyped-def]
    run_id = start_run(engine, source=f"job:scrape:{state}", kind="job", state=state)
    finish_run(engine, run_id, status=status, counts={"bills": bills}, message=message)
    if ago is not None:
        at = datetime.now(UTC) - ago
        with engine.begin() as conn:
            conn.execute(
                update(Run.__table__)
                .where(Run.__table__.c.id == run_id)
                .values(started_at=at, finished_at=at)
            )
    return run_id


def flags(engine, state: str = "zz", **kw: Any) -> health.StateHealth:  # type: ignore[no-untyped-def]
    return health.state_health(engine, state, **kw)


def test_failures_in_a_row_count_failed_and_empty_runs_since_the_last_success(engine) -> None:  # type: ignore[no-untyped-def]
    add_run(engine, "zz", "failed", message="old failure")
    add_run(engine, "zz", "ok", bills=40)
    add_run(engine, "zz", "failed", message="ConnectionError: refused")
    add_run(engine, "zz", "empty")
    add_run(engine, "zz", "failed", message="PageError: selector matched 0")
    h = flags(engine)
    assert h.consecutive_failures == 3
    assert h.last_success is not None and h.last_success.bills == 40
    assert h.last_failure is not None and h.last_failure.message == "PageError: selector matched 0"
    assert "failing" in h.flags and "empty" not in h.flags
    assert not h.ok


def test_an_empty_latest_run_is_flagged(engine) -> None:  # type: ignore[no-untyped-def]
    add_run(engine, "zz", "ok", bills=12)
    add_run(engine, "zz", "empty")
    assert {"empty", "failing"} <= set(flags(engine).flags)


def test_a_count_far_below_the_last_good_run_is_flagged(engine) -> None:  # type: ignore[no-untyped-def]
    add_run(engine, "zz", "ok", bills=1000)
    add_run(engine, "zz", "partial", bills=300)
    assert flags(engine).flags == ["shrunk"]
    add_run(engine, "zz", "ok", bills=290)  # compared with the run just before: steady
    assert flags(engine).flags == []


def test_freshness_and_staleness_follow_the_state_schedule(engine) -> None:  # type: ignore[no-untyped-def]
    cfg = SimpleNamespace(
        state="zz",
        timezone="UTC",
        sessions=[],
        schedule=SimpleNamespace(in_session="1h", out_of_session=None, quiet_hours=None),
    )
    add_run(engine, "zz", "ok", bills=5, ago=timedelta(minutes=90))
    h = flags(engine, cfg=cfg)
    assert "stale" not in h.flags and h.freshness == "1 h ago"
    add_run(
        engine, "zz", "ok", bills=5, ago=timedelta(hours=3)
    )  # newer id, older time: still one success
    h = flags(engine, cfg=cfg)
    assert "stale" in h.flags and h.freshness == "3 h ago"


def test_counts_and_never_run_states(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(health, "_configs", lambda: {"zz": None, "yy": None})
    add_run(engine, "zz", "ok", bills=3)
    rows = {h.state: h for h in health.all_health(engine)}
    assert set(rows) == {"yy", "zz"}
    assert rows["yy"].flags == ["never-run"] and rows["yy"].freshness == "never"
    assert rows["zz"].ok and rows["zz"].bills == 0  # bills counts what is stored, not what ran


def test_an_interrupted_run_is_neither_a_failure_nor_a_success(engine) -> None:  # type: ignore[no-untyped-def]
    add_run(engine, "zz", "failed", message="ConnectionError: refused")
    add_run(engine, "zz", "interrupted", message="interrupted by a stop")
    add_run(engine, "zz", "failed", message="ConnectionError: refused again")
    h = flags(engine)
    assert h.consecutive_failures == 2  # the interrupted run does not break the run of failures
    assert h.reason == "ConnectionError: refused again"
    add_run(engine, "zz", "ok", bills=5)
    add_run(engine, "zz", "interrupted")
    h = flags(engine)
    assert h.ok and h.reason is None and "interrupted" in h.flags
    assert h.last_run is not None and h.last_run.status == "interrupted"


def test_a_run_left_running_by_a_dead_process_reads_interrupted(engine) -> None:  # type: ignore[no-untyped-def]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    r = Run.__table__
    orphan = start_run(engine, source="job:scrape:zz", kind="job", state="zz")
    alive = start_run(engine, source="job:scrape:yy", kind="job", state="yy")
    with engine.begin() as conn:
        host = socket.gethostname()
        conn.execute(
            update(r).where(r.c.id == orphan).values(message=f"running in {host}:{dead.pid}")
        )
        conn.execute(
            update(r).where(r.c.id == alive).values(message=f"running in {host}:{os.getpid()}")
        )
    zz, yy = flags(engine, "zz"), flags(engine, "yy")
    assert zz.last_run is not None and zz.last_run.status == "interrupted"
    assert "interrupted" in zz.flags and "never-run" in zz.flags
    assert yy.last_run is None  # still running in a live process: nothing to say yet


def test_the_scheduler_reads_stopped_once_its_heartbeat_is_cleared(engine) -> None:  # type: ignore[no-untyped-def]
    from tracker.scheduler import clear_heartbeat

    beat(engine)
    system = health.system_health(engine)
    assert (system["scheduler"], system["scheduler_state"]) == (True, "running")
    assert system["heartbeat_age_seconds"] is not None
    beat(engine, now=datetime.now(UTC) - timedelta(minutes=10))
    assert health.system_health(engine)["scheduler_state"] == "not responding"
    clear_heartbeat(engine)
    system = health.system_health(engine)
    assert (system["scheduler"], system["scheduler_state"]) == (False, "stopped")


def test_the_heartbeat_of_an_ended_job_process_is_cleared_by_its_holder(engine) -> None:  # type: ignore[no-untyped-def]
    """`tracker run` ends a job process that did not stop in time and clears its heartbeat."""
    from tracker.scheduler import clear_heartbeat, last_heartbeat

    beat(engine)
    holder = last_heartbeat(engine)["holder"]  # type: ignore[index]
    clear_heartbeat(engine, holder="elsewhere:1")  # not that process's: kept
    assert health.system_health(engine)["scheduler_state"] == "running"
    clear_heartbeat(engine, holder=holder)
    assert health.system_health(engine)["scheduler_state"] == "stopped"


def _status(engine, *args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tracker.cli import app

    return CliRunner().invoke(app, ["status", *args], env={"COLUMNS": "80"})


def test_status_json_gives_reasons_and_exits_1_unless_every_state_is_ok(
    engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(health, "_configs", lambda: {"zz": None, "yy": None})
    add_run(engine, "zz", "ok", bills=3)
    add_run(engine, "yy", "failed", message="RetriesExhausted: gave up on http://127.0.0.1:9/list")
    result = _status(engine, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    states = {s["state"]: s for s in data["states"]}
    assert states["yy"]["reason"].startswith("RetriesExhausted") and not states["yy"]["ok"]
    assert states["zz"]["reason"] is None and states["zz"]["ok"]
    for key in ("last_success", "last_failure", "consecutive_failures", "flags"):
        assert key in states["yy"]
    assert data["system"]["scheduler"] is False and data["system"]["scheduler_state"] == "stopped"
    add_run(engine, "yy", "ok", bills=2)
    assert _status(engine, "--json").exit_code == 0


def test_status_text_fits_80_columns_and_never_cuts_the_reason(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(health, "_configs", lambda: {"yy": None, "zz": None})
    words = " ".join(f"word{n}" for n in range(60))  # ~400 characters, far over one line
    add_run(engine, "yy", "failed", message=f"ConnectionError: {words} END")
    add_run(engine, "zz", "ok", bills=3)
    result = _status(engine)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    joined = " ".join(line.strip() for line in lines)
    assert f"ConnectionError: {words} END" in joined  # whole, wrapped at word boundaries
    assert "scheduler: stopped" in lines[0]
    assert "1 of 2 states needs attention" in result.stdout


# ----------------------------------------------------------------------------- web


@pytest.fixture
def client(engine):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tracker.web.app import create_app

    with TestClient(create_app(engine)) as c:
        yield c


def test_healthz_reports_database_and_scheduler_heartbeat(engine, client) -> None:  # type: ignore[no-untyped-def]
    data = client.get("/healthz").json()
    assert (data["status"], data["database"], data["scheduler"]) == ("ok", True, False)
    assert data["this_process"] == "disabled"
    beat(engine)
    data = client.get("/healthz").json()
    assert data["scheduler"] is True and data["holder"]
    beat(engine, now=datetime.now(UTC) - timedelta(minutes=10))
    assert client.get("/healthz").json()["scheduler"] is False


def test_health_page_lists_states_and_escapes_error_text(engine, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(health, "_configs", lambda: {"nm": None})
    add_run(
        engine,
        "nm",
        "failed",
        message="PageError: <script>alert(1)</script> at https://example.org",
    )
    page = client.get("/health")
    assert page.status_code == 200
    assert "New Mexico (NM)" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "failing" in page.text
    assert client.get("/health/").status_code == 200


# ----------------------------------------------------------------------------- alerts


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        with self.lock:
            self.messages.append(
                (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
            )
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # aiosmtpd checks its own port, so it cannot take port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(port))
    monkeypatch.setenv("TRACKER_MAINTAINER_EMAILS", '["ops@example.org", "dev@example.org"]')
    monkeypatch.setenv("TRACKER_ALERT_AFTER_FAILURES", "3")
    reset_settings()
    yield inbox
    controller.stop()


def test_maintainers_get_one_mail_when_failing_and_one_when_recovered(
    engine, smtp, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    outcome: dict[str, Any] = {"fail": True}

    def sources(_engine, state, source=None, bills=None):  # type: ignore[no-untyped-def]
        if outcome["fail"]:
            raise ConnectionError(f"{state}: connection refused by 127.0.0.1:9")
        return [
            SimpleNamespace(
                source="scrape", status="ok", new=4, updated=0, unchanged=0, errors=[], message=""
            )
        ]

    monkeypatch.setattr(jobs, "_run_sources", sources)
    for _ in range(2):
        jobs.scrape_state("nm")
    assert smtp.messages == []  # under the threshold
    for _ in range(4):
        jobs.scrape_state("nm")  # the 3rd failure alerts; the 4th to 6th say nothing more
    assert len(smtp.messages) == 2  # one message per maintainer
    (to, msg), _ = smtp.messages
    assert to == ["ops@example.org"]
    assert msg["Subject"] == "[tracker] NM scraper failing: 3 runs in a row"
    body = msg.get_body(("plain",)).get_content()
    assert "connection refused by 127.0.0.1:9" in body and "/health" in body

    outcome["fail"] = False
    jobs.scrape_state("nm")
    jobs.scrape_state("nm")
    assert len(smtp.messages) == 4
    assert smtp.messages[2][1]["Subject"] == "[tracker] NM scraper recovered"
    assert "after 6 failed or empty runs" in smtp.messages[2][1].get_body(("plain",)).get_content()
    with engine.connect() as conn:
        statuses = [
            r.status
            for r in conn.execute(select(Run.__table__.c.status).order_by(Run.__table__.c.id))
        ]
    assert statuses == ["failed"] * 6 + ["ok"] * 2


def test_an_alert_that_could_not_be_sent_is_tried_again(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tracker import alerts

    monkeypatch.setenv("TRACKER_MAINTAINER_EMAILS", '["ops@example.org"]')
    monkeypatch.setenv("TRACKER_ALERT_AFTER_FAILURES", "1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", "9")  # nothing listens: the mail fails
    reset_settings()
    sent: list[str] = []
    add_run(engine, "zz", "failed", message="boom")
    assert (
        alerts.update_alert(engine, "zz", send=lambda *a: (_ for _ in ()).throw(OSError("down")))
        is None
    )
    assert not health.alert_active(engine, "zz")
    add_run(engine, "zz", "failed", message="boom")
    assert (
        alerts.update_alert(engine, "zz", send=lambda to, subject, *_: sent.append(subject))
        == "alert"
    )
    assert health.alert_active(engine, "zz") and sent == [
        "[tracker] ZZ scraper failing: 2 runs in a row"
    ]
    assert "alerting" in health.state_health(engine, "zz").flags
