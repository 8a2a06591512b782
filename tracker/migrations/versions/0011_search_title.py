"""search title words: PostgreSQL keeps each bill's identifier and title lexemes apart

Revision ID: 0011_search_title
Revises: 0010_import_file
Create Date: 2026-12-06 13:00:00

``bill_search_title`` holds, per bill, the part of ``bill_search.document`` whose lexemes
occur in the identifier or a title (weight A), with every position of those lexemes, and a GIN
index. For one plain word ``ts_rank`` over it equals ``ts_rank`` over the whole document, so
the title-first ranking (``tracker.search.backends.pg_title_first``) finds and scores the title
matches there instead of testing and scoring every match's whole document. Rows are derived
from ``bill_search`` (``tracker.search.indexing``). SQLite (FTS5) has nothing to change.
"""

from __future__ import annotations

from alembic import op

revision = "0011_search_title"
down_revision = "0010_import_file"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE bill_search_title ("
        "bill_id INTEGER PRIMARY KEY REFERENCES bill(id) ON DELETE CASCADE, "
        "words TSVECTOR NOT NULL)"
    )
    op.execute("CREATE INDEX ix_bill_search_title_words ON bill_search_title USING GIN (words)")
    from tracker.search.indexing import rebuild_title_index_on

    rebuild_title_index_on(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS bill_search_title")
