"""The scheduler: session-aware triggers, quiet hours, restarts, and one scheduling process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from apscheduler.events import EVENT_JOB_ERROR
from sqlalchemy import func, select

from tracker.db import make_engine
from tracker.scheduler import (
    JobSpec,
    SchedulerLock,
    SchedulerService,
    StateScrapeTrigger,
    last_heartbeat,
    make_scheduler,
    plan_jobs,
    schedule_first_scrapes,
    sync_jobs,
)
from tracker.scheduler_models import APSCHEDULER_JOBS
from tracker.settings import get_settings

CHICAGO = "America/Chicago"
CALLS: list[str] = []
CALLED = threading.Event()


def record(tag: str) -> None:
    """A job for these tests (referenced as ``test_scheduler:record``)."""
    CALLS.append(tag)
    CALLED.set()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cfg(
    state: str = "xx",
    *,
    in_session: str = "6h",
    out: str | None = "7d",
    quiet: str | None = None,
    sessions: tuple[tuple[date | None, date | None], ...] = (),
) -> SimpleNamespace:
    """The parts of a StateConfig the scheduler reads."""
    return SimpleNamespace(
        state=state,
        timezone=CHICAGO,
        schedule=SimpleNamespace(in_session=in_session, out_of_session=out, quiet_hours=quiet),
        sessions=[SimpleNamespace(start_date=s, end_date=e) for s, e in sessions],
    )


# ----------------------------------------------------------------------------- triggers

SESSION_2026 = ((date(2026, 1, 12), date(2026, 5, 15)),)


def test_interval_is_shorter_in_session_than_out_of_session() -> None:
    trigger = StateScrapeTrigger.from_config(cfg(sessions=SESSION_2026))
    during = utc(2026, 3, 2, 15)
    assert trigger.get_next_fire_time(during, during) == during + timedelta(hours=6)
    after = utc(2026, 7, 1, 15)
    assert trigger.get_next_fire_time(after, after) == after + timedelta(days=7)


def test_out_of_session_wakes_when_the_next_session_starts() -> None:
    trigger = StateScrapeTrigger.from_config(cfg(sessions=SESSION_2026))
    before = utc(2026, 1, 9, 18)  # three days before the session opens
    assert trigger.get_next_fire_time(before, before) == datetime(2026, 1, 12, tzinfo=trigger.zone)


def test_no_out_of_session_schedule_sleeps_until_the_session() -> None:
    trigger = StateScrapeTrigger.from_config(cfg(out=None, sessions=SESSION_2026))
    autumn = utc(2025, 10, 1, 12)
    assert trigger.get_next_fire_time(autumn, autumn) == datetime(2026, 1, 12, tzinfo=trigger.zone)


def test_cron_schedule_runs_in_the_state_time_zone() -> None:
    trigger = StateScrapeTrigger.from_config(cfg(in_session="30 7 * * *"))
    now = utc(2026, 3, 2, 20)
    nxt = trigger.get_next_fire_time(None, now)
    assert nxt.astimezone(trigger.zone).replace(tzinfo=None) == datetime(2026, 3, 3, 7, 30)


@pytest.mark.parametrize(
    ("quiet", "local", "expected"),
    [
        ("22:00-06:00", datetime(2026, 3, 2, 23, 15), datetime(2026, 3, 3, 6, 0)),  # late evening
        ("22:00-06:00", datetime(2026, 3, 3, 2, 0), datetime(2026, 3, 3, 6, 0)),  # small hours
        ("22:00-06:00", datetime(2026, 3, 3, 12, 0), datetime(2026, 3, 3, 12, 0)),  # not quiet
        ("12:00-13:00", datetime(2026, 3, 3, 12, 30), datetime(2026, 3, 3, 13, 0)),  # lunch
        ("12:00-13:00", datetime(2026, 3, 3, 13, 0), datetime(2026, 3, 3, 13, 0)),  # end is open
    ],
)
def test_quiet_hours_push_a_run_to_the_end_of_the_window(
    quiet: str, local: datetime, expected: datetime
) -> None:
    trigger = StateScrapeTrigger.from_config(cfg(in_session="1h", quiet=quiet))
    previous = (local - timedelta(hours=1)).replace(tzinfo=trigger.zone)
    nxt = trigger.get_next_fire_time(previous, previous)
    assert nxt.astimezone(trigger.zone).replace(tzinfo=None) == expected


def test_quiet_hours_never_fire_inside_the_window_over_a_week() -> None:
    trigger = StateScrapeTrigger.from_config(cfg(in_session="45m", quiet="22:00-06:00"), jitter=600)
    when = utc(2026, 3, 2, 0)
    for _ in range(300):
        when = trigger.get_next_fire_time(when, when)
        local = when.astimezone(trigger.zone).time()
        assert not (local.hour >= 22 or local.hour < 6), when


def test_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError):
        StateScrapeTrigger(in_session="every day", out_of_session=None, timezone=CHICAGO)


def test_plan_has_one_scrape_per_state_and_the_weekly_and_daily_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_DIGEST_DAY", "fri")
    monkeypatch.setenv("TRACKER_DIGEST_HOUR", "16")
    get_settings.cache_clear()
    specs = {s.id: s for s in plan_jobs(get_settings(), [cfg("ny"), cfg("nm")])}
    assert set(specs) == {"scrape:ny", "scrape:nm", "digest:weekly", "maintenance:daily"}
    assert specs["scrape:ny"].func == "tracker.jobs:scrape_state"
    assert specs["scrape:ny"].kwargs == {"state": "ny"}
    nxt = specs["digest:weekly"].trigger.get_next_fire_time(None, utc(2026, 3, 2, 12))
    assert (nxt.weekday(), nxt.hour) == (4, 16)


# ----------------------------------------------------------------------------- restarts


class _Clock:
    """A controllable `datetime.now` for APScheduler's scheduler loop and executor."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        clock = self

        class FakeDatetime(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
                return clock.now.astimezone(tz) if tz else clock.now.replace(tzinfo=None)

        self.cls = FakeDatetime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    import apscheduler.executors.base as executors_base
    import apscheduler.schedulers.base as schedulers_base

    c = _Clock(utc(2026, 3, 2, 10))
    monkeypatch.setattr(schedulers_base, "datetime", c.cls)
    monkeypatch.setattr(executors_base, "datetime", c.cls)
    CALLS.clear()
    CALLED.clear()
    return c


def hourly(job_id: str = "scrape:xx", tag: str = "x") -> JobSpec:
    return JobSpec(
        id=job_id,
        func="test_scheduler:record",
        kwargs={"tag": tag},
        trigger=StateScrapeTrigger(in_session="1h", out_of_session=None, timezone=CHICAGO),
        title=f"test {tag}",
    )


def start(engine, specs):  # type: ignore[no-untyped-def]
    scheduler = make_scheduler(engine)
    scheduler.start(paused=True)
    report = sync_jobs(scheduler, specs)
    scheduler.resume()
    return scheduler, report


def test_a_job_due_during_downtime_runs_once_on_start(engine, clock: _Clock) -> None:  # type: ignore[no-untyped-def]
    scheduler, report = start(engine, [hourly()])
    assert report["added"] == ["scrape:xx"]
    time.sleep(0.3)
    scheduler.shutdown()
    assert CALLS == []  # first run is an hour away

    clock.now += timedelta(hours=5, minutes=30)  # down for five runs
    scheduler, report = start(engine, [hourly()])
    try:
        assert report["kept"] == ["scrape:xx"]  # not reset: the missed run is still due
        assert CALLED.wait(10)
        time.sleep(0.5)
        assert CALLS == ["x"]  # coalesced: once, not five times
        job = scheduler.get_job("scrape:xx")
        assert job.next_run_time > clock.now
        assert job.next_run_time - clock.now <= timedelta(hours=1)
    finally:
        scheduler.shutdown()


def test_restarts_never_duplicate_jobs(engine, clock: _Clock) -> None:  # type: ignore[no-untyped-def]
    specs = [hourly("scrape:aa", "a"), hourly("scrape:bb", "b"), hourly("digest:weekly", "d")]
    for _ in range(3):
        scheduler, report = start(engine, specs)
        scheduler.shutdown()
    assert sorted(report["kept"]) == sorted(s.id for s in specs)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(APSCHEDULER_JOBS)).scalar_one() == 3

    # a changed schedule replaces its job; a state whose config went away loses its job;
    # a pending one-off first scrape is left alone
    changed = hourly("scrape:aa", "a")
    changed.trigger = StateScrapeTrigger(in_session="2h", out_of_session=None, timezone=CHICAGO)
    scheduler, _ = start(engine, specs)
    schedule_first_scrapes(scheduler, ["aa"], now=clock.now + timedelta(days=1))
    scheduler.shutdown()
    scheduler, report = start(engine, [changed, specs[2]])
    ids = sorted(j.id for j in scheduler.get_jobs())
    scheduler.shutdown()
    assert report == {
        "kept": ["digest:weekly"],
        "added": [],
        "replaced": ["scrape:aa"],
        "removed": ["scrape:bb"],
    }
    assert ids == ["digest:weekly", "first-scrape:aa", "scrape:aa"]


