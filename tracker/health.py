"""Scraper health per state, read from the scrape jobs' run rows; data for status, /health, alerts.

A run is a health check (the style guide): each ``job:scrape:<st>`` run says ok, partial, empty or
failed and what it counted. From the recent runs of a state this module derives its last success,
last failure and reason, the failures in a row, how fresh its data is, and flags:

- ``never-run``: configured but no scrape has run yet;
- ``failing``: the latest runs failed or came back empty (``consecutive_failures`` of them);
- ``empty``: the latest run found no bills at all;
- ``shrunk``: the latest good run counted far fewer bills than the good run before it;
- ``stale``: the scheduler should have refreshed it at least twice since the last success;
- ``alerting``: maintainers were mailed and the state has not recovered yet;
- ``interrupted``: the latest run was cut short by a stop (or its process died while it ran);
  it says nothing about the site, so it neither counts as a failure nor as a success.

Each state also gets a ``reason``: one sentence on why it is not ok (None when it is).

The system part also lists ``held`` runs: imports or scrapes whose removals the mass-removal
guard held for review (nothing removed; see ``tracker.ingest.apply_removals``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from tracker.models import Action, Bill
from tracker.runs import HELD_REMOVALS, INTERRUPTED, held_runs, is_orphaned, process_gone, run_table
from tracker.scheduler import StateScrapeTrigger, last_heartbeat
from tracker.scheduler_models import ScraperAlert
from tracker.scraping import list_states, load_state_config
from tracker.vocab import JOB_KIND, SCRAPE_SOURCE, state_name

bill_table, action_table = Bill.__table__, Action.__table__
alert_table = ScraperAlert.__table__

BAD = ("failed", "empty")
GOOD = ("ok", "partial")
WINDOW = 20
SHRINK_RATIO = 0.5
SHRINK_MIN = 10  # below this many bills a drop is noise, not news
HEARTBEAT_STALE = timedelta(seconds=120)


@dataclass
class RunInfo:
    id: int
    status: str
    at: datetime | None
    bills: int
    message: str

    @classmethod
    def of(cls, row: Any) -> RunInfo:
        counts = row["counts"] or {}
        return cls(
            id=row["id"],
            status=row["status"],
            at=_aware(row["finished_at"] or row["started_at"]),
            bills=int(counts.get("bills", 0) or 0),
            message=row["message"] or "",
        )


@dataclass
class StateHealth:
    state: str
    name: str
    configured: bool
    last_run: RunInfo | None = None
    last_success: RunInfo | None = None
    last_failure: RunInfo | None = None
    consecutive_failures: int = 0
    bills: int = 0
    actions: int = 0
    age: timedelta | None = None
    flags: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return not {"failing", "empty", "never-run", "stale"} & set(self.flags)

    @property
    def freshness(self) -> str:
        return describe_age(self.age) if self.age is not None else "never"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["age_seconds"] = int(self.age.total_seconds()) if self.age is not None else None
        data.pop("age")
        data["freshness"] = self.freshness
        data["ok"] = self.ok
        for key in ("last_run", "last_success", "last_failure"):
            if data[key] and data[key]["at"]:
                data[key]["at"] = data[key]["at"].isoformat()
        return data


def describe_age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 0)} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive timestamps; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def recent_runs(engine: Engine, state: str, *, limit: int = WINDOW) -> list[dict[str, Any]]:
    """The newest runs, newest first; a ``running`` one whose process is gone reads interrupted."""
    q = (
        select(
            run_table.c.id,
            run_table.c.status,
            run_table.c.started_at,
            run_table.c.finished_at,
            run_table.c.counts,
            run_table.c.message,
        )
        .where(
            run_table.c.source == SCRAPE_SOURCE.format(state=state), run_table.c.kind == JOB_KIND
        )
        .order_by(run_table.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(q).mappings()]
    out = []
    for row in rows:
        if row["status"] == "running":
            if not is_orphaned(row):
                continue  # still in progress: it has nothing to say yet
            row["status"] = INTERRUPTED
            row["message"] = "interrupted: its process ended before the run finished"
        out.append(row)
    return out


def decisive(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs that tell about the site: interrupted ones are left out."""
    return [r for r in runs if r["status"] != INTERRUPTED]


