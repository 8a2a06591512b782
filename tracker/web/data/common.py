"""What every page's queries share: the tables under readable names and small helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

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
from tracker.urls import bill_path_of

bill_table = Bill.__table__
action_table = Action.__table__
sponsorship_table = Sponsorship.__table__
version_table = Version.__table__
hearing_table = Hearing.__table__
vote_table = Vote.__table__
link_table = BillLink.__table__
change_table = Change.__table__
run_table = Run.__table__
bill_source_table = BillSource.__table__
session_table = LegislativeSession.__table__

OK_RUNS = ("ok", "partial")  # runs whose finish counts as "last checked"


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def bill_summary(m: Any) -> dict[str, Any]:
    d = dict(m)
    d["path"] = bill_path_of(d)
    return d


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered as links: a scraped ``javascript:`` URL stays text."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def bill_ids_where(conn: Connection, *conds: Any) -> list[int]:
    return list(conn.execute(select(bill_table.c.id).where(and_(*conds))).scalars())
