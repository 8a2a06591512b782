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
import json
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlmodel import Session

from tracker import lineage, search, understand
from tracker.identifiers import display_identifier, normalize_identifier
from tracker.models import (
    Action,
    Bill,
    BillSource,
    Change,
    Hearing,
    LegislativeSession,
    Run,
    Sponsorship,
    State,
    Version,
    Vote,
)
from tracker.scraped import ScrapedBill
from tracker.sessions import guess_session_dates
from tracker.vocab import state_name

log = logging.getLogger(__name__)

BATCH_SIZE = 500
_B, _A, _S, _V, _H, _VO = (
    Bill.__table__,
    Action.__table__,
    Sponsorship.__table__,
    Version.__table__,
    Hearing.__table__,
    Vote.__table__,
)
_C, _BS = Change.__table__, BillSource.__table__

# Scalar bill columns that ingest compares (column name -> how to read it off a ScrapedBill).
_FIELDS: dict[str, Callable[[ScrapedBill], Any]] = {
    "title": lambda b: b.title,
    "chamber": lambda b: b.chamber,
    "classification": lambda b: list(b.classification),
    "subjects": lambda b: list(b.subject),
    "abstracts": lambda b: [a.model_dump() for a in b.abstracts],
    "other_titles": lambda b: [t.model_dump() for t in b.other_titles],
    "other_identifiers": lambda b: list(b.other_identifiers),
    "related_bills": lambda b: [r.model_dump() for r in b.related_bills],
    "sources": lambda b: [s.model_dump() for s in b.sources],
    "text": lambda b: b.text,
    "extras": lambda b: dict(b.extras),
}
# Fields whose change is news (the rest are updated quietly).
_NEWS_FIELDS = {"title", "abstracts", "subjects", "text"}


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
        select(_B.c.state, _B.c.session, _B.c.identifier_norm, _BS.c.content_hash)
        .join(_BS, _BS.c.bill_id == _B.c.id)
        .where(_BS.c.source == source)
    )
    with engine.connect() as conn:
        return {(st, se, norm): h for st, se, norm, h in conn.execute(q)}


def source_rank(source: str) -> int:
    """Lower is preferred: a state's own scraper, then Open States, then LegiScan."""
    if source.startswith("scrape"):
        return 0
    if "openstates" in source:
        return 1
    if "legiscan" in source:
        return 2
    return 3


def _now() -> datetime:
    return datetime.now(UTC)


