"""sources: api_usage, legiscan_bill, source_cursor, source_disagreement

Revision ID: 0005_sources
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_sources"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "day", name="uq_api_usage_source_day"),
    )
    op.create_index("ix_api_usage_source_month", "api_usage", ["source", "month"])
    op.create_table(
        "legiscan_bill",
        sa.Column("bill_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("change_hash", sa.String(), nullable=True),
        sa.Column("listed_hash", sa.String(), nullable=True),
        sa.Column("followed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("tracker_bill_id", sa.Integer(), nullable=True),
        sa.Column("last_listed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetched", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tracker_bill_id"], ["bill.id"]),
        sa.PrimaryKeyConstraint("bill_id"),
    )
    op.create_index("ix_legiscan_bill_state_followed", "legiscan_bill", ["state", "followed"])
    op.create_table(
        "source_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "scope", name="uq_source_cursor"),
    )
    op.create_table(
        "source_disagreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("source_a", sa.String(), nullable=False),
        sa.Column("source_b", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "bill_id", "kind", "source_a", "source_b", name="uq_source_disagreement"
        ),
    )
    op.create_index("ix_source_disagreement_bill_id", "source_disagreement", ["bill_id"])
    op.create_index("ix_source_disagreement_resolved_at", "source_disagreement", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_source_disagreement_resolved_at", table_name="source_disagreement")
    op.drop_index("ix_source_disagreement_bill_id", table_name="source_disagreement")
    op.drop_table("source_disagreement")
    op.drop_table("source_cursor")
    op.drop_index("ix_legiscan_bill_state_followed", table_name="legiscan_bill")
    op.drop_table("legiscan_bill")
    op.drop_index("ix_api_usage_source_month", table_name="api_usage")
    op.drop_table("api_usage")
