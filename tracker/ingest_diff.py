"""A bill ingest already has, against what one source says now: field, child and fact changes.

Each source is diffed only against itself: its actions, sponsors, versions, hearings and votes
carry the source that reported them, so two sources describing one bill never make each
other's rows look removed, and a change row is written only when no source had reported the
item before. Nothing is deleted: a vanished child gets ``removed_at`` and a change row. The
bill's stage and topic come from its preferred source (:func:`source_rank`).

Absence is not deletion: only a child list the bill gives in full (``ScrapedBill.gives``) can
remove a stored child; a list the source did not provide leaves them alone, and the bill's
stage then follows this source's stored actions. Removals are not written here: they are
handed to the run (``report.removals``), which writes them at its end unless they are a mass
removal (see ``tracker.ingest.apply_removals``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, update

from tracker import understand
from tracker.ingest_rows import (
    FIELDS,
    NEWS_FIELDS,
    action_table,
    bill_source_table,
    bill_table,
    change_row,
    change_table,
    child_rows,
    hearing_table,
    sponsorship_table,
    stored_session_end,
    version_table,
    vote_table,
)
from tracker.scraped import ScrapedBill

if TYPE_CHECKING:
    from tracker.ingest import IngestReport

Row = dict[str, Any]
# Change kinds of the bill's understood facts when they move.
FACT_CHANGES = {"stage": "stage_changed", "topic": "topic_changed", "relevant": "became_relevant"}


def source_rank(source: str) -> int:
    """Lower is preferred: a state's own scraper, then Open States, then LegiScan."""
    if source.startswith("scrape"):
        return 0
    if "openstates" in source:
        return 1
    if "legiscan" in source:
        return 2
    return 3


@dataclass(frozen=True)
class _Writer:
    """Who is writing: the bill, the run and source, and the one timestamp of the batch."""

    bill_id: int
    run_id: int | None
    source: str
    now: datetime

    def change(
        self,
        kind: str,
        *,
        old: Any,
        new: Any,
        effective_date: str | None = None,
        field_name: str | None = None,
    ) -> Row:
        return change_row(
            bill_id=self.bill_id,
            run_id=self.run_id,
            source=self.source,
            kind=kind,
            old=old,
            new=new,
            effective_date=effective_date,
            now=self.now,
            field_name=field_name,
        )


def _key_action(a: Row) -> tuple[Any, ...]:
    return (a["date"][:10], " ".join(a["description"].lower().split()), a.get("chamber"))


def _key_sponsor(s: Row) -> tuple[Any, ...]:
    return (" ".join(s["name"].lower().split()), bool(s["primary"]))


def _key_version(v: Row) -> tuple[Any, ...]:
    return (v["kind"], v["url"] or f"{v['note']}|{v['date']}")


def _key_hearing(h: Row) -> tuple[Any, ...]:
    return (h["date"], (h.get("committee") or "").lower())


def _key_vote(v: Row) -> tuple[Any, ...]:
    return (v.get("date"), (v.get("motion") or "").lower(), v.get("chamber"))


@dataclass(frozen=True)
class _Children:
    """One kind of child row: its table, its natural key, the change kinds it writes."""

    name: str
    table: Any
    key: Callable[[Row], tuple[Any, ...]]
    new_kind: str | None  # None: versions name their own kind (version_new, document_new)
    removed_kind: str | None
    field: str  # the ScrapedBill list (versions: documents too, by the row's kind)

    def given(self, bill: ScrapedBill, row: Row) -> bool:
        """`bill` gives the list `row` (a stored child of this kind) belongs to in full."""
        if self.table is version_table:
            return bill.gives("documents" if row["kind"] == "document" else "versions")
        return bill.gives(self.field)


CHILDREN = (
    _Children("action", action_table, _key_action, "action_new", "action_removed", "actions"),
    _Children(
        "sponsor",
        sponsorship_table,
        _key_sponsor,
        "sponsor_added",
        "sponsor_removed",
        "sponsorships",
    ),
    _Children("version", version_table, _key_version, None, None, "versions"),
    _Children(
        "hearing", hearing_table, _key_hearing, "hearing_scheduled", "hearing_removed", "hearings"
    ),
    _Children("vote", vote_table, _key_vote, "vote_new", None, "votes"),
)


@dataclass(frozen=True)
class Stored:
    """What the database holds for a batch's known bills, read in a few queries instead of six
    per bill: each bill's row and, per child table, its child rows in the order one bill's own
    query gives them on SQLite (source, then id: the ``(bill_id, source)`` index)."""

    bills: dict[int, Any]
    children: dict[str, dict[int, list[Row]]]


