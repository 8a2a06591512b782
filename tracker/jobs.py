"""The scheduled jobs: importable functions with plain arguments, each recording one ``run`` row.

The scheduler stores only a reference (``tracker.jobs:scrape_state``) and keyword arguments, so
a job can also be run by hand (``tracker jobs run scrape:ny``) or from a test. Every job builds
its engine from the settings, so it works in whichever process runs it.

A scrape job's run row (source ``job:scrape:<st>``, kind ``job``) is what health and alerts
read: one row per attempt, with status ``ok``, ``partial``, ``empty`` or ``failed`` and the
reason. The sources it calls record their own ingest runs as usual.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update

from tracker.ingest import finish_run, start_run
from tracker.models import Action, Bill, Change, LegislativeSession, Run
from tracker.stages import compute_stage
from tracker.vocab import STAGES

log = logging.getLogger(__name__)

SCRAPE_SOURCE = "job:scrape:{state}"
JOB_KIND = "job"
# Stages that ``dead`` can still replace once the session is over (see tracker.stages).
OPEN_STAGES = tuple(STAGES[: STAGES.index("passed_both_chambers")])
STALE_RUN = timedelta(hours=12)
# --- interrupted runs (issue 14) ---------------------------------------------------------------
# A run cut short by a stop is ``interrupted``: neither a failure of the state's site nor lost.
INTERRUPTED = "interrupted"
RUNNING_IN = "running in "  # the message of a running job run: which process runs it
_ACTIVE: set[int] = set()  # job runs in progress in this process
_ACTIVE_LOCK = threading.Lock()


def process_id() -> str:
    """``host:pid`` of this process (the form the scheduler heartbeat uses too)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def stopping() -> bool:
    """The process is stopping: fetches give up, jobs not yet started do not start."""
    from scrapers.http import STOPPING

    return STOPPING.is_set()


def _begin(engine: Engine, *, source: str, state: str | None = None) -> int:
    run_id = start_run(engine, source=source, kind=JOB_KIND, state=state)
    r = Run.__table__
    with engine.begin() as conn:
        conn.execute(update(r).where(r.c.id == run_id).values(message=RUNNING_IN + process_id()))
    with _ACTIVE_LOCK:
        _ACTIVE.add(run_id)
    return run_id


def _end(engine: Engine, run_id: int, **result: Any) -> None:
    if stopping():
        result["status"] = INTERRUPTED
        result["message"] = f"interrupted by a stop: {result.get('message', '')}"[:2000]
    finish_run(engine, run_id, **result)
    with _ACTIVE_LOCK:
        _ACTIVE.discard(run_id)


def interrupt_active_runs(engine: Engine) -> int:
    """Record this process's unfinished job runs as interrupted (it is exiting without them)."""
    with _ACTIVE_LOCK:
        ids = sorted(_ACTIVE)
        _ACTIVE.clear()
    if not ids:
        return 0
    r = Run.__table__
    with engine.begin() as conn:
        done = conn.execute(
            update(r)
            .where(r.c.id.in_(ids), r.c.status == "running")
            .values(
                status=INTERRUPTED,
                finished_at=datetime.now(UTC),
                message="interrupted: the process stopped before the run finished",
            )
        )
    return done.rowcount or 0


def is_orphaned(run: Any, *, now: datetime | None = None) -> bool:
    """A ``running`` run whose process is gone: it died on this host, or it is over 12 h old."""
    now = now or datetime.now(UTC)
    started = run["started_at"]
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    if started is not None and now - started > STALE_RUN:
        return True
    message = run["message"] or ""
    return message.startswith(RUNNING_IN) and process_gone(message.removeprefix(RUNNING_IN))


def process_gone(holder: str) -> bool:
    """``host:pid`` names a process of this host that no longer exists."""
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


# --- end of interrupted runs --------------------------------------------------------------------


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    from tracker.db import make_engine

    return make_engine(url)


def job_engine() -> Engine:
    """The engine of the configured database (one per URL, shared by every job of a process)."""
    from tracker.settings import get_settings

    return _engine_for(get_settings().resolved_database_url)


# --------------------------------------------------------------------------------- scrape


def scrape_state(
    state: str, source: str | None = None, bills: list[str] | None = None
) -> int | None:
    """Run `state`'s sources once (its own scraper first), record the outcome, update alerts.

    `source` limits the run to one source (``scrape``, ``openstates-api``, ...); `bills` (e.g.
    ``["SB 11"]``) runs only the state's scraper, for those bills of its lists. Never raises
    for a scrape failure: the failure is the run's recorded result.
    """
    st = state.lower()
    if stopping():  # queued before a stop: it runs at its next time instead
        log.info("scrape %s: not started, the process is stopping", st)
        return None
    engine = job_engine()
    run_id = _begin(engine, source=SCRAPE_SOURCE.format(state=st), state=st)
    log.info("scrape %s: started (run %d)", st, run_id)
    try:
        results = _run_sources(engine, st, source, bills)
        status, counts, errors, message = summarize_results(results)
    except Exception as exc:  # noqa: BLE001 - recorded, shown in status, alerts after N in a row
        log.warning("scrape %s failed: %s: %s", st, type(exc).__name__, exc)
        status, counts, errors = "failed", {"bills": 0, "actions": 0}, []
        message = f"{type(exc).__name__}: {exc}"
    _end(engine, run_id, status=status, counts=counts, errors=errors, message=message[:2000])
    if stopping():
        log.info("scrape %s: interrupted by the stop", st)
        return run_id
    log.info("scrape %s: %s (%s)", st, status, message)
    _after_scrape(engine, st)
    return run_id


