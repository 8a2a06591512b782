"""Upcoming hearings, for the hearings calendar feed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from tracker.urls import bill_path_of
from tracker.web.data.common import bill_table, hearing_table


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
            hearing_table.c.id,
            hearing_table.c.date,
            hearing_table.c.committee,
            hearing_table.c.location,
            hearing_table.c.description,
            hearing_table.c.chamber,
            hearing_table.c.status,
            hearing_table.c.first_seen,
            bill_table.c.state,
            bill_table.c.session,
            bill_table.c.identifier,
            bill_table.c.identifier_norm,
            bill_table.c.title,
        )
        .select_from(hearing_table.join(bill_table, bill_table.c.id == hearing_table.c.bill_id))
        .where(hearing_table.c.removed_at.is_(None), hearing_table.c.date >= since)
    )
    if state:
        q = q.where(bill_table.c.state == state)
    if relevant_only:
        q = q.where(bill_table.c.relevant.is_(True))
    q = q.order_by(hearing_table.c.date, hearing_table.c.id).limit(limit)
    return [{**dict(r._mapping), "path": bill_path_of(r._mapping)} for r in conn.execute(q)]