def read_stored(conn: Connection, bill_ids: list[int]) -> Stored:
    """The stored rows :func:`update_existing` diffs against, for all of `bill_ids` at once
    (one query per table per 900 bills). Read before any of them is updated: each update
    touches only its own bill's rows."""
    bills: dict[int, Any] = {}
    children: dict[str, dict[int, list[Row]]] = {c.table.name: {} for c in CHILDREN}
    ids = sorted(set(bill_ids))
    for at in range(0, len(ids), 900):
        chunk = ids[at : at + 900]
        for row in conn.execute(select(bill_table).where(bill_table.c.id.in_(chunk))).mappings():
            bills[row["id"]] = row
        for kind in CHILDREN:
            table = kind.table
            by_bill = children[table.name]
            query = (
                select(table)
                .where(table.c.bill_id.in_(chunk))
                .order_by(table.c.bill_id, table.c.source, table.c.id)
            )
            for child in conn.execute(query).mappings():
                by_bill.setdefault(child["bill_id"], []).append(dict(child))
    return Stored(bills, children)


@dataclass(frozen=True)
class Removal:
    """A stored child this source no longer lists: marked removed at the run's end."""

    state: str
    table: Any
    child_id: int
    change: Row | None  # its change row (None: a kind whose removal is not news)


@dataclass
class Writes:
    """The writes of a batch's updates (:func:`update_existing`), held until :meth:`flush`
    writes them together: one ``executemany`` per table (inserts) and per table and column set
    (updates) instead of several statements per bill. Inserts keep their order per table, so
    ids come in the order writing them bill by bill gave. Holding them changes no read: each
    update reads only its own bill's rows, and those that its own writes change are read after
    a flush (:func:`_actions_of`)."""

    inserts: dict[Any, list[Row]] = field(default_factory=dict)  # table -> rows, in order
    # (table, WHERE columns, SET columns) -> parameters (WHERE values as w_<column>)
    updates: dict[tuple[Any, tuple[str, ...], tuple[str, ...]], list[Row]] = field(
        default_factory=dict
    )

    def insert(self, table: Any, rows: list[Row]) -> None:
        self.inserts.setdefault(table, []).extend(rows)

    def update(self, table: Any, where: Row, values: Row) -> None:
        """``UPDATE table SET values WHERE`` each column of `where` equals its value."""
        key = (table, tuple(where), tuple(sorted(values)))
        params = {f"w_{k}": v for k, v in where.items()}
        params.update(values)
        self.updates.setdefault(key, []).append(params)

    def flush(self, conn: Connection) -> None:
        """Write what is held (inserts first, table by table), then hold nothing."""
        inserts, updates = self.inserts, self.updates
        self.inserts, self.updates = {}, {}
        for table, rows in inserts.items():
            # One executemany per run of rows with the same columns (they all have them:
            # SQLAlchemy would take a statement's columns from its first row).
            start = 0
            for at in range(1, len(rows) + 1):
                if at == len(rows) or rows[at].keys() != rows[start].keys():
                    conn.execute(insert(table), rows[start:at])
                    start = at
        for (table, where, columns), params in updates.items():
            stmt = (
                update(table)
                .where(*[table.c[k] == bindparam(f"w_{k}") for k in where])
                .values({k: bindparam(k) for k in columns})
            )
            conn.execute(stmt, params)


def update_existing(
    conn: Connection,
    bill: ScrapedBill,
    *,
    digest: str,
    bill_id: int,
    had_source: bool,
    report: IngestReport,
    run_id: int,
    source: str,
    now: datetime,
    read: Stored | None = None,
    writes: Writes | None = None,
) -> None:
    """Diff `bill` (from `source`) into the stored bill `bill_id` and record its changes.
    ``read``: the stored rows, read for the whole batch (:func:`read_stored`); else read here.
    ``writes``: the batch's held writes, written by the caller (``writes.flush(conn)``) after
    its last update; else written here."""
    writer = _Writer(bill_id=bill_id, run_id=run_id, source=source, now=now)
    if read is None:
        read = read_stored(conn, [bill_id])
    held = writes if writes is not None else Writes()
    stored = read.bills[bill_id]
    actions = understand.classified_actions(bill)
    values, changes = _field_changes(bill, stored, writer)
    child_changes, removals = _children_changes(bill, actions, writer, read, held)
    changes += child_changes
    report.removals.extend(removals)
    # Actions not given: the stage follows what this source said before (never "no actions"),
    # its actions as stored after this bill's own action rows were written.
    fact_actions = (
        actions
        if bill.gives("actions")
        else _actions_of(conn, read, held, bill_id, source, written=bool(actions))
    )
    stage_seen = _fact_changes(
        conn, bill, stored, fact_actions, values, changes, writer, read, held
    )
    values["last_checked"] = now
    if changes:
        values["last_changed"] = now
    held.update(bill_table, {"id": bill_id}, values)
    _record_source(held, writer, digest=digest, stage=stage_seen, had_source=had_source)
    if changes:
        held.insert(change_table, changes)
    if writes is None:
        held.flush(conn)
    report.changes += len(changes)
    report.actions += len(actions)
    report.bill_ids.add(bill_id)
    report.batch_ids.append(bill_id)
    if changes or removals or not had_source:
        report.updated += 1
    else:
        report.unchanged += 1


