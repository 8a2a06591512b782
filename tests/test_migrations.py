"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import tracker.all_models  # noqa: F401
from tracker.db import include_object


def test_migrated_database_matches_the_models(engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": False}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
