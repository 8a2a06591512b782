"""Reading an import ahead while ingest waits on the database (tracker.collect.readahead): the
same items in the same order, read only while the caller waits, errors where they happened,
a stop that leaves no reader behind, and the same rows stored on both backends."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from scrapers.importers.base import RawBill
from scrapers.importers.openstates import iter_openstates
from tests.conftest import _pg_admin, _pg_url_for
from tests.test_ingest_lazy import _snapshot
from tracker import search
from tracker.collect.parallel import import_stream
from tracker.collect.readahead import ReadAhead
from tracker.db import make_engine
from tracker.ingest import ingest_bills

IDAHO = "openstates/scraper_output_id_2025"


class Source:
    """Items 0..n-1 (then `error`, if given), recording which thread made each and whether
    the caller was waiting then; it fails if two threads ever advance it at once."""

    def __init__(self, n: int, error: BaseException | None = None) -> None:
        self.n, self.error = n, error
        self.made: list[tuple[int, str, bool]] = []
        self.waiting = False
        self.enough = threading.Event()  # set once 4 items were made while the caller waited
        self._busy = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            assert self._busy.acquire(blocking=False), "advanced by two threads at once"
            try:
                self.made.append((i, threading.current_thread().name, self.waiting))
                if sum(1 for _i, _t, waiting in self.made if waiting) >= 4:
                    self.enough.set()
            finally:
                self._busy.release()
            yield i
        if self.error is not None:
            raise self.error


def _wait_for(source: Source) -> None:
    assert source.enough.wait(10), "nothing was read ahead while the caller waited"


def _waiting(items: ReadAhead, source: Source, wait: Any) -> Any:
    """``items.while_waiting(wait)``, the source told the caller is waiting meanwhile."""
    source.waiting = True
    try:
        return items.while_waiting(wait)
    finally:
        source.waiting = False


def test_items_come_in_order_and_are_read_ahead_only_while_the_caller_waits(
    sqlite_engine: Any,
) -> None:
    source = Source(40)
    items = ReadAhead(iter(source), sqlite_engine, ahead=10)
    got = [next(items) for _ in range(3)]
    _waiting(items, source, lambda: _wait_for(source))
    ahead = [i for i, thread, _w in source.made if thread == "import-read-ahead"]
    assert 4 <= len(ahead) <= 10  # read ahead, at most `ahead` of them
    assert all(waiting for _i, thread, waiting in source.made if thread == "import-read-ahead")
    got += list(items)
    assert got == list(range(40))
    assert not [t for t in threading.enumerate() if t.name == "import-read-ahead"]


def test_an_error_met_reading_ahead_is_raised_where_its_item_would_come(
    sqlite_engine: Any,
) -> None:
    source = Source(6, error=ValueError("broken archive"))
    items = ReadAhead(iter(source), sqlite_engine)
    assert next(items) == 0
    source.enough.set()  # the reader reads to the error at once
    items.while_waiting(lambda: time_passes(0.3))
    assert [next(items) for _ in range(5)] == [1, 2, 3, 4, 5]  # those before it first
    with pytest.raises(ValueError, match="broken archive"):
        next(items)
    with pytest.raises(StopIteration):
        next(items)


def time_passes(seconds: float) -> None:
    threading.Event().wait(seconds)


def test_an_interrupted_wait_stops_the_reader_before_it_returns(sqlite_engine: Any) -> None:
    """Ctrl-C or SIGTERM inside the database wait: the interrupt goes on, and no reader is
    left running to advance the source behind the caller's back."""
    source = Source(10_000)
    items = ReadAhead(iter(source), sqlite_engine, ahead=10_000)

    def interrupted() -> None:
        _wait_for(source)
        raise KeyboardInterrupt("SIGTERM")

    with pytest.raises(KeyboardInterrupt):
        _waiting(items, source, interrupted)
    assert not [t for t in threading.enumerate() if t.name == "import-read-ahead"]
    made = len(source.made)
    time_passes(0.2)
    assert len(source.made) == made < 10_000
    assert next(items) == 0 and len(source.made) == made


@pytest.fixture
def other_engine(db_url: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Any]:
    """A second fresh, migrated database of the same backend as `db_url`."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "other.db"
        path.write_bytes(sqlite_template.read_bytes())
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    template = db_url.rsplit("/", 1)[1]
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine = make_engine(_pg_url_for(name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_an_import_read_ahead_stores_what_the_plain_import_stores(
    engine: Any, other_engine: Any, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idaho 2025 (790 bills) in batches of 100, so the reader prepares bills for most batches:
    the same bills, stages, topics and actions as an import that reads each bill when ingest
    asks for it. A bill another source stored first is updated, not prepared."""
    paths = [shared_data / IDAHO]
    later = [b for b in iter_openstates(paths) if not isinstance(b, str)][300]
    for target in (engine, other_engine):
        ingest_bills(target, [later], source="scrape:id")  # stored by another source

    import tracker.collect.readahead as readahead

    prepared: list[RawBill] = []
    real_prepare = readahead.prepare

    def counting(item: RawBill, *args: Any, **kw: Any) -> None:
        real_prepare(item, *args, **kw)
        if item.prepared:
            prepared.append(item)

    monkeypatch.setattr(readahead, "prepare", counting)
    real_reindex = search.reindex_bills

    def slow_reindex(conn: Any, ids: Any) -> None:  # as a busy server: the reader reads on
        real_reindex(conn, ids)
        time_passes(0.15)

    monkeypatch.setattr(search, "reindex_bills", slow_reindex)
    items, workers = import_stream("openstates", paths, engine=engine, source="import:openstates")
    if engine.dialect.name == "sqlite":  # used on PostgreSQL only; on SQLite, tested as such
        assert not isinstance(items, ReadAhead)
        items = ReadAhead(items, engine)
    assert workers == 0 and isinstance(items, ReadAhead)
    ahead = ingest_bills(engine, items, source="import:openstates", batch_size=100)

    plain = ingest_bills(
        other_engine, iter_openstates(paths, lazy=True), source="import:openstates", batch_size=100
    )
    assert ahead.summary() == plain.summary() and plain.new == 789 and plain.updated == 1
    # the same rows; a bill with actions of two sources has two at each position, which
    # _snapshot's order leaves in the order the database returns them
    ahead_rows, plain_rows = _snapshot(engine), _snapshot(other_engine)
    assert ahead_rows[0] == plain_rows[0]
    assert sorted(ahead_rows[1], key=repr) == sorted(plain_rows[1], key=repr)
    # every bill but the first batch's (read before the first wait) and the stored one
    assert 600 <= len(prepared) < 689
    assert later.identifier not in {p.fields()["identifier"] for p in prepared}


def test_a_files_done_marker_does_not_count_against_what_is_read_ahead(
    sqlite_engine: Any,
) -> None:
    """One-bill files give a bill then its FileDone: counted, the markers would halve what is
    read ahead while the caller waits. `ahead` bounds the other items only."""
    from tracker.ingest_files import FileDone, Fingerprint

    done = FileDone(Fingerprint("/x.json", 1, "0" * 64), [])
    source = [item for n in range(30) for item in (n, done)]
    items = ReadAhead(iter(source), sqlite_engine, ahead=10)
    items.while_waiting(lambda: time_passes(0.3))  # long enough to read all it may
    assert sum(1 for item in items._ready if item is not done) == 10
    assert sum(1 for item in items._ready if item is done) in (9, 10)
    assert list(items) == source
