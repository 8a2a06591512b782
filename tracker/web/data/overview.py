"""The overview page (every state, the tile map) and the per-state summary the API serves."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from tracker.vocab import STAGES, state_name
from tracker.web.data.common import (
    OK_RUNS,
    bill_source_table,
    bill_summary,
    bill_table,
    iso,
    run_table,
)

# How far a stage got, for colouring the map: a veto still reached the governor's desk;
# failed, withdrawn and died-in-committee bills count below a live introduced one.
MAP_RANK: dict[str, float] = {s: i + 1.0 for i, s in enumerate(STAGES)}
MAP_RANK.update(vetoed=MAP_RANK["sent_to_governor"] + 0.5, failed=0.5, withdrawn=0.4, dead=0.3)
# An adopted resolution is not a law: it ranks below any bill that passed a chamber.
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


def furthest(stages: list[str]) -> str | None:
    known = [s for s in stages if s in MAP_RANK]
    return max(known, key=lambda s: MAP_RANK[s]) if known else None


def overview(conn: Connection) -> dict[str, Any]:
    """Every state with bills: counts, furthest stage of tracked bills, last action, freshness."""
    counts = conn.execute(
        select(
            bill_table.c.state, func.count(), func.max(bill_table.c.latest_action_date)
        ).group_by(bill_table.c.state)
    ).all()
    tracked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cols = [
        bill_table.c.id,
        bill_table.c.state,
        bill_table.c.session,
        bill_table.c.identifier,
        bill_table.c.identifier_norm,
        bill_table.c.title,
        bill_table.c.stage,
        bill_table.c.topic,
        bill_table.c.latest_action_date,
        bill_table.c.latest_action_description,
    ]
    rows = conn.execute(
        select(*cols)
        .where(bill_table.c.relevant.is_(True))
        .order_by(bill_table.c.state, bill_table.c.latest_action_date.desc().nulls_last())
    )
    for row in rows:
        tracked[row.state].append(bill_summary(row._mapping))
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


_RUNS_CACHE: dict[tuple[str, Any, Any], dict[str, dict[str, Any]]] = {}


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    """The latest successful run per state (runs with no state count for every state they fed).

    Which states a national import fed takes a pass over every bill's sources, so the answer
    is kept until a new run or a new bill appears (two primary-key lookups to check).
    """
    key = (
        conn.engine.url.render_as_string(hide_password=True),
        conn.execute(select(func.max(run_table.c.id))).scalar(),
        conn.execute(select(func.max(bill_table.c.id))).scalar(),
    )
    if key not in _RUNS_CACHE:
        if len(_RUNS_CACHE) > 16:
            _RUNS_CACHE.clear()
        _RUNS_CACHE[key] = _last_runs(conn)
    return _RUNS_CACHE[key]


def _last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    q = (
        select(run_table.c.state, run_table.c.source, func.max(run_table.c.finished_at))
        .where(run_table.c.status.in_(OK_RUNS))
        .group_by(run_table.c.state, run_table.c.source)
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
            select(bill_table.c.state, bill_source_table.c.source)
            .select_from(
                bill_table.join(bill_source_table, bill_source_table.c.bill_id == bill_table.c.id)
            )
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
    when = iso(finished)
    if state not in out or (when or "") > (out[state]["finished_at"] or ""):
        out[state] = {"source": source, "finished_at": when}


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
