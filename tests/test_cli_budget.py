"""The command line's import budget: `tracker --help` and `tracker search` load only what they use.

Every `tracker` command used to pay for SQLAlchemy, FastAPI, APScheduler and Alembic before
doing anything (about 1.4 s). These tests read `python -X importtime` of the real command in a
subprocess and assert which modules were loaded, never how long it took (timings live in
bench/run_all.py).
"""

from __future__ import annotations

import json
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
# `tracker search` reads the bills through SQLAlchemy Core (tracker.tables): no SQLModel models,
# no ORM, no web layer, and no other command module (tracker.cli.lazy loads only what is named).
NOT_FOR_SEARCH = (
    "sqlmodel",
    "sqlalchemy.orm",
    "tracker.models",
    "tracker.web",
    "tracker.cli.run",
    "tracker.service",
    "tracker.cli.scrapers",
    "tracker.cli.subscribers",
)
# The topic rules (their model, the actions' rules, PyYAML): search reads the topics' synonyms
# from the table a first search saved (tracker.search.synonym_cache).
TOPIC_RULES = ("tracker.topics", "tracker.actions", "yaml")
# rich lays out the table and the messages; JSON and CSV are printed without it.
RICH = ("rich",)


def modules(args: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """(every module imported by `python -m tracker.cli ARGS`, its stdout)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "tracker" in names, "importtime output was not read"
    return names, proc.stdout


def loaded(names: set[str], wanted: tuple[str, ...]) -> list[str]:
    """Which of `wanted` (packages or modules) are among `names` or are parents of one."""
    return sorted(w for w in wanted if any(n == w or n.startswith(w + ".") for n in names))


def imported(args: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """(top-level packages imported by `python -m tracker.cli ARGS`, its stdout)."""
    names, out = modules(args, env)
    return {name.split(".")[0] for name in names}, out


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


def test_run_help_loads_the_command_but_not_the_service(tmp_path: Path) -> None:
    """`tracker/cli/run.py` is thin: what runs the service (tracker.service) loads on `run`."""
    names, out = modules(["run", "--help"], cli_env(tmp_path, "sqlite://"))
    assert "Example: tracker run" in out  # (tracker.cli.lazy imports it by importlib: unlisted)
    unwanted = SERVER_ONLY + DATABASE + ("tracker.service",)
    assert not loaded(names, unwanted), loaded(names, unwanted)


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
    found = names & {*SERVER_ONLY, "alembic"}  # a migrated database needs no Alembic
    assert not found, sorted(found)


def warm_synonyms() -> None:
    """Save the synonyms' table where the command will look (this test's TRACKER_DATA_DIR, as
    in cli_env), as a first search would have."""
    from tracker.search.synonym_cache import cached_synonyms
    from tracker.search.topical import TOPICS_FILE, derive_synonyms
    from tracker.settings import get_settings

    cached_synonyms(get_settings().resolved_config_dir / TOPICS_FILE, derive_synonyms)


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_search_reads_through_core_tables_alone(tmp_path: Path, sqlite_engine, fmt: str) -> None:  # type: ignore[no-untyped-def]
    ingest_bills(
        sqlite_engine,
        [synthetic_bill("S 1234", "Establishes a single payer health plan")],
        source="test",
    )
    url = sqlite_engine.url.render_as_string(hide_password=False)
    env = cli_env(tmp_path, url)
    assert env["TRACKER_DATA_DIR"] == os.environ["TRACKER_DATA_DIR"]  # warm_synonyms' folder
    warm_synonyms()
    names, out = modules(["search", "single payer", "--format", fmt], env)
    assert "S 1234" in out  # it did search, in that format
    if fmt == "json":
        assert json.loads(out)["results"][0]["identifier"] == "S 1234"
    assert "tracker.tables" in names and "tracker.search" in names
    unwanted = SERVER_ONLY + ("alembic",) + NOT_FOR_SEARCH + TOPIC_RULES
    if fmt != "table":
        unwanted += RICH
    else:
        assert "rich.table" in names  # (the names are read as they should be)
    assert not loaded(names, unwanted), loaded(names, unwanted)


def test_a_first_search_saves_the_synonyms_the_next_one_reads(
    tmp_path: Path, sqlite_engine
) -> None:  # type: ignore[no-untyped-def]
    ingest_bills(
        sqlite_engine,
        [synthetic_bill("S 1234", "Establishes a single payer health plan")],
        source="test",
    )
    env = cli_env(tmp_path, sqlite_engine.url.render_as_string(hide_password=False))
    args = ["search", "medicare for all", "--format", "json"]  # a synonym: the topic's bills
    first_names, first = modules(args, env)
    assert loaded(first_names, TOPIC_RULES) == sorted(TOPIC_RULES)  # derived from the rules
    assert (tmp_path / "data" / "search-cache" / "synonyms.json").is_file()
    names, out = modules(args, env)
    assert not loaded(names, TOPIC_RULES), loaded(names, TOPIC_RULES)
    assert out == first and json.loads(out)["results"][0]["identifier"] == "S 1234"


def test_help_lists_every_command_of_every_module(tmp_path: Path) -> None:
    from tracker.cli.lazy import HELP_ORDER, MODULES

    _, out = imported(["--help"], cli_env(tmp_path, "sqlite://"))
    rows = [line for line in out.splitlines() if line.startswith("│ ") and line[2] != " "]
    commands = [row.split()[1] for row in rows if row[2] != "-"]  # not the options' rows
    assert commands == HELP_ORDER
    assert {n for _, names in MODULES for n in names} <= set(commands)


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
    names, out = modules([group, "--help"], cli_env(tmp_path, "sqlite://"))
    assert "Example" in out
    unwanted = SERVER_ONLY + DATABASE
    assert not loaded(names, unwanted), loaded(names, unwanted)
    # and no other group's module: only the one named is built
    others = tuple(f"tracker.cli.{m}" for m in ("run", "digest", "mail", "site") if m != group)
    assert not loaded(names, others), loaded(names, others)


def test_search_leaves_the_cycle_collector_as_it_found_it(sqlite_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gc

    from typer.testing import CliRunner

    from tracker.cli import app

    ingest_bills(
        sqlite_engine,
        [synthetic_bill("S 1234", "Establishes a single payer health plan")],
        source="test",
    )
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_engine.url.render_as_string(False))
    reset_settings()
    assert gc.isenabled()
    searches = [
        (["search", "single payer", "--format", "json"], 0),
        (["search", "x", "--state", "zz"], 2),
    ]
    for args, code in searches:  # a search, and one that fails
        done = CliRunner().invoke(app, args)
        assert done.exit_code == code and gc.isenabled(), done.output
    assert "S 1234" in CliRunner().invoke(app, ["search", "single payer"]).output
    gc.disable()
    try:
        CliRunner().invoke(app, ["search", "single payer"])
        assert not gc.isenabled()  # off it stays off
    finally:
        gc.enable()
