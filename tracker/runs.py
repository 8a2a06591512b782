"""A run: one scrape, import, API pass, bulk load or job, recorded as one ``run`` row.

This module owns the run's life (``start_run`` writes the row with status ``running``,
``finish_run`` closes it), the one result shape every runner returns (:class:`RunResult`), and
the one rule that turns a run's counts into its status (:func:`run_status`). Health, alerts, the
jobs and the sources all read runs through here, so "ok", "partial", "empty" and "failed" mean
the same everywhere; the vocabulary itself is ``tracker.vocab.RUN_STATUSES``.

A run's row names the process running it (``running in host:pid``) from its start, so a run
whose process died (``kill -9``, a crash, a power cut) is closed as ``interrupted`` by the next
command that starts (:func:`close_stale_runs`) instead of staying ``running`` for ever.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from tracker.tables import run_table
from tracker.vocab import JOB_KIND, RUN_STATUSES, SOURCE_STATUSES

MAX_ERRORS = 200  # errors kept on one run row
STALE_RUN = timedelta(hours=12)  # a run still `running` after this was left by a dead process


def _now() -> datetime:
    return datetime.now(UTC)


def start_run(engine: Engine, *, source: str, kind: str, state: str | None = None) -> int:
    """Write a ``running`` row for a run about to start, naming this process; its id."""
    with engine.begin() as conn:
        return conn.execute(
            insert(run_table).returning(run_table.c.id),
            {
                "source": source,
                "kind": kind,
                "state": state,
                "status": "running",
                "started_at": _now(),
                "counts": {},
                "errors": [],
                "message": RUNNING_IN + process_id(),
            },
        ).scalar_one()


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any],
    errors: list[dict[str, Any]] | None = None,
    message: str = "",
) -> None:
    """Close a run with its status, counts, errors (the first 200) and one-line message."""
    if status not in RUN_STATUSES:
        raise ValueError(f"run status {status!r} is not one of {', '.join(RUN_STATUSES)}")
    with engine.begin() as conn:
        conn.execute(
            update(run_table)
            .where(run_table.c.id == run_id)
            .values(
                status=status,
                finished_at=_now(),
                counts=counts,
                errors=(errors or [])[:MAX_ERRORS],
                message=message,
            )
        )


def run_status(*, errors: int, done: int) -> str:
    """The one status rule. `done` counts the items the run got through (bills read, listed
    bills found unchanged); `errors` the ones it could not.

    ``partial`` when some went wrong but others went through, ``failed`` when nothing went
    through and something went wrong, ``empty`` when there was nothing at all, else ``ok``.
    """
    if errors:
        return "partial" if done else "failed"
    return "ok" if done else "empty"


def combined_status(statuses: Iterable[str], *, errors: int = 0) -> str:
    """One status for several runs of one job (a state's sources): ``ok`` if a source brought
    bills and none went wrong, ``partial`` if one did and another went wrong, ``empty`` if every
    source that ran found nothing, ``failed`` if none could run."""
    statuses = list(statuses)
    if any(s in ("ok", "partial") for s in statuses):
        bad = errors or any(s in ("failed", "partial", "quota") for s in statuses)
        return "partial" if bad else "ok"
    return "empty" if "empty" in statuses else "failed"


@dataclass
class RunResult:
    """What a runner returns: a scrape, an API or bulk source, a discovery pass.

    ``status`` is one of ``tracker.vocab.SOURCE_STATUSES``: a run's statuses plus ``skipped``
    (this source cannot run here) and ``quota`` (stopped by a spent quota). ``stats`` is the
    runner's own detail (a scrape's page counts), shown by the command that ran it.
    """

    source: str
    state: str | None = None
    status: str = "ok"
    run_id: int | None = None
    calls: int = 0
    fetched: int = 0
    skipped_unchanged: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    message: str = ""
    bill_ids: set[int] = field(default_factory=set, repr=False)
    stats: Any = field(default=None, repr=False)
    held: dict[str, dict[str, int]] = field(default_factory=dict)  # removals held for review

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "partial", "empty")

    @property
    def bills(self) -> int:
        return bills_of(self)

    def add_ingest(self, report: Any, *, unchanged_is_skipped: bool = True) -> None:
        """Add an ingest report's counts (new, updated, unchanged, errors, bill ids)."""
        self.new += report.new
        self.updated += report.updated
        self.unchanged += report.unchanged
        if unchanged_is_skipped:
            self.skipped_unchanged += report.unchanged
        self.errors.extend(str(e) for e in report.errors)
        self.bill_ids |= set(report.bill_ids)
        self.held.update(getattr(report, "held", {}))

    def settle(self) -> str:
        """Set the status from the counts by the one rule (unless it already says why it stopped)."""
        if self.status == "ok":
            self.status = run_status(
                errors=len(self.errors),
                done=self.fetched + self.new + self.updated + self.skipped_unchanged,
            )
        return self.status

    def counts(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "fetched": self.fetched,
            "skipped_unchanged": self.skipped_unchanged,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
            **({HELD_REMOVALS: self.held} if self.held else {}),
        }

    def line(self) -> str:
        where = self.state or "national"
        text = (
            f"{self.source} {where}: {self.status}; {self.calls} calls, {self.fetched} bills fetched, "
            f"{self.skipped_unchanged} skipped unchanged, {self.new} new, {self.updated} updated, "
            f"{len(self.errors)} errors"
        )
        return f"{text} ({self.message})" if self.message else text


