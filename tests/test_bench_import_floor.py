"""bench/bench_import.py's floor for a first import: SQLite alone storing what an import stored.

No timing is asserted; the test checks that the floor stores everything the import did (every
row of every data table, the search index included), so the bench compares like with like.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest

from scrapers.importers.legiscan import iter_legiscan
from tracker.db import make_engine, upgrade
from tracker.ingest import ingest_bills

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_import() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_import", ROOT / "bench" / "bench_import.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _contents(path: Path, tables: list[str]) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: sorted(map(repr, conn.execute(f'SELECT rowid, * FROM "{t}"')))  # noqa: S608
            for t in tables
        }
    finally:
        conn.close()


def test_the_floor_stores_every_row_the_import_stored(
    bench_import: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    source = tmp_path / "imported.db"
    engine = make_engine(f"sqlite:///{source}")
    upgrade(engine)
    report = ingest_bills(
        engine,
        iter_legiscan([shared_data / "legiscan/api_json/bill"]),
        source="import:legiscan",
    )
    engine.dispose()
    assert report.new > 0

    copy = tmp_path / "copy.db"
    seconds, rows = bench_import.sqlite_store_seconds(source, copy)

    conn = sqlite3.connect(source)
    tables = bench_import.stored_tables(conn)
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
    conn.close()
    assert {"bill", "action", "sponsorship", "bill_fts", "run"} <= set(tables)
    assert not any(t.startswith("bill_fts_") or t == "alembic_version" for t in tables)
    assert counts["bill"] == report.new and counts["action"] > 0
    assert rows == sum(counts.values()) and seconds > 0
    assert _contents(copy, tables) == _contents(source, tables)
    # the search index was built again, not copied: it answers in the copy
    conn = sqlite3.connect(copy)
    hits = conn.execute("SELECT count(*) FROM bill_fts WHERE bill_fts MATCH 'health'").fetchone()
    conn.close()
    assert hits[0] > 0
