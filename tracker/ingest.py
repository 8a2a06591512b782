"""Ingest: the one path into the database for scrapers, importers and API sources.

``ingest_bills`` takes validated :class:`~tracker.scraped.ScrapedBill` objects, upserts each by
its natural key (state, session, normalised identifier), diffs its children against what the
*same source* said before, and writes a ``change`` row for every difference. It works in
batches with SQLAlchemy Core so a national year of legislation imports in minutes, and a
re-import of identical data is recognised by a content hash and writes nothing.

Nothing already stored is lost: an empty title never blanks a stored one, and an action,
sponsor, version or hearing that disappears upstream is marked ``removed_at`` with a change
row, never deleted.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, and_, insert, select
from sqlmodel import Session

from tracker import lineage, search
from tracker.identifiers import normalize_identifier
from tracker.ingest_diff import source_rank, update_existing
from tracker.ingest_rows import (
    bill_source_table,
    bill_table,
    bulk_insert,
    insert_new,
    prepare_new,
    session_table,
    stored_session_end,
)
from tracker.models import Bill, State
from tracker.runs import finish_run, run_status, start_run
from tracker.scraped import ScrapedBill
from tracker.sessions import guess_session_dates
from tracker.vocab import state_name

__all__ = [
    "BATCH_SIZE",
    "IngestError",
    "IngestReport",
    "bulk_insert",
    "content_hash",
    "ingest_bills",
    "known_hashes",
    "prepare_new",
    "source_rank",
]

log = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass
class IngestError:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class IngestReport:
    source: str
    run_id: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    actions: int = 0
    errors: list[IngestError] = field(default_factory=list)
    warnings: list[IngestError] = field(default_factory=list)
    bill_ids: set[int] = field(default_factory=set, repr=False)
    batch_ids: list[int] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged

    def summary(self) -> dict[str, int]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
        }

    def line(self) -> str:
        s = self.summary()
        return (
            f"{self.source}: {s['new']} new, {s['updated']} updated, {s['unchanged']} unchanged, "
            f"{s['errors']} errors, {self.changes} changes"
            + (f", {len(self.warnings)} warnings" if self.warnings else "")
        )


def content_hash(bill: ScrapedBill) -> str:
    return hashlib.sha1(bill.model_dump_json().encode(), usedforsecurity=False).hexdigest()


def known_hashes(engine: Engine, source: str) -> dict[Key, str]:
    """(state, session, normalised identifier) -> content hash, for every bill `source` gave
    before: lets an importer process skip validating bills a re-import will find unchanged."""
    q = (
        select(
            bill_table.c.state,
            bill_table.c.session,
            bill_table.c.identifier_norm,
            bill_source_table.c.content_hash,
        )
        .join(bill_source_table, bill_source_table.c.bill_id == bill_table.c.id)
        .where(bill_source_table.c.source == source)
    )
    with engine.connect() as conn:
        return {(st, se, norm): h for st, se, norm, h in conn.execute(q)}


def ingest_bills(
    target: Engine | Session,
    bills: Iterable[ScrapedBill | dict[str, Any] | Any],
    *,
    source: str,
    kind: str = "import",
    state: str | None = None,
    run_id: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    finish: bool = True,
) -> IngestReport:
    """Upsert `bills` from `source`, write changes, and record the run (``finish=False``: the
    caller records it, with its own counts, through :mod:`tracker.runs`).

    Items may be ``ScrapedBill``, plain dicts (validated here) or error records from an
    importer (anything else with a ``__str__``), which are counted as errors. Each batch is
    one transaction, so an interrupted import keeps what it finished.
    """
    engine = target.get_bind() if isinstance(target, Session) else target
    assert isinstance(engine, Engine)
    if run_id is None:
        run_id = start_run(engine, source=source, kind=kind, state=state)
    report = IngestReport(source=source, run_id=run_id)
    try:
        with _few_gc_passes():
            _ingest_all(engine, bills, report, run_id, source, batch_size, progress)
        _refresh_planner_statistics(engine, report)
    except BaseException as exc:
        if finish:
            finish_run(
                engine,
                run_id,
                status="failed",
                counts=report.summary(),
                errors=[{"where": e.where, "message": e.message} for e in report.errors],
                message=f"{type(exc).__name__}: {exc}",
            )
        raise
    if finish:
        finish_run(
            engine,
            run_id,
            status=run_status(errors=len(report.errors), done=report.total),
            counts={**report.summary(), "changes": report.changes, "actions": report.actions},
            errors=[{"where": e.where, "message": e.message} for e in report.errors]
            + [
                {"where": w.where, "message": w.message, "severity": "warning"}
                for w in report.warnings
            ],
            message=report.line(),
        )
    return report


def _ingest_all(
    engine: Engine,
    bills: Iterable[Any],
    report: IngestReport,
    run_id: int,
    source: str,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> None:
    for batch in _batches(_validated(bills, report), batch_size):
        with engine.connect() as conn, _rare_checkpoints(conn), conn.begin():
            report.batch_ids = []
            _ingest_batch(conn, batch, report, run_id=run_id, source=source)
            if report.batch_ids:
                search.reindex_bills(conn, report.batch_ids)
                _link_relevant(conn, report.batch_ids)
        if progress:
            progress(len(batch))


WAL_PAGES = 16_384  # ~64 MB of WAL between checkpoints while ingesting (SQLite default: 1,000)


@contextmanager
def _rare_checkpoints(conn: Connection) -> Iterator[None]:
    """Speed only: on SQLite, checkpoint the WAL every ~64 MB instead of every ~4 MB while a
    batch commits. A batch of new bills writes more than 4 MB, so with the default every
    commit copied the WAL into the database and synced it (the largest wall-time cost of a
    first import on a busy disk). Set on the driver connection outside the transaction (the
    transaction commits inside this block) and restored after it, so the pool hands the
    connection on as configured; durability and WAL safety are unchanged."""
    raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    if raw is None:
        yield
        return
    raw.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    try:
        yield
    finally:
        raw.execute("PRAGMA wal_autocheckpoint=1000")


@contextmanager
def _few_gc_passes() -> Iterator[None]:
    """Collect young objects less often while ingesting: a batch allocates ~100k short-lived
    dicts and tuples, and the default threshold (700) runs the collector thousands of times
    per batch (~10% of the CPU time of a large import). Restored afterwards."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 50_000), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _link_relevant(conn: Connection, bill_ids: list[int]) -> None:
    """Lineage links for the batch's single-payer bills (few; the rest need none)."""
    relevant = [
        bill_id
        for chunk in range(0, len(bill_ids), 900)
        for bill_id in conn.execute(
            select(bill_table.c.id).where(
                bill_table.c.id.in_(bill_ids[chunk : chunk + 900]), bill_table.c.relevant
            )
        ).scalars()
    ]
    if not relevant:
        return
    with Session(bind=conn, join_transaction_mode="create_savepoint") as db:
        for bill in db.scalars(select(Bill).where(Bill.id.in_(relevant))):  # type: ignore[attr-defined]
            lineage.link_bill(db, bill)
        db.commit()


