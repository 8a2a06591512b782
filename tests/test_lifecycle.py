"""A killed or stopped import cleans up after itself (issue 13, failure 8), with real processes
and real Open States archives, on both backends: after ``kill -9`` of the parent no
importer worker (nor multiprocessing's resource tracker) survives, and the next command closes
the dead run as interrupted; SIGTERM ends the import without a traceback, its run recorded
``interrupted``.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tracker.cli import app
from tracker.db import make_engine
from tracker.models import Bill, Run

# The three largest archives: 24,000 bills, so the import is far from done when the first batch
# is written, even if this test is held up a few seconds on a loaded machine.
ARCHIVES = [
    f"openstates/windy_civi_2025/{s}-data-pipeline_metadata.tar.gz" for s in ("ma", "mn", "wa")
]


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def _start_import(url: str, shared_data: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TRACKER_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-c", "from tracker.cli import main; main()"]
        + ["import", "openstates", *(str(shared_data / a) for a in ARCHIVES), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers are found by it
    )


def _wait_for_worker(proc: subprocess.Popen[str], url: str) -> None:
    """Until the importer's worker runs and the first batch is written: the import is then
    well under way, whatever the machine's speed (a fixed sleep let a fast machine finish)."""
    started = time.monotonic()
    deadline = started + 90
    while time.monotonic() < deadline:
        if len(_group(proc.pid)) >= 2 and _bills(url) and proc.poll() is None:
            return
        if proc.poll() is not None:  # nothing left to stop: say why, not just "exit 0"
            out, err = proc.communicate()
            pytest.fail(
                f"the import ended (exit {proc.returncode}) {time.monotonic() - started:.1f} s "
                f"after it started, before a worker and a written batch were seen: "
                f"stdout {out[-500:]!r}, stderr {err[-2000:]!r}"
            )
        time.sleep(0.05)
    pytest.fail("no importer worker wrote a batch within 90 s")


def _bills(url: str) -> int:
    """Bills written so far; 0 while the database cannot answer at once. The poll must not
    wait: the engine's SQLite connections wait up to 30 s for a busy file (and set pragmas on
    connecting), long enough for the import to finish unseen, and the test would then have
    nothing left to stop."""
    if url.startswith("sqlite:///"):
        try:
            with closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.5)) as db:
                return int(db.execute("SELECT count(*) FROM bill").fetchone()[0])
        except sqlite3.OperationalError:  # busy a moment (a checkpoint): ask again
            return 0
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Bill)).scalar_one()
    finally:
        engine.dispose()


