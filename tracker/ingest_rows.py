"""The rows ingest writes: a new bill's rows (computed ahead by importer processes when they
can), the bulk writer, and ``change`` rows.

:func:`prepare_new` turns a ``ScrapedBill`` into plain rows (understanding included: classified
actions, stage, topic) without touching the database, so :mod:`tracker.collect.parallel` can
run it in a worker; :func:`insert_new` writes a batch of them; :func:`bulk_insert` is the hot
path of a large import (the driver's executemany, COPY on PostgreSQL).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from tracker import understand
from tracker.identifiers import display_identifier, normalize_identifier
from tracker.models import (
    Action,
    Bill,
    BillSource,
    Change,
    Hearing,
    LegislativeSession,
    Sponsorship,
    Version,
    Vote,
)
from tracker.scraped import ScrapedBill, ScrapedHearing, ScrapedVote

if TYPE_CHECKING:
    from tracker.ingest import IngestReport

bill_table = Bill.__table__
bill_source_table = BillSource.__table__
action_table = Action.__table__
sponsorship_table = Sponsorship.__table__
version_table = Version.__table__
hearing_table = Hearing.__table__
vote_table = Vote.__table__
change_table = Change.__table__
session_table = LegislativeSession.__table__

# Scalar bill columns that ingest compares (column name -> how to read it off a ScrapedBill).
FIELDS: dict[str, Callable[[ScrapedBill], Any]] = {
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
NEWS_FIELDS = {"title", "abstracts", "subjects", "text"}


CHILD_KINDS = ("action", "sponsor", "version", "hearing", "vote")


CHILD_TABLES = (action_table, sponsorship_table, version_table, hearing_table, vote_table)


def prepare_new(bill: ScrapedBill, session_end: str | None) -> dict[str, Any]:
    """A new bill's rows, without database state (ids, source, timestamps): plain JSON types,
    so an importer process can compute them ahead (:mod:`tracker.collect.parallel`).
    ``session_end`` is recorded: the stage depends on it. Child rows are lists of values in
    the order of :data:`NEW_CHILD_KEYS` (JSON columns already encoded): no dict per row to
    build, send between processes, decode and take apart again."""
    actions = understand.classified_actions(bill)
    row = {name: get(bill) for name, get in FIELDS.items()}
    row.update(
        state=bill.state,
        session=bill.legislative_session,
        identifier=display_identifier(bill.identifier),
        identifier_norm=normalize_identifier(bill.identifier),
    )
    row.update(understand.bill_facts(bill, actions, session_end=session_end))
    _encode_json(bill_table, row)
    return {"row": row, "children": new_child_values(bill, actions), "session_end": session_end}


# The columns of a new bill's child rows, in the order prepare_new gives their values.
NEW_CHILD_KEYS: dict[str, tuple[str, ...]] = {
    "action": ("position", "date", "description", "chamber", "committee", "classification"),
    "sponsor": ("name", "primary", "classification", "entity_type", "chamber"),
    "version": ("kind", "note", "date", "classification", "url", "media_type"),
    "hearing": tuple(ScrapedHearing.model_fields),
    "vote": tuple(ScrapedVote.model_fields),
}
_ACTION_DATE = NEW_CHILD_KEYS["action"].index("date")


def new_child_values(
    bill: ScrapedBill, actions: list[dict[str, Any]]
) -> dict[str, list[list[Any]]]:
    """:func:`child_rows` as lists of values (see :data:`NEW_CHILD_KEYS`), the action
    classification as its JSON text; only the kinds the bill has."""
    out: dict[str, list[list[Any]]] = {}
    if actions:
        text = _json_list_text
        out["action"] = [
            [
                i,
                a["date"],
                a["description"],
                a["chamber"],
                a["committee"],
                text(a["classification"]),
            ]
            for i, a in enumerate(actions)
        ]
    if bill.sponsorships:
        out["sponsor"] = [
            [s.name, s.primary, s.classification, s.entity_type, s.chamber]
            for s in bill.sponsorships
        ]
    versions = [
        [kind, v.note, v.date, v.classification, link.url, link.media_type]
        for kind, items in (("version", bill.versions), ("document", bill.documents))
        for v in items
        for link in (v.links or (_NO_LINK,))
    ]
    if versions:
        out["version"] = versions
    if bill.hearings:
        out["hearing"] = [list(h.model_dump().values()) for h in bill.hearings]
    if bill.votes:
        out["vote"] = [list(v.model_dump().values()) for v in bill.votes]
    return out


class _NoLink:
    """A version without links is stored once, with an empty url and media type."""

    url = ""
    media_type = ""


_NO_LINK = _NoLink()


def _json_list_text(value: list[Any]) -> str:
    """``json.dumps(value)`` as :func:`_encode_rows` stores it (memoised for lists of strings)."""
    if not value or type(value[0]) is str:
        key = tuple(value)
        try:
            text = _JSON_MEMO.get(key)
        except TypeError:  # an unhashable item: not a list of strings
            return json_dumps(value)
        if text is not None:
            return text
        if all(type(x) is str for x in value):
            if len(_JSON_MEMO) > 20_000:
                _JSON_MEMO.clear()
            text = _JSON_MEMO[key] = json_dumps(value)
            return text
    return json_dumps(value)


def _json_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings, without building an encoder per call (half
    the cost of a short value; a bill row has a dozen JSON columns). The same C encoder
    json.dumps uses, with the same separators, ASCII escaping and float spelling, so the text
    is byte for byte json.dumps' (see tests). No check for circular references: values here
    are a validated bill's plain data, never cyclic."""
    import json.encoder

    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if c_make_encoder is None:  # a Python without the C speedups
        return json.dumps
    defaults = json.encoder.JSONEncoder()
    encode = c_make_encoder(
        None,
        defaults.default,
        json.encoder.encode_basestring_ascii,
        defaults.indent,
        defaults.key_separator,
        defaults.item_separator,
        defaults.sort_keys,
        defaults.skipkeys,
        defaults.allow_nan,
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


json_dumps = _json_dumps()


_JSON_COLUMNS: dict[str, list[tuple[str, bool]]] = {}


_JSON_MEMO: dict[tuple[str, ...], str] = {}


def _json_columns(table: Any) -> list[tuple[str, bool]]:
    """(name, nullable) of the table's JSON columns."""
    columns = _JSON_COLUMNS.get(table.name)
    if columns is None:
        from sqlalchemy import JSON

        columns = _JSON_COLUMNS[table.name] = [
            (c.name, bool(c.nullable)) for c in table.columns if isinstance(c.type, JSON)
        ]
    return columns


def _encode_json(table: Any, row: dict[str, Any]) -> None:
    """JSON columns as the JSON text bulk_insert would store (done by the importer process
    when it prepares the rows)."""
    _encode_rows(_JSON_COLUMNS.get(table.name) or _json_columns(table), (row,))


def _encode_rows(columns: list[tuple[str, bool]], rows: Iterable[dict[str, Any]]) -> None:
    """:func:`_encode_json` for many rows of one table (its JSON `columns`)."""
    memo = _JSON_MEMO
    for row in rows:
        for name, nullable in columns:
            if name not in row:
                continue
            value = row[name]
            if value is None and nullable:
                continue
            if type(value) is list and (not value or type(value[0]) is str):
                # classification lists repeat: encode each once. A tuple equal to a stored key
                # holds only strings, so a hit needs no check of the items.
                key = tuple(value)
                try:
                    text = memo.get(key)
                except TypeError:  # an unhashable item: not a list of strings
                    text = None
                if text is None:
                    if not all(type(x) is str for x in value):
                        row[name] = json_dumps(value)
                        continue
                    if len(memo) > 20_000:
                        memo.clear()
                    text = memo[key] = json_dumps(value)
                row[name] = text
            else:
                row[name] = json_dumps(value)


def insert_new(
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
            ready = prepare_new(
                bill, stored_session_end(conn, bill.state, bill.legislative_session)
            )
        row = ready["row"]
        row.update(primary_source=source, first_seen=now, last_checked=now, last_changed=now)
        prepared.append((ready, h))
    rows = [ready["row"] for ready, _h in prepared]
    bulk_insert(conn, bill_table, rows, json_encoded=True)
    ids = _ids_by_key(conn, rows)
    child = _Children(conn, source, now)
    sources, changes = [], []
    for bill_id, (ready, h) in zip(ids, prepared, strict=True):
        row, children = ready["row"], ready["children"]
        actions = children.get("action", ())
        for kind, kids in children.items():
            child.add(kind, bill_id, kids)
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
            change_row(
                bill_id=bill_id,
                run_id=run_id,
                source=source,
                kind="bill_new",
                old=None,
                new={
                    "title": row["title"],
                    "stage": row["stage"],
                    "topic": row["topic"],
                    "relevant": row["relevant"],
                },
                effective_date=actions[0][_ACTION_DATE] if actions else None,
                now=now,
            )
        )
        report.bill_ids.add(bill_id)
        report.batch_ids.append(bill_id)
        report.actions += len(actions)
    child.write()
    bulk_insert(conn, bill_source_table, sources)
    bulk_insert(conn, change_table, changes)
    report.new += len(items)
    report.changes += len(changes)


_CHILD_HEAD = ("bill_id", "source", "first_seen", "removed_at")


class _Children:
    """A batch's child rows (lists of values from :func:`prepare_new`, JSON already encoded)
    as the parameter tuples of ``INSERT (bill_id, source, first_seen, removed_at, *keys)``."""

    def __init__(self, conn: Connection, source: str, now: datetime) -> None:
        self.conn, self.source = conn, source
        self.tables = dict(zip(CHILD_KINDS, CHILD_TABLES, strict=True))
        self.stamp = {}  # `now` as bulk_insert stores it in each table's first_seen
        for kind, table in self.tables.items():
            encode = _encoder(table.c.first_seen, conn)
            self.stamp[kind] = encode(now) if encode is not None else now
        self.params: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def add(self, kind: str, bill_id: int, rows: list[list[Any]]) -> None:
        head = (bill_id, self.source, self.stamp[kind], None)
        self.params[kind].extend([(*head, *r) for r in rows])

    def write(self) -> None:
        for kind, table in self.tables.items():
            if self.params[kind]:
                names = (*_CHILD_HEAD, *NEW_CHILD_KEYS[kind])
                _execute_rows(self.conn, table, names, self.params[kind])


def _ids_by_key(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Ids of just-inserted bills, in the order of `rows` (one query per state and session)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        groups[(r["state"], r["session"])].append(r["identifier_norm"])
    found: dict[tuple[str, str, str], int] = {}
    for (state, session), norms in groups.items():
        q = select(bill_table.c.id, bill_table.c.identifier_norm).where(
            bill_table.c.state == state,
            bill_table.c.session == session,
            bill_table.c.identifier_norm.in_(norms),
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
    pick = operator.itemgetter(*names)
    params: list[tuple[Any, ...]] = (
        [(pick(row),) for row in rows] if len(names) == 1 else [pick(row) for row in rows]
    )
    encoders = [
        (i, enc, c)
        for i, c in enumerate(columns)
        if (enc := _encoder(c, conn)) and not (json_encoded and not _is_time(c))
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
    _execute_rows(conn, table, names, params)


def _execute_rows(
    conn: Connection, table: Any, names: Sequence[str], params: list[tuple[Any, ...]]
) -> None:
    """INSERT rows of values (already as the driver stores them) into `names` of `table`."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
    if conn.dialect.name == "postgresql" and len(params) >= _COPY_MIN_ROWS:
        _copy_rows(conn, table.name, quoted, params)
    else:
        sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join([mark] * len(names))})"  # noqa: S608 - names come from our own table
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


def _encoder(column: Any, conn: Connection) -> Callable[[Any], Any] | None:
    """How a value of `column` goes to the driver when it needs encoding here: JSON as its
    text; a timestamp as SQLite's text, or on PostgreSQL (``timestamptz``, an aware datetime)
    as the text psycopg sends for it (what COPY writes; as a parameter, PostgreSQL reads it as
    the column's type). Timestamps are encoded once per distinct value (see the memo in
    :func:`bulk_insert`): a batch's one `now`, instead of once per row by the driver (1.3 of
    the 2 us COPY spent on a child row went to its timestamp)."""
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
                    found = memo[key] = json_dumps(value)
                return found
            return json_dumps(value)

        return encode_json
    if not isinstance(column.type, DateTime):
        return None
    if conn.dialect.name == "sqlite":

        def encode_time(value: Any) -> Any:
            return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")

        return encode_time
    if conn.dialect.name == "postgresql" and column.type.timezone:
        from psycopg.adapt import PyFormat, Transformer

        transformer = Transformer(conn.connection.driver_connection)

        def encode_aware(value: Any) -> Any:
            if type(value) is not datetime or value.utcoffset() is None:
                return value  # the driver's own way
            dumped = transformer.get_dumper(value, PyFormat.TEXT).dump(value)
            return value if dumped is None else bytes(dumped).decode()

        return encode_aware
    return None


def child_rows(
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


def change_row(
    *,
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
    """One ``change`` row: what changed (`kind`, `field_name`), from `old` to `new`."""
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


def stored_session_end(conn: Connection, state: str, session: str) -> str | None:
    cache: dict[tuple[str, str], str | None] = conn.info.setdefault("tracker_session_end", {})
    key = (state, session)
    if key not in cache:
        cache[key] = conn.execute(
            select(session_table.c.end_date).where(
                session_table.c.state == key[0], session_table.c.identifier == key[1]
            )
        ).scalar()
    return cache[key]
