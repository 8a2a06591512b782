"""Database tables (SQLModel). One row per state, session, bill and per child of a bill.

Children (actions, sponsorships, versions, hearings, votes) carry the ``source`` that reported
them: two sources describing one bill never overwrite each other, and ingest diffs each source
against what that same source said before. Nothing upstream disappearing deletes a row: it is
marked ``removed_at`` and a ``changes`` row says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class TableModel(SQLModel):
    """Base of every table: says to the type checker that a table class has its ``__table__``."""

    __table__: ClassVar[Table]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def _json(default_factory: Any = list) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class State(TableModel, table=True):
    __tablename__ = "state"
    code: str = Field(primary_key=True, max_length=2, description="lower-case postal code")
    name: str = ""


class LegislativeSession(TableModel, table=True):
    __tablename__ = "legislative_session"
    __table_args__ = (UniqueConstraint("state", "identifier"),)
    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(max_length=2, index=True)
    identifier: str
    name: str = ""
    classification: str = "primary"
    start_date: str | None = None
    end_date: str | None = None


class BillBase(TableModel):
    state: str = Field(max_length=2)
    session: str
    identifier: str = Field(description="display form, e.g. 'HB 2795'")
    title: str = Field(default="", sa_type=Text)
    chamber: str | None = None


class Bill(BillBase, table=True):
    __tablename__ = "bill"
    __table_args__ = (
        UniqueConstraint("state", "session", "identifier_norm", name="uq_bill_natural_key"),
        Index("ix_bill_state_session", "state", "session"),
        Index("ix_bill_latest_action_date", "latest_action_date"),
        Index("ix_bill_topic", "topic"),
        Index("ix_bill_topic_decision", "topic_decision"),
        Index("ix_bill_stage", "stage"),
    )
    id: int | None = Field(default=None, primary_key=True)
    identifier_norm: str
    classification: list[str] = _json()
    subjects: list[str] = _json()
    abstracts: list[dict[str, Any]] = _json()
    other_titles: list[dict[str, Any]] = _json()
    other_identifiers: list[str] = _json()
    related_bills: list[dict[str, Any]] = _json()
    sources: list[dict[str, Any]] = _json()
    extras: dict[str, Any] = _json(dict)
    text: str | None = Field(default=None, sa_type=Text)
    primary_source: str = ""

    stage: str | None = None
    stage_date: str | None = None
    stage_reason: dict[str, Any] = _json(dict)
    furthest_stage: str | None = None  # the highest step ever reached (see tracker.stages)
    topic: str | None = None
    topic_score: float | None = None
    topic_evidence: list[dict[str, Any]] = _json()
    topic_pinned: bool = False
    topic_decision: str | None = Field(
        default=None, description="yes, possible (for a curator to review) or no"
    )
    relevant: bool = Field(default=False, index=True)

    latest_action_date: str | None = None
    latest_action_description: str | None = Field(default=None, sa_type=Text)
    first_seen: datetime | None = _ts()
    last_checked: datetime | None = _ts()
    last_changed: datetime | None = _ts()


class BillSource(TableModel, table=True):
    """What one source last said about a bill: its content hash and its own stage."""

    __tablename__ = "bill_source"
    __table_args__ = (UniqueConstraint("bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id", index=True)
    source: str
    content_hash: str
    stage: str | None = None
    first_seen: datetime | None = _ts()
    last_seen: datetime | None = _ts()


class Action(TableModel, table=True):
    __tablename__ = "action"
    __table_args__ = (Index("ix_action_bill_source", "bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    source: str
    position: int
    date: str
    description: str = Field(sa_type=Text)
    chamber: str | None = None
    committee: str | None = None
    classification: list[str] = _json()
    first_seen: datetime | None = _ts()
    removed_at: datetime | None = _ts()


class Sponsorship(TableModel, table=True):
    __tablename__ = "sponsorship"
    __table_args__ = (Index("ix_sponsorship_bill_source", "bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    source: str
    name: str = Field(index=True)
    primary: bool = False
    classification: str = "cosponsor"
    entity_type: str = "person"
    chamber: str | None = None
    first_seen: datetime | None = _ts()
    removed_at: datetime | None = _ts()


class Version(TableModel, table=True):
    """A bill version (kind='version') or a supporting document (kind='document')."""

    __tablename__ = "version"
    __table_args__ = (Index("ix_version_bill_source", "bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    source: str
    kind: str = "version"
    note: str = ""
    date: str | None = None
    classification: str = ""
    url: str = ""
    media_type: str = ""
    first_seen: datetime | None = _ts()
    removed_at: datetime | None = _ts()


class Hearing(TableModel, table=True):
    __tablename__ = "hearing"
    __table_args__ = (Index("ix_hearing_bill_source", "bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    source: str
    date: str = Field(index=True)
    committee: str | None = None
    location: str | None = None
    description: str = ""
    chamber: str | None = None
    status: str = "scheduled"
    first_seen: datetime | None = _ts()
    removed_at: datetime | None = _ts()


class Vote(TableModel, table=True):
    __tablename__ = "vote"
    __table_args__ = (Index("ix_vote_bill_source", "bill_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    source: str
    date: str | None = None
    motion: str = Field(default="", sa_type=Text)
    result: str = ""
    chamber: str | None = None
    yes: int | None = None
    no: int | None = None
    other: int | None = None
    first_seen: datetime | None = _ts()
    removed_at: datetime | None = _ts()


class BillLink(TableModel, table=True):
    """Lineage: the same bill in an earlier session, or its companion in the other chamber."""

    __tablename__ = "bill_link"
    __table_args__ = (UniqueConstraint("bill_id", "other_bill_id", "relation"),)
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id", index=True)
    other_bill_id: int = Field(foreign_key="bill.id", index=True)
    relation: str = Field(description="prior-session, companion or related")
    score: float = 0.0
    evidence: list[dict[str, Any]] = _json()
    created_at: datetime | None = _ts()


class Run(TableModel, table=True):
    """One ingest, import or scrape run and what it counted."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True, description="e.g. scrape:ny, import:openstates")
    state: str | None = Field(default=None, index=True)
    kind: str = "import"
    status: str = Field(
        default="running", description="running, ok, failed, empty, partial, interrupted"
    )
    started_at: datetime | None = _ts(index=True)
    finished_at: datetime | None = _ts()
    counts: dict[str, Any] = _json(dict)
    errors: list[dict[str, Any]] = _json()
    message: str = Field(default="", sa_type=Text)


