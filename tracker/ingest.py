"""Ingest: the one path into the database for scrapers, importers and API sources.

``ingest_bills`` takes validated :class:`~tracker.scraped.ScrapedBill` objects, upserts each by
its natural key (state, session, normalised identifier), diffs its children against what the
*same source* said before, and writes a ``change`` row for every difference. It works in
batches with SQLAlchemy Core so a national year of legislation imports in minutes, and a
re-import of identical data is recognised by a content hash and writes nothing.

Nothing already stored is lost: an empty title never blanks a stored one, and an action,
sponsor, version or hearing that disappears upstream is marked ``removed_at`` with a change
row, never deleted. Only a list the source gives can lose a child (``ScrapedBill.provided``),
and removals are written at the run's end: a run that would remove more than
``removal_guard_share`` of a state's rows of a kind is held instead (:func:`apply_removals`).

Concurrent runs are safe: every write transaction of ingest holds one lock per database (a
PostgreSQL advisory lock, a file lock beside a SQLite file), so two imports, an import and a
scrape, or two ``tracker run``s interleave their batches instead of racing on the natural keys
(``uq_bill_natural_key``, ``state.code``). Each batch reads what the other committed first.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import logging
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, and_, func, insert, select, text, update
from sqlmodel import Session, col

from tracker import ingest_files, lineage, search
from tracker.identifiers import normalize_identifier
from tracker.ingest_diff import Removal, Writes, read_stored, source_rank, update_existing
from tracker.ingest_rows import (
    bill_source_table,
    bill_table,
    bulk_insert,
    change_table,
    insert_new,
    prepare_new,
    session_table,
    stored_session_end,
)
from tracker.models import Bill, State
from tracker.runs import HELD_REMOVALS, INTERRUPTED, finish_run, run_status, start_run
from tracker.scraped import ScrapedBill
from tracker.sessions import guess_session_dates
from tracker.vocab import state_name

__all__ = [
    "BATCH_SIZE",
    "STOP",
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
    removals: list[Removal] = field(default_factory=list, repr=False)  # written at the end
    held: dict[str, dict[str, int]] = field(default_factory=dict)  # state -> table -> rows

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged

    def summary(self) -> dict[str, Any]:
        """Counts for the run row and ``--json``; removals held by the guard when any (so
        every caller that records its run from these counts records them)."""
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
            **({HELD_REMOVALS: self.held} if self.held else {}),
        }

    def line(self) -> str:
        s = self.summary()
        return (
            f"{self.source}: {s['new']} new, {s['updated']} updated, {s['unchanged']} unchanged, "
            f"{s['errors']} errors, {self.changes} changes"
            + (f", {len(self.warnings)} warnings" if self.warnings else "")
            + (f"; {self.held_line()}" if self.held else "")
        )

    def held_line(self) -> str:
        """What the removal guard held, for the run's message and the command's output."""
        parts = [
            f"{state.upper()} {n:,} {table}"
            for state, tables in sorted(self.held.items())
            for table, n in sorted(tables.items())
        ]
        return (
            f"removals held for review ({', '.join(parts)} rows: over the "
            "TRACKER_REMOVAL_GUARD_SHARE of the state's rows; nothing was removed)"
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
        with BatchCollector() as collector:
            _ingest_all(engine, bills, report, run_id, source, batch_size, progress, collector)
        _refresh_planner_statistics(engine, report)
    except BaseException as exc:
        if finish:
            finish_run(
                engine,
                run_id,
                # A stop (Ctrl-C, SIGTERM) is neither a failure of the source nor lost work:
                # every finished batch is kept.
                status=INTERRUPTED if isinstance(exc, KeyboardInterrupt) else "failed",
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
    collector: BatchCollector,
) -> None:
    # A source that can use the batch's longest wait (the database computing the search
    # index) to read ahead says so (tracker.collect.readahead); any other waits.
    while_waiting: Callable[[Callable[[], None]], None] = getattr(
        bills, "while_waiting", _just_wait
    )
    for batch in _batches(_validated(bills, report, engine, source), batch_size):
        if STOP.is_set():
            raise KeyboardInterrupt("stop requested")
        with writing(engine) as conn:
            report.batch_ids = []
            _ingest_batch(conn, batch, report, run_id=run_id, source=source)
            if ids := report.batch_ids:
                while_waiting(partial(search.reindex_bills, conn, ids))
                _link_relevant(conn, ids)
        if progress:
            progress(sum(1 for item in batch if item.key is not _FILE_DONE))
        del batch, conn  # freed before the collection (see _batches)
        collector.between()
    apply_removals(engine, report)


# Set by a stop signal's handler (tracker.cli.core) beside raising KeyboardInterrupt, which can
# be lost: once in 30 SIGTERMs an import went on to the end, exit 0, nothing on stderr (Python
# drops an exception raised while a finaliser runs, for one). The next batch then stops.
STOP = threading.Event()


def _just_wait(wait: Callable[[], None]) -> None:
    wait()


INGEST_LOCK = 0x7472_6B72  # PostgreSQL advisory lock key of ingest's writes ("trkr")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction of ingest, serialised with every other process ingesting into the
    same database (see the module docstring): PostgreSQL ``pg_advisory_xact_lock`` (released
    at commit), SQLite an exclusive ``flock`` on ``<database>.ingest-lock`` (released after the
    commit). Waiting is silent: the other run's batch takes a second or so."""
    with _sqlite_file_lock(engine), engine.connect() as conn, _rare_checkpoints(conn), conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK})
        try:
            yield conn
        except (KeyboardInterrupt, SystemExit):
            # An interrupt (SIGTERM, Ctrl-C) may hit the driver mid-protocol, e.g. inside a
            # PostgreSQL COPY, which runs on the driver's own cursor: SQLAlchemy's statements
            # drop their connection then, but this one would be rolled back, the ROLLBACK would
            # fail ("another command is already in progress") and that error would replace the
            # interrupt. Dropped, the server rolls the transaction back (and frees the lock).
            if not conn.invalidated:
                conn.invalidate()
            raise


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.ingest-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


