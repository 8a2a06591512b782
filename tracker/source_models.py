"""Tables of the API and bulk sources: quota usage, LegiScan change hashes, cursors, disagreements.

- ``api_usage``: calls made to each outside API, one row per source per day (a month's usage is
  the sum of its days), so quotas per day (Open States) and per month (LegiScan) are both checked.
- ``legiscan_bill``: what LegiScan last told us about each of its bills (``change_hash`` of the
  record we fetched and ingested, and whether the bill is followed closely), so a run only calls
  ``getBill`` for followed bills whose hash moved.
- ``source_cursor``: per source and scope (a state, or ``discovery``), where the last complete
  listing ended (Open States ``updated_since``).
- ``source_disagreement``: two sources describe one bill differently (stage, a missing action);
  both observations stay in ``bill_source``/``action``, this row flags it for the health page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field

from tracker.models import TableModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=index)
    )


class ApiUsage(TableModel, table=True):
    __tablename__ = "api_usage"
    __table_args__ = (
        UniqueConstraint("source", "day", name="uq_api_usage_source_day"),
        Index("ix_api_usage_source_month", "source", "month"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(description="e.g. legiscan-api, openstates-api")
    month: str = Field(description="YYYY-MM (UTC)")
    day: str = Field(description="YYYY-MM-DD (UTC)")
    calls: int = 0
    updated_at: datetime | None = _ts()


class LegiscanBill(TableModel, table=True):
    __tablename__ = "legiscan_bill"
    __table_args__ = (Index("ix_legiscan_bill_state_followed", "state", "followed"),)
    bill_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False),
        description="LegiScan's bill_id",
    )
    state: str = Field(max_length=2, description="lower-case postal code")
    session_id: int | None = None
    number: str = ""
    title: str = ""
    change_hash: str | None = Field(default=None, description="hash of the record last ingested")
    listed_hash: str | None = Field(default=None, description="hash last seen in a list or search")
    followed: bool = False
    reason: str = Field(default="", description="why followed: discovery, pin, state-all, ingested")
    tracker_bill_id: int | None = Field(default=None, foreign_key="bill.id")
    last_listed: datetime | None = _ts()
    last_fetched: datetime | None = _ts()


class SourceCursor(TableModel, table=True):
    __tablename__ = "source_cursor"
    __table_args__ = (UniqueConstraint("source", "scope", name="uq_source_cursor"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str
    scope: str = Field(description="a state code, or 'discovery'")
    value: str = Field(description="e.g. the updated_since date of the next run")
    updated_at: datetime | None = _ts()


class SourceDisagreement(TableModel, table=True):
    __tablename__ = "source_disagreement"
    __table_args__ = (
        UniqueConstraint("bill_id", "kind", "source_a", "source_b", name="uq_source_disagreement"),
    )
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id", index=True)
    kind: str = Field(description="stage or missing-action")
    source_a: str = Field(description="the preferred source (configured order)")
    source_b: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    first_seen: datetime | None = _ts()
    last_seen: datetime | None = _ts()
    resolved_at: datetime | None = _ts(index=True)
