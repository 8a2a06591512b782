"""search sponsor words: PostgreSQL keeps each bill's sponsor lexemes apart

Revision ID: 0012_search_sponsor
Revises: 0011_search_title
Create Date: 2026-12-06 17:00:00

``bill_search_sponsor`` holds, per bill, the lexemes of ``bill_search.document`` with a
position of weight C (the sponsors' names), with those positions only, and a GIN index. A
sponsor word matches a bill's row there exactly when it has weight C in the document, so a
search by sponsor name tests a few thousand narrow rows instead of every document holding the
word in any weight (``tracker.search.backends.pg_sponsor_query``). Rows are derived from
``bill_search`` (``tracker.search.indexing``). SQLite (FTS5) has a sponsors column already.
"""

from __future__ import annotations

from alembic import op

revision = "0012_search_sponsor"
down_revision = "0011_search_title"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE bill_search_sponsor ("
        "bill_id INTEGER PRIMARY KEY REFERENCES bill(id) ON DELETE CASCADE, "
        "words TSVECTOR NOT NULL)"
    )
    op.execute(
        "CREATE INDEX ix_bill_search_sponsor_words ON bill_search_sponsor USING GIN (words)"
    )
    from tracker.search.indexing import rebuild_sponsor_index_on

    rebuild_sponsor_index_on(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS bill_search_sponsor")
