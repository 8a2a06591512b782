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
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update

from tracker import delivery, digest
from tracker.alerts import update_alert
from tracker.collect.runner import run_state_sources
from tracker.collect.scrape import scrape_state as scrape_one
from tracker.db import make_engine
from tracker.ingest_rows import (
    action_table,
    bill_table,
    change_row,
    change_table,
    session_table,
)
from tracker.mail import SmtpTransport
from tracker.runs import (
    INTERRUPTED,
    STALE_RUN,
    RunResult,
    begin_job_run,
    bills_of,
    combined_status,
    end_job_run,
    run_table,
    stopping,
)
from tracker.settings import get_settings
from tracker.stages import compute_stage
from tracker.vocab import SCRAPE_SOURCE, STAGES

log = logging.getLogger(__name__)

# Stages that ``dead`` can still replace once the session is over (see tracker.stages).
OPEN_STAGES = tuple(STAGES[: STAGES.index("passed_both_chambers")])


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def job_engine() -> Engine:
    """The engine of the configured database (one per URL, shared by every job of a process)."""
    return _engine_for(get_settings().resolved_database_url)


# --------------------------------------------------------------------------------- scrape


def scrape_state(
    state: str,
    source: str | None = None,
    bills: list[str] | None = None,
    sessions: list[str] | None = None,
) -> int | None:
    """Run `state`'s sources once (its own scraper first), record the outcome, update alerts.

    `source` limits the run to one source (``scrape``, ``openstates-api``, ...); `bills` (e.g.
    ``["SB 11"]``) runs only the state's scraper, for those bills of its lists (of `sessions`,
    default today's: the demo names the saved session). Never raises
    for a scrape failure: the failure is the run's recorded result.
    """
    st = state.lower()
    if stopping():  # queued before a stop: it runs at its next time instead
        log.info("scrape %s: not started, the process is stopping", st)
        return None
    engine = job_engine()
    run_id = begin_job_run(engine, source=SCRAPE_SOURCE.format(state=st), state=st)
    log.info("scrape %s: started (run %d)", st, run_id)
    try:
        if sessions is None:
            results = _run_sources(engine, st, source, bills)
        else:  # named sessions (the demo's saved ones): only the state's scraper
            results = [scrape_one(engine, st, bills=bills, sessions=sessions)]
        status, counts, errors, message = summarize_results(results)
    except Exception as exc:  # noqa: BLE001 - recorded, shown in status, alerts after N in a row
        log.warning("scrape %s failed: %s: %s", st, type(exc).__name__, exc)
        status, counts, errors = "failed", {"bills": 0, "actions": 0}, []
        message = f"{type(exc).__name__}: {exc}"
    end_job_run(engine, run_id, status=status, counts=counts, errors=errors, message=message[:2000])
    if stopping():
        log.info("scrape %s: interrupted by the stop", st)
        return run_id
    log.info("scrape %s: %s (%s)", st, status, message)
    _after_scrape(engine, st)
    return run_id


def _run_sources(
    engine: Engine, state: str, source: str | None = None, bills: list[str] | None = None
) -> list[RunResult]:
    """The state's sources in order (its scraper first); with `bills`, only its scraper."""
    if bills is None:
        return run_state_sources(engine, state, only=source)
    return [scrape_one(engine, state, bills=bills)]


def _after_scrape(engine: Engine, state: str) -> None:
    try:
        update_alert(engine, state)
    except Exception:  # noqa: BLE001 - an alert problem must not hide the scrape's result
        log.exception("alerts for %s", state)


def summarize_results(
    results: Sequence[RunResult],
) -> tuple[str, dict[str, Any], list[dict[str, Any]], str]:
    """Status, counts, errors and a one-line message from what the sources returned.

    The job succeeds if any source brought bills; it is ``partial`` when another source (say
    the state's own scraper) failed on the way, ``empty`` when every source that ran found
    nothing, and ``failed`` when none could run (:func:`tracker.runs.combined_status`).
    """
    counts = {
        "bills": 0,
        "new": 0,
        "updated": 0,
        "unchanged": 0,
        "errors": 0,
        "sources": len(results),
    }
    errors: list[dict[str, Any]] = []
    parts = []
    for item in results:
        bills = bills_of(item)
        item_errors = [str(e) for e in item.errors]
        for key in ("new", "updated", "unchanged"):
            counts[key] += getattr(item, key)
        counts["bills"] += bills
        counts["errors"] += len(item_errors)
        errors.extend({"where": item.source, "message": e} for e in item_errors[:20])
        if item.status in ("failed", "quota", "skipped") and item.message:
            errors.append({"where": item.source, "message": item.message})
        part = f"{item.source} {item.status}: {bills} bills"
        if item.message:
            part += f" ({item.message})"
        if item_errors and item.status != "ok":
            more = f" (+{len(item_errors) - 1} more)" if len(item_errors) > 1 else ""
            part += f"; first error: {item_errors[0]}{more}"
        parts.append(part)
    status = combined_status([r.status for r in results], errors=counts["errors"])
    return status, counts, errors, "; ".join(parts) or "no source could run"