def start_run(engine: Engine, *, source: str, kind: str, state: str | None = None) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(Run.__table__).returning(Run.__table__.c.id),
            {
                "source": source,
                "kind": kind,
                "state": state,
                "status": "running",
                "started_at": _now(),
                "counts": {},
                "errors": [],
                "message": "",
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
    with engine.begin() as conn:
        conn.execute(
            update(Run.__table__)
            .where(Run.__table__.c.id == run_id)
            .values(
                status=status,
                finished_at=_now(),
                counts=counts,
                errors=(errors or [])[:200],
                message=message,
            )
        )


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
    allow_empty: bool = True,
) -> IngestReport:
    """Upsert `bills` from `source`, write changes, and record the run.

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
        status = "ok"
        if report.errors:
            status = "partial"
        if report.total == 0 and not allow_empty:
            status = "empty"
        finish_run(
            engine,
            run_id,
            status=status,
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
        with engine.begin() as conn:
            report.batch_ids = []
            _ingest_batch(conn, batch, report, run_id=run_id, source=source)
            if report.batch_ids:
                search.reindex_bills(conn, report.batch_ids)
                _link_relevant(conn, report.batch_ids)
        if progress:
            progress(len(batch))


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
            select(_B.c.id).where(_B.c.id.in_(bill_ids[chunk : chunk + 900]), _B.c.relevant)
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
    now = _now()
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
        _insert_new(conn, new_bills, report, run_id=run_id, source=source, now=now)
    for bill, h, bill_id, had_source in changed:
        _update_existing(
            conn, bill, h, bill_id, had_source, report, run_id=run_id, source=source, now=now
        )


def _ready(conn: Connection, item: _Item) -> dict[str, Any] | None:
    """Rows an importer process prepared for this new bill, if their stage used the session
    end date the database has."""
    blob = getattr(item.lazy, "prepared", None)
    if not blob:
        return None
    ready = orjson.loads(blob)
    return ready if ready["session_end"] == _session_end(conn, *item.key[:2]) else None


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
    st, ls = State.__table__, LegislativeSession.__table__
    states = {s for s, _ in wanted}
    have_states = set(conn.execute(select(st.c.code).where(st.c.code.in_(states))).scalars())
    for code in sorted(states - have_states):
        conn.execute(insert(st), {"code": code, "name": state_name(code)})
    for state, session in sorted(wanted):
        exists = conn.execute(
            select(ls.c.id).where(and_(ls.c.state == state, ls.c.identifier == session))
        ).first()
        if not exists:
            start, end = guess_session_dates(session, state)
            conn.execute(
                insert(ls),
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
            select(_B.c.id, _B.c.identifier_norm, _BS.c.content_hash)
            .select_from(_B.outerjoin(_BS, and_(_BS.c.bill_id == _B.c.id, _BS.c.source == source)))
            .where(_B.c.state == state, _B.c.session == session, _B.c.identifier_norm.in_(norms))
        )
        for bill_id, norm, h in conn.execute(q):
            found[(state, session, norm)] = (bill_id, h)
    return found


# --------------------------------------------------------------------------- new bills


_CHILD_KINDS = ("action", "sponsor", "version", "hearing", "vote")
_CHILD_TABLES = (_A, _S, _V, _H, _VO)


def prepare_new(bill: ScrapedBill, session_end: str | None) -> dict[str, Any]:
    """A new bill's rows, without database state (ids, source, timestamps): plain JSON types,
    so an importer process can compute them ahead (:mod:`scrapers.importers.parallel`).
    ``session_end`` is recorded: the stage depends on it."""
    actions = understand.classified_actions(bill)
    row = {name: get(bill) for name, get in _FIELDS.items()}
    row.update(
        state=bill.state,
        session=bill.legislative_session,
        identifier=display_identifier(bill.identifier),
        identifier_norm=normalize_identifier(bill.identifier),
    )
    row.update(understand.bill_facts(bill, actions, session_end=session_end))
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    _child_rows(children, bill, actions)
    _encode_json(_B, row)
    for kind, table in zip(_CHILD_KINDS, _CHILD_TABLES, strict=True):
        for r in children[kind]:
            _encode_json(table, r)
    return {"row": row, "children": children, "session_end": session_end}


_JSON_COLUMNS: dict[str, list[tuple[str, bool]]] = {}
_JSON_MEMO: dict[tuple[str, ...], str] = {}


def _encode_json(table: Any, row: dict[str, Any]) -> None:
    """JSON columns as the JSON text bulk_insert would store (done by the importer process
    when it prepares the rows)."""
    columns = _JSON_COLUMNS.get(table.name)
    if columns is None:
        from sqlalchemy import JSON

        columns = _JSON_COLUMNS[table.name] = [
            (c.name, bool(c.nullable)) for c in table.columns if isinstance(c.type, JSON)
        ]
    for name, nullable in columns:
        if name not in row:
            continue
        value = row[name]
        if value is None and nullable:
            continue
        if type(value) is list and all(type(x) is str for x in value):
            key = tuple(value)  # classification lists repeat: encode each once
            text = _JSON_MEMO.get(key)
            if text is None:
                if len(_JSON_MEMO) > 20_000:
                    _JSON_MEMO.clear()
                text = _JSON_MEMO[key] = json.dumps(value)
            row[name] = text
        else:
            row[name] = json.dumps(value)


def _insert_new(
    conn: Connection,
    items: list[tuple[ScrapedBill | None, str, dict[str, Any] | None]],
    report: IngestReport,
    *,
    run_id: int,
    source: str,
    now: datetime,
) -> None:
    """Insert new bills: (bill, content hash, rows from :func:`prepare_new` or None)."""
    prepared = []
    for bill, h, ready in items:
        if ready is None:
            assert bill is not None
            ready = prepare_new(bill, _session_end(conn, bill.state, bill.legislative_session))
        row = ready["row"]
        row.update(primary_source=source, first_seen=now, last_checked=now, last_changed=now)
        prepared.append((ready, h))
    rows = [ready["row"] for ready, _h in prepared]
    bulk_insert(conn, _B, rows, json_encoded=True)
    ids = _ids_by_key(conn, rows)
    child: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sources, changes = [], []
    for bill_id, (ready, h) in zip(ids, prepared, strict=True):
        row, actions = ready["row"], ready["children"].get("action", [])
        base = {"bill_id": bill_id, "source": source, "first_seen": now, "removed_at": None}
        for kind in _CHILD_KINDS:
            child[kind].extend({**base, **r} for r in ready["children"].get(kind, ()))
        sources.append(
            {
                "bill_id": bill_id,
                "source": source,
                "content_hash": h,
                "stage": row["stage"],
                "first_seen": now,
                "last_seen": now,
            }
        )
        changes.append(
            _change(
                bill_id,
                run_id,
                source,
                "bill_new",
                None,
                {
                    "title": row["title"],
                    "stage": row["stage"],
                    "topic": row["topic"],
                    "relevant": row["relevant"],
                },
                actions[0]["date"] if actions else None,
                now,
            )
        )
        report.bill_ids.add(bill_id)
        report.batch_ids.append(bill_id)
        report.actions += len(actions)
    for kind, table in zip(_CHILD_KINDS, _CHILD_TABLES, strict=True):
        bulk_insert(conn, table, child[kind], json_encoded=True)
    bulk_insert(conn, _BS, sources)
    bulk_insert(conn, _C, changes)
    report.new += len(items)
    report.changes += len(changes)


def _ids_by_key(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Ids of just-inserted bills, in the order of `rows` (one query per state and session)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        groups[(r["state"], r["session"])].append(r["identifier_norm"])
    found: dict[tuple[str, str, str], int] = {}
    for (state, session), norms in groups.items():
        q = select(_B.c.id, _B.c.identifier_norm).where(
            _B.c.state == state, _B.c.session == session, _B.c.identifier_norm.in_(norms)
        )
        for bill_id, norm in conn.execute(q):
            found[(state, session, norm)] = bill_id
    return [found[(r["state"], r["session"], r["identifier_norm"])] for r in rows]


def bulk_insert(
    conn: Connection, table: Any, rows: list[dict[str, Any]], *, json_encoded: bool = False
) -> None:
    """INSERT many rows through the driver's executemany, skipping SQLAlchemy's per-row type
    processing (the hot path of a large import). JSON and timestamps are encoded here the way
    SQLAlchemy would store them, so ORM reads see the same values; ``json_encoded``: the JSON
    columns already hold their text (see :func:`prepare_new`)."""
    if not rows:
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    names = [c.name for c in columns]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join([mark] * len(names))})"  # noqa: S608 - names come from our own table
    sqlite = conn.dialect.name == "sqlite"
    pick = operator.itemgetter(*names)
    params: list[tuple[Any, ...]] = (
        [(pick(row),) for row in rows] if len(names) == 1 else [pick(row) for row in rows]
    )
    encoders = [
        (i, enc, c)
        for i, c in enumerate(columns)
        if (enc := _encoder(c, sqlite)) and not (json_encoded and not _is_time(c))
    ]
    if encoders:
        # Column by column (transposed with zip, in C): one Python call per value at most, and
        # one per distinct value for timestamps (a batch shares one `now`).
        cols = list(zip(*params, strict=True))
        for i, enc, column in encoders:
            if _is_time(column):
                memo = {v: enc(v) for v in set(cols[i])}
                cols[i] = tuple(map(memo.__getitem__, cols[i]))
            else:
                cols[i] = tuple(map(enc, cols[i]))
        params = list(zip(*cols, strict=True))
    if conn.dialect.name == "postgresql" and len(params) >= _COPY_MIN_ROWS:
        _copy_rows(conn, table.name, quoted, params)
    else:
        conn.exec_driver_sql(sql, params)


_COPY_MIN_ROWS = 50


def _copy_rows(conn: Connection, table: str, quoted: str, params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY instead of INSERT for many rows (several times faster than psycopg's
    executemany), on the same connection and so in the same transaction."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for values in params:
            copy.write_row(values)


def _is_time(column: Any) -> bool:
    from sqlalchemy import DateTime

    return isinstance(column.type, DateTime)


def _encoder(column: Any, sqlite: bool) -> Callable[[Any], Any] | None:
    from sqlalchemy import JSON, DateTime

    if isinstance(column.type, JSON):
        memo: dict[Any, str] = {}

        def encode_json(value: Any) -> Any:
            if value is None and column.nullable:
                return None
            if type(value) is list and all(type(x) is str for x in value):
                key = tuple(value)  # classification lists repeat: encode each once
                found = memo.get(key)
                if found is None:
                    found = memo[key] = json.dumps(value)
                return found
            return json.dumps(value)

        return encode_json
    if sqlite and isinstance(column.type, DateTime):

        def encode_time(value: Any) -> Any:
            return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")

        return encode_time
    return None


def _child_rows(
    out: dict[str, list[dict[str, Any]]], bill: ScrapedBill, actions: list[dict[str, Any]]
) -> None:
    """The bill's child rows by kind, without bill id, source and timestamps."""
    out["action"].extend({"position": i, **a} for i, a in enumerate(actions))
    out["sponsor"].extend(_sponsor_values(s) for s in bill.sponsorships)
    for kind, versions in (("version", bill.versions), ("document", bill.documents)):
        for v in versions:
            out["version"].extend(_version_values(kind, v))
    out["hearing"].extend(h.model_dump() for h in bill.hearings)
    out["vote"].extend(v.model_dump() for v in bill.votes)


