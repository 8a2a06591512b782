"""full-text search index: SQLite FTS5 table or PostgreSQL tsvector + GIN

Revision ID: 0002_search
Revises: 0001
Create Date: 2026-11-27 21:20:00

SQLite gets an FTS5 virtual table ``bill_fts`` (rowid = bill.id; porter stemming like
PostgreSQL's english configuration; no prefix indexes: measured, they doubled indexing time
and did not speed up ``word*`` queries). PostgreSQL gets a
``bill_search`` table holding one weighted tsvector per bill with a GIN index. Neither is a
SQLModel table: they are maintained only by ``tracker.search``. Existing bills are indexed here,
and ``bill.identifier_norm`` gets an index so a typed bill number resolves without a scan.
"""

from __future__ import annotations

from alembic import op

revision = "0002_search"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE bill_fts USING fts5("
            "identifier, title, body, sponsors, actions, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE bill_search ("
            "bill_id INTEGER PRIMARY KEY REFERENCES bill(id) ON DELETE CASCADE, "
            "document TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_bill_search_document ON bill_search USING GIN (document)")
    # a bill number typed in the search box is looked up by its normalised form alone
    op.create_index("ix_bill_identifier_norm", "bill", ["identifier_norm"])
    # narrow copy of what search filters, counts and sorts on (see tracker.search.plans.COVER_INDEX)
    op.create_index(
        "ix_bill_search_cover",
        "bill",
        ["id", "state", "session", "stage", "topic", "relevant", "latest_action_date"],
    )
    # the same columns led by state: facet counts, state pages and the overview per state
    op.create_index(
        "ix_bill_state_facets",
        "bill",
        ["state", "session", "stage", "topic", "relevant", "latest_action_date"],
    )
    from tracker.search import rebuild_index_on

    rebuild_index_on(bind)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_bill_state_facets", table_name="bill")
    op.drop_index("ix_bill_search_cover", table_name="bill")
    op.drop_index("ix_bill_identifier_norm", table_name="bill")
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS bill_fts")
    else:
        op.execute("DROP TABLE IF EXISTS bill_search")
