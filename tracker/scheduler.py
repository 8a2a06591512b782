"""When jobs run, and which process runs them. Wiring only: the work is in :mod:`tracker.jobs`.

- :class:`StateScrapeTrigger` fires a state's scrape on its config's schedule: ``in_session``
  while one of its sessions is on, ``out_of_session`` between sessions, never inside its quiet
  hours (local time of the state).
- :func:`plan_jobs` lists every job the configuration asks for; :func:`sync_jobs` brings the
  persistent job store in line with it without resetting a job whose definition is unchanged, so
  a job that fell due while the process was down still runs once (coalesced) on start.
- :class:`SchedulerService` elects the one scheduling process: on PostgreSQL a session-level
  advisory lock held on a dedicated connection (it vanishes with the process), on SQLite a file
  lock beside the database. Standby processes retry and take over when the holder dies.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import random
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from tracker.scheduler_models import SchedulerHeartbeat
from tracker.settings import Settings, get_settings

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
# Job ids this module owns; anything else in the store (a one-off first scrape) is left alone.
PLANNED_PREFIXES = ("scrape:", "digest:", "maintenance:")
FIRST_SCRAPE_PREFIX = "first-scrape:"
# 64-bit key of the PostgreSQL advisory lock: stable across versions and processes.
ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"single-payer-tracker:scheduler").digest()[:8], "big", signed=True
)
HEARTBEAT_NAME = "scheduler"

_INTERVAL = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_interval(spec: str) -> timedelta | None:
    """``"6h"`` -> 6 hours; a cron line -> None."""
    m = _INTERVAL.match(spec.strip())
    if not m:
        return None
    delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if delta <= timedelta(0):
        raise ValueError(f"interval {spec!r} must be positive")
    return delta


def parse_quiet_hours(spec: str | None) -> tuple[time, time] | None:
    if not spec:
        return None
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    return (start, end) if start != end else None


# --------------------------------------------------------------------------------- trigger


class StateScrapeTrigger(BaseTrigger):
    """Session-aware interval or cron schedule with quiet hours, in the state's time zone.

    Picklable (it lives in the job store): it keeps only strings, dates and numbers.
    """

    def __init__(
        self,
        *,
        in_session: str,
        out_of_session: str | None,
        timezone: str,
        sessions: Sequence[tuple[date | None, date | None]] = (),
        quiet_hours: str | None = None,
        jitter: int | None = None,
    ) -> None:
        for spec in (in_session, out_of_session):
            if spec is not None and parse_interval(spec) is None:
                CronTrigger.from_crontab(spec)  # raises ValueError naming the bad field
        self.in_session = in_session
        self.out_of_session = out_of_session
        self.timezone = timezone
        self.sessions = tuple(sorted(sessions, key=lambda s: (s[0] or date.min, s[1] or date.max)))
        self.quiet_hours = quiet_hours
        self.jitter = jitter
        ZoneInfo(timezone)
        parse_quiet_hours(quiet_hours)

    def __str__(self) -> str:
        out = self.out_of_session or "none"
        quiet = f", quiet {self.quiet_hours}" if self.quiet_hours else ""
        return f"in session {self.in_session}, out {out}{quiet} ({self.timezone})"

    def __repr__(self) -> str:
        return (
            f"StateScrapeTrigger(in_session={self.in_session!r}, out_of_session="
            f"{self.out_of_session!r}, timezone={self.timezone!r}, sessions={self.sessions!r}, "
            f"quiet_hours={self.quiet_hours!r}, jitter={self.jitter!r})"
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def in_session_on(self, day: date) -> bool:
        """A session covers `day`; with no session dates at all, assume one is on."""
        if not any(start or end for start, end in self.sessions):
            return True
        return any(
            start is not None and start <= day and (end is None or day <= end)
            for start, end in self.sessions
        )

    def _boundary(self, ref: datetime, in_session: bool) -> datetime | None:
        """Local midnight when the session mode next flips after `ref`, if known."""
        day = ref.astimezone(self.zone).date()
        if in_session:
            ends = [e for s, e in self.sessions if s and s <= day and e and day <= e]
            flip = max(ends) + timedelta(days=1) if ends else None
        else:
            starts = [s for s, _ in self.sessions if s and s > day]
            flip = min(starts) if starts else None
        return datetime.combine(flip, time(0), tzinfo=self.zone) if flip else None

    def _plain_next(self, spec: str, previous: datetime | None, now: datetime) -> datetime | None:
        delta = parse_interval(spec)
        if delta is not None:
            return (previous or now) + delta
        cron = CronTrigger.from_crontab(spec, timezone=self.zone)
        return cron.get_next_fire_time(previous, now)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        ref = previous_fire_time or now
        on = self.in_session_on(ref.astimezone(self.zone).date())
        spec = self.in_session if on else self.out_of_session
        boundary = self._boundary(ref, on)
        if spec is None:
            # no scraping between sessions: wake when the next one starts, else check monthly
            candidate = boundary or ref + timedelta(days=30)
        else:
            planned = self._plain_next(spec, previous_fire_time, now)
            if planned is None:
                return None
            candidate = planned
            if boundary is not None and candidate > boundary:
                candidate = boundary
        if self.jitter:
            candidate += timedelta(seconds=random.uniform(0, self.jitter))
        return self.after_quiet_hours(candidate)

    def after_quiet_hours(self, when: datetime) -> datetime:
        """`when`, or the end of the quiet window that contains it (local time)."""
        window = parse_quiet_hours(self.quiet_hours)
        if window is None:
            return when
        start, end = window
        local = when.astimezone(self.zone)
        t, day = local.time(), local.date()
        if start < end:
            quiet, end_day = start <= t < end, day
        else:  # wraps midnight, e.g. 22:00-06:00
            quiet = t >= start or t < end
            end_day = day + timedelta(days=1) if t >= start else day
        if not quiet:
            return when
        return datetime.combine(end_day, end, tzinfo=self.zone).astimezone(when.tzinfo or UTC)

    @classmethod
    def from_config(cls, cfg: Any, *, jitter: int | None = None) -> StateScrapeTrigger:
        """Build from a :class:`scrapers.config.StateConfig` (schedule, timezone, sessions)."""
        return cls(
            in_session=cfg.schedule.in_session,
            out_of_session=cfg.schedule.out_of_session,
            quiet_hours=cfg.schedule.quiet_hours,
            timezone=cfg.timezone,
            # the rule's sessions up to the next one, so the trigger knows when that starts
            sessions=[(s.start_date, s.end_date) for s in _sessions_ahead(cfg)],
            jitter=jitter,
        )


# --------------------------------------------------------------------------------- plan


@dataclass
class JobSpec:
    """One job the configuration asks for. `func` is a ``module:function`` reference."""

    id: str
    func: str
    trigger: BaseTrigger
    title: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    misfire_grace_time: int | None = None

    @property
    def signature(self) -> str:
        raw = (
            f"{self.func}|{sorted(self.kwargs.items())}|{self.trigger!r}|{self.misfire_grace_time}"
        )
        return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:8]

    @property
    def name(self) -> str:
        """Shown by `tracker jobs`; the signature tells a changed definition from a kept one."""
        return f"{self.title} [{self.signature}]"


def scrape_spec(cfg: Any, *, jitter: int | None = 300) -> JobSpec:
    trigger = StateScrapeTrigger.from_config(cfg, jitter=jitter)
    return JobSpec(
        id=f"scrape:{cfg.state}",
        func="tracker.jobs:scrape_state",
        kwargs={"state": cfg.state},
        trigger=trigger,
        title=f"Scrape {cfg.state.upper()}: {trigger}",
        misfire_grace_time=None,  # a scrape missed while down is worth running late, once
    )


def plan_jobs(
    settings: Settings | None = None, configs: Sequence[Any] | None = None
) -> list[JobSpec]:
    """Every recurring job: one scrape per configured state, the weekly digest, maintenance."""
    settings = settings or get_settings()
    if configs is None:
        configs = load_configs()
    specs = []
    for cfg in configs:
        try:
            specs.append(scrape_spec(cfg))
        except (ValueError, KeyError, LookupError) as exc:  # a schedule the trigger refuses
            log.error("state %s: not scheduled: %s", cfg.state, exc)
    digest = CronTrigger(
        day_of_week=settings.digest_day,
        hour=settings.digest_hour,
        minute=0,
        timezone=settings.digest_timezone,
    )
    specs.append(
        JobSpec(
            id="digest:weekly",
            func="tracker.jobs:send_weekly_digest",
            trigger=digest,
            title=f"Weekly digest: {settings.digest_day} {settings.digest_hour:02d}:00 {settings.digest_timezone}",
            misfire_grace_time=2 * 86400,  # a digest more than two days late is news no more
        )
    )
    specs.append(
        JobSpec(
            id="maintenance:daily",
            func="tracker.jobs:maintenance",
            trigger=CronTrigger(hour=4, minute=15, timezone=settings.digest_timezone),
            title=f"Maintenance: daily 04:15 {settings.digest_timezone}",
            misfire_grace_time=None,
        )
    )
    return specs


def load_configs() -> list[Any]:
    """Every state config; one that fails to load is logged and left out, never fatal."""
    from tracker.scraping import list_states, load_state_config

    configs = []
    for st in list_states():
        try:
            configs.append(load_state_config(st))
        except Exception as exc:  # noqa: BLE001 - one broken config must not stop the others
            log.error("state %s: config not scheduled: %s", st, exc)
    return configs


def invalid_configs() -> dict[str, str]:
    """State -> why its config cannot be scheduled, for `tracker jobs` to list (never raises)."""
    from tracker.scraping import list_states, load_state_config

    problems = {}
    for st in list_states():
        try:
            scrape_spec(load_state_config(st))
        except Exception as exc:  # noqa: BLE001 - listed as invalid, whatever the cause
            lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
            problems[st] = lines[1] if len(lines) > 1 else (lines[0] if lines else repr(exc))
    return problems


# --------------------------------------------------------------------------------- job store


class Workers(ThreadPoolExecutor):
    """APScheduler's thread pool, stoppable: shutdown drops the jobs still waiting for a worker.

    A dropped recurring job simply runs at its next time; a dropped first scrape is scheduled
    again on the next start, since the database is still empty. :meth:`wait_idle` waits, for a
    bounded time, for the jobs already running.
    """

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__(max_workers=max_workers)
        self._running: set[concurrent.futures.Future[Any]] = set()
        self._running_lock = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        future = self._pool.submit(run_job, job, job._jobstore_alias, run_times, self._logger.name)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(lambda f: self._done(job.id, f))

    def _done(self, job_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self._running_lock:
            self._running.discard(future)
        if future.cancelled():  # dropped at shutdown before it started: nothing to report
            return
        exc = future.exception()
        if exc is not None:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, future.result())

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def wait_idle(self, timeout: float | None) -> int:
        """Wait up to `timeout` seconds for the running jobs; how many are still running."""
        with self._running_lock:
            running = list(self._running)
        _done, left = concurrent.futures.wait(running, timeout=timeout)
        return len(left)


def make_scheduler(engine: Engine, *, workers: int = 2) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
        executors={"default": Workers(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    scheduler.add_listener(_log_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def _log_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "job %s missed its run at %s (too late to run)", event.job_id, event.scheduled_run_time
        )
    elif event.exception is not None:
        log.error("job %s failed: %s", event.job_id, event.exception)


def sync_jobs(scheduler: BackgroundScheduler, specs: Sequence[JobSpec]) -> dict[str, list[str]]:
    """Make the (started) scheduler's store hold exactly `specs`; returns what changed.

    A job whose definition (its signature) is unchanged keeps its stored next run time, so a
    run that fell due while no process was scheduling fires once now instead of being skipped.
    """
    stored = {job.id: job for job in scheduler.get_jobs()}
    report: dict[str, list[str]] = {"kept": [], "added": [], "replaced": [], "removed": []}
    for spec in specs:
        old = stored.get(spec.id)
        if old is not None and old.name == spec.name:
            report["kept"].append(spec.id)
            continue
        scheduler.add_job(
            spec.func,
            trigger=spec.trigger,
            id=spec.id,
            name=spec.name,
            kwargs=spec.kwargs,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=spec.misfire_grace_time,
        )
        report["replaced" if old is not None else "added"].append(spec.id)
    wanted = {s.id for s in specs}
    for job_id in stored:
        if job_id.startswith(PLANNED_PREFIXES) and job_id not in wanted:
            scheduler.remove_job(job_id)
            report["removed"].append(job_id)
    return report


def _sessions_ahead(cfg: Any) -> list[Any]:
    """A config's sessions, with its ``current_session`` rule's up to the next one (so the
    trigger knows when that starts); a plain object's ``sessions`` as they are."""
    known = getattr(cfg, "known_sessions", None)
    if known is None:
        return list(cfg.sessions)
    return list(known(date.today() + timedelta(days=4 * 366)))


