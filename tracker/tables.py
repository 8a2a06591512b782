"""The tables as SQLAlchemy Core, for readers that need no SQLModel (GENERATED: do not edit).

Written by ``python -m tracker.tables_render`` from the SQLModel classes, which stay the one
place the schema is written (tests/test_tables.py fails when this file is stale). Columns,
types, keys and scalar defaults only: indexes and constraints live in the models and the
migrations. Importing this costs SQLAlchemy alone, not SQLModel and pydantic.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
)

metadata = MetaData()

action_table = Table(
    "action",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("date", String(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("chamber", String(), nullable=True),
    Column("committee", String(), nullable=True),
    Column("classification", JSON(), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

api_usage_table = Table(
    "api_usage",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("source", String(), nullable=False),
    Column("month", String(), nullable=False),
    Column("day", String(), nullable=False),
    Column("calls", Integer(), nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

apscheduler_jobs_table = Table(
    "apscheduler_jobs",
    metadata,
    Column("id", Unicode(length=191), primary_key=True, nullable=False),
    Column("next_run_time", Float(precision=25), nullable=True),
    Column("job_state", LargeBinary(), nullable=False),
)

bill_table = Table(
    "bill",
    metadata,
    Column("state", String(length=2), nullable=False),
    Column("session", String(), nullable=False),
    Column("identifier", String(), nullable=False),
    Column("title", Text(), nullable=False, default=""),
    Column("chamber", String(), nullable=True),
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("identifier_norm", String(), nullable=False),
    Column("classification", JSON(), nullable=False),
    Column("subjects", JSON(), nullable=False),
    Column("abstracts", JSON(), nullable=False),
    Column("other_titles", JSON(), nullable=False),
    Column("other_identifiers", JSON(), nullable=False),
    Column("related_bills", JSON(), nullable=False),
    Column("sources", JSON(), nullable=False),
    Column("extras", JSON(), nullable=False),
    Column("text", Text(), nullable=True),
    Column("primary_source", String(), nullable=False, default=""),
    Column("stage", String(), nullable=True),
    Column("stage_date", String(), nullable=True),
    Column("stage_reason", JSON(), nullable=False),
    Column("furthest_stage", String(), nullable=True),
    Column("topic", String(), nullable=True),
    Column("topic_score", Float(), nullable=True),
    Column("topic_evidence", JSON(), nullable=False),
    Column("topic_pinned", Boolean(), nullable=False, default=False),
    Column("topic_decision", String(), nullable=True),
    Column("relevant", Boolean(), nullable=False, default=False),
    Column("latest_action_date", String(), nullable=True),
    Column("latest_action_description", Text(), nullable=True),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("last_checked", DateTime(timezone=True), nullable=True),
    Column("last_changed", DateTime(timezone=True), nullable=True),
)

bill_link_table = Table(
    "bill_link",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("other_bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("relation", String(), nullable=False),
    Column("score", Float(), nullable=False, default=0.0),
    Column("evidence", JSON(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=True),
)

bill_source_table = Table(
    "bill_source",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("content_hash", String(), nullable=False),
    Column("stage", String(), nullable=True),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("last_seen", DateTime(timezone=True), nullable=True),
)

change_table = Table(
    "change",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("run_id", Integer(), ForeignKey("run.id"), nullable=True),
    Column("source", String(), nullable=False, default=""),
    Column("kind", String(), nullable=False),
    Column("field", String(), nullable=True),
    Column("old", JSON(), nullable=True),
    Column("new", JSON(), nullable=True),
    Column("effective_date", String(), nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=True),
)

digest_ledger_table = Table(
    "digest_ledger",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("period", String(length=8), nullable=False),
    Column("status", String(length=16), nullable=False, default="sending"),
    Column("message_id", String(length=255), nullable=False, default=""),
    Column("error", Text(), nullable=False, default=""),
    Column("attempts", Integer(), nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

hearing_table = Table(
    "hearing",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("date", String(), nullable=False),
    Column("committee", String(), nullable=True),
    Column("location", String(), nullable=True),
    Column("description", String(), nullable=False, default=""),
    Column("chamber", String(), nullable=True),
    Column("status", String(), nullable=False, default="scheduled"),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

import_file_table = Table(
    "import_file",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("source", String(), nullable=False),
    Column("path", Text(), nullable=False),
    Column("size", BigInteger(), nullable=False, default=0),
    Column("sha256", String(), nullable=False),
    Column("bills", Integer(), nullable=False, default=0),
    Column("bill_keys", Text(), nullable=False, default="[]"),
    Column("run_id", Integer(), ForeignKey("run.id"), nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=True),
)

legiscan_bill_table = Table(
    "legiscan_bill",
    metadata,
    Column("bill_id", BigInteger(), primary_key=True, autoincrement=False, nullable=False),
    Column("state", String(length=2), nullable=False),
    Column("session_id", Integer(), nullable=True),
    Column("number", String(), nullable=False, default=""),
    Column("title", String(), nullable=False, default=""),
    Column("change_hash", String(), nullable=True),
    Column("listed_hash", String(), nullable=True),
    Column("followed", Boolean(), nullable=False, default=False),
    Column("reason", String(), nullable=False, default=""),
    Column("tracker_bill_id", Integer(), ForeignKey("bill.id"), nullable=True),
    Column("last_listed", DateTime(timezone=True), nullable=True),
    Column("last_fetched", DateTime(timezone=True), nullable=True),
)

legislative_session_table = Table(
    "legislative_session",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("state", String(length=2), nullable=False),
    Column("identifier", String(), nullable=False),
    Column("name", String(), nullable=False, default=""),
    Column("classification", String(), nullable=False, default="primary"),
    Column("start_date", String(), nullable=True),
    Column("end_date", String(), nullable=True),
)

run_table = Table(
    "run",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("source", String(), nullable=False),
    Column("state", String(), nullable=True),
    Column("kind", String(), nullable=False, default="import"),
    Column("status", String(), nullable=False, default="running"),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("counts", JSON(), nullable=False),
    Column("errors", JSON(), nullable=False),
    Column("message", Text(), nullable=False, default=""),
)

scheduler_heartbeat_table = Table(
    "scheduler_heartbeat",
    metadata,
    Column("name", String(length=32), primary_key=True, nullable=False),
    Column("holder", String(), nullable=False, default=""),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("beat_at", DateTime(timezone=True), nullable=True),
)

scraper_alert_table = Table(
    "scraper_alert",
    metadata,
    Column("state", String(length=2), primary_key=True, nullable=False),
    Column("active", Boolean(), nullable=False, default=False),
    Column("failures", Integer(), nullable=False, default=0),
    Column("last_error", Text(), nullable=False, default=""),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("recovered_at", DateTime(timezone=True), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=True),
)

source_cursor_table = Table(
    "source_cursor",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("source", String(), nullable=False),
    Column("scope", String(), nullable=False),
    Column("value", String(), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

source_disagreement_table = Table(
    "source_disagreement",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("kind", String(), nullable=False),
    Column("source_a", String(), nullable=False),
    Column("source_b", String(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("last_seen", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

sponsorship_table = Table(
    "sponsorship",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("name", String(), nullable=False),
    Column("primary", Boolean(), nullable=False, default=False),
    Column("classification", String(), nullable=False, default="cosponsor"),
    Column("entity_type", String(), nullable=False, default="person"),
    Column("chamber", String(), nullable=True),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

state_table = Table(
    "state",
    metadata,
    Column("code", String(length=2), primary_key=True, nullable=False),
    Column("name", String(), nullable=False, default=""),
)

subscriber_table = Table(
    "subscriber",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("email", String(length=254), nullable=False),
    Column("status", String(length=16), nullable=False, default="pending"),
    Column("states", JSON(), nullable=False),
    Column("topics", JSON(), nullable=False),
    Column("query", Text(), nullable=True),
    Column("detail", String(length=8), nullable=False, default="full"),
    Column("quiet_week", String(length=8), nullable=False, default="send"),
    Column("bounce_count", Integer(), nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("unsubscribed_at", DateTime(timezone=True), nullable=True),
    Column("last_bounce_at", DateTime(timezone=True), nullable=True),
)

version_table = Table(
    "version",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("kind", String(), nullable=False, default="version"),
    Column("note", String(), nullable=False, default=""),
    Column("date", String(), nullable=True),
    Column("classification", String(), nullable=False, default=""),
    Column("url", String(), nullable=False, default=""),
    Column("media_type", String(), nullable=False, default=""),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

vote_table = Table(
    "vote",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("bill_id", Integer(), ForeignKey("bill.id"), nullable=False),
    Column("source", String(), nullable=False),
    Column("date", String(), nullable=True),
    Column("motion", Text(), nullable=False, default=""),
    Column("result", String(), nullable=False, default=""),
    Column("chamber", String(), nullable=True),
    Column("yes", Integer(), nullable=True),
    Column("no", Integer(), nullable=True),
    Column("other", Integer(), nullable=True),
    Column("first_seen", DateTime(timezone=True), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)