def _run_sources(
    engine: Engine, state: str, source: str | None = None, bills: list[str] | None = None
) -> Any:
    """The API-sources runner when installed (it tries the scraper first), else the scraper."""
    if bills is None:
        try:
            from scrapers.sources import run_state_sources
        except ImportError:
            run_state_sources = None
        if run_state_sources is not None:
            return run_state_sources(engine, state, only=source)
    from scrapers.scrape import scrape_state as scrape_one

    outcome = scrape_one(engine, state, bills=bills) if bills else scrape_one(engine, state)
    if not hasattr(outcome, "source"):
        outcome.source = "scrape"
    return outcome


def _after_scrape(engine: Engine, state: str) -> None:
    from tracker.alerts import update_alert

    try:
        update_alert(engine, state)
    except Exception:  # noqa: BLE001 - an alert problem must not hide the scrape's result
        log.exception("alerts for %s", state)


def summarize_results(results: Any) -> tuple[str, dict[str, Any], list[dict[str, Any]], str]:
    """Status, counts, errors and a one-line message from what the sources returned.

    `results` is one result or a list (``scrapers.sources.SourceResult``: ``status``, ``new``,
    ``updated``, ``unchanged``, ``fetched``, ``skipped_unchanged``, ``errors``, ``message``; or an
    ingest report). The job succeeds if any source brought bills; it is ``partial`` when another
    source (say the state's own scraper) failed on the way, ``empty`` when every source that ran
    found nothing, and ``failed`` when none could run.
    """
    items = list(results) if isinstance(results, list | tuple) else [results]
    counts = {
        "bills": 0,
        "new": 0,
        "updated": 0,
        "unchanged": 0,
        "errors": 0,
        "sources": len(items),
    }
    errors: list[dict[str, Any]] = []
    statuses, parts = [], []
    for item in items:
        source = str(getattr(item, "source", "scrape"))
        n = {
            k: int(getattr(item, k, 0) or 0)
            for k in ("new", "updated", "unchanged", "fetched", "skipped_unchanged")
        }
        bills = n["new"] + n["updated"] + n["unchanged"]
        if source != "scrape":  # an API source may list bills it did not fetch (unchanged)
            bills = max(bills, n["fetched"] + n["skipped_unchanged"])
        item_errors = [str(e) for e in getattr(item, "errors", []) or []]
        status = getattr(item, "status", None) or (
            "partial" if item_errors else "ok" if bills else "empty"
        )
        statuses.append(status)
        for key in ("new", "updated", "unchanged"):
            counts[key] += n[key]
        counts["bills"] += bills
        counts["errors"] += len(item_errors)
        errors.extend({"where": source, "message": e} for e in item_errors[:20])
        message = str(getattr(item, "message", "") or "")
        if status in ("failed", "quota", "skipped") and message:
            errors.append({"where": source, "message": message})
        part = f"{source} {status}: {bills} bills"
        if message:
            part += f" ({message})"
        if item_errors and status != "ok":
            more = f" (+{len(item_errors) - 1} more)" if len(item_errors) > 1 else ""
            part += f"; first error: {item_errors[0]}{more}"
        parts.append(part)
    if any(s in ("ok", "partial") for s in statuses):
        bad = any(s in ("failed", "partial", "quota") for s in statuses) or counts["errors"]
        status = "partial" if bad else "ok"
    elif "empty" in statuses:
        status = "empty"
    else:
        status = "failed"
    return status, counts, errors, "; ".join(parts) or "no source could run"


# --------------------------------------------------------------------------------- digest


def send_weekly_digest(period: str | None = None) -> int:
    """Send the digest of the week that just ended (or `period`, ``YYYY-Www``) to subscribers."""
    from tracker import digest
    from tracker.mail import SmtpTransport

    engine = job_engine()
    period = period or digest.last_complete_period()
    run_id = _begin(engine, source="job:digest")
    transport = SmtpTransport.from_settings()  # connects on the first message only
    try:
        report = digest.send_digests(engine, period=period, transport=transport)
        status = "partial" if report.failed else "ok"
        counts: dict[str, Any] = {
            "period": period,
            "sent": report.sent,
            "failed": report.failed,
            "skipped": report.skipped,
            "bounced": report.bounced,
        }
        message = f"digest {report.line()}"
    except Exception as exc:  # noqa: BLE001 - recorded on the run; the ledger makes a rerun safe
        log.exception("weekly digest %s failed", period)
        status, counts, message = (
            "failed",
            {"period": period},
            f"digest {period}: {type(exc).__name__}: {exc}",
        )
    finally:
        transport.close()
    _end(engine, run_id, status=status, counts=counts, message=message[:2000])
    log.info("%s", message)
    return run_id


