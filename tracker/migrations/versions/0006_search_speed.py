"""search speed: index bill.last_changed (the search cache's data version)

Revision ID: 0006_search_speed
Revises: 0002_search
Create Date: 2026-11-27 22:30:00

``tracker.search`` caches counts, facets and the first ranked ids of big result sets, keyed by
``max(bill.last_changed)`` and ``max(bill.id)``. With this index both are index lookups
(well under a millisecond) instead of a scan of every bill on every search.
"""

from __future__ import annotations

from alembic import op

revision = "0006_search_speed"
down_revision = "0002_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_bill_last_changed", "bill", ["last_changed"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE bill")


def downgrade() -> None:
    op.drop_index("ix_bill_last_changed", table_name="bill")