def _last_with(engine: Engine, state: str, statuses: tuple[str, ...]) -> RunInfo | None:
    q = (
        select(
            run_table.c.id,
            run_table.c.status,
            run_table.c.started_at,
            run_table.c.finished_at,
            run_table.c.counts,
            run_table.c.message,
        )
        .where(
            run_table.c.source == SCRAPE_SOURCE.format(state=state),
            run_table.c.status.in_(statuses),
        )
        .order_by(run_table.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return RunInfo.of(row) if row else None


def consecutive_failures(runs: list[dict[str, Any]]) -> int:
    """Failed or empty runs in a row, newest first."""
    n = 0
    for run in runs:
        if run["status"] not in BAD:
            break
        n += 1
    return n


def is_shrunk(runs: list[dict[str, Any]], *, ratio: float = SHRINK_RATIO) -> bool:
    """The newest good run counted under `ratio` of the good run before it."""
    good = [RunInfo.of(r) for r in runs if r["status"] in GOOD]
    if len(good) < 2 or runs[0]["status"] not in GOOD:
        return False
    latest, previous = good[0], good[1]
    return previous.bills >= SHRINK_MIN and latest.bills < ratio * previous.bills


def state_health(
    engine: Engine,
    state: str,
    *,
    configured: bool = True,
    cfg: Any = None,
    counts: dict[str, tuple[int, int]] | None = None,
    now: datetime | None = None,
) -> StateHealth:
    now = now or datetime.now(UTC)
    every = recent_runs(engine, state)
    runs = decisive(every)
    h = StateHealth(state=state, name=state_name(state), configured=configured)
    h.last_run = RunInfo.of(every[0]) if every else None
    h.last_success = _last_with(engine, state, GOOD)
    h.last_failure = _last_with(engine, state, BAD)
    h.consecutive_failures = consecutive_failures(runs)
    h.bills, h.actions = (counts if counts is not None else data_counts(engine)).get(state, (0, 0))
    if h.last_success and h.last_success.at:
        h.age = now - h.last_success.at
    h.flags = _flags(engine, h, runs, cfg=cfg, now=now)
    if every and every[0]["status"] == INTERRUPTED:
        h.flags.append(INTERRUPTED)
    h.reason = _reason(h)
    return h


def _reason(h: StateHealth) -> str | None:
    """Why the state is not ok, in one sentence (None when it is)."""
    if h.ok:
        return None
    if "never-run" in h.flags:
        return "no scrape has finished yet"
    if {"failing", "empty"} & set(h.flags) and h.last_failure:
        return h.last_failure.message or f"the last run was {h.last_failure.status}"
    when = f"{h.last_success.at:%Y-%m-%d %H:%M} UTC" if h.last_success and h.last_success.at else ""
    return f"no successful scrape since {when}; the scheduler may not be running"


def _flags(
    engine: Engine, h: StateHealth, runs: list[dict[str, Any]], *, cfg: Any, now: datetime
) -> list[str]:
    flags = []
    if not runs:
        flags.append("never-run")
    if h.consecutive_failures:
        flags.append("failing")
    if runs and runs[0]["status"] == "empty":
        flags.append("empty")
    if is_shrunk(runs):
        flags.append("shrunk")
    if runs and _is_stale(h, cfg, now):
        flags.append("stale")
    if alert_active(engine, h.state):
        flags.append("alerting")
    return flags


def _is_stale(h: StateHealth, cfg: Any, now: datetime) -> bool:
    """Two scheduled refreshes have passed since the last success (or 8 days without a config)."""
    if h.last_success is None or h.last_success.at is None:
        return True
    if cfg is None:
        return now - h.last_success.at > timedelta(days=8)
    trigger = StateScrapeTrigger.from_config(cfg, jitter=None)
    first = trigger.get_next_fire_time(h.last_success.at, h.last_success.at)
    second = trigger.get_next_fire_time(first, first) if first else None
    return second is not None and now > second


def alert_active(engine: Engine, state: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(select(alert_table.c.active).where(alert_table.c.state == state)).scalar()
        )


def data_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """{state: (bills, current actions)} for every state with bills."""
    with engine.connect() as conn:
        bills: dict[str, int] = dict(
            conn.execute(
                select(bill_table.c.state, func.count()).group_by(bill_table.c.state)
            ).all()
        )
        actions: dict[str, int] = dict(
            conn.execute(
                select(bill_table.c.state, func.count(action_table.c.id))
                .select_from(
                    action_table.join(bill_table, action_table.c.bill_id == bill_table.c.id)
                )
                .where(action_table.c.removed_at.is_(None))
                .group_by(bill_table.c.state)
            ).all()
        )
    return {st: (int(n), int(actions.get(st, 0))) for st, n in bills.items()}


def all_health(engine: Engine, *, now: datetime | None = None) -> list[StateHealth]:
    """Every configured state, plus any state that has scrape runs but no config any more."""
    configs = _configs()
    with engine.connect() as conn:
        with_runs = set(
            conn.execute(
                select(run_table.c.state)
                .where(run_table.c.kind == JOB_KIND, run_table.c.source.like("job:scrape:%"))
                .distinct()
            ).scalars()
        )
    counts = data_counts(engine)
    states = sorted(set(configs) | {s for s in with_runs if s})
    return [
        state_health(
            engine, st, configured=st in configs, cfg=configs.get(st), counts=counts, now=now
        )
        for st in states
    ]


def _configs() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for st in list_states():
        try:
            out[st] = load_state_config(st)
        except Exception:  # noqa: BLE001 - a broken config still shows, without a schedule
            out[st] = None
    return out


def _held(run: dict[str, Any]) -> dict[str, Any]:
    """A run with held removals, as /health, /healthz and `tracker status` show it."""
    held = run[HELD_REMOVALS]
    return {
        "run": run["id"],
        "source": run["source"],
        "at": run["finished_at"].isoformat() if run["finished_at"] else None,
        "removals": held,
        "text": f"run {run['id']} ({run['source']}) held removals for review: "
        + ", ".join(
            f"{state.upper()} {n:,} {table}"
            for state, tables in sorted(held.items())
            for table, n in sorted(tables.items())
        )
        + " rows; nothing was removed",
    }


def system_health(engine: Engine, *, now: datetime | None = None) -> dict[str, Any]:
    """For /healthz: is the database reachable, is some process scheduling (heartbeat recent).

    ``scheduler`` is true only while a process schedules; ``scheduler_state`` says ``running``,
    ``stopped`` (no heartbeat: stopped cleanly, never started, or its process is gone) or
    ``not responding`` (a heartbeat over two minutes old from a process we cannot see).
    """
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {
        "database": False,
        "scheduler": False,
        "scheduler_state": "stopped",
        "heartbeat": None,
        "heartbeat_age_seconds": None,
        "holder": None,
        "held": [],
    }
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        out["database"] = True
        hb = last_heartbeat(engine)
        out["held"] = [_held(run) for run in held_runs(engine)]
    except Exception as exc:  # noqa: BLE001 - report, do not raise, from a health check
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    if hb and not process_gone(hb["holder"] or ""):
        beat_at = _aware(hb["beat_at"])
        out["heartbeat"] = beat_at.isoformat() if beat_at else None
        out["heartbeat_age_seconds"] = int((now - beat_at).total_seconds()) if beat_at else None
        out["holder"] = hb["holder"]
        out["scheduler"] = bool(beat_at and now - beat_at < HEARTBEAT_STALE)
        out["scheduler_state"] = "running" if out["scheduler"] else "not responding"
    return out
