"""Shared pieces of the importers: the error record, file and archive walking, CSV reading,
joining child rows to their bill, and validation into :class:`ScrapedBill`.

Everything here streams: archives are read member by member (tar in stream mode, zip by
member), CSV files row by row. Importers never touch the database.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import os
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
from tracker.scraped import ScrapedBill

Progress = Callable[[str, int], None]
"""Called once per file or archive member as it is opened: (display name, size in bytes)."""

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")


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


def iter_tar(
    path: Path, want: Callable[[str], bool], progress: Progress | None
) -> Iterator[tuple[str, bytes] | RecordError]:
    """(``archive!member``, bytes) for each wanted member, read in stream mode (no seeking, no
    extraction to disk). A broken archive ends with one error; members read so far stand."""
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                if not member.isfile() or not want(member.name):
                    continue
                where = f"{path}!{member.name}"
                report(progress, where, member.size)
                handle = tf.extractfile(member)
                if handle is None:
                    yield RecordError(where, None, "archive member cannot be read")
                    continue
                yield where, handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        yield RecordError(str(path), None, f"cannot read tar archive: {exc}")


def open_zip(path: Path) -> zipfile.ZipFile | RecordError:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return RecordError(str(path), None, f"cannot read zip archive: {exc}")


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
            yield from _csv_rows(stream, where, columns)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        yield RecordError(where, None, f"cannot read: {exc}")


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


def _csv_rows(
    stream: IO[str], where: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, Row] | RecordError]:
    reader = csv.reader(stream)
    head = _csv_header(reader, where, columns)
    if isinstance(head, RecordError):
        yield head
        return
    pick, width = head
    try:
        for row in reader:
            if len(row) != width:
                if row:  # csv yields [] for a blank line; nothing is lost there
                    yield _width_error(where, reader.line_num, width, len(row))
                continue
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
            reader = csv.reader(stream)
            head = _csv_header(reader, where, columns)
            if isinstance(head, RecordError):
                return index, [head]
            pick, width = head
            get = index.get
            try:
                for row in reader:
                    if len(row) != width:
                        if row:
                            errors.append(_width_error(where, reader.line_num, width, len(row)))
                        continue
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
        self.blob: bytes | None = None  # the fields as sorted-key JSON, once digested
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
        run. None when a value is not JSON (ingest then hashes the validated bill)."""
        if self._digest is False:
            try:
                self.blob = orjson.dumps(self.fields(), option=orjson.OPT_SORT_KEYS)
            except TypeError:
                self._digest = None
            else:
                self._digest = hashlib.sha1(
                    b"raw1\0" + self.blob, usedforsecurity=False
                ).hexdigest()
        return self._digest  # type: ignore[return-value]

    def build(self) -> ScrapedBill | RecordError:
        if self._built is None:
            self._built = validate_bill(self.fields(), self.where, self.line)
        return self._built

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


def load_json(data: bytes, where: str) -> Any | RecordError:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        return RecordError(where, exc.lineno, f"broken JSON: {exc.msg} (column {exc.colno})")
    except UnicodeDecodeError as exc:
        return RecordError(where, None, f"not UTF-8 JSON: {exc}")


def read_file(path: Path, progress: Progress | None) -> bytes | RecordError:
    try:
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