# --------------------------------------------------------------------------------- digest


def send_weekly_digest(period: str | None = None) -> int:
    """Send the digest of the week that just ended (or `period`, ``YYYY-Www``) to subscribers."""
    engine = job_engine()
    period = period or digest.last_complete_period()
    run_id = begin_job_run(engine, source="job:digest")
    transport = SmtpTransport.from_settings()  # connects on the first message only
    try:
        report = delivery.send_digests(engine, period=period, transport=transport)
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
    end_job_run(engine, run_id, status=status, counts=counts, message=message[:2000])
    log.info("%s", message)
    return run_id


# --------------------------------------------------------------------------------- maintenance


def maintenance(today: str | None = None) -> int:
    """Daily: bills of ended sessions become ``dead``; stuck runs are closed; quality counts."""
    engine = job_engine()
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    run_id = begin_job_run(engine, source="job:maintenance")
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
    end_job_run(engine, run_id, status=status, counts=counts, message=message)
    return run_id


def expire_ended_sessions(engine: Engine, *, today: date, run_id: int | None = None) -> int:
    """Recompute the stage of open bills whose session ended; write ``stage_changed`` changes."""
    query = (
        select(
            bill_table.c.id,
            bill_table.c.identifier,
            bill_table.c.stage,
            bill_table.c.chamber,
            bill_table.c.classification,
            bill_table.c.primary_source,
            session_table.c.end_date,
        )
        .join(
            session_table,
            and_(
                session_table.c.state == bill_table.c.state,
                session_table.c.identifier == bill_table.c.session,
            ),
        )
        .where(session_table.c.end_date.is_not(None), session_table.c.end_date < today.isoformat())
        .where(bill_table.c.stage.in_(OPEN_STAGES))
    )
    changed = 0
    with engine.connect() as conn:
        candidates = conn.execute(query).mappings().all()
    for row in candidates:
        with engine.begin() as conn:
            changed += _restage(conn, row, today=today, run_id=run_id)
    return changed


def _restage(conn: Any, row: Any, *, today: date, run_id: int | None) -> int:
    actions = (
        conn.execute(
            select(
                action_table.c.date,
                action_table.c.description,
                action_table.c.chamber,
                action_table.c.classification,
            )
            .where(
                action_table.c.bill_id == row["id"],
                action_table.c.source == row["primary_source"],
                action_table.c.removed_at.is_(None),
            )
            .order_by(action_table.c.position)
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
        identifier=row["identifier"],
    )
    if result.stage == row["stage"]:
        return 0
    now = datetime.now(UTC)
    conn.execute(
        update(bill_table)
        .where(bill_table.c.id == row["id"])
        .values(
            stage=result.stage,
            stage_date=result.date,
            last_changed=now,
            stage_reason={"reason": result.reason, "action_index": result.action_index},
            furthest_stage=result.furthest,
        )
    )
    conn.execute(
        insert(change_table),
        change_row(
            bill_id=row["id"],
            run_id=run_id,
            source="maintenance",
            kind="stage_changed",
            old=row["stage"],
            new=result.stage,
            effective_date=result.date,
            now=now,
            field_name="stage",
        ),
    )
    return 1


def close_stuck_runs(
    engine: Engine, *, keep: int | None = None, now: datetime | None = None
) -> int:
    """Runs left ``running`` by a process that died are marked interrupted, so health reads true."""
    cutoff = (now or datetime.now(UTC)) - STALE_RUN
    with engine.begin() as conn:
        done = conn.execute(
            update(run_table)
            .where(
                run_table.c.status == "running",
                run_table.c.started_at < cutoff,
                run_table.c.id != (keep or -1),
            )
            .values(
                status=INTERRUPTED,
                finished_at=now or datetime.now(UTC),
                message="interrupted: the process ended before the run finished",
            )
        )
    return done.rowcount or 0


def quality_counts(engine: Engine) -> dict[str, int]:
    """Counts that reveal a scraper or importer quietly going wrong."""
    has_action = (
        select(action_table.c.id)
        .where(action_table.c.bill_id == bill_table.c.id, action_table.c.removed_at.is_(None))
        .exists()
    )
    queries = {
        "bills": select(func.count()).select_from(bill_table),
        "bills_without_actions": select(func.count()).select_from(bill_table).where(~has_action),
        "bills_without_title": select(func.count())
        .select_from(bill_table)
        .where(bill_table.c.title == ""),
        "bills_without_topic": select(func.count())
        .select_from(bill_table)
        .where(bill_table.c.topic.is_(None)),
        "relevant_bills": select(func.count())
        .select_from(bill_table)
        .where(bill_table.c.relevant.is_(True)),
        "sessions_without_end_date": select(func.count())
        .select_from(session_table)
        .where(session_table.c.end_date.is_(None)),
    }
    with engine.connect() as conn:
        return {name: int(conn.execute(q).scalar_one()) for name, q in queries.items()}


def run_all(states: Iterable[str]) -> list[int]:
    """Scrape each state in turn (used by the demo's one scheduled cycle)."""
    return [run_id for st in states if (run_id := scrape_state(st)) is not None]
