"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""

from tracker import models  # noqa: F401