def schedule_first_scrapes(
    scheduler: BackgroundScheduler,
    states: Sequence[str],
    *,
    now: datetime | None = None,
    stagger: float = 2.0,
) -> list[str]:
    """One-off scrapes of every state, starting now (used when the database holds no bills)."""
    now = now or datetime.now(UTC)
    ids = []
    for n, st in enumerate(states):
        job_id = f"{FIRST_SCRAPE_PREFIX}{st}"
        scheduler.add_job(
            "tracker.jobs:scrape_state",
            trigger=DateTrigger(run_date=now + timedelta(seconds=n * stagger)),
            id=job_id,
            name=f"First scrape of {st.upper()}",
            kwargs={"state": st},
            replace_existing=True,
            misfire_grace_time=None,
        )
        ids.append(job_id)
    return ids


def database_is_empty(engine: Engine) -> bool:
    from tracker.models import Bill

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Bill.__table__)).scalar_one() == 0


# --------------------------------------------------------------------------------- election


class SchedulerLock:
    """Who may schedule. PostgreSQL: pg_try_advisory_lock on a dedicated connection; SQLite: flock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._try_pg()
        return self._try_file()

    def _try_pg(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
            ).scalar()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _try_file(self) -> bool:
        path = _lock_path(self.engine)
        if path is None:  # in-memory database: only this process can see it
            self._file = True
            return True
        import fcntl

        handle = open(path, "a+")  # noqa: SIM115 - held open for as long as we lead
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{_holder()}\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        """False when the lock connection died (then PostgreSQL has released the lock)."""
        if self._conn is None:
            return self.held
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means the lock is gone
            log.error("scheduler lock connection lost: %s", exc)
            self._drop_conn()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            self._drop_conn()
        if self._file not in (None, True):
            self._file.close()
        self._file = None

    def _drop_conn(self) -> None:
        # Invalidate rather than return it to the pool: a pooled connection must never carry
        # the lock into someone else's hands.
        try:
            self._conn.invalidate()  # type: ignore[union-attr]
            self._conn.close()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            pass
        self._conn = None


def _lock_path(engine: Engine) -> Path | None:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".scheduler.lock")


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(engine: Engine, *, started: datetime | None = None, now: datetime | None = None) -> None:
    """Record that this process is scheduling (read by /healthz and `tracker status`)."""
    now = now or datetime.now(UTC)
    table = SchedulerHeartbeat.__table__
    values: dict[str, Any] = {"holder": _holder(), "beat_at": now}
    if started is not None:
        values["started_at"] = started
    with engine.begin() as conn:
        done = conn.execute(update(table).where(table.c.name == HEARTBEAT_NAME).values(**values))
        if done.rowcount == 0:
            conn.execute(
                insert(table), {"name": HEARTBEAT_NAME, "started_at": started or now, **values}
            )


def clear_heartbeat(engine: Engine, *, holder: str | None = None) -> None:
    """This process (or `holder`, host:pid, a process that was ended) stopped scheduling:
    remove its heartbeat, so status says stopped at once."""
    table = SchedulerHeartbeat.__table__
    with engine.begin() as conn:
        conn.execute(
            delete(table).where(
                table.c.name == HEARTBEAT_NAME, table.c.holder == (holder or _holder())
            )
        )


def last_heartbeat(engine: Engine) -> dict[str, Any] | None:
    table = SchedulerHeartbeat.__table__
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.name == HEARTBEAT_NAME)).mappings().first()
    return dict(row) if row else None


class SchedulerService:
    """Runs the scheduler in whichever process wins the lock; the others stand by and retry."""

    def __init__(
        self,
        engine: Engine,
        *,
        plan: Callable[[], list[JobSpec]] | None = None,
        first_scrape: bool = True,
        retry_seconds: float = 15.0,
        beat_seconds: float = 30.0,
        workers: int = 2,
    ) -> None:
        self.engine = engine
        self.plan = plan or plan_jobs
        self.first_scrape = first_scrape
        self.retry_seconds = retry_seconds
        self.beat_seconds = beat_seconds
        self.workers = workers
        self.lock = SchedulerLock(engine)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.role = "stopped"

    def start(self) -> None:
        self.role = "standby"
        self._thread = threading.Thread(target=self._loop, name="scheduler-election", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.scheduler is None:
                    if self.lock.try_acquire():
                        self._lead()
                elif self.lock.still_held():
                    beat(self.engine)
                else:
                    self._step_down("lost the scheduler lock")
            except Exception as exc:  # noqa: BLE001 - the database may be away; keep trying
                log.error("scheduler election: %s", exc)
            self._stop.wait(self.beat_seconds if self.scheduler else self.retry_seconds)

    def _lead(self) -> None:
        started = datetime.now(UTC)
        scheduler = make_scheduler(self.engine, workers=self.workers)
        scheduler.start(paused=True)
        try:
            report = sync_jobs(scheduler, self.plan())
            if self.first_scrape and database_is_empty(self.engine):
                states = [
                    j.kwargs["state"] for j in scheduler.get_jobs() if j.id.startswith("scrape:")
                ]
                ids = schedule_first_scrapes(scheduler, states)
                log.info("database is empty: first scrape of %d states starts now", len(ids))
        except Exception:
            scheduler.shutdown(wait=False)
            self.lock.release()
            raise
        self.scheduler = scheduler
        beat(self.engine, started=started)
        self.role = "leader"  # before the first job starts: a job may hold the GIL for long
        scheduler.resume()
        log.info(
            "scheduling (this process holds the lock): %d jobs kept, %d added, %d replaced, %d removed",
            *(len(report[k]) for k in ("kept", "added", "replaced", "removed")),
        )

    def _step_down(self, why: str) -> None:
        log.warning("no longer scheduling: %s", why)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        self.lock.release()
        self.role = "standby"

    def wait_until_leader(self, timeout: float) -> bool:
        deadline = monotonic() + timeout
        while self.role != "leader" and monotonic() < deadline:
            sleep(0.05)
        return self.role == "leader"

    def stop(self, *, wait: bool = True, timeout: float | None = None) -> int:
        """Stop scheduling: queued jobs are dropped; with `wait`, running ones may finish.

        `timeout` bounds that wait (None: as long as they take). Returns how many jobs are
        still running; the lock is released and the heartbeat cleared either way.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_seconds + self.beat_seconds + 5)
        left = 0
        if self.scheduler is not None:
            log.info("stopping the scheduler%s", " after the job in progress" if wait else "")
            workers = self.scheduler._lookup_executor("default")
            self.scheduler.shutdown(wait=False)  # stops the loop, drops queued jobs
            if isinstance(workers, Workers):
                left = workers.wait_idle(timeout if wait else 0)
            self.scheduler = None
            try:
                clear_heartbeat(self.engine)
            except Exception as exc:  # noqa: BLE001 - it goes stale by itself in two minutes
                log.warning("could not clear the scheduler heartbeat: %s", exc)
        self.lock.release()
        self.role = "stopped"
        return left


def stored_jobs(engine: Engine) -> list[Any]:
    """The jobs in the store (with next run times), read without running anything."""
    scheduler = make_scheduler(engine, workers=1)
    scheduler.start(paused=True)
    try:
        return scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
