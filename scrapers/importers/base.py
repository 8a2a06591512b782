"""Shared pieces of the importers: the error record, file and archive walking, CSV reading,
joining child rows to their bill, and validation into :class:`ScrapedBill`.

Everything here streams: archives are read member by member (tar in stream mode, zip by
member), CSV files row by row. Importers never touch the database.

Inputs are whole or nothing: an archive is read to its end once (gzip/bz2/xz and zip CRCs, the
tar end-of-archive block) before any bill in it is handed on, so a truncated download is an
error naming the file, never half an import. Sizes are capped while streaming (see
:class:`Limits`): a member or file over the cap is an error, never decompressed into memory.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import json
import lzma
import operator
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import ValidationError

from tracker.identifiers import normalize_identifier
from tracker.scraped import CONTROL, ScrapedBill, clean_text, json_has_control

Progress = Callable[[str, int], None]
"""Called once per file or archive member as it is opened: (display name, size in bytes)."""

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MAX_BLANK_LINES = 10_000
"""Blank CSV lines in a row after which the rest of a file is skipped (a file of blank lines
would otherwise cost minutes and hold nothing)."""
MIB = 1 << 20
DEFAULT_MAX_MEMBER_BYTES = 512 * MIB  # the largest real member (LegiScan documents.csv) is 7 MB
DEFAULT_MAX_FILE_BYTES = 8192 * MIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Size caps for one import, from ``TRACKER_IMPORT_MAX_MEMBER_BYTES`` (one file, or one
    archive member, uncompressed) and ``TRACKER_IMPORT_MAX_FILE_BYTES`` (everything in one
    archive, uncompressed). Read from the environment (the CLI copies the settings there) so
    importer worker processes see the same caps."""

    member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            member_bytes=_env_int("TRACKER_IMPORT_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES),
            file_bytes=_env_int("TRACKER_IMPORT_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
        )


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def too_big(size: int, cap: int, setting: str) -> str:
    return f"{size:,} bytes is over the limit of {cap:,} (setting {setting})"


@dataclass(frozen=True, slots=True)
class RecordError:
    """One bad input record that was skipped. ``path`` names an archive member as
    ``archive.zip!member.csv``; ``line`` is the CSV/JSON line when known."""

    path: str
    line: int | None
    message: str
    severity: str = "error"  # "warning": the record was imported, a part of it was not

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class BadRecord(Exception):
    """Raised while converting one record; turned into a :class:`RecordError` by the caller."""


def as_paths(paths: Iterable[Path | str]) -> Iterator[Path]:
    for p in paths:
        yield Path(p)


def is_tar(path: Path | str) -> bool:
    return str(path).lower().endswith(TAR_SUFFIXES)


def is_zip(path: Path | str) -> bool:
    return str(path).lower().endswith(".zip")


def walk(root: Path) -> Iterator[Path]:
    """Every file under ``root``, recursively, in sorted order (stable runs, stable errors)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath, name)


def report(progress: Progress | None, name: str, size: int) -> None:
    if progress is not None:
        progress(name, size)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- archives ---------------------------------------------------------------------------------


class _Reader:
    """Reads a decompressed stream in exact-size pieces, counting bytes against a cap."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self.stream = stream
        self.cap = cap
        self.count = 0

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        while 0 < len(data) < n:  # decompressors may return short reads
            more = self.stream.read(n - len(data))
            if not more:
                break
            data += more
        self.count += len(data)
        if self.count > self.cap:
            raise _OverCap(self.count)
        return data

    def skip(self, n: int) -> int:
        left = n
        while left > 0:
            got = len(self.read(min(left, MIB)))
            if not got:
                break
            left -= got
        return n - left


class _OverCap(Exception):
    pass


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    """The stream behind ``raw`` by its magic bytes: gzip, bzip2, xz or plain tar. Each of these
    readers checks its CRC at the end and raises EOFError on a truncated stream."""
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


def check_tar(path: Path, limits: Limits) -> RecordError | None:
    """None when the tar archive at ``path`` is whole: every header checksum right, the
    compressed stream's CRC right, the end-of-archive block present, and no member over
    ``limits.member_bytes`` (nor the whole over ``limits.file_bytes``). Reads to the end without
    keeping any member's data."""
    label = str(path)
    try:
        with open(path, "rb") as raw:
            stream = _Reader(_decompressed(raw), limits.file_bytes)
            problem = _walk_tar(stream, label, limits)
            if problem is None:
                stream.skip(1 << 62)  # the rest, so the decompressor checks its CRC
    except _OverCap as exc:
        return RecordError(
            label,
            None,
            "archive not imported: uncompressed, it holds "
            + too_big(exc.args[0], limits.file_bytes, "TRACKER_IMPORT_MAX_FILE_BYTES"),
        )
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError, tarfile.TarError) as exc:
        return RecordError(label, None, f"archive not imported: damaged or truncated ({exc})")
    return problem