# ----------------------------------------------------------------------------- one scheduler


def test_two_connections_never_both_hold_the_scheduler_lock(db_url: str) -> None:
    a, b = SchedulerLock(make_engine(db_url)), SchedulerLock(make_engine(db_url))
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        assert a.still_held()
        a.release()
        assert b.try_acquire()
        assert not a.try_acquire()
    finally:
        a.release()
        b.release()


HOLDER = """
import sys, time
from tracker.db import make_engine
from tracker.scheduler import SchedulerLock
lock = SchedulerLock(make_engine(sys.argv[1]))
print("held" if lock.try_acquire() else "refused", flush=True)
time.sleep(60)
"""


def test_when_the_scheduling_process_dies_another_takes_over(db_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url], stdout=subprocess.PIPE, text=True
    )
    lock = SchedulerLock(make_engine(db_url))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert not lock.try_acquire()  # the other process schedules
        proc.kill()  # dies without releasing anything
        proc.wait(10)
        deadline = time.monotonic() + 10
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the lock of a dead process was never released"
            time.sleep(0.1)
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()


def test_only_one_service_schedules_and_a_standby_takes_over(db_url: str) -> None:
    def service() -> SchedulerService:
        return SchedulerService(
            make_engine(db_url),
            plan=lambda: [hourly()],
            first_scrape=False,
            retry_seconds=0.1,
            beat_seconds=0.2,
        )

    first, second = service(), service()
    first.start()
    assert first.wait_until_leader(10)
    second.start()
    try:
        time.sleep(0.5)
        assert (first.role, second.role) == ("leader", "standby")
        holder = last_heartbeat(first.engine)
        assert holder is not None and holder["beat_at"] is not None
        first.stop()
        assert second.wait_until_leader(10)
        assert [j.id for j in second.scheduler.get_jobs()] == ["scrape:xx"]  # type: ignore[union-attr]
    finally:
        first.stop()
        second.stop()