def bills_of(result: RunResult) -> int:
    """Bills a run accounts for: read through ingest, or (an API source) listed and known
    unchanged without a fetch. A scrape's ``fetched`` counts pages, not bills."""
    read = result.new + result.updated + result.unchanged
    if result.source == "scrape":
        return read
    return max(read, result.fetched + result.skipped_unchanged)


def run_status_of(result: RunResult) -> str:
    """The ``run`` row's status for a source's result: a stop on a spent quota is a partial
    run, and a source that could not run here did nothing wrong."""
    if result.status not in SOURCE_STATUSES:
        raise ValueError(f"source status {result.status!r} is not one of {SOURCE_STATUSES}")
    return {"quota": "partial", "skipped": "ok"}.get(result.status, result.status)


def finish_result(engine: Engine, result: RunResult) -> None:
    """Close the ``run`` row of a source's run with its counts (calls included) and status."""
    if result.run_id is None:
        return
    finish_run(
        engine,
        result.run_id,
        status=run_status_of(result),
        counts={**result.counts(), "status": result.status},
        errors=[{"where": result.source, "message": e} for e in result.errors[:MAX_ERRORS]],
        message=result.line(),
    )


# Interrupted runs --------------------------------------------------------------------------------
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


def begin_job_run(engine: Engine, *, source: str, state: str | None = None) -> int:
    """Start a job's run, noting which process runs it (so a dead process's run reads interrupted)."""
    run_id = start_run(engine, source=source, kind=JOB_KIND, state=state)
    with engine.begin() as conn:
        conn.execute(
            update(run_table)
            .where(run_table.c.id == run_id)
            .values(message=RUNNING_IN + process_id())
        )
    with _ACTIVE_LOCK:
        _ACTIVE.add(run_id)
    return run_id


def end_job_run(engine: Engine, run_id: int, **result: Any) -> None:
    """Close a job's run; while the process stops, it is recorded interrupted."""
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
    with engine.begin() as conn:
        done = conn.execute(
            update(run_table)
            .where(run_table.c.id.in_(ids), run_table.c.status == "running")
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


def close_stale_runs(engine: Engine) -> int:
    """Close ``running`` rows left by dead processes (:func:`is_orphaned`) as interrupted; how
    many. Called when a command starts, so ``tracker status`` and the pages never show a dead
    run as running."""
    cols = (run_table.c.id, run_table.c.started_at, run_table.c.message)
    with engine.begin() as conn:
        rows = conn.execute(select(*cols).where(run_table.c.status == "running")).mappings()
        stale = [(row["id"], row["message"] or "") for row in rows if is_orphaned(row)]
        for run_id, message in stale:
            holder = message.removeprefix(RUNNING_IN) if message.startswith(RUNNING_IN) else ""
            conn.execute(
                update(run_table)
                .where(run_table.c.id == run_id, run_table.c.status == "running")
                .values(
                    status=INTERRUPTED,
                    finished_at=_now(),
                    message=f"interrupted: its process {holder or ''} ended before the run "
                    "finished".replace("  ", " "),
                )
            )
    return len(stale)


# Held removals -----------------------------------------------------------------------------------
# A run whose removals were a mass removal keeps them all and records, in its counts, what it
# held: {state: {table: rows}} (see tracker.ingest.apply_removals). Health flags it.
HELD_REMOVALS = "held_removals"


def held_runs(engine: Engine, *, window: int = 500) -> list[dict[str, Any]]:
    """The newest finished run of each source, among the last `window`, that held removals: a
    later run of the same source that went through clears it."""
    q = (
        select(
            run_table.c.id,
            run_table.c.source,
            run_table.c.state,
            run_table.c.finished_at,
            run_table.c.counts,
            run_table.c.message,
        )
        .where(run_table.c.status != "running")
        .order_by(run_table.c.id.desc())
        .limit(window)
    )
    seen: set[str] = set()
    out = []
    with engine.connect() as conn:
        for row in conn.execute(q).mappings():
            if row["source"] in seen:
                continue
            seen.add(row["source"])
            held = (row["counts"] or {}).get(HELD_REMOVALS)
            if held:
                out.append({**dict(row), HELD_REMOVALS: held})
    return out


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
