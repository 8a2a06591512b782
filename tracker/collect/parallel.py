"""Run an importer in worker processes, ahead of ingest: parsing and validation overlap the
database writes (the machine's other cores), and a re-import validates nothing it need not.

    items = prefetch("legiscan", paths, engine=engine)
    ingest_bills(engine, items, source="import:legiscan")

The importer's work is cut into pieces (one per file, see ``legiscan_units`` /
``openstates_units``) and bunched into chunks; workers claim chunks in order from a shared
counter, and the results are handed out in the original order, so ingest sees exactly what
``iter_legiscan(paths, lazy=True)`` yields. The writer claims a chunk too when it would
otherwise wait (no worker has claimed the next one yet) and reads it itself, so on 2 cores
both are busy whichever side is slower: the writer's database work and the workers' parsing
and preparing each take about half of a first import's CPU time. Each
:class:`RawBill` arrives with key, digest and its fields as JSON bytes; a bill the database does
not have (a snapshot of the stored bills' keys taken at the start) met for the first time in
this import arrives validated, with its rows computed (``tracker.ingest.prepare_new``), while
the writer has a piece waiting. The snapshot is only a hint: ingest still compares with the
database, and builds a bill itself when it has to.

Each worker sends its items in pieces through a bounded queue, so memory stays bounded
whatever the input size. Workers are started with "spawn": they share no database connection
with the caller. A worker that fails raises in the caller with the worker's traceback.

Workers die with their parent: each watches its parent's sentinel (a pipe that closes when the
parent ends, even by ``kill -9``) and exits at once, so a killed import leaves no worker blocked
on a full queue (nor, with them gone, multiprocessing's resource tracker). Ctrl-C is the
parent's to handle: workers ignore SIGINT and the parent stops them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import Engine, select

from scrapers.importers.base import RawBill, RecordError, file_size, summarise
from scrapers.importers.legiscan import legiscan_units
from scrapers.importers.openstates import openstates_units
from tracker import ingest_files
from tracker.collect.prepare import Hints, Place, key_token, prepare
from tracker.models import Bill, LegislativeSession

Unit = tuple[Callable[..., Any], tuple[Any, ...]]
CHUNK_BYTES = 2_000_000  # small files (one bill JSON each) go to a worker in bunches
PIECE = 250  # items sent at once
QUEUED = 4  # pieces waiting per worker: bounds memory whatever the input size
WORTH_BYTES = 8_000_000
"""Input (on disk) under which worker processes do not pay: each costs about a second to
start (spawn, imports) and every bill then travels through a pipe. Measured on 2 cores: on 790
Idaho bills (5 MB) ``--workers 1`` was 1.5x slower than serial on a first import and 1.8x on a
re-import; on all the shared data (55 MB) two workers took 106.7 s against 181.6 s for none."""


def default_workers(paths: Iterable[Path | str], *, cpus: int | None = None) -> int:
    """Importer processes worth starting for ``paths`` on this machine (every byte counted:
    :func:`import_stream` counts only the files left to read)."""
    total = 0
    for path in map(Path, paths):
        files = path.rglob("*") if path.is_dir() else (path,)
        total += sum(f.stat().st_size for f in files if f.is_file())
        if total >= WORTH_BYTES:
            break
    return default_workers_for(total, cpus=cpus)


def default_workers_for(size: int, *, cpus: int | None = None) -> int:
    """Importer processes worth starting to read `size` bytes: 0 (parse in the writer's
    process) on one core or under :data:`WORTH_BYTES`; else one per core beside the writer's,
    at most two (the writer is the bottleneck beyond two).

    On 2 cores that is one worker: the writer keeps one core and the worker the other, and the
    writer reads chunks itself while the worker is behind (:func:`prefetch`), so one worker
    keeps both cores busy. A second would add no core, and each worker costs about 190 MB:
    writer and two workers were 616 MB at peak, over the 500 MB an import may take (issue 15);
    writer and one worker about 460 MB on all the shared data."""
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if cpus < 2 or size < WORTH_BYTES:
        return 0
    return min(2, cpus - 1)


def units(kind: str, paths: Iterable[Path | str]) -> list[Unit]:
    if kind == "legiscan":
        return legiscan_units(paths)
    if kind == "openstates":
        return openstates_units(paths)
    raise ValueError(f"unknown importer {kind!r} (expected legiscan or openstates)")


def import_stream(
    kind: str,
    paths: Iterable[Path | str],
    *,
    engine: Engine,
    source: str,
    workers: int | None = None,
    full: bool = False,
) -> tuple[Iterator[Any], int]:
    """What ``tracker import`` hands to ``ingest_bills``, and the importer processes used: the
    items of ``iter_<kind>(paths, lazy=True)``, where a file read by an earlier import and
    unchanged since comes as one ``KnownFile`` (:mod:`tracker.ingest_files`; ``full``: read
    every file). ``workers`` None: :func:`default_workers` for the bytes left to read.
    Without workers, on PostgreSQL, the items come through a
    :class:`~tracker.collect.readahead.ReadAhead`: the next bills are read and prepared while
    ingest waits for the database to index a batch."""
    planned = ingest_files.plan(units(kind, paths), engine, source, full=full)
    if workers is None:
        workers = default_workers_for(ingest_files.bytes_to_read(planned))
    plan_units = ingest_files.planned_units(planned)
    if workers > 0:
        items = prefetch(kind, paths, engine=engine, workers=workers, plan=plan_units)
        return summarise(items), workers
    items = summarise(item for func, args in plan_units for item in func(*args, None))
    if engine.dialect.name == "postgresql":
        from tracker.collect.readahead import ReadAhead

        return ReadAhead(items, engine), workers
    return items, workers


def prefetch(
    kind: str,
    paths: Iterable[Path | str],
    *,
    engine: Engine | None = None,
    workers: int | None = None,
    piece: int = PIECE,
    queued: int = QUEUED,
    plan: list[Unit] | None = None,
    share: bool = True,
) -> Iterator[Any]:
    """The items of ``iter_<kind>(paths, lazy=True)``, produced by ``workers`` processes;
    ``engine`` (the database ``ingest_bills`` writes to) lets them prepare only the bills it
    does not have.

    Chunks of files are claimed in order from a shared counter: each worker takes the next
    unclaimed chunk when it finishes one, and sends its items in pieces of ``piece`` through its
    own queue of at most ``queued`` pieces (a worker that gets ahead waits). The caller hands
    the chunks out in order, reading each from the queue of the worker that claimed it. With
    ``share`` the caller claims a chunk itself when no worker has yet, and reads it in its own
    process (the items then come as ``iter_<kind>`` gives them: ingest validates and prepares
    them as it does without workers): the caller would otherwise wait for the workers, so both
    cores stay busy whichever side is slower."""
    chunks = _chunks(units(kind, paths) if plan is None else plan)
    if not chunks:
        return
    workers = max(1, min(workers or min(2, os.cpu_count() or 1), len(chunks)))
    known, ends = _snapshot(engine) if engine is not None else (set(), {})
    ctx = multiprocessing.get_context("spawn")
    claimed = ctx.Value("i", 0)  # chunks before this one are claimed
    owner = ctx.Array("i", len(chunks), lock=False)  # the worker that claimed each chunk
    queues = [ctx.Queue(maxsize=queued) for _ in range(workers)]
    procs = [
        ctx.Process(
            target=_serve,
            args=(chunks, k, claimed, owner, known, ends, engine is not None, piece, queues[k]),
            daemon=True,
        )
        for k in range(workers)
    ]
    del known
    for proc in procs:
        proc.start()
    try:
        for n in range(len(chunks)):
            with claimed.get_lock():
                mine = share and claimed.value == n  # no worker has claimed it: read it here
                if mine:
                    claimed.value = n + 1
            if mine:
                yield from _chunk_stream(chunks[n], local=True)
            else:
                yield from _chunk_items(queues[owner[n]], procs[owner[n]])
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()


def _chunk_items(queue: Any, proc: Any) -> Iterator[Any]:
    """The items of one chunk, piece by piece, until its end marker."""
    while True:
        try:
            tag, payload = queue.get(timeout=5)
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"importer worker stopped (exit code {proc.exitcode}) before its end"
                ) from None
            continue
        if tag == "end":
            return
        if tag == "error":
            raise RuntimeError(f"importer worker failed:\n{payload}")
        yield from payload


def _serve(
    chunks: list[list[Unit]],
    me: int,
    claimed: Any,
    owner: Any,
    known: set[int],
    ends: dict[tuple[str, str], str | None],
    prepare: bool,
    piece: int,
    queue: Any,
) -> None:
    _die_with_parent()
    _init(known, ends, prepare)
    # As ingest does (tracker.ingest.BatchCollector): a chunk allocates ~100k short-lived
    # objects beside a large index of its CSV rows; the automatic collector would scan them
    # over and over (a quarter of a worker's CPU time at the default threshold), so the
    # worker collects once per piece it sends instead.
    from tracker.ingest import BatchCollector

    try:
        with BatchCollector() as collector:
            while True:
                with claimed.get_lock():
                    n = claimed.value
                    if n >= len(chunks):
                        break
                    claimed.value = n + 1
                    owner[n] = me
                out: list[Any] = []
                helping = [_writer_has_backlog(queue)]
                for item in _chunk_stream(chunks[n], prepare=helping):
                    out.append(item)
                    if len(out) >= piece:
                        queue.put(("items", out))
                        out = []
                        collector.between()
                        helping[0] = _writer_has_backlog(queue)
                queue.put(("items", out))
                queue.put(("end", None))
                collector.between()
    except BaseException:  # noqa: BLE001 - the reader re-raises it with the traceback
        queue.put(("error", traceback.format_exc()))
    queue.close()
    queue.join_thread()


def _die_with_parent() -> None:
    """In a worker: ignore Ctrl-C (the parent stops us) and exit as soon as the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)  # no cleanup to do: the parent's transaction is gone with it

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _chunks(all_units: list[Unit]) -> list[list[Unit]]:
    chunks: list[list[Unit]] = []
    size = CHUNK_BYTES
    for unit in all_units:
        arg = unit[1][0]
        if isinstance(arg, Path):
            n = file_size(arg)
        elif isinstance(arg, int):  # a planned unit: the bytes it reads
            n = arg
        elif isinstance(arg, ingest_files.KnownFile):
            n = 0  # not read
        else:
            n = CHUNK_BYTES
        if size + n > CHUNK_BYTES or not chunks:
            chunks.append([])
            size = 0
        chunks[-1].append(unit)
        size += n
    return chunks