def _field_changes(bill: ScrapedBill, stored: Any, writer: _Writer) -> tuple[Row, list[Row]]:
    """(new column values, change rows) for the scalar fields; a short source never blanks."""
    values: Row = {}
    changes: list[Row] = []
    for name, get in FIELDS.items():
        new_value, old_value = get(bill), stored[name]
        if name == "sources":
            new_value = _union(old_value, new_value)
        if new_value in (None, "", [], {}) and old_value not in (None, "", [], {}):
            continue  # a short source never blanks what we know
        if new_value != old_value:
            values[name] = new_value
            if name in NEWS_FIELDS:
                changes.append(
                    writer.change("field_changed", old=old_value, new=new_value, field_name=name)
                )
    return values, changes


def _children_changes(
    bill: ScrapedBill, actions: list[Row], writer: _Writer, read: Stored, writes: Writes
) -> tuple[list[Row], list[Removal]]:
    """Change rows for new and updated children, and the stored ones to mark removed."""
    new_child: dict[str, list[Row]] = defaultdict(list)
    child_rows(new_child, bill, actions)
    base = {"bill_id": writer.bill_id, "source": writer.source, "first_seen": writer.now}
    changes: list[Row] = []
    removals: list[Removal] = []
    for children in CHILDREN:
        rows = [{**r, **base, "removed_at": None} for r in new_child[children.name]]
        stored = read.children[children.table.name].get(writer.bill_id, [])
        changes += _diff_children(
            writes, children, rows, stored, writer, bill=bill, removals=removals
        )
    return changes, removals


def _fact_changes(
    conn: Connection,
    bill: ScrapedBill,
    stored: Any,
    actions: list[Row],
    values: Row,
    changes: list[Row],
    writer: _Writer,
    read: Stored,
    writes: Writes,
) -> str:
    """Stage, topic and relevance from the preferred source, once; their changes go into
    `values` and `changes`. Returns the stage by this source's own actions (for bill_source)."""
    session_end = stored_session_end(conn, bill.state, bill.legislative_session)
    prefer = source_rank(writer.source) <= source_rank(stored["primary_source"] or "zz")
    if prefer:
        values["primary_source"] = writer.source
        primary_actions = actions
    else:
        # Another source's rows: none of this batch's writes touch them.
        primary_actions = _actions_of(
            conn, read, writes, writer.bill_id, stored["primary_source"], written=False
        )
    facts = understand.bill_facts(
        bill,
        primary_actions,
        session_end=session_end,
        title=values.get("title", stored["title"]),
    )
    for name, kind in FACT_CHANGES.items():
        if facts[name] == stored[name] or (name == "relevant" and not facts[name]):
            continue  # losing relevance is told by topic_changed
        changes.append(
            writer.change(
                kind,
                old=stored[name],
                new=facts[name],
                effective_date=facts.get("stage_date") if name == "stage" else None,
                field_name=name,
            )
        )
    changes += _decision_change(facts, stored, writer)
    values.update({k: v for k, v in facts.items() if v != stored[k]})
    if prefer:
        return facts["stage"]
    return understand.stage_of(bill, actions, session_end=session_end).stage


def _decision_change(facts: Row, stored: Any, writer: _Writer) -> list[Row]:
    """A change row when only the topic decision moves (`no` -> `possible`, a `possible` bill
    whose new text settles it...): a topic change already tells of the rest."""
    old, new = stored["topic_decision"], facts["topic_decision"]
    if old == new or old is None or facts["topic"] != stored["topic"]:
        return []
    return [writer.change("topic_changed", old=old, new=new, field_name="topic_decision")]


def _record_source(
    writes: Writes, writer: _Writer, *, digest: str, stage: str, had_source: bool
) -> None:
    """This source's content hash and own stage for the bill."""
    table = bill_source_table
    if had_source:
        writes.update(
            table,
            {"bill_id": writer.bill_id, "source": writer.source},
            {"content_hash": digest, "last_seen": writer.now, "stage": stage},
        )
        return
    writes.insert(
        table,
        [
            {
                "bill_id": writer.bill_id,
                "source": writer.source,
                "content_hash": digest,
                "stage": stage,
                "first_seen": writer.now,
                "last_seen": writer.now,
            }
        ],
    )


