"""bill titles by state: SQLite indexes (state, session, title) for lineage's title questions

Revision ID: 0013_bill_state_title
Revises: 0012_search_sponsor
Create Date: 2026-12-06 18:40:00

Lineage (``tracker.lineage``) asks, for each single-payer bill it links, which bills of the same
state have a few words in their titles (``LIKE '%word%'``, other or same session). No index can
seek such a word, so SQLite read the whole row of every bill of the state to test its title:
about 100 ms per question for Minnesota's 75,000 bills, four questions per bill. With
``ix_bill_state_title`` SQLite answers from the index alone (about 16 ms). Keeping it up costs
an import of 154,000 bills about 0.2 s. PostgreSQL is left as it is: a B-tree entry there must
fit in a third of a page, and some titles do not.
"""

from __future__ import annotations

from alembic import op

revision = "0013_bill_state_title"
down_revision = "0012_search_sponsor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_bill_state_title ON bill (state, session, title)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP INDEX IF EXISTS ix_bill_state_title")
