"""topic decision: bill.topic_decision (yes, possible, no) for the curator review queue

Revision ID: 0009_topic_decision
Revises: 0008_stages_furthest
Create Date: 2026-12-06 04:20:00

``tracker.topics`` decides ``yes`` (relevant), ``possible`` (a curator reviews it) or ``no``.
The queue of ``possible`` bills is read from this column, hence the index. Existing rows get
``yes`` where they are relevant and ``no`` otherwise until ingest or ``tracker topics review``
recomputes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_topic_decision"
down_revision = "0008_stages_furthest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bill", sa.Column("topic_decision", sa.String(), nullable=True))
    op.create_index("ix_bill_topic_decision", "bill", ["topic_decision"])
    op.execute(
        "UPDATE bill SET topic_decision = CASE WHEN relevant THEN 'yes' ELSE 'no' END"
        " WHERE topic IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_bill_topic_decision", table_name="bill")
    with op.batch_alter_table("bill") as batch:
        batch.drop_column("topic_decision")