STARTED = threading.Event()


def slow(tag: str) -> None:
    """A job that takes a while (referenced as ``test_scheduler:slow``)."""
    STARTED.set()
    time.sleep(0.5)
    CALLS.append(tag)


def test_stopping_waits_for_the_running_job_only(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    from apscheduler.triggers.date import DateTrigger

    from tracker.scheduler import Workers

    CALLS.clear()
    STARTED.clear()
    scheduler = make_scheduler(sqlite_engine, workers=1)
    errors: list[object] = []
    scheduler.add_listener(errors.append, EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    for tag in "abc":
        scheduler.add_job(
            "test_scheduler:slow",
            DateTrigger(datetime.now(UTC)),
            id=f"slow:{tag}",
            kwargs={"tag": tag},
        )
    scheduler.resume()
    assert STARTED.wait(10)
    time.sleep(0.1)
    workers = scheduler._lookup_executor("default")
    assert isinstance(workers, Workers)
    scheduler.shutdown(wait=False)
    assert workers.wait_idle(10) == 0
    assert len(CALLS) == 1  # the running one finished; the two queued ones were dropped
    assert errors == []  # a dropped job is not an error


def test_a_stopped_service_clears_its_heartbeat_and_releases_the_lock(db_url: str) -> None:
    engine = make_engine(db_url)
    first = SchedulerService(engine, plan=lambda: [], first_scrape=False, retry_seconds=0.1)
    first.start()
    try:
        assert first.wait_until_leader(10)
        assert last_heartbeat(engine) is not None
    finally:
        assert first.stop(timeout=5) == 0
    assert last_heartbeat(engine) is None
    second = SchedulerService(engine, plan=lambda: [], first_scrape=False, retry_seconds=0.1)
    second.start()
    try:
        assert second.wait_until_leader(10)  # the lock was released
    finally:
        second.stop()
