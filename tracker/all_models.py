"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""

from tracker import models  # noqa: F401
from tracker import subscription_models  # noqa: F401
from tracker import scheduler_models  # noqa: F401
from tracker import source_models  # noqa: F401