REMOVAL_GUARD_MIN = 50  # removals of one kind in one state below this many are never held
_GUARDED = ("action", "sponsorship", "version", "hearing")


def apply_removals(engine: Engine, report: IngestReport, *, share: float | None = None) -> None:
    """Write the run's removals (``removed_at`` and their change rows), state by state, unless
    they are a mass removal: more than `share` (``removal_guard_share``) of the state's stored
    rows of a kind, and at least :data:`REMOVAL_GUARD_MIN`. A held state keeps every row; the
    run records what was held (``report.held``) and health flags it."""
    if not report.removals:
        return
    if share is None:
        from tracker.settings import get_settings

        share = get_settings().removal_guard_share
    by_state: dict[str, list[Removal]] = defaultdict(list)
    for removal in report.removals:
        by_state[removal.state].append(removal)
    report.removals = []
    with writing(engine) as conn:
        for state, removals in sorted(by_state.items()):
            held = _over_share(conn, state, removals, share)
            if held:
                report.held[state] = held
            else:
                _write_removals(conn, removals, report)


def _over_share(
    conn: Connection, state: str, removals: list[Removal], share: float
) -> dict[str, int]:
    """{table: rows} of the kinds this run would remove too much of in `state` (empty: none)."""
    per_table = Counter(r.table.name for r in removals)
    tables = {r.table.name: r.table for r in removals}
    held = {}
    for name, n in per_table.items():
        if name not in _GUARDED or n < REMOVAL_GUARD_MIN:
            continue
        table = tables[name]
        stored = conn.execute(
            select(func.count())
            .select_from(table.join(bill_table, table.c.bill_id == bill_table.c.id))
            .where(bill_table.c.state == state, table.c.removed_at.is_(None))
        ).scalar_one()
        if n > share * stored:
            held[name] = n
    return dict(per_table) if held else {}


def _write_removals(conn: Connection, removals: list[Removal], report: IngestReport) -> None:
    now = datetime.now(UTC)
    ids: dict[Any, list[int]] = defaultdict(list)
    for r in removals:
        ids[r.table].append(r.child_id)
    for table, child_ids in ids.items():
        for at in range(0, len(child_ids), 900):
            conn.execute(
                update(table).where(table.c.id.in_(child_ids[at : at + 900])).values(removed_at=now)
            )
    changes = [r.change for r in removals if r.change is not None]
    if changes:
        conn.execute(insert(change_table), changes)
        bill_ids = sorted({c["bill_id"] for c in changes})
        for at in range(0, len(bill_ids), 900):
            conn.execute(
                update(bill_table)
                .where(bill_table.c.id.in_(bill_ids[at : at + 900]))
                .values(last_changed=now)
            )
    report.changes += len(changes)
    search.reindex_bills(conn, {c["bill_id"] for c in changes})


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
        # An interrupt (SIGTERM, Ctrl-C) inside the batch makes SQLAlchemy close the driver
        # connection: nothing is left to restore, and the interrupt must go on unreplaced.
        try:
            raw.execute("PRAGMA wal_autocheckpoint=1000")
        except sqlite3.ProgrammingError:
            pass


FULL_GC_EVERY = 64  # batches between two full collections while ingesting


class BatchCollector:
    """Speed only: the cyclic garbage collector runs between batches, not inside them. A batch
    allocates a million short-lived containers (rows, parameter tuples, validated models);
    nearly all are freed by reference counting, but the automatic collector scans the young
    ones every time 700 (or, raised, 50,000) have piled up: ~10% of an import's CPU time even
    at 50,000. Between two batches few objects are alive, so :meth:`between` (a collection of
    the young generations, a full one every :data:`FULL_GC_EVERY` calls) is cheap, and a cycle
    made in a batch lives at most until the batch's end: memory stays bounded by one batch.
    Except the first batch's, kept until the second's end: the first collection would scan
    what the import set up (rule sets, the topic classifier, caches) and what the read-ahead
    holds of the next batch, and it freed nothing (Idaho: 14-30 ms for 0 objects, the next
    collection 3 ms once the read-ahead's bills are stored; an import of two batches now makes
    one).

    Used as a context manager: automatic collection is off inside and restored after (left
    alone when the caller had turned it off, and then :meth:`between` collects nothing)."""

    def __init__(self) -> None:
        self.calls = 0
        self.enabled = False

    def __enter__(self) -> BatchCollector:
        self.enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()

    def between(self) -> None:
        if not self.enabled:
            return
        self.calls += 1
        if self.calls > 1:
            gc.collect(2 if self.calls % FULL_GC_EVERY == 0 else 1)


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
        for bill in db.scalars(select(Bill).where(col(Bill.id).in_(relevant))):
            lineage.link_bill(db, bill)
        db.commit()