def _walk_tar(stream: _Reader, label: str, limits: Limits) -> RecordError | None:
    long_name: str | None = None
    while True:
        at = stream.count
        block = stream.read(tarfile.BLOCKSIZE)
        if len(block) < tarfile.BLOCKSIZE:
            return RecordError(
                label,
                None,
                "archive not imported: truncated (it ends before the tar end-of-archive block, "
                f"at byte {at:,} of the uncompressed data)",
            )
        if not block.strip(b"\0"):
            return None  # the end-of-archive block
        if not _checksum_ok(block):
            return RecordError(
                label, None, f"archive not imported: damaged tar header at byte {at:,}"
            )
        size, kind = tarfile.nti(block[124:136]), block[156:157]
        name = long_name or _tar_name(block)
        long_name = None
        if kind in (b"0", b"\0", b"7") and size > limits.member_bytes:
            return RecordError(
                f"{label}!{name}",
                None,
                "archive not imported: member is "
                + too_big(size, limits.member_bytes, "TRACKER_IMPORT_MAX_MEMBER_BYTES"),
            )
        extended = kind == b"S" and block[482]  # GNU sparse: extension blocks follow
        while extended:
            block = stream.read(tarfile.BLOCKSIZE)
            if len(block) < tarfile.BLOCKSIZE:
                return RecordError(label, None, "archive not imported: truncated sparse header")
            extended = block[504]
        if kind in (b"1", b"2", b"3", b"4", b"5", b"6"):
            continue  # links, devices, folders, fifos: no data
        padded = -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        if kind == b"L" and size <= 1 << 16:
            data = stream.read(padded)
            long_name = data[:size].rstrip(b"\0").decode("utf-8", "replace")
            got = len(data)
        else:
            got = stream.skip(padded)
        if got < padded:
            return RecordError(
                f"{label}!{name}", None, "archive not imported: truncated inside this member"
            )


def _checksum_ok(block: bytes) -> bool:
    """A tar header's checksum: the unsigned sum with the checksum field as spaces (cheap), or
    tarfile's own signed and unsigned sums for the odd old writer."""
    try:
        stored = tarfile.nti(block[148:156])
    except tarfile.TarError:
        return False
    return stored == 256 + sum(block[:148]) + sum(block[156:]) or stored in tarfile.calc_chksums(
        block
    )


def _tar_name(block: bytes) -> str:
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def iter_tar(
    path: Path, want: Callable[[str], bool], progress: Progress | None
) -> Iterator[tuple[str, bytes] | RecordError]:
    """(``archive!member``, bytes) for each wanted member, read in stream mode (no seeking, no
    extraction to disk), after :func:`check_tar` found the archive whole."""
    limits = Limits.from_env()
    problem = check_tar(path, limits)
    if problem is not None:
        yield problem
        return
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                if not member.isfile() or not want(member.name):
                    continue
                where = f"{path}!{member.name}"
                report(progress, where, member.size)
                handle = tf.extractfile(member)
                if handle is None or member.size > limits.member_bytes:
                    yield RecordError(where, None, "archive member cannot be read")
                    continue
                yield where, handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        yield RecordError(str(path), None, f"cannot read tar archive: {exc}")


