"""Tables of the runner: scraper alert state, the scheduler's heartbeat, APScheduler's job store.

``apscheduler_jobs`` has the exact shape APScheduler 3's ``SQLAlchemyJobStore`` creates; it is
declared here so the migration owns it and autogenerate never proposes dropping it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, LargeBinary, Table, Text, Unicode
from sqlmodel import Field, SQLModel

from tracker.models import TableModel


def _ts() -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class ScraperAlert(TableModel, table=True):
    """Whether maintainers have been told a state's scraper is failing (one mail, one recovery)."""

    __tablename__ = "scraper_alert"
    state: str = Field(primary_key=True, max_length=2)
    active: bool = False
    failures: int = 0
    last_error: str = Field(default="", sa_type=Text)
    opened_at: datetime | None = _ts()
    recovered_at: datetime | None = _ts()
    notified_at: datetime | None = _ts()


class SchedulerHeartbeat(TableModel, table=True):
    """Written by the one process that schedules; /healthz reads it to say the scheduler lives."""

    __tablename__ = "scheduler_heartbeat"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", description="host:pid of the scheduling process")
    started_at: datetime | None = _ts()
    beat_at: datetime | None = _ts()


APSCHEDULER_JOBS = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