def _sponsor_values(s: Any) -> dict[str, Any]:
    return {
        "name": s.name,
        "primary": s.primary,
        "classification": s.classification,
        "entity_type": s.entity_type,
        "chamber": s.chamber,
    }


def _version_values(kind: str, v: Any) -> list[dict[str, Any]]:
    common = {"kind": kind, "note": v.note, "date": v.date, "classification": v.classification}
    if not v.links:
        return [{**common, "url": "", "media_type": ""}]
    return [{**common, "url": link.url, "media_type": link.media_type} for link in v.links]


def _change(
    bill_id: int,
    run_id: int | None,
    source: str,
    kind: str,
    old: Any,
    new: Any,
    effective_date: str | None,
    now: datetime,
    field_name: str | None = None,
) -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "run_id": run_id,
        "source": source,
        "kind": kind,
        "field": field_name,
        "old": old,
        "new": new,
        "effective_date": effective_date,
        "seen_at": now,
    }


def _session_end(conn: Connection, state: str, session: str) -> str | None:
    cache: dict[tuple[str, str], str | None] = conn.info.setdefault("tracker_session_end", {})
    key = (state, session)
    if key not in cache:
        ls = LegislativeSession.__table__
        cache[key] = conn.execute(
            select(ls.c.end_date).where(ls.c.state == key[0], ls.c.identifier == key[1])
        ).scalar()
    return cache[key]