def open_zip(
    path: Path, used: Callable[[str], bool] = lambda name: True
) -> zipfile.ZipFile | RecordError:
    """The zip at ``path``, once :func:`check_zip` found the members it ``used`` whole."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return RecordError(str(path), None, f"cannot read zip archive: {exc}")
    problem = check_zip(zf, str(path), Limits.from_env(), used)
    if problem is not None:
        zf.close()
        return problem
    return zf


def check_zip(
    zf: zipfile.ZipFile,
    label: str,
    limits: Limits,
    used: Callable[[str], bool] = lambda name: True,
) -> RecordError | None:
    """None when every member of ``zf`` the importer ``used`` reads to its end with the right
    CRC, none is over ``limits.member_bytes`` and all together not over ``limits.file_bytes``
    (members it never reads, such as LegiScan's votes.csv, are only size-checked)."""
    total = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        where = f"{label}!{info.filename}"
        if info.file_size > limits.member_bytes:
            return RecordError(
                where,
                None,
                "archive not imported: member is "
                + too_big(info.file_size, limits.member_bytes, "TRACKER_IMPORT_MAX_MEMBER_BYTES"),
            )
        if not used(info.filename):
            continue
        try:
            with zf.open(info) as member:
                while chunk := member.read(MIB):
                    total += len(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, ValueError) as exc:
            return RecordError(where, None, f"archive not imported: damaged member ({exc})")
        if total > limits.file_bytes:
            return RecordError(
                label,
                None,
                "archive not imported: uncompressed, it holds "
                + too_big(total, limits.file_bytes, "TRACKER_IMPORT_MAX_FILE_BYTES"),
            )
    return None


def iter_zip(
    zf: zipfile.ZipFile, label: str, want: Callable[[str], bool], progress: Progress | None
) -> Iterator[tuple[str, bytes] | RecordError]:
    """(``archive!member``, bytes) for each wanted member in name order; one bad member is
    reported and skipped."""
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.is_dir() or not want(info.filename):
            continue
        where = f"{label}!{info.filename}"
        report(progress, where, info.file_size)
        try:
            yield where, zf.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError) as exc:
            yield RecordError(where, None, f"cannot read archive member: {exc}")


class FileSet:
    """Named files that belong together (the CSVs of one dataset), in a folder or a zip."""

    def __init__(self, label: str, sizes: dict[str, int], opener: Callable[[str], IO[bytes]]):
        self.label = label
        self.sizes = sizes
        self.names = set(sizes)
        self._opener = opener

    @classmethod
    def folder(cls, root: Path) -> FileSet:
        sizes = {p.name: file_size(p) for p in root.iterdir() if p.is_file()}
        return cls(str(root), sizes, lambda n: open(root / n, "rb"))  # noqa: SIM115

    @classmethod
    def zip(cls, zf: zipfile.ZipFile, label: str) -> FileSet:
        return cls(label, {i.filename: i.file_size for i in zf.infolist()}, zf.open)

    def where(self, name: str) -> str:
        sep = "!" if self.label.lower().endswith(".zip") else "/"
        return f"{self.label}{sep}{name}"

    def open_text(self, name: str) -> IO[str]:
        """``name`` as text; OSError when it is over ``TRACKER_IMPORT_MAX_MEMBER_BYTES``."""
        cap = Limits.from_env().member_bytes
        if self.sizes.get(name, 0) > cap:
            raise OSError(too_big(self.sizes[name], cap, "TRACKER_IMPORT_MAX_MEMBER_BYTES"))
        # utf-8-sig: a BOM must not end up in the first column's name.
        return io.TextIOWrapper(self._opener(name), encoding="utf-8-sig", newline="")


# --- CSV --------------------------------------------------------------------------------------

Row = tuple[str, ...]


