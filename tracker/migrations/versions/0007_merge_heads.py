"""Merge the feature branches into one head.

Revision ID: 0007_merge_heads
Revises: 0003_subscriptions, 0004_scheduler, 0005_sources, 0006_search_speed

Search, subscriptions, the scheduler and the API sources each came in their own branch from
0001; from here on the history is one line, so `alembic heads` names one revision and a new
migration has one obvious parent. No schema change.
"""

revision = "0007_merge_heads"
down_revision = ("0003_subscriptions", "0004_scheduler", "0005_sources", "0006_search_speed")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
