"""Tables for digest subscriptions: subscribers and the per-period delivery ledger.

Nothing personal beyond the e-mail address is stored: no names, no IP addresses, no open or
click tracking. The ledger is the exactly-once guarantee for digests: one row per
(subscriber, period), claimed before the SMTP transaction and finished after it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field

from tracker.models import TableModel
from tracker.vocab import SUBSCRIBER_STATUSES  # noqa: F401 - where the models' users look

DETAIL_LEVELS: tuple[str, ...] = ("brief", "full")
QUIET_WEEK: tuple[str, ...] = ("send", "skip")
# sending: claimed, SMTP transaction under way. failed: temporary (4xx) failure, retried by a
# rerun. bounced: permanent (5xx) refusal, not retried. uncertain: a run died while `sending`; the
# message may or may not have left, so it is never resent (nobody gets a digest twice).
LEDGER_STATUSES: tuple[str, ...] = ("sending", "sent", "failed", "bounced", "skipped", "uncertain")


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Subscriber(TableModel, table=True):
    __tablename__ = "subscriber"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True, description="lower-cased")
    status: str = Field(default="pending", max_length=16, index=True)
    states: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False), description="[] = all states"
    )
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    query: str | None = Field(default=None, sa_type=Text, description="optional saved search")
    detail: str = Field(default="full", max_length=8)
    quiet_week: str = Field(default="send", max_length=8)
    bounce_count: int = 0
    created_at: datetime | None = _ts()
    confirmed_at: datetime | None = _ts()
    unsubscribed_at: datetime | None = _ts()
    last_bounce_at: datetime | None = _ts()


class DigestLedger(TableModel, table=True):
    __tablename__ = "digest_ledger"
    __table_args__ = (UniqueConstraint("subscriber_id", "period", name="uq_digest_ledger_period"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    period: str = Field(max_length=8, index=True, description="ISO week, e.g. 2025-W10")
    status: str = Field(default="sending", max_length=16)
    message_id: str = Field(default="", max_length=255)
    error: str = Field(default="", sa_type=Text)
    attempts: int = 0
    updated_at: datetime | None = _ts()
