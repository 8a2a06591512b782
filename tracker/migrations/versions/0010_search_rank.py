"""search rank column: PostgreSQL ranks on a slim tsvector of the identifier, title and summary

Revision ID: 0010_search_rank
Revises: 0009_topic_decision
Create Date: 2026-12-06 05:20:00

``ts_rank`` over the whole document (with every action text and sponsor) reads each matched
bill's TOASTed tsvector: for a common word matching 19,000 bills that was most of a cold
search. ``bill_search.rank_doc`` keeps only the A and B weighted lexemes (identifier, titles,
abstracts, subjects), generated from ``document`` by PostgreSQL itself, so the indexing code
is unchanged and the two can never disagree. Matching still uses ``document`` and its GIN index.
SQLite (FTS5 ranks by its own bm25) has nothing to change.
"""

from __future__ import annotations

from alembic import op

revision = "0010_search_rank"
down_revision = "0009_topic_decision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE bill_search ADD COLUMN rank_doc tsvector "
        "GENERATED ALWAYS AS (ts_filter(document, '{a,b}')) STORED"
    )
    op.execute("ANALYZE bill_search")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE bill_search DROP COLUMN rank_doc")