Key = tuple[str, str, str]


class _Item:
    """One bill on its way in: natural key, content hash, and the bill or its lazy builder.
    Key :data:`_FILE_DONE`: a file's fingerprint to record with the batch (``lazy``: the
    FileDone)."""

    __slots__ = ("key", "digest", "bill", "lazy")

    def __init__(self, key: Key, digest: str, bill: ScrapedBill | None, lazy: Any = None) -> None:
        self.key, self.digest, self.bill, self.lazy = key, digest, bill, lazy


_FILE_DONE: Key = ("", "", "")  # no bill's key: state and session are never empty


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
        for table in ("bill_search", "bill_search_title", "bill_search_sponsor"):
            if conn.exec_driver_sql(f"SELECT to_regclass('{table}')").scalar():
                conn.exec_driver_sql(f"ANALYZE {table}")


def _validated(
    items: Iterable[Any], report: IngestReport, engine: Engine, source: str
) -> Iterator[_Item]:
    seen: set[int] = set()  # hash() of every bill key met in this run
    stored: dict[Key, str] | None = (
        None  # this source's content hashes, read at the first known file
    )
    for n, item in enumerate(items, 1):
        if isinstance(item, ScrapedBill):
            yielded = _eager(item)
        elif isinstance(item, dict):
            try:
                yielded = _eager(ScrapedBill.model_validate(item))
            except ValidationError as exc:
                report.errors.append(IngestError(f"item {n}", _short_validation(exc)))
                continue
        elif isinstance(item, ingest_files.FileDone):
            yield _Item(_FILE_DONE, "", None, item)
            continue
        elif isinstance(item, ingest_files.KnownFile):
            if stored is None:
                stored = known_hashes(engine, source)
            yield from _known_file(item, stored, seen, report)
            continue
        elif hasattr(item, "build") and hasattr(item, "bill_key"):
            # A lazy bill (scrapers.importers.base.RawBill): validated only if new or changed.
            key, digest = item.bill_key(), item.digest()
            if key is not None and digest is not None:
                yielded = _Item(key, digest, None, item)
            else:
                bill = item.build()
                if not isinstance(bill, ScrapedBill):
                    _record_error(report, bill, n)
                    continue
                yielded = _eager(bill)
        else:
            _record_error(report, item, n)
            continue
        seen.add(hash(yielded.key))
        yield yielded


def _known_file(
    known: ingest_files.KnownFile, stored: dict[Key, str], seen: set[int], report: IngestReport
) -> Iterator[_Item]:
    """A file not read again (its fingerprint is stored): each bill it gave is unchanged if
    this source's stored content hash is still its digest and no earlier file of this run gave
    the same bill; any other is read from the file and goes the ordinary way."""
    reread = None
    for index, (state, session, norm, digest) in enumerate(known.entries()):
        key = (state, session, norm)
        token = hash(key)
        if stored.get(key) == digest and token not in seen:
            report.unchanged += 1
        else:
            reread = reread or ingest_files.Reread(known)
            yield _Item(key, digest, None, ingest_files.Refetch(reread, index, key, digest))
        seen.add(token)


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
        if item.key is _FILE_DONE:  # a file's fingerprint: with the batch holding its last bill
            batch.append(item)
            continue
        if item.key in keys or len(keys) >= size:
            # handed over with no reference left here: the batch is freed once ingest is done
            # with it, before the collection between two batches (which would scan it all)
            box, batch, keys = [batch], [], set()
            yield box.pop()
        batch.append(item)
        keys.add(item.key)
    if batch:
        box, batch = [batch], []
        yield box.pop()


# --------------------------------------------------------------------------- batch


def _ingest_batch(
    conn: Connection, batch: list[_Item], report: IngestReport, *, run_id: int, source: str
) -> None:
    now = datetime.now(UTC)
    done = [i.lazy for i in batch if i.key is _FILE_DONE]
    batch = [i for i in batch if i.key is not _FILE_DONE]
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
    read = read_stored(conn, [bill_id for _b, _h, bill_id, _s in changed]) if changed else None
    writes = Writes()  # the updates' writes, a few statements per table for the batch
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
            read=read,
            writes=writes,
        )
    writes.flush(conn)
    ingest_files.record(conn, done, source=source, run_id=run_id, now=now)


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
