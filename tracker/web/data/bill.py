"""The bill page: actions merged across sources, the stage bar, sponsors, versions, hearings,
votes, lineage links and which sources reported the bill."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, func, select

from tracker.identifiers import normalize_identifier
from tracker.stages import compute_stage, ladder
from tracker.urls import bill_path_of
from tracker.vocab import TERMINAL_STAGES, stage_text
from tracker.web.data.changes import recent_changes
from tracker.web.data.common import (
    OK_RUNS,
    Prepared,
    action_table,
    bill_source_table,
    bill_table,
    hearing_table,
    iso,
    link_table,
    run_table,
    safe_url,
    sponsorship_table,
    version_table,
    vote_table,
)

# The page's statements are built once: building a select() and its cache key each request
# cost more CPU than SQLite's answering it.
BILL_ID: BindParameter[Any] = bindparam("bill_id")
_FIND_BILL = Prepared(
    select(bill_table.c.id).where(
        bill_table.c.state == bindparam("state"),
        bill_table.c.session == bindparam("session"),
        bill_table.c.identifier_norm == bindparam("norm"),
    )
)


def find_bill_id(conn: Connection, state: str, session: str, identifier: str) -> int | None:
    params = {"state": state.lower(), "session": session, "norm": normalize_identifier(identifier)}
    return _FIND_BILL.scalar_one_or_none(conn, params)


_LAST_RUN = Prepared(
    select(func.max(run_table.c.finished_at)).where(
        run_table.c.source.in_(
            select(bill_source_table.c.source).where(bill_source_table.c.bill_id == BILL_ID)
        ),
        run_table.c.status.in_(OK_RUNS),
        (run_table.c.state.is_(None)) | (run_table.c.state == bindparam("state")),
    )
)
_BILL = Prepared(select(bill_table).where(bill_table.c.id == BILL_ID))


def _last_checked(conn: Connection, bill: dict[str, Any]) -> Any:
    """When a source last reported this bill: re-imports of unchanged bills write nothing to the
    bill row, so the newest successful run of any of its sources counts too."""
    latest = _LAST_RUN.scalar(conn, {"bill_id": bill["id"], "state": bill["state"]})
    candidates = [t for t in (bill["last_checked"], latest) if t is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda t: t.replace(tzinfo=None) if hasattr(t, "replace") else t)


def bill_page(conn: Connection, bill_id: int) -> dict[str, Any] | None:
    bill = _BILL.first(conn, {"bill_id": bill_id})
    if bill is None:
        return None
    bill["path"] = bill_path_of(bill)
    bill["last_checked"] = _last_checked(conn, bill)
    for key in ("first_seen", "last_checked", "last_changed"):
        bill[key] = iso(bill[key])
    actions = _actions(conn, bill_id)
    sponsors = _sponsors(conn, bill_id)
    return {
        "bill": bill,
        "actions": actions,
        "stage_bar": stage_bar(bill["stage"], actions, bill),
        "sponsors": sponsors["current"],
        "cosponsor_history": sponsors["history"],
        "versions": _versions(conn, bill_id),
        "hearings": _hearings(conn, bill_id),
        "votes": _votes(conn, bill_id),
        "links": bill_links(conn, bill_id),
        "sources": _sources(conn, bill),
        "changes": recent_changes(conn, bill_ids=[bill_id], limit=30),
        "official_url": next((u for s in bill["sources"] if (u := safe_url(s.get("url")))), None),
    }


_ACTIONS = Prepared(
    select(
        action_table.c.date,
        action_table.c.description,
        action_table.c.chamber,
        action_table.c.committee,
        action_table.c.classification,
        action_table.c.source,
        action_table.c.position,
    ).where(action_table.c.bill_id == BILL_ID, action_table.c.removed_at.is_(None))
)


def _actions(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    """Actions of every source, in date order, with duplicates across sources merged."""
    rows = sorted(
        _ACTIONS.dicts(conn, {"bill_id": bill_id}),
        key=lambda r: (r["date"][:10], _source_rank(r["source"]), r["position"]),
    )
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (r["date"][:10], " ".join(r["description"].lower().split()))
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out


def _source_rank(source: str) -> int:
    from tracker.ingest import source_rank

    return source_rank(source)


def stage_bar(
    stage: str | None, actions: list[dict[str, Any]], bill: dict[str, Any]
) -> dict[str, Any]:
    """The ladder of this kind of measure (a resolution's ends at adopted) with the step reached;
    for a terminal stage, or a bill that fell back, the furthest step it reached is marked too."""
    stage = stage or "introduced"
    steps_of = ladder(bill.get("classification"), bill.get("identifier"))
    furthest = bill.get("furthest_stage")
    if furthest is None:  # rows stored before furthest_stage existed: recompute from the actions
        furthest = compute_stage(
            actions,
            bill_chamber=bill.get("chamber"),
            bill_classification=bill.get("classification"),
            identifier=bill.get("identifier"),
        ).furthest
    current = steps_of.index(stage) if stage in steps_of else -1
    best = steps_of.index(furthest) if furthest in steps_of else 0
    steps = [
        {"stage": s, "done": i <= max(current, best), "current": i == current}
        for i, s in enumerate(steps_of)
    ]
    return {
        "steps": steps,
        "terminal": stage if stage in TERMINAL_STAGES else None,
        "stage": stage,
        "furthest": furthest,
        "label": stage_text(stage, furthest),
        "reason": (bill.get("stage_reason") or {}).get("reason"),
        "date": bill.get("stage_date"),
    }


_SPONSORS = Prepared(
    select(sponsorship_table)
    .where(sponsorship_table.c.bill_id == BILL_ID)
    .order_by(sponsorship_table.c.primary.desc(), sponsorship_table.c.id)
)


def _sponsors(conn: Connection, bill_id: int) -> dict[str, Any]:
    rows = _SPONSORS.dicts(conn, {"bill_id": bill_id})
    current: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["removed_at"] is None and r["name"].lower() not in current:
            current[r["name"].lower()] = {
                "name": r["name"],
                "primary": r["primary"],
                "classification": r["classification"],
                "chamber": r["chamber"],
            }
    return {"current": list(current.values()), "history": cosponsor_history(rows)}


def cosponsor_history(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Count of distinct sponsors after each day something changed (first_seen / removed_at)."""
    events: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in rows:
        if r["first_seen"]:
            events[(iso(r["first_seen"]) or "")[:10]].append((r["name"].lower(), +1))
        if r["removed_at"]:
            events[(iso(r["removed_at"]) or "")[:10]].append((r["name"].lower(), -1))
    active: dict[str, int] = defaultdict(int)
    out = []
    for day in sorted(events):
        for name, delta in events[day]:
            active[name] += delta
        out.append({"date": day, "count": sum(1 for v in active.values() if v > 0)})
    return out


_VERSIONS = Prepared(
    select(
        version_table.c.kind,
        version_table.c.note,
        version_table.c.date,
        version_table.c.url,
        version_table.c.media_type,
        version_table.c.classification,
    )
    .where(version_table.c.bill_id == BILL_ID, version_table.c.removed_at.is_(None))
    .order_by(version_table.c.kind.desc(), version_table.c.date.nulls_last(), version_table.c.id)
)


def _versions(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for d in _VERSIONS.dicts(conn, {"bill_id": bill_id}):
        if d["url"] in seen:
            continue
        seen.add(d["url"])
        d["safe_url"] = safe_url(d["url"])
        out.append(d)
    return out


_HEARINGS = Prepared(
    select(
        hearing_table.c.id,
        hearing_table.c.date,
        hearing_table.c.committee,
        hearing_table.c.location,
        hearing_table.c.description,
        hearing_table.c.chamber,
        hearing_table.c.status,
    )
    .where(hearing_table.c.bill_id == BILL_ID, hearing_table.c.removed_at.is_(None))
    .order_by(hearing_table.c.date)
)


def _hearings(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    today = date.today().isoformat()
    return [
        {**r, "upcoming": r["date"][:10] >= today}
        for r in _HEARINGS.dicts(conn, {"bill_id": bill_id})
    ]


_VOTES = Prepared(
    select(
        vote_table.c.date,
        vote_table.c.motion,
        vote_table.c.result,
        vote_table.c.chamber,
        vote_table.c.yes,
        vote_table.c.no,
        vote_table.c.other,
    )
    .where(vote_table.c.bill_id == BILL_ID, vote_table.c.removed_at.is_(None))
    .order_by(vote_table.c.date.nulls_last())
)


def _votes(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    return _VOTES.dicts(conn, {"bill_id": bill_id})


def _links_query(mine: Any, theirs: Any) -> Any:
    other = bill_table.alias("o")
    return (
        select(
            link_table.c.relation,
            link_table.c.score,
            link_table.c.evidence,
            other.c.state,
            other.c.session,
            other.c.identifier,
            other.c.identifier_norm,
            other.c.title,
            other.c.stage,
        )
        .select_from(link_table.join(other, other.c.id == theirs))
        .where(mine == BILL_ID)
    )


_LINKS = (  # (statement, whether the link points from this bill)
    (Prepared(_links_query(link_table.c.bill_id, link_table.c.other_bill_id)), True),
    (Prepared(_links_query(link_table.c.other_bill_id, link_table.c.bill_id)), False),
)


def bill_links(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    """Lineage in both directions: companions, earlier sessions and later reintroductions."""
    out = []
    seen: set[tuple[str, str]] = set()  # companions are stored both ways; show each once
    for q, outgoing in _LINKS:
        for d in q.dicts(conn, {"bill_id": bill_id}):
            d["path"] = bill_path_of(d)
            d["label"] = _relation_label(d["relation"], outgoing)
            key = (d["label"], d["path"])
            if key not in seen:
                seen.add(key)
                out.append(d)
    out.sort(key=lambda d: (d["relation"], d["session"]), reverse=True)
    return out


def _relation_label(relation: str, outgoing: bool) -> str:
    if relation == "prior-session":
        return "Earlier session" if outgoing else "Reintroduced later as"
    if relation == "companion":
        return "Companion bill"
    return "Related bill"


_SOURCES = Prepared(
    select(
        bill_source_table.c.source,
        bill_source_table.c.first_seen,
        bill_source_table.c.last_seen,
        bill_source_table.c.stage,
    )
    .where(bill_source_table.c.bill_id == BILL_ID)
    .order_by(bill_source_table.c.source)
)


def _sources(conn: Connection, bill: dict[str, Any]) -> dict[str, Any]:
    reports = _SOURCES.dicts(conn, {"bill_id": bill["id"]})
    links = [
        {"url": s.get("url"), "note": s.get("note") or "", "safe_url": safe_url(s.get("url"))}
        for s in bill["sources"]
        if s.get("url")
    ]
    return {
        "links": links,
        "reports": [
            {
                "source": r["source"],
                "first_seen": iso(r["first_seen"]),
                "last_seen": iso(r["last_seen"]),
                "stage": r["stage"],
            }
            for r in reports
        ],
    }