class Change(TableModel, table=True):
    """One difference ingest found: digests, feeds and pages read 'what changed' from here."""

    __tablename__ = "change"
    __table_args__ = (
        Index("ix_change_seen_at", "seen_at"),
        Index("ix_change_bill", "bill_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="bill.id")
    run_id: int | None = Field(default=None, foreign_key="run.id")
    source: str = ""
    kind: str = Field(description="see tracker.vocab.CHANGE_KINDS")
    field: str | None = None
    old: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    new: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    effective_date: str | None = Field(default=None, description="the action/hearing date, if any")
    seen_at: datetime | None = _ts()


class ImportFile(TableModel, table=True):
    """One input file an import read whole (with the files read beside it: a CSV set's
    folder), its fingerprint and the bills it gave (natural key and digest each): a re-import
    skips a file whose fingerprint is unchanged when each of its bills is still stored with
    that digest (see ``tracker.ingest_files``)."""

    __tablename__ = "import_file"
    __table_args__ = (UniqueConstraint("source", "path", name="uq_import_file"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(description="as the run's: import:openstates, import:legiscan")
    path: str = Field(sa_type=Text, description="the file's absolute path")
    size: int = Field(default=0, sa_type=BigInteger, description="bytes of every file read")
    sha256: str = Field(description="of each file read (name, size, content)")
    bills: int = 0
    bill_keys: str = Field(
        default="[]", sa_type=Text, description="JSON [[state, session, identifier_norm, digest]]"
    )
    run_id: int | None = Field(default=None, foreign_key="run.id")
    seen_at: datetime | None = _ts()