# --------------------------------------------------------------------------- updates


def _key_action(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["date"][:10], " ".join(a["description"].lower().split()), a.get("chamber"))


def _key_sponsor(s: dict[str, Any]) -> tuple[Any, ...]:
    return (" ".join(s["name"].lower().split()), bool(s["primary"]))


def _key_version(v: dict[str, Any]) -> tuple[Any, ...]:
    return (v["kind"], v["url"] or f"{v['note']}|{v['date']}")


def _key_hearing(h: dict[str, Any]) -> tuple[Any, ...]:
    return (h["date"], (h.get("committee") or "").lower())


def _key_vote(v: dict[str, Any]) -> tuple[Any, ...]:
    return (v.get("date"), (v.get("motion") or "").lower(), v.get("chamber"))


def _update_existing(
    conn: Connection,
    bill: ScrapedBill,
    h: str,
    bill_id: int,
    had_source: bool,
    report: IngestReport,
    *,
    run_id: int,
    source: str,
    now: datetime,
) -> None:
    changes: list[dict[str, Any]] = []
    stored = conn.execute(select(_B).where(_B.c.id == bill_id)).mappings().one()
    actions = understand.classified_actions(bill)
    new_child: dict[str, list[dict[str, Any]]] = defaultdict(list)
    _child_rows(new_child, bill, actions)
    base = {"bill_id": bill_id, "source": source, "first_seen": now, "removed_at": None}
    for rows in new_child.values():
        for r in rows:
            r.update(base)

    values: dict[str, Any] = {}
    for name, get in _FIELDS.items():
        new_value, old_value = get(bill), stored[name]
        if name == "sources":
            new_value = _union(old_value, new_value)
        if new_value in (None, "", [], {}) and old_value not in (None, "", [], {}):
            continue  # a short source never blanks what we know
        if new_value != old_value:
            values[name] = new_value
            if name in _NEWS_FIELDS:
                changes.append(
                    _change(
                        bill_id,
                        run_id,
                        source,
                        "field_changed",
                        old_value,
                        new_value,
                        None,
                        now,
                        name,
                    )
                )

    spec = (
        ("action", _A, _key_action, "action_new", "action_removed"),
        ("sponsor", _S, _key_sponsor, "sponsor_added", "sponsor_removed"),
        ("version", _V, _key_version, None, None),
        ("hearing", _H, _key_hearing, "hearing_scheduled", "hearing_removed"),
        ("vote", _VO, _key_vote, "vote_new", None),
    )
    for name, table, keyf, new_kind, removed_kind in spec:
        changes.extend(
            _diff_children(
                conn,
                table,
                new_child[name],
                keyf,
                new_kind,
                removed_kind,
                bill_id=bill_id,
                run_id=run_id,
                source=source,
                now=now,
                had_source=had_source,
            )
        )

    prefer = source_rank(source) <= source_rank(stored["primary_source"] or "zz")
    if prefer:
        values["primary_source"] = source
        primary_actions = actions
    else:
        primary_actions = _stored_actions(conn, bill_id, stored["primary_source"])
    facts = understand.bill_facts(
        bill,
        primary_actions,
        session_end=_session_end(conn, bill.state, bill.legislative_session),
        title=values.get("title", stored["title"]),
    )
    for name in ("stage", "topic", "relevant"):
        if facts[name] != stored[name]:
            kind = {"stage": "stage_changed", "topic": "topic_changed"}.get(name, "became_relevant")
            if name == "relevant" and not facts[name]:
                kind = "topic_changed"
            if name != "relevant" or facts[name]:
                changes.append(
                    _change(
                        bill_id,
                        run_id,
                        source,
                        kind,
                        stored[name],
                        facts[name],
                        facts.get("stage_date") if name == "stage" else None,
                        now,
                        name,
                    )
                )
    values.update({k: v for k, v in facts.items() if v != stored[k]})
    values["last_checked"] = now
    if changes:
        values["last_changed"] = now
    conn.execute(update(_B).where(_B.c.id == bill_id).values(**values))

    stage_seen = understand.bill_facts(
        bill, actions, session_end=_session_end(conn, bill.state, bill.legislative_session)
    )["stage"]
    if had_source:
        conn.execute(
            update(_BS)
            .where(_BS.c.bill_id == bill_id, _BS.c.source == source)
            .values(content_hash=h, last_seen=now, stage=stage_seen)
        )
    else:
        conn.execute(
            insert(_BS),
            {
                "bill_id": bill_id,
                "source": source,
                "content_hash": h,
                "stage": stage_seen,
                "first_seen": now,
                "last_seen": now,
            },
        )
    if changes:
        conn.execute(insert(_C), changes)
    report.changes += len(changes)
    report.actions += len(actions)
    report.bill_ids.add(bill_id)
    report.batch_ids.append(bill_id)
    if changes or not had_source:
        report.updated += 1
    else:
        report.unchanged += 1