Key = tuple[str, str, str]


class _Item:
    """One bill on its way in: natural key, content hash, and the bill or its lazy builder."""

    __slots__ = ("key", "digest", "bill", "lazy")

    def __init__(self, key: Key, digest: str, bill: ScrapedBill | None, lazy: Any = None) -> None:
        self.key, self.digest, self.bill, self.lazy = key, digest, bill, lazy


def _bill_key(bill: ScrapedBill) -> Key:
    return (bill.state, bill.legislative_session, normalize_identifier(bill.identifier))


def _eager(bill: ScrapedBill) -> _Item:
    return _Item(_bill_key(bill), content_hash(bill), bill)


BIG_LOAD = 10_000  # bills written in one run after which PostgreSQL's statistics are refreshed


def _refresh_planner_statistics(engine: Engine, report: IngestReport) -> None:
    """After a bulk load PostgreSQL plans with stale row counts (a session's 7,000 bills look
    like one) until autovacuum catches up; ANALYZE the tables ingest and search read."""
    if engine.dialect.name != "postgresql" or report.new + report.updated < BIG_LOAD:
        return
    with engine.begin() as conn:
        for table in ("bill", "bill_source", "action", "sponsorship", "change"):
            conn.exec_driver_sql(f"ANALYZE {table}")
        if conn.exec_driver_sql("SELECT to_regclass('bill_search')").scalar():
            conn.exec_driver_sql("ANALYZE bill_search")


def _validated(items: Iterable[Any], report: IngestReport) -> Iterator[_Item]:
    for n, item in enumerate(items, 1):
        if isinstance(item, ScrapedBill):
            yield _eager(item)
        elif isinstance(item, dict):
            try:
                yield _eager(ScrapedBill.model_validate(item))
            except ValidationError as exc:
                report.errors.append(IngestError(f"item {n}", _short_validation(exc)))
        elif hasattr(item, "build") and hasattr(item, "bill_key"):
            # A lazy bill (scrapers.importers.base.RawBill): validated only if new or changed.
            key, digest = item.bill_key(), item.digest()
            if key is not None and digest is not None:
                yield _Item(key, digest, None, item)
                continue
            bill = item.build()
            if isinstance(bill, ScrapedBill):
                yield _eager(bill)
            else:
                _record_error(report, bill, n)
        else:
            _record_error(report, item, n)


def _record_error(report: IngestReport, item: Any, n: int | str) -> None:
    where = getattr(item, "path", f"item {n}")
    if getattr(item, "severity", "error") == "warning":
        report.warnings.append(IngestError(where, str(item)))
    else:
        report.errors.append(IngestError(where, str(item)))