def csv_records(
    files: FileSet, name: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, Row] | RecordError]:
    """(line, values of ``columns``) per data row. A row whose field count differs from the
    header's is reported with its line and skipped; a missing column stops the file."""
    where = files.where(name)
    try:
        with files.open_text(name) as stream:
            lines = CleanLines(stream)
            yield from _csv_rows(lines, where, columns)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        yield RecordError(where, None, f"cannot read: {exc}")
        return
    if lines.cleaned:
        yield lines.warning(where)


class CleanLines:
    """The lines of a text stream with control characters removed (NUL) or made spaces (the
    others but tab, newline and CR), checked a megabyte at a time so clean files cost a regex
    scan. Cleaning before the CSV parser keeps join keys (``bill_id``) whole."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.cleaned = 0

    def __iter__(self) -> Iterator[str]:
        tail = ""
        while chunk := self.stream.read(MIB):
            if CONTROL.search(chunk):
                self.cleaned += len(CONTROL.findall(chunk))
                chunk = clean_text(chunk)
            chunk = tail + chunk
            cut = chunk.rfind("\n") + 1
            tail = chunk[cut:]
            yield from io.StringIO(chunk[:cut], newline="")
        if tail:
            yield from io.StringIO(tail, newline="")

    def warning(self, where: str) -> RecordError:
        return RecordError(
            where, None, f"{self.cleaned:,} control character(s) removed", severity="warning"
        )


def _csv_header(
    reader: Any, where: str, columns: tuple[str, ...]
) -> tuple[Callable[[list[str]], Any], int] | RecordError:
    """(column picker, row width) from the header row, or the error that stops the file."""
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return RecordError(where, 1, "empty file: no header row")
    except (csv.Error, UnicodeDecodeError) as exc:
        return RecordError(where, 1, f"unreadable CSV header: {exc}")
    missing = [c for c in columns if c not in header]
    if missing:
        return RecordError(
            where, 1, f"missing column(s) {', '.join(missing)} (header: {','.join(header)})"
        )
    idx = [header.index(c) for c in columns]
    if len(idx) == 1:
        return (lambda row: (row[idx[0]],)), len(header)
    return operator.itemgetter(*idx), len(header)


def _width_error(where: str, line: int, width: int, got: int) -> RecordError:
    return RecordError(where, line, f"expected {width} columns, got {got}")


def _blank_error(where: str, line: int) -> RecordError:
    return RecordError(
        where, line, f"more than {MAX_BLANK_LINES:,} blank lines in a row; rest of file skipped"
    )


def _csv_rows(
    stream: Iterable[str], where: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, Row] | RecordError]:
    reader = csv.reader(stream)
    head = _csv_header(reader, where, columns)
    if isinstance(head, RecordError):
        yield head
        return
    pick, width = head
    blank = 0
    try:
        for row in reader:
            if len(row) != width:
                if row:  # csv yields [] for a blank line; nothing is lost there
                    yield _width_error(where, reader.line_num, width, len(row))
                elif (blank := blank + 1) > MAX_BLANK_LINES:
                    yield _blank_error(where, reader.line_num)
                    return
                continue
            blank = 0
            yield reader.line_num, pick(row)
    except (csv.Error, UnicodeDecodeError) as exc:
        yield RecordError(where, reader.line_num, f"unreadable CSV, rest of file skipped: {exc}")


def index_csv(
    files: FileSet, name: str, columns: tuple[str, ...], key_len: int = 1
) -> tuple[dict[Any, list[tuple[Any, ...]]], list[RecordError]]:
    """Rows of ``name`` grouped by the first ``key_len`` of ``columns`` (one value or a tuple):
    ``{key: [(line, *values), ...]}``.

    The same checks as :func:`csv_records` in one tight loop: this is the hot path of a
    LegiScan import (a million history rows)."""
    where = files.where(name)
    index: dict[Any, list[tuple[Any, ...]]] = {}
    errors: list[RecordError] = []
    try:
        with files.open_text(name) as stream:
            lines = CleanLines(stream)
            reader = csv.reader(lines)
            head = _csv_header(reader, where, columns)
            if isinstance(head, RecordError):
                return index, [head]
            pick, width = head
            get = index.get
            blank = 0
            try:
                for row in reader:
                    if len(row) != width:
                        if row:
                            errors.append(_width_error(where, reader.line_num, width, len(row)))
                        elif (blank := blank + 1) > MAX_BLANK_LINES:
                            errors.append(_blank_error(where, reader.line_num))
                            break
                        continue
                    blank = 0
                    values = pick(row)
                    key = values[0] if key_len == 1 else values[:key_len]
                    group = get(key)
                    if group is None:
                        group = index[key] = []
                    group.append((reader.line_num, *values))
            except (csv.Error, UnicodeDecodeError) as exc:
                errors.append(
                    RecordError(
                        where, reader.line_num, f"unreadable CSV, rest of file skipped: {exc}"
                    )
                )
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        errors.append(RecordError(where, None, f"cannot read: {exc}"))
        return index, errors
    if lines.cleaned:
        errors.append(lines.warning(where))
    return index, errors


class ChildRows:
    """Rows of a child file (actions, sponsors, ...) handed out per parent key.

    :meth:`indexed` wraps a prebuilt ``{key: rows}`` (:func:`index_csv`; fine for one session).
    :meth:`merged` streams a file that lists rows in the parents' order (check with
    :func:`in_parent_order`), holding one group at a time. Rows are ``(line, *values)``.
    """

    def __init__(self) -> None:
        self.errors: list[RecordError] = []
        self._index: dict[Any, list[tuple[Any, ...]]] = {}
        self._order: dict[Any, int] | None = None
        self._rows: Iterator[tuple[Any, tuple[Any, ...]]] = iter(())
        self._head: tuple[Any, tuple[Any, ...]] | None = None
        self._orphans: dict[Any, tuple[Any, ...]] = {}

    @classmethod
    def indexed(
        cls, index: dict[Any, list[tuple[Any, ...]]], errors: Iterable[RecordError] = ()
    ) -> ChildRows:
        self = cls()
        self._index = index
        self.errors.extend(errors)
        return self

    @classmethod
    def merged(
        cls,
        records: Iterator[tuple[int, Row] | RecordError],
        key: Callable[[Row], Any],
        order: dict[Any, int],
    ) -> ChildRows:
        self = cls()
        self._order = order
        self._rows = self._read(records, key)
        return self

    def _read(
        self, records: Iterator[tuple[int, Row] | RecordError], key: Callable[[Row], Any]
    ) -> Iterator[tuple[Any, tuple[Any, ...]]]:
        for rec in records:
            if isinstance(rec, RecordError):
                self.errors.append(rec)
                continue
            line, row = rec
            yield key(row), (line, *row)

    def take(self, key: Any) -> list[tuple[Any, ...]]:
        """All rows for ``key`` (each ``(line, *values)``), in file order."""
        if self._order is None:
            return self._index.pop(key, [])
        pos = self._order[key]
        out: list[tuple[Any, ...]] = []
        while True:
            if self._head is None:
                self._head = next(self._rows, None)
                if self._head is None:
                    return out
            k, row = self._head
            at = self._order.get(k)
            if at is not None and at > pos:
                return out  # belongs to a later parent
            if at == pos:
                out.append(row)
            else:
                self._orphans.setdefault(k, row)  # no such parent
            self._head = None

    def leftovers(self) -> Iterator[tuple[Any, tuple[Any, ...]]]:
        """(key, first row) for every key no parent took: orphan rows."""
        if self._head is not None:
            self._orphans.setdefault(*self._head)
            self._head = None
        for k, row in self._rows:
            self._orphans.setdefault(k, row)
        for k, rows in self._index.items():
            self._orphans.setdefault(k, rows[0])
        self._index = {}
        yield from self._orphans.items()
        self._orphans = {}


def orphan_error(child: ChildRows, where: str, what: str) -> RecordError | None:
    """One error summarising child rows whose parent is missing (a key per line would flood
    the report when a whole bills file is broken)."""
    orphans = list(child.leftovers())
    if not orphans:
        return None
    key, first = orphans[0]
    return RecordError(
        where, first[0], f"{what} for {len(orphans)} bill(s) not in the bills file (first: {key})"
    )


def in_parent_order(
    records: Iterator[tuple[int, Row] | RecordError],
    key: Callable[[Row], Any],
    order: dict[Any, int],
) -> bool:
    """True when the child rows follow the parents' order (keys unknown to ``order`` ignored)."""
    last = -1
    for rec in records:
        if isinstance(rec, RecordError):
            continue
        at = order.get(key(rec[1]))
        if at is None:
            continue
        if at < last:
            return False
        last = at
    return True