def _union(old: list[Row], new: list[Row]) -> list[Row]:
    seen = {d.get("url") for d in old}
    return list(old) + [d for d in new if d.get("url") not in seen]


_ACTION_COLUMNS = ("date", "description", "chamber", "committee", "classification")


def _stored_actions(conn: Connection, bill_id: int, source: str) -> list[Row]:
    """`source`'s stored actions of the bill, not removed, in their order."""
    a = action_table.c
    q = (
        select(*[a[name] for name in _ACTION_COLUMNS])
        .where(a.bill_id == bill_id, a.source == source, a.removed_at.is_(None))
        .order_by(a.position)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def _actions_of(
    conn: Connection, read: Stored, writes: Writes, bill_id: int, source: str, *, written: bool
) -> list[Row]:
    """:func:`_stored_actions`, taken from the batch's read when it must be the same: no held
    write of this batch changes `source`'s action rows of the bill (``written``: this bill's
    own update wrote some), and no two of them share a position (an order the database picks;
    a held mass removal or a partial list can leave such). Else the held writes are written
    and the database asked."""
    if not written:
        rows = [
            r
            for r in read.children[action_table.name].get(bill_id, ())
            if r["source"] == source and r["removed_at"] is None
        ]
        if len({r["position"] for r in rows}) == len(rows):
            rows.sort(key=itemgetter("position"))
            return [{name: r[name] for name in _ACTION_COLUMNS} for r in rows]
    writes.flush(conn)
    return _stored_actions(conn, bill_id, source)


def _diff_children(
    writes: Writes,
    children: _Children,
    new_rows: list[Row],
    stored: list[Row],
    writer: _Writer,
    *,
    bill: ScrapedBill,
    removals: list[Removal],
) -> list[Row]:
    """Insert rows this source reports for the first time; vanished ones of a list the bill
    gives in full go to `removals`.

    Change rows are written only for news: a row another source already reported is stored
    for this source without a change.
    """
    table, keyf = children.table, children.key
    mine: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    others: set[tuple[Any, ...]] = set()
    for row in stored:
        if row["source"] == writer.source:
            mine[keyf(row)].append(row)
        elif row["removed_at"] is None:
            others.add(keyf(row))
    changes: list[Row] = []
    inserts: list[Row] = []
    matched: set[int] = set()
    for row in new_rows:
        key = keyf(row)
        candidates = [r for r in mine.get(key, []) if r["id"] not in matched]
        if candidates:
            old = candidates[0]
            matched.add(old["id"])
            changes += _update_child(writes, children, old, row, writer)
            continue
        inserts.append(row)
        if key in others:
            continue
        kind = children.new_kind or f"{row['kind']}_new"
        changes.append(
            writer.change(kind, old=None, new=_public(row), effective_date=row.get("date"))
        )
    if inserts:
        writes.insert(table, inserts)
    if children.removed_kind or table is version_table:
        removals += _vanished(children, mine, matched, writer, bill=bill)
    return changes


def _update_child(
    writes: Writes, children: _Children, old: Row, row: Row, writer: _Writer
) -> list[Row]:
    """Update a child this source reported before; a moved hearing is news."""
    table = children.table
    updates = {
        k: v
        for k, v in row.items()
        if k not in ("first_seen", "bill_id", "source") and old.get(k) != v
    }
    if not updates:
        return []
    writes.update(table, {"id": old["id"]}, updates)
    if table is hearing_table and old["removed_at"] is None and children.new_kind:
        return [
            writer.change(
                "hearing_changed", old=_public(old), new=_public(row), effective_date=row["date"]
            )
        ]
    return []


def _vanished(
    children: _Children,
    mine: dict[tuple[Any, ...], list[Row]],
    matched: set[int],
    writer: _Writer,
    *,
    bill: ScrapedBill,
) -> list[Removal]:
    """Children this source no longer reports, in a list the bill gives in full."""
    out: list[Removal] = []
    for rows in mine.values():
        for old in rows:
            if old["id"] in matched or old["removed_at"] is not None:
                continue
            if not children.given(bill, old):
                continue  # absence is not deletion: the source did not give this list
            change = (
                writer.change(
                    children.removed_kind,
                    old=_public(old),
                    new=None,
                    effective_date=old.get("date"),
                )
                if children.removed_kind
                else None
            )
            out.append(Removal(bill.state, children.table, old["id"], change))
    return out


_PRIVATE = {"id", "bill_id", "source", "first_seen", "removed_at", "position"}


def _public(row: Row) -> Row:
    return {k: v for k, v in row.items() if k not in _PRIVATE}
