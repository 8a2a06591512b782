"""stages: bill.furthest_stage; resolutions stored as enacted become adopted

Revision ID: 0008_stages_furthest
Revises: 0007_merge_heads

The stage follows a bill's whole history (a bill that died in the second chamber and was re-referred
in the first is back ``in_committee``), so the highest step it ever reached is kept beside it:
"Died (furthest: passed one chamber)". Rows stored before this revision get the current stage as
their furthest when it is a progress stage (a lower bound, exact for bills that never fell back);
terminal rows keep NULL until their next ingest (pages fall back to the actions).

Resolutions and memorials are not laws: rows a resolution's adoption had stored as ``enacted`` are
rewritten ``adopted`` here, so the next ingest does not report a stage change nobody made.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008_stages_furthest"
down_revision = "0007_merge_heads"
branch_labels = None
depends_on = None

_PROGRESS = (
    "introduced",
    "in_committee",
    "passed_committee",
    "passed_one_chamber",
    "passed_both_chambers",
    "sent_to_governor",
    "adopted",
    "enacted",
)


def upgrade() -> None:
    from tracker.stages import resolution_kind

    with op.batch_alter_table("bill") as batch_op:
        batch_op.add_column(sa.Column("furthest_stage", sa.String(), nullable=True))
    bill = sa.table(
        "bill",
        sa.column("id", sa.Integer()),
        sa.column("identifier", sa.String()),
        sa.column("classification", sa.JSON()),
        sa.column("stage", sa.String()),
        sa.column("furthest_stage", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(bill.c.id, bill.c.identifier, bill.c.classification).where(
            bill.c.stage == "enacted"
        )
    ).all()
    for row in rows:
        kinds = row.classification
        if isinstance(kinds, str):
            kinds = json.loads(kinds)
        if resolution_kind(kinds or [], row.identifier) is not None:
            conn.execute(sa.update(bill).where(bill.c.id == row.id).values(stage="adopted"))
    conn.execute(
        sa.update(bill)
        .where(bill.c.stage.in_(_PROGRESS))
        .values(furthest_stage=bill.c.stage)
    )


def downgrade() -> None:
    with op.batch_alter_table("bill") as batch_op:
        batch_op.drop_column("furthest_stage")
