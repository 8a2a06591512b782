"""Change rows as the pages and feeds show them: newest first, each with a one-line summary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select

from tracker.urls import bill_path_of
from tracker.vocab import STAGE_LABELS, TOPIC_LABELS
from tracker.web.data.common import Prepared, bill_ids_where, bill_table, change_table, iso

# Built once (a bill page asks for its changes on every request).
_CHANGES = select(
    change_table.c.id,
    change_table.c.kind,
    change_table.c.field,
    change_table.c.old,
    change_table.c.new,
    change_table.c.effective_date,
    change_table.c.seen_at,
    change_table.c.source,
    bill_table.c.state,
    bill_table.c.session,
    bill_table.c.identifier,
    bill_table.c.identifier_norm,
    bill_table.c.title,
).select_from(change_table.join(bill_table, bill_table.c.id == change_table.c.bill_id))
_CHANGES_BY_ID = _CHANGES.where(change_table.c.id.in_(bindparam("ids", expanding=True)))
_CHANGES_OF_BILLS = select(change_table.c.id, change_table.c.seen_at).where(
    change_table.c.bill_id.in_(bindparam("bill_ids", expanding=True))
)
# one bill's (its page's): an expanding IN renders the statement anew on every execution
_CHANGES_OF_BILL = Prepared(
    select(change_table.c.id, change_table.c.seen_at).where(
        change_table.c.bill_id == bindparam("bill_id")
    )
)


# The change rows of a page by id, one statement per number of ids (up to this many): an
# expanding IN is rendered anew on every execution.
PREPARED_IDS = 50
_CHANGES_BY_COUNT: dict[int, Prepared] = {}


def _changes_by_id(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    if len(ids) > PREPARED_IDS:
        return [dict(r._mapping) for r in conn.execute(_CHANGES_BY_ID, {"ids": ids})]
    prepared = _CHANGES_BY_COUNT.get(len(ids))
    if prepared is None:
        binds: list[Any] = [bindparam(f"id{i}") for i in range(len(ids))]
        prepared = Prepared(_CHANGES.where(change_table.c.id.in_(binds)))
        prepared = _CHANGES_BY_COUNT.setdefault(len(ids), prepared)
    return prepared.dicts(conn, {f"id{i}": change_id for i, change_id in enumerate(ids)})


def recent_changes(
    conn: Connection,
    *,
    state: str | None = None,
    topic: str | None = None,
    bill_ids: list[int] | None = None,
    relevant_only: bool = True,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Latest change rows joined with their bill, newest first."""
    if bill_ids is None and (state or topic):
        # the bills first (few), then their changes by the change.bill_id index: walking the
        # whole change history newest-first for a state with no tracked bills is slow
        conds = [bill_table.c.state == state] if state else []
        conds += [bill_table.c.topic == topic] if topic else []
        conds += [bill_table.c.relevant.is_(True)] if relevant_only else []
        bill_ids = bill_ids_where(conn, *conds)
    if bill_ids is not None:
        # newest first among these bills' changes, picked by the change.bill_id index; an
        # ORDER BY seen_at plan would walk the whole history looking for them
        if len(bill_ids) == 1:
            found = _CHANGES_OF_BILL.dicts(conn, {"bill_id": bill_ids[0]})
        else:
            found = [
                dict(r._mapping)
                for r in conn.execute(_CHANGES_OF_BILLS, {"bill_ids": bill_ids or [-1]})
            ]
        newest = sorted(found, key=lambda r: (iso(r["seen_at"]) or "", r["id"]), reverse=True)
        rows = _changes_by_id(conn, [r["id"] for r in newest[:limit]])
    else:
        q = _CHANGES
        if relevant_only:
            q = q.where(bill_table.c.relevant.is_(True))
        ordered = q.order_by(change_table.c.seen_at.desc(), change_table.c.id.desc()).limit(limit)
        rows = [dict(row._mapping) for row in conn.execute(ordered)]
    out = []
    for d in rows:
        d["seen_at"] = iso(d["seen_at"])
        d["path"] = bill_path_of(d)
        d["summary"] = describe_change(d["kind"], d["field"], d["old"], d["new"])
        out.append(d)
    out.sort(key=lambda d: (d["seen_at"] or "", d["id"]), reverse=True)
    return out


def describe_change(kind: str, field: str | None, old: Any, new: Any) -> str:
    """One plain-text line saying what changed (the template escapes it)."""
    new = new if new is not None else {}
    old = old if old is not None else {}

    def get(d: Any, k: str) -> Any:
        return d.get(k) if isinstance(d, dict) else None

    if kind == "bill_new":
        return f"New bill: {get(new, 'title') or ''}".strip()
    if kind == "action_new":
        return f"Action {get(new, 'date') or ''}: {get(new, 'description') or ''}"
    if kind == "action_removed":
        return f"Action no longer listed: {get(old, 'description') or ''}"
    if kind in ("sponsor_added", "sponsor_removed"):
        person = get(new, "name") or get(old, "name") or ""
        return ("Sponsor added: " if kind == "sponsor_added" else "Sponsor removed: ") + person
    if kind in ("version_new", "document_new"):
        label = "New version" if kind == "version_new" else "New document"
        return f"{label}: {get(new, 'note') or get(new, 'url') or ''}"
    if kind.startswith("hearing"):
        what = {
            "hearing_scheduled": "Hearing scheduled",
            "hearing_changed": "Hearing changed",
            "hearing_removed": "Hearing cancelled",
        }.get(kind, "Hearing")
        h = new or old
        return f"{what}: {get(h, 'date') or ''} {get(h, 'committee') or ''}".strip()
    if kind == "vote_new":
        return f"Vote: {get(new, 'motion') or ''} {get(new, 'result') or ''}".strip()
    if kind == "stage_changed":
        return (
            f"Stage: {STAGE_LABELS.get(str(old), old or '?')} → {STAGE_LABELS.get(str(new), new)}"
        )
    if kind == "topic_changed" and field == "topic_decision":
        words = {
            "yes": "single-payer",
            "possible": "possibly single-payer",
            "no": "not single-payer",
        }
        return f"Decision: {words.get(str(old), old or '?')} → {words.get(str(new), new)}"
    if kind == "topic_changed":
        return (
            f"Topic: {TOPIC_LABELS.get(str(old), old or '?')} → {TOPIC_LABELS.get(str(new), new)}"
        )
    if kind == "became_relevant":
        return "Now tracked as single-payer legislation" if new else "No longer tracked"
    if kind == "field_changed":
        return f"Changed {field or 'a field'}"
    return kind.replace("_", " ")
