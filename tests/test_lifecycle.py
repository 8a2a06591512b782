"""A killed or stopped import cleans up after itself (issue 13, failure 8), with real processes
and the real MN Open States archive, on both backends: after ``kill -9`` of the parent no
importer worker (nor multiprocessing's resource tracker) survives, and the next command closes
the dead run as interrupted; SIGTERM ends the import without a traceback, its run recorded
``interrupted``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tracker.cli import app
from tracker.db import make_engine
from tracker.models import Run

MN_TARBALL = "openstates/windy_civi_2025/mn-data-pipeline_metadata.tar.gz"


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


def _start_import(url: str, archive: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TRACKER_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-c", "from tracker.cli import main; main()"]
        + ["import", "openstates", str(archive), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers are found by it
    )


def _wait_for_worker(proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if len(_group(proc.pid)) >= 2 and proc.poll() is None:
            time.sleep(3)  # let the worker get going: queue full, batches written
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    pytest.fail("no importer worker started within 90 s")


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
    proc = _start_import(db_url, shared_data / MN_TARBALL)
    try:
        _wait_for_worker(proc)
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
    proc = _start_import(db_url, shared_data / MN_TARBALL)
    try:
        _wait_for_worker(proc)
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
