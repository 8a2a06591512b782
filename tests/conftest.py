"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, settings, ../shared.

Every test that takes ``engine`` runs twice, once per backend. Each run gets its own database
copied from a migrated template, so tests never share or wipe a developer's data.
Missing PostgreSQL, Chromium or ../shared skip with a reason on a laptop and fail under CI=true.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker.db import make_engine, normalize_url, upgrade
from tracker.settings import reset_settings

pytest_plugins = ["httpserver"]

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


def need(condition: bool, reason: str) -> None:
    """Skip with `reason` when `condition` is false; under CI=true that is a failure instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-expected",
        action="store_true",
        default=False,
        help="rewrite expected JSON outputs of scraper configs instead of comparing",
    )


# ----------------------------------------------------------------------------- settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data dir and SQLite file; no .env or developer DB leaks in."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("TRACKER_") and key not in (
            "TRACKER_SHARED_DIR",
            "TRACKER_TEST_POSTGRES_URL",
        ):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRACKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRACKER_ENVIRONMENT", "test")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(autouse=True)
def _quiet_logging() -> Iterator[None]:
    """Keep the test log readable: no handler outlives the test that installed it.

    A CLI command run through typer's CliRunner installs a root handler on that run's captured
    stdout (``setup_logging``); left in place, the next thread to log (the aiosmtpd test mail
    server's, say) writes to a closed stream and prints "--- Logging error ---".
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per command
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def shared_path() -> Path | None:
    env = os.environ.get("TRACKER_SHARED_DIR")
    candidate = Path(env) if env else ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    need(
        path is not None,
        "../shared (real fixtures and data) is not beside the repo; set TRACKER_SHARED_DIR",
    )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def real_html(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "real" / "html"


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    return shared_dir / "data"


# ----------------------------------------------------------------------------- databases


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _pg_admin():  # type: ignore[no-untyped-def]
    return create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    try:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        need(False, f"PostgreSQL is not reachable at {PG_URL}: {exc.__class__.__name__}")
        raise
    name = f"tracker_tmpl_{_worker()}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url_for(name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_url_for(database: str) -> str:
    base = normalize_url(PG_URL)
    return base.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, migrated, empty database URL of each backend (also set as TRACKER_DATABASE_URL)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("TRACKER_DATABASE_URL", url)
        reset_settings()
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = _pg_url_for(name)
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    reset_settings()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path):  # type: ignore[no-untyped-def]
    """Only SQLite, for tests about SQLite-specific behaviour."""
    path = tmp_path / "only-sqlite.db"
    shutil.copy(sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()
