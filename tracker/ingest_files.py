"""Input files an import has read whole: a re-import skips each one that has not changed.

An importer's work is cut into units, one per file met (``legiscan_units``,
``openstates_units``). :func:`import_items` yields, for each unit, either its items followed by
a :class:`FileDone` (its fingerprint and the (key, digest) of every bill it gave, which ingest
stores in ``import_file`` in the transaction of the batch holding the file's last bill), or,
when the stored fingerprint is the file's own, one :class:`KnownFile` carrying what the file
gave last time, without reading it.

The fingerprint is the size and SHA-256 of every file the unit reads (a CSV set reads its whole
folder), computed before reading it. It is not trusted alone: ingest counts a known file's bills
unchanged only if each is still stored from this source with that digest and no other file of
the run gave the same bill first; any other bill is read again from the file (:class:`Refetch`)
and goes the ordinary way. So a skip gives exactly what reading the file would: nothing
written. A unit that gave an error or a warning (unknown fields, control characters) records no
fingerprint, so each import reports them again. ``full=True`` (``tracker import --full``)
reads every file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, select

from scrapers.importers.base import RawBill, RecordError
from tracker.ingest_rows import bulk_insert
from tracker.models import ImportFile
from tracker.scraped import json_has_control

import_file_table = ImportFile.__table__

Unit = tuple[Callable[..., Any], tuple[Any, ...]]
Entry = tuple[str, str, str, str]  # state, session, identifier_norm, digest


class Fingerprint:
    """What identifies one unit's input: its path(s), and size and SHA-256 of what it reads."""

    __slots__ = ("path", "size", "sha256")

    def __init__(self, path: str, size: int, sha256: str) -> None:
        self.path, self.size, self.sha256 = path, size, sha256

    def __reduce__(self) -> Any:
        return (Fingerprint, (self.path, self.size, self.sha256))


class FileDone:
    """After a unit's items: record its fingerprint and the bills it gave (in order)."""

    __slots__ = ("fingerprint", "entries")

    def __init__(self, fingerprint: Fingerprint, entries: list[Entry]) -> None:
        self.fingerprint, self.entries = fingerprint, entries

    def __reduce__(self) -> Any:
        return (FileDone, (self.fingerprint, self.entries))


class KnownFile:
    """A unit not read: its fingerprint is stored; the bills it gave then (in order, as the
    stored JSON: parsed only when ingest reaches it), and the unit itself, to read it after all
    if ingest finds a bill that is not stored as it gave it."""

    __slots__ = ("path", "bill_keys", "unit")

    def __init__(self, path: str, bill_keys: str, unit: Unit) -> None:
        self.path, self.bill_keys, self.unit = path, bill_keys, unit

    def entries(self) -> list[Entry]:
        return [(a, b, c, d) for a, b, c, d in orjson.loads(self.bill_keys)]

    def __reduce__(self) -> Any:
        return (KnownFile, (self.path, self.bill_keys, self.unit))


class Refetch:
    """The n-th bill of a known file, read from the file only when ingest needs it (the file is
    read once for all its bills that need it)."""

    __slots__ = ("source", "index", "key", "digest", "where")

    def __init__(self, source: Reread, index: int, key: tuple[str, str, str], digest: str) -> None:
        self.source, self.index, self.where = source, index, source.path
        self.key, self.digest = key, digest

    @property
    def prepared(self) -> None:
        return None

    def build(self) -> Any:
        bills = self.source.bills()
        raw = bills[self.index] if self.index < len(bills) else None
        if raw is None or raw.bill_key() != self.key or raw.digest() != self.digest:
            return RecordError(
                self.where, None, "the file changed while it was imported: import it again"
            )
        return raw.build()


class Reread:
    """A known file read again, once, for the bills of it that ingest needs."""

    __slots__ = ("path", "unit", "_bills")

    def __init__(self, known: KnownFile) -> None:
        self.path, self.unit = known.path, known.unit
        self._bills: list[RawBill] | None = None

    def bills(self) -> list[RawBill]:
        if self._bills is None:
            func, args = self.unit
            self._bills = [item for item in func(*args, None) if type(item) is RawBill]
        return self._bills


def unit_files(unit: Unit) -> list[str] | None:
    """The files a unit reads (a CSV's whole folder: its sibling tables), or None when it
    reads a folder (never fingerprinted). Plain strings and ``os.path``: :func:`plan` calls it
    for every file of an import, and ``pathlib`` cost more than the hashing."""
    files: list[str] = []
    for p in _unit_paths(unit):
        if os.path.isdir(p):
            return None
        if os.path.splitext(p)[1].lower() == ".csv":  # as Path.suffix: ".csv" alone has none
            parent = os.path.dirname(p) or "."
            files += sorted(
                f
                for f in (os.path.join(parent, n) for n in os.listdir(parent))
                if os.path.isfile(f)
            )
        else:
            files.append(p)
    return files


def _unit_paths(unit: Unit) -> list[str]:
    first = unit[1][0]
    return [os.fspath(p) for p in first] if isinstance(first, list | tuple) else [os.fspath(first)]


def unit_path(unit: Unit, folders: dict[str, str] | None = None) -> str:
    """The unit's resolved path(s), one a line. `folders` (folder -> its resolved path) is
    filled as a cache: a folder of many files is resolved once, not once per file."""
    return "\n".join(_resolved(p, folders) for p in _unit_paths(unit))


def _resolved(path: str, folders: dict[str, str] | None) -> str:
    """``str(Path(path).resolve())``: a file that is not a symbolic link resolves to its
    resolved folder joined with its name, so the folder's resolution is cached in `folders`."""
    folder, name = os.path.split(path)
    if folders is None or name in ("", ".", "..") or os.path.islink(path):
        return str(Path(path).resolve())
    found = folders.get(folder)
    if found is None:
        found = folders[folder] = str(Path(folder or ".").resolve())
    return os.path.join(found, name)