def _short_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _batches(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    """Batches of at most `size`, never holding two bills with the same key in one batch."""
    batch: list[_Item] = []
    keys: set[Key] = set()
    for item in items:
        if item.key in keys or len(batch) >= size:
            yield batch
            batch, keys = [], set()
        batch.append(item)
        keys.add(item.key)
    if batch:
        yield batch


# --------------------------------------------------------------------------- batch


def _ingest_batch(
    conn: Connection, batch: list[_Item], report: IngestReport, *, run_id: int, source: str
) -> None:
    now = datetime.now(UTC)
    _ensure_states_and_sessions(conn, {(i.key[0], i.key[1]) for i in batch})
    existing = _existing(conn, [i.key for i in batch], source)
    new_bills: list[tuple[ScrapedBill | None, str, dict[str, Any] | None]] = []
    changed: list[tuple[ScrapedBill, str, int, bool]] = []
    for item in batch:
        found = existing.get(item.key)
        if found is not None and found[1] == item.digest:
            report.unchanged += 1
            continue
        if found is None and (ready := _ready(conn, item)) is not None:
            new_bills.append((None, item.digest, ready))
            continue
        bill = item.bill if item.bill is not None else _build(item, report)
        if bill is None:
            continue
        if found is None:
            new_bills.append((bill, item.digest, None))
        else:
            changed.append((bill, item.digest, found[0], found[1] is not None))
    if new_bills:
        insert_new(conn, new_bills, report, run_id=run_id, source=source, now=now)
    for bill, h, bill_id, had_source in changed:
        update_existing(
            conn,
            bill,
            digest=h,
            bill_id=bill_id,
            had_source=had_source,
            report=report,
            run_id=run_id,
            source=source,
            now=now,
        )


def _ready(conn: Connection, item: _Item) -> dict[str, Any] | None:
    """Rows an importer process prepared for this new bill, if their stage used the session
    end date the database has."""
    blob = getattr(item.lazy, "prepared", None)
    if not blob:
        return None
    ready = orjson.loads(blob)
    return ready if ready["session_end"] == stored_session_end(conn, *item.key[:2]) else None


def _build(item: _Item, report: IngestReport) -> ScrapedBill | None:
    bill = item.lazy.build()
    if not isinstance(bill, ScrapedBill):
        _record_error(report, bill, item.key[2])
        return None
    if _bill_key(bill) != item.key:  # never expected: the lazy key must be the bill's own
        report.errors.append(
            IngestError(
                getattr(item.lazy, "where", "?"), f"key {item.key} differs from {_bill_key(bill)}"
            )
        )
        return None
    return bill


def _ensure_states_and_sessions(conn: Connection, places: set[tuple[str, str]]) -> None:
    cache: set[tuple[str, str]] = conn.info.setdefault("tracker_known_sessions", set())
    wanted = places - cache
    if not wanted:
        return
    state_table = State.__table__
    states = {s for s, _ in wanted}
    have_states = set(
        conn.execute(select(state_table.c.code).where(state_table.c.code.in_(states))).scalars()
    )
    for code in sorted(states - have_states):
        conn.execute(insert(state_table), {"code": code, "name": state_name(code)})
    for state, session in sorted(wanted):
        exists = conn.execute(
            select(session_table.c.id).where(
                and_(session_table.c.state == state, session_table.c.identifier == session)
            )
        ).first()
        if not exists:
            start, end = guess_session_dates(session, state)
            conn.execute(
                insert(session_table),
                {
                    "state": state,
                    "identifier": session,
                    "name": session,
                    "classification": "special" if "s" in session.lower() else "primary",
                    "start_date": start,
                    "end_date": end,
                },
            )
        cache.add((state, session))


def _existing(conn: Connection, keys: list[Key], source: str) -> dict[Key, tuple[int, str | None]]:
    """Map natural key -> (bill id, this source's last content hash or None)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for state, session, norm in keys:
        groups[(state, session)].add(norm)
    found: dict[tuple[str, str, str], tuple[int, str | None]] = {}
    for (state, session), norms in groups.items():
        q = (
            select(bill_table.c.id, bill_table.c.identifier_norm, bill_source_table.c.content_hash)
            .select_from(
                bill_table.outerjoin(
                    bill_source_table,
                    and_(
                        bill_source_table.c.bill_id == bill_table.c.id,
                        bill_source_table.c.source == source,
                    ),
                )
            )
            .where(
                bill_table.c.state == state,
                bill_table.c.session == session,
                bill_table.c.identifier_norm.in_(norms),
            )
        )
        for bill_id, norm, h in conn.execute(q):
            found[(state, session, norm)] = (bill_id, h)
    return found


# --------------------------------------------------------------------------- new bills


# --------------------------------------------------------------------------- updates