def _snapshot(engine: Engine) -> tuple[set[int], dict[tuple[str, str], str | None]]:
    """The keys of every stored bill, from any source: ingest uses prepared rows only for a bill
    the database does not have at all (one another source stored is updated, not inserted),
    and the session end dates stored."""
    session_table = LegislativeSession.__table__
    bill_table = Bill.__table__
    with engine.connect() as conn:
        ends = {
            (st, ident): end
            for st, ident, end in conn.execute(
                select(session_table.c.state, session_table.c.identifier, session_table.c.end_date)
            )
        }
        keys = conn.execute(
            select(bill_table.c.state, bill_table.c.session, bill_table.c.identifier_norm)
        )
        return {key_token(tuple(key)) for key in keys}, ends


_HINTS = Hints(set(), {}, prepare=False)  # an importer process's, set by _init


def _init(known: set[int], ends: dict[Place, str | None], prepare: bool) -> None:
    global _HINTS
    _HINTS = Hints(known, ends, prepare)


def _prepare(item: RawBill, rows: bool = True) -> None:
    """In an importer process: :func:`tracker.collect.prepare.prepare` with its hints, the
    bill then kept as its bytes only, to be sent."""
    prepare(item, _HINTS, rows)


def _writer_has_backlog(queue: Any) -> bool:
    """Whether the reader has :data:`BACKLOG` pieces of ours waiting (prepare the next piece's
    new bills for it) or fewer (it is waiting for us, or soon will: send them as they are, it
    prepares them itself, as it does for a chunk it reads). Where the queue cannot tell its
    size (macOS), always prepare."""
    try:
        return bool(queue.qsize() >= BACKLOG)
    except NotImplementedError:
        return True


BACKLOG = 2
"""Pieces waiting in a worker's queue from which it prepares the new bills it sends (the
writer takes two pieces per batch: with fewer it soon waits). Work thus moves to whichever
side is idle: on 2 cores the writer and the worker take turns being the slower one, in
stretches longer than any queue that fits in memory (Open States' big tarballs are slow to
parse; bills already stored are slow to write)."""


def _chunk_stream(
    chunk: list[Unit], *, local: bool = False, prepare: list[bool] | None = None
) -> Iterator[Any]:
    """A chunk's items; in a worker (not `local`) each bill digested and, if new and
    ``prepare[0]`` (read at each bill, default true), prepared."""
    for func, args in chunk:
        if local:
            yield from func(*args, None)
            continue
        for item in func(*args, None):
            if type(item) is RawBill:
                _prepare(item, True if prepare is None else prepare[0])
            yield item


__all__ = ["RecordError", "default_workers", "import_stream", "prefetch", "units"]