def fingerprint(unit: Unit, folders: dict[str, str] | None = None) -> Fingerprint | None:
    files = unit_files(unit)
    if files is None:
        return None
    sha = hashlib.sha256()
    size = 0
    try:
        for f in files:
            n, digest = _file_sha256(f)
            sha.update(f"{os.path.basename(f)}\0{n}\0{digest}\n".encode("utf-8", "surrogateescape"))
            size += n
    except OSError:
        return None  # the unit reports it
    return Fingerprint(unit_path(unit, folders), size, sha.hexdigest())


def _file_sha256(path: str) -> tuple[int, str]:
    """Size and SHA-256 of a file (``os.read`` in chunks of 1 MiB: ``hashlib.file_digest``
    allocates 256 KiB a call, and most files are a few KiB)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sha, n = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            sha.update(chunk)
            n += len(chunk)
    finally:
        os.close(fd)
    return n, sha.hexdigest()


def stored(engine: Engine, source: str) -> dict[str, tuple[str, int, str]]:
    """path -> (sha256, size, keys JSON) of every file `source` recorded."""
    t = import_file_table
    q = select(t.c.path, t.c.sha256, t.c.size, t.c.bill_keys).where(t.c.source == source)
    with engine.connect() as conn:
        return {path: (sha, size, keys) for path, sha, size, keys in conn.execute(q)}


def plan(
    units: list[Unit], engine: Engine, source: str, *, full: bool = False
) -> list[tuple[Unit, Fingerprint | None, KnownFile | None]]:
    """Each unit with its fingerprint, and a KnownFile when its stored fingerprint matches."""
    known = {} if full else stored(engine, source)
    out: list[tuple[Unit, Fingerprint | None, KnownFile | None]] = []
    folders: dict[str, str] = {}
    for unit in units:
        fp = fingerprint(unit, folders)
        row = known.get(fp.path) if fp is not None else None
        if fp is not None and row is not None and row[0] == fp.sha256 and row[1] == fp.size:
            out.append((unit, fp, KnownFile(fp.path, row[2], unit)))
        else:
            out.append((unit, fp, None))
    return out


def watched(unit: Unit, fp: Fingerprint | None, progress: Any = None) -> Iterator[Any]:
    """A unit's items, then its FileDone when it has a fingerprint and gave only clean bills."""
    func, args = unit
    entries: list[Entry] = []
    clean = fp is not None
    for item in func(*args, progress):
        if clean:
            if type(item) is RawBill:
                key, digest = item.bill_key(), item.digest()
                blob = item.blob or b""
                if (
                    key is None
                    or digest is None
                    or b'"unknown_fields"' in blob
                    or json_has_control(blob)
                ):
                    clean = False
                else:
                    entries.append((*key, digest))
            else:
                clean = False  # an error or warning: read (and report) it every time
        yield item
    if clean and fp is not None:
        yield FileDone(fp, entries)


def known_unit(known: KnownFile, _progress: Any = None) -> Iterator[Any]:
    """A planned unit that is not read (see :func:`planned_units`)."""
    yield known


def watched_unit(
    size: int,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    fp: Fingerprint | None,
    progress: Any,
) -> Iterator[Any]:
    yield from watched((func, args), fp, progress)


def planned_units(
    planned: list[tuple[Unit, Fingerprint | None, KnownFile | None]],
) -> list[Unit]:
    """The plan as units for :func:`tracker.collect.parallel.prefetch` (first argument: the
    bytes to read, so workers are dealt even shares)."""
    return [
        (known_unit, (known,))
        if known is not None
        else (watched_unit, (fp.size if fp else 0, unit[0], unit[1], fp))
        for unit, fp, known in planned
    ]


def import_items(
    units: list[Unit], engine: Engine, source: str, *, full: bool = False
) -> Iterator[Any]:
    """The units' items in order, a known file as one :class:`KnownFile` (in this process)."""
    for unit, fp, known in plan(units, engine, source, full=full):
        if known is not None:
            yield known
        else:
            yield from watched(unit, fp)


def bytes_to_read(planned: Iterable[tuple[Unit, Fingerprint | None, KnownFile | None]]) -> int:
    return sum(
        fp.size if fp is not None else 8_000_000 for _u, fp, known in planned if known is None
    )


def record(
    conn: Connection, done: list[FileDone], *, source: str, run_id: int | None, now: datetime
) -> None:
    """Store the fingerprints of files whose bills are all in this transaction or before."""
    if not done:
        return
    t = import_file_table
    paths = [d.fingerprint.path for d in done]
    for at in range(0, len(paths), 500):
        conn.execute(delete(t).where(t.c.source == source, t.c.path.in_(paths[at : at + 500])))
    bulk_insert(
        conn,
        t,
        [
            {
                "source": source,
                "path": d.fingerprint.path,
                "size": d.fingerprint.size,
                "sha256": d.fingerprint.sha256,
                "bills": len(d.entries),
                "bill_keys": orjson.dumps(d.entries).decode(),
                "run_id": run_id,
                "seen_at": now,
            }
            for d in done
        ],
    )


def forget(engine: Engine, source: str) -> None:
    """Drop every fingerprint of `source` (the next import reads every file)."""
    with engine.begin() as conn:
        conn.execute(delete(import_file_table).where(import_file_table.c.source == source))


__all__ = [
    "FileDone",
    "Fingerprint",
    "KnownFile",
    "Refetch",
    "import_items",
    "plan",
    "planned_units",
    "record",
]
