"""The command line's import budget: `tracker --help` and `tracker search` load only what they use.

Every `tracker` command used to pay for SQLAlchemy, FastAPI, APScheduler and Alembic before
doing anything (about 1.4 s). These tests read `python -X importtime` of the real command in a
subprocess and assert which modules were loaded, never how long it took (timings live in
bench/run_all.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_search import synthetic_bill
from tracker.ingest import ingest_bills
from tracker.settings import reset_settings

# Only the web server and the scheduler need these; no command line tool that reads does.
SERVER_ONLY = ("fastapi", "starlette", "uvicorn", "apscheduler")
# Only commands that touch the database need these; `--help` must not load them.
DATABASE = ("sqlalchemy", "sqlmodel", "alembic", "psycopg")


def imported(args: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """(top-level packages imported by `python -m tracker.cli ARGS`, its stdout)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "tracker" in names, "importtime output was not read"
    return names, proc.stdout


def cli_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DATABASE_URL=db_url, TRACKER_DATA_DIR=str(tmp_path / "data"))
    env["COLUMNS"] = "120"
    return env


def test_help_loads_neither_the_server_nor_the_database(tmp_path: Path) -> None:
    names, out = imported(["--help"], cli_env(tmp_path, f"sqlite:///{tmp_path / 'none.db'}"))
    assert "search" in out and "subscribers" in out  # the whole help, every group listed
    assert not names & set(SERVER_ONLY + DATABASE), sorted(names & set(SERVER_ONLY + DATABASE))
    assert not (tmp_path / "none.db").exists()  # and it opened no database


def test_search_loads_the_database_but_not_the_server(tmp_path: Path, sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    ingest_bills(
        sqlite_engine,
        [synthetic_bill("S 1234", "Establishes a single payer health plan")],
        source="test",
    )
    url = sqlite_engine.url.render_as_string(hide_password=False)
    names, out = imported(["search", "single payer"], cli_env(tmp_path, url))
    assert "S 1234" in out  # it did search
    assert "sqlalchemy" in names
    loaded = names & {*SERVER_ONLY, "alembic"}  # a migrated database needs no Alembic
    assert not loaded, sorted(loaded)


def test_a_database_behind_the_migrations_is_still_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.cli.core import engine_ready, script_heads, stored_revisions
    from tracker.db import make_engine

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert stored_revisions(make_engine(url)) is None
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    reset_settings()
    engine = engine_ready()
    assert engine.url.database == str(tmp_path / "fresh.db")
    assert stored_revisions(engine) == script_heads()


def test_the_fast_check_reads_the_same_heads_as_alembic() -> None:
    from alembic.script import ScriptDirectory

    from tracker.cli.core import script_heads
    from tracker.db import alembic_config, make_engine

    script = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    assert script_heads() == frozenset(script.get_heads())


@pytest.mark.parametrize("group", ["subscribers", "topics", "scrapers", "import"])
def test_group_help_stays_light(tmp_path: Path, group: str) -> None:
    names, out = imported([group, "--help"], cli_env(tmp_path, "sqlite://"))
    assert "Example" in out
    assert not names & set(SERVER_ONLY + DATABASE), sorted(names & set(SERVER_ONLY + DATABASE))