# --- validation -------------------------------------------------------------------------------


def describe_validation(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "bill"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def bill_label(data: dict[str, Any]) -> str:
    return f"{data.get('state') or '?'} {data.get('legislative_session') or '?'} {data.get('identifier') or '?'}"


def validate_bill(data: dict[str, Any], where: str, line: int | None) -> ScrapedBill | RecordError:
    """The one place importers build a ScrapedBill: full pydantic validation, once per bill.

    (``model_validate`` on a plain dict costs ~55 µs for a bill with 8 actions; pydantic's
    ``model_construct`` is *slower* here, ~2 ms, because it inspects every default factory.)
    """
    try:
        return ScrapedBill.model_validate(data)
    except ValidationError as exc:
        return RecordError(
            where, line, f"bill {bill_label(data)} is invalid: {describe_validation(exc)}"
        )
    except RecursionError:
        return RecordError(where, line, f"bill {bill_label(data)} is nested too deeply")


class RawBill:
    """One bill's importer fields, validated only when ingest needs the bill.

    A re-import finds most bills unchanged: ingest compares :meth:`digest` with the stored
    content hash and skips them without paying for pydantic validation. A bill that ingest
    writes is always built through :func:`validate_bill` (unknown fields still fail).
    Importer processes (:mod:`tracker.collect.parallel`) send it on as ``blob`` (the fields as JSON, cheap to
    pass between processes) and, for a new bill, ``prepared`` (its rows, see
    ``tracker.ingest.prepare_new``).
    """

    __slots__ = ("data", "where", "line", "blob", "prepared", "_key", "_digest", "_built")

    def __init__(self, data: dict[str, Any] | None, where: str, line: int | None) -> None:
        self.data = data
        self.where = where
        self.line = line
        self.blob: bytes | None = None  # the fields as JSON, once digested
        self.prepared: bytes | None = None
        self._key: tuple[str, str, str] | None | bool = False  # False: not computed yet
        self._digest: str | None | bool = False
        self._built: ScrapedBill | RecordError | None = None

    def fields(self) -> dict[str, Any]:
        if self.data is None:
            self.data = orjson.loads(self.blob or b"{}")
        return self.data

    def bill_key(self) -> tuple[str, str, str] | None:
        """(state, session, normalised identifier) as the validated bill will have them, or
        None when the fields are not plain strings (then ingest validates first)."""
        if self._key is False:
            self._key = _raw_key(self.fields())
        return self._key  # type: ignore[return-value]

    def digest(self) -> str | None:
        """sha1 of the fields as sorted-key JSON: the same input gives the same digest in every
        run. None when a value is not JSON (ingest then hashes the validated bill).

        ``blob`` keeps the fields in the source's order, not sorted: a bill built from it
        (in the writer, from an importer process's bytes) stores free-form fields such as
        ``extras`` in the order a bill built from the fields themselves stores them."""
        if self._digest is False:
            fields = self.fields()
            try:
                ordered = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
            except TypeError:
                self._digest = None
            else:
                self.blob = orjson.dumps(fields)
                self._digest = hashlib.sha1(b"raw1\0" + ordered, usedforsecurity=False).hexdigest()
        return self._digest  # type: ignore[return-value]

    def build(self) -> ScrapedBill | RecordError:
        if self._built is None:
            self._built = validate_bill(self.fields(), self.where, self.line)
        return self._built

    def shed(self) -> None:
        """Keep only what travels (see ``__getstate__``): drop the fields' dict once they are
        in ``blob`` and the validated bill. An importer process calls it when a bill is ready
        to send: the bill then waits in the queue as bytes, not as a model of a few dozen
        objects that the garbage collector would scan again at each piece (half of its
        collection time on a first import)."""
        if self.blob is not None:
            self.data = None
        self._built = None

    def __getstate__(self) -> tuple[Any, ...]:
        # Pickling pydantic models costs more than validating again; JSON bytes cost little.
        data = None if self.blob is not None else self.data
        return (data, self.where, self.line, self.blob, self.prepared, self._key, self._digest)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.data, self.where, self.line, self.blob, self.prepared, self._key, self._digest = state
        self._built = None

    def __repr__(self) -> str:
        return f"RawBill({bill_label(self.fields())} at {self.where})"


_LABEL_FIELDS = ("state", "legislative_session", "identifier")


def _raw_key(d: dict[str, Any]) -> tuple[str, str, str] | None:
    state, session, ident = d.get("state"), d.get("legislative_session"), d.get("identifier")
    if not (isinstance(state, str) and isinstance(session, str) and isinstance(ident, str)):
        return None
    if not (state.isprintable() and session.isprintable() and ident.isprintable()):
        return None  # control characters: ScrapedBill cleans them, so the key comes from it
    state, session = state.strip().lower(), session.strip()  # as ScrapedBill's validators
    if not (state and session and ident.strip()):
        return None
    return state, session, normalize_identifier(ident.strip())


def raw_bill(data: dict[str, Any], where: str, line: int | None) -> RawBill:
    return RawBill(data, where, line)


def built(items: Iterable[Any]) -> Iterator[Any]:
    """Items with every :class:`RawBill` validated (ScrapedBill or RecordError): what a caller
    that does not ask for lazy bills gets."""
    for item in items:
        yield item.build() if type(item) is RawBill else item


UNKNOWN_FIELDS = "unknown_fields"
"""The ``extras`` key under which importers keep fields they do not know, by path."""


class UnknownFields:
    """Fields of one record that the importer does not map: kept, not fatal."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}

    def check(self, obj: dict[str, Any], allowed: frozenset[str], path: str) -> None:
        if not obj.keys() <= allowed:
            for key in sorted(obj.keys() - allowed):
                self.found[f"{path}.{key}" if path else key] = obj[key]

    def keep(self, extras: dict[str, Any]) -> None:
        if self.found:
            extras[UNKNOWN_FIELDS] = self.found


_INDEX = re.compile(r"\[\d+\]")


class _Tally:
    def __init__(self) -> None:
        self.count = 0
        self.first: RawBill | None = None
        self.names: set[str] = set()

    def add(self, item: RawBill) -> None:
        self.count += 1
        self.first = self.first or item

    def warning(self, what: str) -> RecordError | None:
        if self.first is None:
            return None
        where = (
            self.first.where if self.first.line is None else f"{self.first.where}:{self.first.line}"
        )
        return RecordError(
            self.first.where,
            self.first.line,
            f"{what} in {self.count:,} bill(s) (first: {where})",
            severity="warning",
        )


def summarise(items: Iterable[Any]) -> Iterator[Any]:
    """``items`` unchanged, then one warning per kind of tolerated oddity with its count:
    unknown fields (kept in ``extras["unknown_fields"]``) and control characters (removed by
    ScrapedBill). A run reports each once, not once per bill. Reads each bill's JSON (which
    ingest needs anyway for its digest), so bills from worker processes are covered too."""
    unknown, control = _Tally(), _Tally()
    for item in items:
        if type(item) is RawBill and item.digest() is not None:
            blob = item.blob or b""
            if b'"unknown_fields"' in blob:
                found = (item.fields().get("extras") or {}).get(UNKNOWN_FIELDS)
                if isinstance(found, dict):
                    unknown.add(item)
                    unknown.names.update(_INDEX.sub("", k) for k in found)
            if json_has_control(blob):
                control.add(item)
        yield item
    names = ", ".join(sorted(unknown.names)[:12])
    for warning in (
        unknown.warning(f"unknown field(s) {names} kept in extras.{UNKNOWN_FIELDS}"),
        control.warning("control characters (NUL and the like) removed"),
    ):
        if warning is not None:
            yield warning


def load_json(data: bytes, where: str) -> Any | RecordError:
    """The JSON in ``data``; control characters inside strings are accepted here (ScrapedBill
    removes them, :func:`summarise` reports them)."""
    try:
        return json.loads(data, strict=False)
    except json.JSONDecodeError as exc:
        return RecordError(where, exc.lineno, f"broken JSON: {exc.msg} (column {exc.colno})")
    except UnicodeDecodeError as exc:
        return RecordError(where, None, f"not UTF-8 JSON: {exc}")
    except RecursionError:
        return RecordError(where, None, "JSON nested too deeply")
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        return RecordError(where, None, f"unreadable JSON: {str(exc)[:120]}")


def read_file(path: Path, progress: Progress | None) -> bytes | RecordError:
    cap = Limits.from_env().member_bytes
    try:
        if (size := path.stat().st_size) > cap:
            return RecordError(
                str(path),
                None,
                "not read: " + too_big(size, cap, "TRACKER_IMPORT_MAX_MEMBER_BYTES"),
            )
        data = path.read_bytes()
    except OSError as exc:
        return RecordError(str(path), None, f"cannot read: {exc}")
    report(progress, str(path), len(data))
    return data


# --- format sniffing --------------------------------------------------------------------------

Format = Literal["openstates", "legiscan"]
_BILLY_BILLS_HEADER = ("state", "session", "chamber", "bill_id", "title")
_LEGISCAN_BILLS_HEADER = ("bill_id", "session_id", "bill_number")


def detect_format(path: Path | str) -> Format | None:
    """Which importer reads ``path``: ``"openstates"``, ``"legiscan"`` or None (unknown).

    Folders answer with the first recognisable file in sorted order; archives by their member
    names; JSON by its keys; CSV by its header.
    """
    path = Path(path)
    if path.is_dir():
        for i, child in enumerate(walk(path)):
            found = detect_format(child)
            if found or i > 2000:
                return found
        return None
    name = path.name.lower()
    try:
        if is_zip(name):
            with zipfile.ZipFile(path) as zf:
                return _format_of_names(zf.namelist())
        if is_tar(name):
            with tarfile.open(path, mode="r|*") as tf:
                return _format_of_names(m.name for _, m in zip(range(200), tf, strict=False))
        if name.endswith(".json"):
            return _format_of_json(path)
        if name.endswith(".csv"):
            with open(path, encoding="utf-8-sig", newline="") as f:
                header = tuple(next(csv.reader(f), []))
            if header[:5] == _BILLY_BILLS_HEADER:
                return "openstates"
            if header[:3] == _LEGISCAN_BILLS_HEADER:
                return "legiscan"
    except (
        OSError,
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        csv.Error,
        UnicodeDecodeError,
    ):
        return None
    return None


def _format_of_names(names: Iterable[str]) -> Format | None:
    for n in names:
        base = n.rsplit("/", 1)[-1]
        if n.endswith("/csv/bills.csv") or "/bill/" in n and base.endswith(".json"):
            return "legiscan"
        if base == "metadata.json" or base.startswith("bill_") and base.endswith(".json"):
            return "openstates"
        if base.endswith("_bills.csv"):
            return "openstates"
    return None


def _format_of_json(path: Path) -> Format | None:
    if path.stat().st_size > 50_000_000:
        return None
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if (
        "bill" in data
        and isinstance(data["bill"], dict)
        or {"bill_id", "bill_number"} <= data.keys()
    ):
        return "legiscan"
    if {"legislative_session", "identifier"} <= data.keys():
        return "openstates"
    return None