def _runs(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Run.status, Run.message).order_by(Run.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _survivors(pgid: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := _group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_kill_9_leaves_no_worker_and_the_dead_run_reads_interrupted(
    db_url: str, shared_data: Path
) -> None:
    proc = _start_import(db_url, shared_data)
    try:
        _wait_for_worker(proc, db_url)
        assert _runs(db_url)[-1][0] == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert _survivors(proc.pid, 5) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    result = CliRunner().invoke(app, ["status", "--json"])
    assert "Traceback" not in result.output
    status, message = _runs(db_url)[-1]
    assert status == "interrupted"
    assert str(proc.pid) in message


def test_sigterm_ends_an_import_cleanly_as_interrupted(db_url: str, shared_data: Path) -> None:
    proc = _start_import(db_url, shared_data)
    try:
        _wait_for_worker(proc, db_url)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "interrupted" in err
        assert _survivors(proc.pid, 5) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert _runs(db_url)[-1][0] == "interrupted"


def test_an_interrupt_inside_a_write_batch_is_not_replaced_by_the_cleanup(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM becomes an exception inside ingest's write transaction; SQLAlchemy then closes
    the driver connection. Restoring the WAL checkpoint setting on that closed connection
    raised "Cannot operate on a closed database" in place of the interrupt (exit 1, not 130)."""
    from tracker.ingest import writing

    class Stop(BaseException):
        pass

    with pytest.raises(Stop):
        with writing(sqlite_engine) as conn:
            conn.invalidate()  # what SQLAlchemy does when an interrupt hits a statement
            raise Stop


def test_an_interrupt_mid_statement_leaves_no_sqlite_lock_behind(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    """An interrupt inside a statement makes SQLAlchemy drop the driver connection, but the
    interrupt's traceback keeps the unfinished cursor alive; SQLite then kept the closed
    connection as a zombie holding the write lock, and recording the run as interrupted waited
    30 s and failed with "database is locked" (the SIGTERM test above, now and then)."""
    import sqlite3

    from sqlalchemy import insert

    from tracker.ingest import writing
    from tracker.models import State

    unfinished = []  # what the traceback's frames hold
    with pytest.raises(KeyboardInterrupt):
        with writing(sqlite_engine) as conn:
            conn.execute(insert(State).values(code="zz", name="written, then interrupted"))
            conn.execute(insert(State).values(code="zy", name="written, then interrupted"))
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute("SELECT code FROM state")
            cursor.fetchone()  # one row of two: the statement is still running
            unfinished.append(cursor)
            conn.invalidate()  # what SQLAlchemy does when an interrupt hits a statement
            raise KeyboardInterrupt("SIGTERM")
    other = sqlite3.connect(sqlite_engine.url.database, timeout=0.5)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" while the zombie holds it
        other.execute("INSERT INTO state (code, name) VALUES ('zx', 'the next writer')")
        other.commit()
        assert [row[0] for row in other.execute("SELECT code FROM state")] == ["zx"]
    finally:
        other.close()
    assert unfinished  # alive until here


def test_an_interrupt_in_the_middle_of_a_copy_ends_the_batch_as_an_interrupt(
    engine, caplog
) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM during a PostgreSQL COPY (bulk inserts run on the driver's own cursor) left the
    connection mid-protocol: the batch's ROLLBACK failed ("another command is already in
    progress") in place of the interrupt, so the import exited 1 with a traceback, not 130.
    The interrupt must come out, the batch must leave nothing, and the next batch must write."""
    from sqlalchemy import func, insert

    from tracker.ingest import writing
    from tracker.models import State

    with pytest.raises(KeyboardInterrupt):
        with writing(engine) as conn:
            conn.execute(insert(State).values(code="zz", name="written, then interrupted"))
            if conn.dialect.name == "postgresql":  # COPY sent, its answer not yet read
                conn.connection.driver_connection.pgconn.send_query(
                    b"COPY state (code, name) FROM STDIN"
                )
            raise KeyboardInterrupt("SIGTERM")
    with writing(engine) as conn:  # the next batch writes; the interrupted one left nothing
        assert conn.execute(select(func.count()).select_from(State)).scalar_one() == 0
        conn.execute(insert(State).values(code="zy", name="the next batch"))
    with engine.connect() as conn:
        assert conn.execute(select(State.code)).scalars().all() == ["zy"]
    # nor a traceback logged by the pool ("Exception during reset or similar")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_an_interrupt_python_dropped_still_stops_the_import_at_the_next_batch(
    sqlite_engine,  # type: ignore[no-untyped-def]
) -> None:
    """A stop signal's KeyboardInterrupt can be lost (raised while a finaliser runs, Python
    drops it): once in 30 SIGTERMs the import went on to the end with exit 0. The handler also
    sets ingest.STOP: the next batch stops, the finished ones are kept and the run reads
    interrupted."""
    from tests.test_search import synthetic_bill
    from tracker import ingest

    def bills():  # type: ignore[no-untyped-def]
        for i in range(6):
            if i == 3:
                ingest.STOP.set()  # what the handler leaves when its raise is lost
            yield synthetic_bill(f"S {i + 1}", f"A made-up bill {i + 1}")

    try:
        with pytest.raises(KeyboardInterrupt):
            ingest.ingest_bills(sqlite_engine, bills(), source="test:stop", batch_size=2)
    finally:
        ingest.STOP.clear()
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
        status = conn.execute(select(Run.status).order_by(Run.id.desc())).scalars().first()  # type: ignore[union-attr]
    assert (stored, status) == (2, "interrupted")


def test_the_stop_handler_leaves_the_stop_and_the_import_command_clears_it(
    sqlite_engine,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import threading

    from tracker.cli import core
    from tracker.ingest import STOP

    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        core._stop(stop, signal.SIGTERM, None)
    assert stop.is_set()

    # an import command restores the handlers it found and clears a stop it was given
    monkeypatch.setenv("TRACKER_DATABASE_URL", str(sqlite_engine.url))
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    def stopped(*_args: object) -> None:
        STOP.set()
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(core, "_import", stopped)
    result = CliRunner().invoke(app, ["import", "openstates", str(tmp_path)])
    assert result.exit_code == 130, result.output
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert not STOP.is_set()
