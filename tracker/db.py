"""Engines, sessions and migrations. SQLite is the default; PostgreSQL URLs work unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from tracker.settings import Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` / ``postgres://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(
    url: str | None = None, *, settings: Settings | None = None, **options: Any
) -> Engine:
    """Build an engine for `url` (default: the configured database), creating SQLite's folder.
    `options` go to ``create_engine`` (e.g. the web server's pool size)."""
    settings = settings or get_settings()
    url = normalize_url(url or settings.resolved_database_url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "invalidate", _sqlite_roll_back)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _sqlite_roll_back(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
    """Roll back a connection SQLAlchemy is about to drop (it does on an interrupt inside a
    statement). Closed with a transaction open and a statement still unfinished (a cursor that
    the interrupt's traceback keeps alive), SQLite keeps the connection as a zombie that holds
    the write lock until that cursor is freed: the run could not even be recorded as
    interrupted ("database is locked"). A rollback ends the transaction and frees the lock now;
    the unfinished statements just fail if they are ever stepped again."""
    with suppress(sqlite3.Error):
        dbapi_connection.rollback()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    from sqlmodel import Session  # not at import: readers on Core alone need no SQLModel

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    migrations = Path(__file__).resolve().parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Migrate the database to `revision` (Alembic; default every head, one per feature branch)."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# Tables and indexes that migrations create by hand (full-text search, APScheduler's job
# store): autogenerate must not offer to drop them.
_UNMODELLED = (
    "bill_fts",
    "bill_search",
    "apscheduler_jobs",
    "ix_apscheduler",
    "ix_bill_search",
    "ix_bill_identifier_norm",
    "ix_bill_state_facets",
    "ix_bill_last_changed",
    "ix_bill_state_title",
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if reflected and compare_to is None and name and name.startswith(_UNMODELLED):
        return False
    return True
