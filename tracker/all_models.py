"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""

from tracker import (
    models,  # noqa: F401
    scheduler_models,  # noqa: F401
    source_models,  # noqa: F401
    subscription_models,  # noqa: F401
)
