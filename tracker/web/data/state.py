"""The state page: sessions by stage, tracked and related bills, recent changes and runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, or_, select

from tracker.vocab import ALL_STAGES, STATE_NAMES, state_name
from tracker.web.data.changes import recent_changes
from tracker.web.data.common import bill_summary, bill_table, iso, run_table, session_table
from tracker.web.data.overview import last_runs


def state_page(conn: Connection, code: str) -> dict[str, Any] | None:
    code = code.lower()
    total = conn.execute(select(func.count()).where(bill_table.c.state == code)).scalar_one()
    if code not in STATE_NAMES and not total:
        return None
    cols = [
        bill_table.c.id,
        bill_table.c.state,
        bill_table.c.session,
        bill_table.c.identifier,
        bill_table.c.identifier_norm,
        bill_table.c.title,
        bill_table.c.stage,
        bill_table.c.topic,
        bill_table.c.relevant,
        bill_table.c.latest_action_date,
        bill_table.c.latest_action_description,
    ]
    noteworthy = conn.execute(
        select(*cols)
        .where(
            bill_table.c.state == code,
            or_(bill_table.c.relevant.is_(True), bill_table.c.topic.not_in(("none",))),
        )
        .order_by(bill_table.c.session.desc(), bill_table.c.latest_action_date.desc().nulls_last())
    ).all()
    sessions = _sessions(conn, code)
    tracked: list[dict[str, Any]] = []
    related: list[dict[str, Any]] = []
    for row in noteworthy:
        (tracked if row.relevant else related).append(bill_summary(row._mapping))
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
    names = {
        r.identifier: r
        for r in conn.execute(select(session_table).where(session_table.c.state == code))
    }
    q = (
        select(bill_table.c.session, bill_table.c.stage, func.count())
        .where(bill_table.c.state == code)
        .group_by(bill_table.c.session, bill_table.c.stage)
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
        select(run_table)
        .where(or_(run_table.c.state == code, run_table.c.source.like(f"scrape:{code}%")))
        .order_by(run_table.c.started_at.desc())
        .limit(limit)
    )
    return [_run(r._mapping) for r in conn.execute(q)]


def _run(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "source": m["source"],
        "kind": m["kind"],
        "status": m["status"],
        "started_at": iso(m["started_at"]),
        "finished_at": iso(m["finished_at"]),
        "counts": m["counts"] or {},
        "errors": (m["errors"] or [])[:5],
        "message": m["message"],
    }
