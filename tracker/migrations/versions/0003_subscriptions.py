"""subscriptions: subscriber and digest_ledger

Revision ID: 0003_subscriptions
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_subscriptions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("states", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("detail", sa.String(length=8), nullable=False),
        sa.Column("quiet_week", sa.String(length=8), nullable=False),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_bounce_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriber_email", "subscriber", ["email"], unique=True)
    op.create_index("ix_subscriber_status", "subscriber", ["status"], unique=False)
    op.create_table(
        "digest_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_id", "period", name="uq_digest_ledger_period"),
    )
    op.create_index("ix_digest_ledger_subscriber_id", "digest_ledger", ["subscriber_id"])
    op.create_index("ix_digest_ledger_period", "digest_ledger", ["period"])


def downgrade() -> None:
    op.drop_index("ix_digest_ledger_period", table_name="digest_ledger")
    op.drop_index("ix_digest_ledger_subscriber_id", table_name="digest_ledger")
    op.drop_table("digest_ledger")
    op.drop_index("ix_subscriber_status", table_name="subscriber")
    op.drop_index("ix_subscriber_email", table_name="subscriber")
    op.drop_table("subscriber")