def _union(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {d.get("url") for d in old}
    return list(old) + [d for d in new if d.get("url") not in seen]


def _stored_actions(conn: Connection, bill_id: int, source: str) -> list[dict[str, Any]]:
    q = (
        select(_A.c.date, _A.c.description, _A.c.chamber, _A.c.committee, _A.c.classification)
        .where(_A.c.bill_id == bill_id, _A.c.source == source, _A.c.removed_at.is_(None))
        .order_by(_A.c.position)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def _diff_children(
    conn: Connection,
    table: Any,
    new_rows: list[dict[str, Any]],
    keyf: Callable[[dict[str, Any]], tuple[Any, ...]],
    new_kind: str | None,
    removed_kind: str | None,
    *,
    bill_id: int,
    run_id: int,
    source: str,
    now: datetime,
    had_source: bool,
) -> list[dict[str, Any]]:
    """Insert rows this source reports for the first time, mark vanished ones removed.

    Change rows are written only for news: a row another source already reported is stored
    for this source without a change.
    """
    stored = [
        dict(r) for r in conn.execute(select(table).where(table.c.bill_id == bill_id)).mappings()
    ]
    mine: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    others: set[tuple[Any, ...]] = set()
    for row in stored:
        if row["source"] == source:
            mine[keyf(row)].append(row)
        elif row["removed_at"] is None:
            others.add(keyf(row))
    changes: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    matched: set[int] = set()
    for row in new_rows:
        key = keyf(row)
        candidates = [r for r in mine.get(key, []) if r["id"] not in matched]
        if candidates:
            old = candidates[0]
            matched.add(old["id"])
            updates = {
                k: v
                for k, v in row.items()
                if k not in ("first_seen", "bill_id", "source") and old.get(k) != v
            }
            if updates:
                conn.execute(update(table).where(table.c.id == old["id"]).values(**updates))
                if table is _H and old["removed_at"] is None and new_kind:
                    changes.append(
                        _change(
                            bill_id,
                            run_id,
                            source,
                            "hearing_changed",
                            _public(old),
                            _public(row),
                            row["date"],
                            now,
                        )
                    )
            continue
        inserts.append(row)
        if key in others:
            continue
        kind = new_kind or f"{row['kind']}_new"
        changes.append(
            _change(bill_id, run_id, source, kind, None, _public(row), row.get("date"), now)
        )
    if inserts:
        conn.execute(insert(table), inserts)
    if removed_kind or table is _V:
        for rows in mine.values():
            for old in rows:
                if old["id"] in matched or old["removed_at"] is not None:
                    continue
                conn.execute(update(table).where(table.c.id == old["id"]).values(removed_at=now))
                if removed_kind:
                    changes.append(
                        _change(
                            bill_id,
                            run_id,
                            source,
                            removed_kind,
                            _public(old),
                            None,
                            old.get("date"),
                            now,
                        )
                    )
    return changes


_PRIVATE = {"id", "bill_id", "source", "first_seen", "removed_at", "position"}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _PRIVATE}
