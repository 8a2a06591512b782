"""Small query functions that give each page its data as plain dicts (templates never query)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from tracker.identifiers import normalize_identifier
from tracker.models import (
    Action,
    Bill,
    BillLink,
    BillSource,
    Change,
    Hearing,
    LegislativeSession,
    Run,
    Sponsorship,
    Version,
    Vote,
)
from tracker.stages import compute_stage, ladder
from tracker.vocab import (
    ALL_STAGES,
    STAGES,
    STATE_NAMES,
    TERMINAL_STAGES,
    stage_text,
    state_name,
)
from tracker.web.urls import bill_path_of

_B, _A, _S, _V, _H, _VO = (
    Bill.__table__,
    Action.__table__,
    Sponsorship.__table__,
    Version.__table__,
    Hearing.__table__,
    Vote.__table__,
)
_L, _C, _R, _BS, _LS = (
    BillLink.__table__,
    Change.__table__,
    Run.__table__,
    BillSource.__table__,
    LegislativeSession.__table__,
)

# How far a stage got, for colouring the map: a veto still reached the governor's desk;
# failed, withdrawn and died-in-committee bills count below a live introduced one.
# [stages] An adopted resolution is not a law: it ranks below any bill that passed a chamber.
MAP_RANK: dict[str, float] = {s: i + 1.0 for i, s in enumerate(STAGES)}
MAP_RANK.update(vetoed=MAP_RANK["sent_to_governor"] + 0.5, failed=0.5, withdrawn=0.4, dead=0.3)
MAP_RANK.update(adopted=MAP_RANK["passed_one_chamber"] - 0.5)

# Tile-grid map of the states (row, column), after NPR's layout; DC and PR at the edge.
TILES: dict[str, tuple[int, int]] = {
    "ak": (0, 0),
    "me": (0, 10),
    "vt": (1, 9),
    "nh": (1, 10),
    "wa": (2, 0),
    "id": (2, 1),
    "mt": (2, 2),
    "nd": (2, 3),
    "mn": (2, 4),
    "il": (2, 5),
    "wi": (2, 6),
    "mi": (2, 7),
    "ny": (2, 8),
    "ri": (2, 9),
    "ma": (2, 10),
    "or": (3, 0),
    "nv": (3, 1),
    "wy": (3, 2),
    "sd": (3, 3),
    "ia": (3, 4),
    "in": (3, 5),
    "oh": (3, 6),
    "pa": (3, 7),
    "nj": (3, 8),
    "ct": (3, 9),
    "ca": (4, 0),
    "ut": (4, 1),
    "co": (4, 2),
    "ne": (4, 3),
    "mo": (4, 4),
    "ky": (4, 5),
    "wv": (4, 6),
    "va": (4, 7),
    "md": (4, 8),
    "de": (4, 9),
    "az": (5, 1),
    "nm": (5, 2),
    "ks": (5, 3),
    "ar": (5, 4),
    "tn": (5, 5),
    "nc": (5, 6),
    "sc": (5, 7),
    "dc": (5, 8),
    "ok": (6, 3),
    "la": (6, 4),
    "ms": (6, 5),
    "al": (6, 6),
    "ga": (6, 7),
    "hi": (7, 0),
    "tx": (7, 3),
    "fl": (7, 8),
    "pr": (7, 10),
}
_OK_RUNS = ("ok", "partial")


def furthest(stages: list[str]) -> str | None:
    known = [s for s in stages if s in MAP_RANK]
    return max(known, key=lambda s: MAP_RANK[s]) if known else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


# --------------------------------------------------------------------------- overview


def overview(conn: Connection) -> dict[str, Any]:
    """Every state with bills: counts, furthest stage of tracked bills, last action, freshness."""
    counts = conn.execute(
        select(_B.c.state, func.count(), func.max(_B.c.latest_action_date)).group_by(_B.c.state)
    ).all()
    tracked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cols = [
        _B.c.id,
        _B.c.state,
        _B.c.session,
        _B.c.identifier,
        _B.c.identifier_norm,
        _B.c.title,
        _B.c.stage,
        _B.c.topic,
        _B.c.latest_action_date,
        _B.c.latest_action_description,
    ]
    rows = conn.execute(
        select(*cols)
        .where(_B.c.relevant.is_(True))
        .order_by(_B.c.state, _B.c.latest_action_date.desc().nulls_last())
    )
    for row in rows:
        tracked[row.state].append(_bill_summary(row._mapping))
    runs = last_runs(conn)
    states = []
    for code, n, last_date in counts:
        bills = tracked.get(code, [])
        states.append(
            {
                "code": code,
                "name": state_name(code),
                "bills": n,
                "tracked": bills,
                "furthest": furthest([b["stage"] for b in bills]),
                "last_action": bills[0] if bills else None,
                "last_action_date": last_date,
                "last_checked": (runs.get(code) or {}).get("finished_at"),
                "last_run": runs.get(code),
            }
        )
    states.sort(key=lambda s: (-len(s["tracked"]), s["name"]))
    by_code = {s["code"]: s for s in states}
    tiles = [
        {
            "code": c,
            "row": r,
            "col": k,
            "name": state_name(c),
            "stage": (by_code[c]["furthest"] if c in by_code else None),
            "has_bills": c in by_code,
            "tracked": len(by_code[c]["tracked"]) if c in by_code else 0,
        }
        for c, (r, k) in TILES.items()
    ]
    return {
        "states": states,
        "tiles": tiles,
        "total_tracked": sum(len(s["tracked"]) for s in states),
        "total_bills": sum(s["bills"] for s in states),
    }


def _bill_summary(m: Any) -> dict[str, Any]:
    d = dict(m)
    d["path"] = bill_path_of(d)
    return d


_RUNS_CACHE: dict[tuple[str, Any, Any], dict[str, dict[str, Any]]] = {}


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    """The latest successful run per state (runs with no state count for every state they fed).

    Which states a national import fed takes a pass over every bill's sources, so the answer
    is kept until a new run or a new bill appears (two primary-key lookups to check).
    """
    key = (
        conn.engine.url.render_as_string(hide_password=True),
        conn.execute(select(func.max(_R.c.id))).scalar(),
        conn.execute(select(func.max(_B.c.id))).scalar(),
    )
    if key not in _RUNS_CACHE:
        if len(_RUNS_CACHE) > 16:
            _RUNS_CACHE.clear()
        _RUNS_CACHE[key] = _last_runs(conn)
    return _RUNS_CACHE[key]


def _last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    q = (
        select(_R.c.state, _R.c.source, func.max(_R.c.finished_at))
        .where(_R.c.status.in_(_OK_RUNS))
        .group_by(_R.c.state, _R.c.source)
    )
    out: dict[str, dict[str, Any]] = {}
    national: list[tuple[str, Any]] = []
    for state, source, finished in conn.execute(q):
        if state:
            _keep_latest(out, state, source, finished)
        else:
            national.append((source, finished))
    if national:
        fed = conn.execute(
            select(_B.c.state, _BS.c.source)
            .select_from(_B.join(_BS, _BS.c.bill_id == _B.c.id))
            .distinct()
        ).all()
        latest = dict(national)
        for state, source in fed:
            if source in latest:
                _keep_latest(out, state, source, latest[source])
    return out


def _keep_latest(out: dict[str, dict[str, Any]], state: str, source: str, finished: Any) -> None:
    if finished is None:
        return
    when = _iso(finished)
    if state not in out or (when or "") > (out[state]["finished_at"] or ""):
        out[state] = {"source": source, "finished_at": when}


# --------------------------------------------------------------------------- state


def state_page(conn: Connection, code: str) -> dict[str, Any] | None:
    code = code.lower()
    total = conn.execute(select(func.count()).where(_B.c.state == code)).scalar_one()
    if code not in STATE_NAMES and not total:
        return None
    cols = [
        _B.c.id,
        _B.c.state,
        _B.c.session,
        _B.c.identifier,
        _B.c.identifier_norm,
        _B.c.title,
        _B.c.stage,
        _B.c.topic,
        _B.c.relevant,
        _B.c.latest_action_date,
        _B.c.latest_action_description,
    ]
    noteworthy = conn.execute(
        select(*cols)
        .where(_B.c.state == code, or_(_B.c.relevant.is_(True), _B.c.topic.not_in(("none",))))
        .order_by(_B.c.session.desc(), _B.c.latest_action_date.desc().nulls_last())
    ).all()
    sessions = _sessions(conn, code)
    tracked, related = [], []
    for row in noteworthy:
        (tracked if row.relevant else related).append(_bill_summary(row._mapping))
    return {
        "code": code,
        "name": state_name(code),
        "total": total,
        "sessions": sessions,
        "stage_columns": [s for s in ALL_STAGES if any(dict(x["stages"]).get(s) for x in sessions)],
        "last_import": last_runs(conn).get(code),
        "tracked_by_session": _group_by_session_stage(tracked),
        "tracked_count": len(tracked),
        "related": related[:200],
        "changes": recent_changes(conn, state=code, limit=40),
        "runs": state_runs(conn, code),
    }


def _sessions(conn: Connection, code: str) -> list[dict[str, Any]]:
    names = {r.identifier: r for r in conn.execute(select(_LS).where(_LS.c.state == code))}
    q = (
        select(_B.c.session, _B.c.stage, func.count())
        .where(_B.c.state == code)
        .group_by(_B.c.session, _B.c.stage)
    )
    grid: dict[str, dict[str, int]] = defaultdict(dict)
    for session, stage, n in conn.execute(q):
        grid[session][stage or "introduced"] = grid[session].get(stage or "introduced", 0) + n
    out = []
    for session in sorted(grid, reverse=True):
        meta = names.get(session)
        out.append(
            {
                "identifier": session,
                "name": meta.name if meta else session,
                "start_date": meta.start_date if meta else None,
                "end_date": meta.end_date if meta else None,
                "stages": [(s, grid[session].get(s, 0)) for s in ALL_STAGES],
                "total": sum(grid[session].values()),
            }
        )
    return out


def _group_by_session_stage(bills: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for b in bills:
        grouped[b["session"]][b["stage"] or "introduced"].append(b)
    return [
        {"session": s, "stages": [(st, grouped[s][st]) for st in ALL_STAGES if grouped[s][st]]}
        for s in sorted(grouped, reverse=True)
    ]


def state_runs(conn: Connection, code: str, limit: int = 10) -> list[dict[str, Any]]:
    q = (
        select(_R)
        .where(or_(_R.c.state == code, _R.c.source.like(f"scrape:{code}%")))
        .order_by(_R.c.started_at.desc())
        .limit(limit)
    )
    return [_run(r._mapping) for r in conn.execute(q)]


def _run(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "source": m["source"],
        "kind": m["kind"],
        "status": m["status"],
        "started_at": _iso(m["started_at"]),
        "finished_at": _iso(m["finished_at"]),
        "counts": m["counts"] or {},
        "errors": (m["errors"] or [])[:5],
        "message": m["message"],
    }


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
    q = select(
        _C.c.id,
        _C.c.kind,
        _C.c.field,
        _C.c.old,
        _C.c.new,
        _C.c.effective_date,
        _C.c.seen_at,
        _C.c.source,
        _B.c.state,
        _B.c.session,
        _B.c.identifier,
        _B.c.identifier_norm,
        _B.c.title,
    ).select_from(_C.join(_B, _B.c.id == _C.c.bill_id))
    if bill_ids is None and (state or topic):
        # the bills first (few), then their changes by the change.bill_id index: walking the
        # whole change history newest-first for a state with no tracked bills is slow
        conds = [_B.c.state == state] if state else []
        conds += [_B.c.topic == topic] if topic else []
        conds += [_B.c.relevant.is_(True)] if relevant_only else []
        bill_ids = bill_ids_where(conn, *conds)
    if bill_ids is None and relevant_only:
        q = q.where(_B.c.relevant.is_(True))
    if bill_ids is not None:
        # newest first among these bills' changes, picked by the change.bill_id index; an
        # ORDER BY seen_at plan would walk the whole history looking for them
        found = conn.execute(
            select(_C.c.id, _C.c.seen_at).where(_C.c.bill_id.in_(bill_ids or [-1]))
        ).all()
        newest = sorted(found, key=lambda r: (_iso(r.seen_at) or "", r.id), reverse=True)
        q = q.where(_C.c.id.in_([r.id for r in newest[:limit]]))
    else:
        q = q.order_by(_C.c.seen_at.desc(), _C.c.id.desc()).limit(limit)
    out = []
    for row in conn.execute(q):
        d = dict(row._mapping)
        d["seen_at"] = _iso(d["seen_at"])
        d["path"] = bill_path_of(d)
        d["summary"] = describe_change(d["kind"], d["field"], d["old"], d["new"])
        out.append(d)
    out.sort(key=lambda d: (d["seen_at"] or "", d["id"]), reverse=True)
    return out


def describe_change(kind: str, field: str | None, old: Any, new: Any) -> str:
    """One plain-text line saying what changed (the template escapes it)."""
    new = new if new is not None else {}
    old = old if old is not None else {}
    from tracker.vocab import STAGE_LABELS, TOPIC_LABELS

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
    if kind == "topic_changed":
        return (
            f"Topic: {TOPIC_LABELS.get(str(old), old or '?')} → {TOPIC_LABELS.get(str(new), new)}"
        )
    if kind == "became_relevant":
        return "Now tracked as single-payer legislation" if new else "No longer tracked"
    if kind == "field_changed":
        return f"Changed {field or 'a field'}"
    return kind.replace("_", " ")


# --------------------------------------------------------------------------- bill


def find_bill_id(conn: Connection, state: str, session: str, identifier: str) -> int | None:
    return conn.execute(
        select(_B.c.id).where(
            _B.c.state == state.lower(),
            _B.c.session == session,
            _B.c.identifier_norm == normalize_identifier(identifier),
        )
    ).scalar_one_or_none()


def _last_checked(conn: Connection, bill: dict[str, Any]) -> Any:
    """When a source last reported this bill: re-imports of unchanged bills write nothing to the
    bill row, so the newest successful run of any of its sources counts too."""
    from tracker.models import BillSource, Run

    bs, run = BillSource.__table__, Run.__table__
    sources = select(bs.c.source).where(bs.c.bill_id == bill["id"])
    latest = conn.execute(
        select(func.max(run.c.finished_at)).where(
            run.c.source.in_(sources),
            run.c.status.in_(("ok", "partial")),
            (run.c.state.is_(None)) | (run.c.state == bill["state"]),
        )
    ).scalar()
    candidates = [t for t in (bill["last_checked"], latest) if t is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda t: t.replace(tzinfo=None) if hasattr(t, "replace") else t)


def bill_page(conn: Connection, bill_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(_B).where(_B.c.id == bill_id)).first()
    if row is None:
        return None
    bill = dict(row._mapping)
    bill["path"] = bill_path_of(bill)
    bill["last_checked"] = _last_checked(conn, bill)
    for key in ("first_seen", "last_checked", "last_changed"):
        bill[key] = _iso(bill[key])
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


def _actions(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    """Actions of every source, in date order, with duplicates across sources merged."""
    q = select(
        _A.c.date,
        _A.c.description,
        _A.c.chamber,
        _A.c.committee,
        _A.c.classification,
        _A.c.source,
        _A.c.position,
    ).where(_A.c.bill_id == bill_id, _A.c.removed_at.is_(None))
    rows = sorted(conn.execute(q), key=lambda r: (r.date[:10], _source_rank(r.source), r.position))
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (r.date[:10], " ".join(r.description.lower().split()))
        if key in seen:
            continue
        seen.add(key)
        out.append(dict(r._mapping))
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


def _sponsors(conn: Connection, bill_id: int) -> dict[str, Any]:
    rows = conn.execute(
        select(_S).where(_S.c.bill_id == bill_id).order_by(_S.c.primary.desc(), _S.c.id)
    ).all()
    current: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.removed_at is None and r.name.lower() not in current:
            current[r.name.lower()] = {
                "name": r.name,
                "primary": r.primary,
                "classification": r.classification,
                "chamber": r.chamber,
            }
    return {"current": list(current.values()), "history": cosponsor_history(rows)}


def cosponsor_history(rows: list[Any]) -> list[dict[str, Any]]:
    """Count of distinct sponsors after each day something changed (first_seen / removed_at)."""
    events: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in rows:
        if r.first_seen:
            events[_iso(r.first_seen)[:10]].append((r.name.lower(), +1))
        if r.removed_at:
            events[_iso(r.removed_at)[:10]].append((r.name.lower(), -1))
    active: dict[str, int] = defaultdict(int)
    out = []
    for day in sorted(events):
        for name, delta in events[day]:
            active[name] += delta
        out.append({"date": day, "count": sum(1 for v in active.values() if v > 0)})
    return out


def _versions(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    q = (
        select(_V.c.kind, _V.c.note, _V.c.date, _V.c.url, _V.c.media_type, _V.c.classification)
        .where(_V.c.bill_id == bill_id, _V.c.removed_at.is_(None))
        .order_by(_V.c.kind.desc(), _V.c.date.nulls_last(), _V.c.id)
    )
    seen: set[str] = set()
    out = []
    for r in conn.execute(q):
        if r.url in seen:
            continue
        seen.add(r.url)
        d = dict(r._mapping)
        d["safe_url"] = safe_url(r.url)
        out.append(d)
    return out


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered as links: a scraped ``javascript:`` URL stays text."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def _hearings(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    q = (
        select(
            _H.c.id,
            _H.c.date,
            _H.c.committee,
            _H.c.location,
            _H.c.description,
            _H.c.chamber,
            _H.c.status,
        )
        .where(_H.c.bill_id == bill_id, _H.c.removed_at.is_(None))
        .order_by(_H.c.date)
    )
    today = date.today().isoformat()
    return [{**dict(r._mapping), "upcoming": r.date[:10] >= today} for r in conn.execute(q)]


def _votes(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    q = (
        select(
            _VO.c.date, _VO.c.motion, _VO.c.result, _VO.c.chamber, _VO.c.yes, _VO.c.no, _VO.c.other
        )
        .where(_VO.c.bill_id == bill_id, _VO.c.removed_at.is_(None))
        .order_by(_VO.c.date.nulls_last())
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def bill_links(conn: Connection, bill_id: int) -> list[dict[str, Any]]:
    """Lineage in both directions: companions, earlier sessions and later reintroductions."""
    other = _B.alias("o")
    out = []
    seen: set[tuple[str, str]] = set()  # companions are stored both ways; show each once
    for mine, theirs, outgoing in (
        (_L.c.bill_id, _L.c.other_bill_id, True),
        (_L.c.other_bill_id, _L.c.bill_id, False),
    ):
        q = (
            select(
                _L.c.relation,
                _L.c.score,
                _L.c.evidence,
                other.c.state,
                other.c.session,
                other.c.identifier,
                other.c.identifier_norm,
                other.c.title,
                other.c.stage,
            )
            .select_from(_L.join(other, other.c.id == theirs))
            .where(mine == bill_id)
        )
        for r in conn.execute(q):
            d = dict(r._mapping)
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


def _sources(conn: Connection, bill: dict[str, Any]) -> dict[str, Any]:
    reports = conn.execute(
        select(_BS.c.source, _BS.c.first_seen, _BS.c.last_seen, _BS.c.stage)
        .where(_BS.c.bill_id == bill["id"])
        .order_by(_BS.c.source)
    ).all()
    links = [
        {"url": s.get("url"), "note": s.get("note") or "", "safe_url": safe_url(s.get("url"))}
        for s in bill["sources"]
        if s.get("url")
    ]
    return {
        "links": links,
        "reports": [
            {
                "source": r.source,
                "first_seen": _iso(r.first_seen),
                "last_seen": _iso(r.last_seen),
                "stage": r.stage,
            }
            for r in reports
        ],
    }


# --------------------------------------------------------------------------- hearings, API


def upcoming_hearings(
    conn: Connection,
    *,
    state: str | None = None,
    relevant_only: bool = True,
    today: date | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    since = (today or date.today()).isoformat()
    q = (
        select(
            _H.c.id,
            _H.c.date,
            _H.c.committee,
            _H.c.location,
            _H.c.description,
            _H.c.chamber,
            _H.c.status,
            _H.c.first_seen,
            _B.c.state,
            _B.c.session,
            _B.c.identifier,
            _B.c.identifier_norm,
            _B.c.title,
        )
        .select_from(_H.join(_B, _B.c.id == _H.c.bill_id))
        .where(_H.c.removed_at.is_(None), _H.c.date >= since)
    )
    if state:
        q = q.where(_B.c.state == state)
    if relevant_only:
        q = q.where(_B.c.relevant.is_(True))
    q = q.order_by(_H.c.date, _H.c.id).limit(limit)
    return [{**dict(r._mapping), "path": bill_path_of(r._mapping)} for r in conn.execute(q)]


def states_summary(conn: Connection) -> list[dict[str, Any]]:
    data = overview(conn)
    return [
        {
            "code": s["code"],
            "name": s["name"],
            "bills": s["bills"],
            "tracked": len(s["tracked"]),
            "furthest_stage": s["furthest"],
            "last_action_date": s["last_action_date"],
            "last_checked": s["last_checked"],
            "last_run": s["last_run"],
        }
        for s in data["states"]
    ]


def bill_ids_where(conn: Connection, *conds: Any) -> list[int]:
    return list(conn.execute(select(_B.c.id).where(and_(*conds))).scalars())