# --------------------------------------------------------------------------------- maintenance


def maintenance(today: str | None = None) -> int:
    """Daily: bills of ended sessions become ``dead``; stuck runs are closed; quality counts."""
    engine = job_engine()
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    run_id = _begin(engine, source="job:maintenance")
    try:
        counts = {
            "stage_changed": expire_ended_sessions(engine, today=day, run_id=run_id),
            "stuck_runs_closed": close_stuck_runs(engine, keep=run_id),
            **quality_counts(engine),
        }
        status, message = "ok", ", ".join(f"{k}={v}" for k, v in counts.items())
    except Exception as exc:  # noqa: BLE001 - recorded; tomorrow tries again
        log.exception("maintenance failed")
        counts, status, message = {}, "failed", f"{type(exc).__name__}: {exc}"
    _end(engine, run_id, status=status, counts=counts, message=message)
    return run_id


def expire_ended_sessions(engine: Engine, *, today: date, run_id: int | None = None) -> int:
    """Recompute the stage of open bills whose session ended; write ``stage_changed`` changes."""
    b, ls = Bill.__table__, LegislativeSession.__table__
    query = (
        select(
            b.c.id, b.c.stage, b.c.chamber, b.c.classification, b.c.primary_source, ls.c.end_date
        )
        .join(ls, and_(ls.c.state == b.c.state, ls.c.identifier == b.c.session))
        .where(ls.c.end_date.is_not(None), ls.c.end_date < today.isoformat())
        .where(b.c.stage.in_(OPEN_STAGES))
    )
    changed = 0
    with engine.connect() as conn:
        candidates = conn.execute(query).mappings().all()
    for row in candidates:
        with engine.begin() as conn:
            changed += _restage(conn, row, today=today, run_id=run_id)
    return changed


def _restage(conn: Any, row: Any, *, today: date, run_id: int | None) -> int:
    a = Action.__table__
    actions = (
        conn.execute(
            select(a.c.date, a.c.description, a.c.chamber, a.c.classification)
            .where(
                a.c.bill_id == row["id"],
                a.c.source == row["primary_source"],
                a.c.removed_at.is_(None),
            )
            .order_by(a.c.position)
        )
        .mappings()
        .all()
    )
    result = compute_stage(
        [dict(x) for x in actions],
        bill_chamber=row["chamber"],
        session_end=row["end_date"],
        today=today,
        bill_classification=row["classification"],
    )
    if result.stage == row["stage"]:
        return 0
    now = datetime.now(UTC)
    conn.execute(
        update(Bill.__table__)
        .where(Bill.__table__.c.id == row["id"])
        .values(
            stage=result.stage,
            stage_date=result.date,
            last_changed=now,
            stage_reason={"reason": result.reason, "action_index": result.action_index},
        )
    )
    conn.execute(
        insert(Change.__table__),
        {
            "bill_id": row["id"],
            "run_id": run_id,
            "source": "maintenance",
            "kind": "stage_changed",
            "field": "stage",
            "old": row["stage"],
            "new": result.stage,
            "effective_date": result.date,
            "seen_at": now,
        },
    )
    return 1


def close_stuck_runs(
    engine: Engine, *, keep: int | None = None, now: datetime | None = None
) -> int:
    """Runs left ``running`` by a process that died are marked interrupted, so health reads true."""
    r = Run.__table__
    cutoff = (now or datetime.now(UTC)) - STALE_RUN
    with engine.begin() as conn:
        done = conn.execute(
            update(r)
            .where(r.c.status == "running", r.c.started_at < cutoff, r.c.id != (keep or -1))
            .values(
                status=INTERRUPTED,
                finished_at=now or datetime.now(UTC),
                message="interrupted: the process ended before the run finished",
            )
        )
    return done.rowcount or 0


def quality_counts(engine: Engine) -> dict[str, int]:
    """Counts that reveal a scraper or importer quietly going wrong."""
    b, a, ls = Bill.__table__, Action.__table__, LegislativeSession.__table__
    has_action = select(a.c.id).where(a.c.bill_id == b.c.id, a.c.removed_at.is_(None)).exists()
    queries = {
        "bills": select(func.count()).select_from(b),
        "bills_without_actions": select(func.count()).select_from(b).where(~has_action),
        "bills_without_title": select(func.count()).select_from(b).where(b.c.title == ""),
        "bills_without_topic": select(func.count()).select_from(b).where(b.c.topic.is_(None)),
        "relevant_bills": select(func.count()).select_from(b).where(b.c.relevant.is_(True)),
        "sessions_without_end_date": select(func.count())
        .select_from(ls)
        .where(ls.c.end_date.is_(None)),
    }
    with engine.connect() as conn:
        return {name: int(conn.execute(q).scalar_one()) for name, q in queries.items()}


def run_all(states: Iterable[str]) -> list[int]:
    """Scrape each state in turn (used by the demo's one scheduled cycle)."""
    return [run_id for st in states if (run_id := scrape_state(st)) is not None]
