"""import file: the fingerprint of each input file an import read, and the bills it gave

Revision ID: 0010_import_file
Revises: 0009_topic_decision
Create Date: 2026-12-06 07:20:00

A re-import skips a file whose fingerprint (size and SHA-256 of every file it reads) is
unchanged and whose bills are all still stored with the digests it gave (``tracker.ingest_files``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_import_file"
down_revision = "0009_topic_decision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("bills", sa.Integer(), nullable=False),
        sa.Column("bill_keys", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "path", name="uq_import_file"),
    )


def downgrade() -> None:
    op.drop_table("import_file")
