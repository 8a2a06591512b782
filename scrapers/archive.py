"""The raw page archive: every fetched body by content hash, plus an index of fetches per URL.

Bodies live once per distinct content under ``root/bodies/ab/<sha256>.gz``; the index
``root/index.sqlite`` keeps one row per fetch (URL, time, status, headers, hash, validators). It lets
the client send conditional requests, lets parsers re-run over stored pages without the network, and
lets a volunteer turn a live page into a fixture.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from scrapers.redact import redact_url  # the archive never stores API keys

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fetches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    requested_url TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT 'GET',
    request_digest TEXT NOT NULL DEFAULT '',
    fetched_at TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    not_modified INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fetches_url ON fetches (url, method, request_digest, id);
CREATE INDEX IF NOT EXISTS fetches_requested ON fetches (requested_url, method, request_digest, id);
"""

_COLUMNS = (
    "id, url, requested_url, method, request_digest, fetched_at, status, headers, content_hash, "
    "etag, last_modified, not_modified, size"
)


class RecordablePage(Protocol):
    """What :meth:`PageArchive.record` needs; :class:`scrapers.fetch_types.Page` provides it."""

    url: str
    requested_url: str
    method: str
    request_digest: str
    status: int
    headers: dict[str, str]
    body: bytes
    content_hash: str
    fetched_at: datetime
    not_modified: bool


@dataclass(frozen=True)
class ArchivedPage:
    """One row of the index: a fetch of ``url`` (after redirects) asked for as ``requested_url``."""

    id: int
    url: str
    requested_url: str
    method: str
    request_digest: str
    fetched_at: datetime
    status: int
    headers: dict[str, str]
    content_hash: str
    etag: str | None
    last_modified: str | None
    not_modified: bool
    size: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class PageArchive:
    """Bodies by content hash on disk and a SQLite index of fetches; safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bodies_dir = self.root / "bodies"
        self.bodies_dir.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: writes are tiny and rare next to network time.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def __repr__(self) -> str:
        return f"PageArchive({str(self.root)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> PageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # bodies -------------------------------------------------------------------------------------

    def _body_path(self, content_hash: str) -> Path:
        if len(content_hash) != 64 or not all(c in "0123456789abcdef" for c in content_hash):
            raise ValueError(f"not a sha256 hex digest: {content_hash!r}")
        return self.bodies_dir / content_hash[:2] / f"{content_hash}.gz"

    def has_body(self, content_hash: str) -> bool:
        return self._body_path(content_hash).is_file()

    def store_body(self, body: bytes) -> str:
        """Store ``body`` once (atomically) and return its sha256 hex digest."""
        content_hash = sha256_hex(body)
        path = self._body_path(content_hash)
        if path.is_file():
            return content_hash
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves a truncated body behind.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return content_hash

    def body(self, content_hash: str) -> bytes:
        """The stored body for ``content_hash``; raises KeyError if absent, ValueError if corrupt."""
        path = self._body_path(content_hash)
        try:
            data = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            raise KeyError(f"no archived body {content_hash} under {self.bodies_dir}") from None
        except (OSError, EOFError) as exc:
            raise ValueError(f"archived body {path} is corrupt: {exc}") from exc
        if sha256_hex(data) != content_hash:
            raise ValueError(f"archived body {path} does not match its hash")
        return data

    # index --------------------------------------------------------------------------------------

    def record(self, page: RecordablePage) -> ArchivedPage:
        """Store the page's body (if new) and add one index row for this fetch."""
        if page.not_modified:
            if not self.has_body(page.content_hash):
                raise KeyError(f"304 for {page.url} but body {page.content_hash} is not archived")
        elif self.store_body(page.body) != page.content_hash:
            raise ValueError(f"content_hash of {page.url} does not match its body")
        fetched_at = page.fetched_at.astimezone(UTC).isoformat()
        row = (
            redact_url(page.url),
            redact_url(page.requested_url),
            page.method,
            page.request_digest,
            fetched_at,
            page.status,
            json.dumps(page.headers, sort_keys=True),
            page.content_hash,
            _header(page.headers, "ETag"),
            _header(page.headers, "Last-Modified"),
            int(page.not_modified),
            len(page.body),
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO fetches (url, requested_url, method, request_digest, fetched_at, "
                "status, headers, content_hash, etag, last_modified, not_modified, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            self._db.commit()
            row_id = cur.lastrowid
        assert row_id is not None
        return _to_archived((row_id, *row))

    def latest(
        self, url: str, *, method: str = "GET", request_digest: str = ""
    ) -> ArchivedPage | None:
        """The newest fetch whose final or requested URL is ``url``, or None."""
        url = redact_url(url)
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM fetches "  # noqa: S608 - constant column list
                "WHERE (url = ? OR requested_url = ?) AND method = ? AND request_digest = ? "
                "ORDER BY id DESC LIMIT 1",
                (url, url, method, request_digest),
            ).fetchone()
        return _to_archived(row) if row else None

    def history(self, url: str) -> list[ArchivedPage]:
        """Every fetch of ``url`` (final or requested), oldest first."""
        url = redact_url(url)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM fetches "  # noqa: S608 - constant column list
                "WHERE url = ? OR requested_url = ? ORDER BY id",
                (url, url),
            ).fetchall()
        return [_to_archived(r) for r in rows]

    def urls(self) -> list[str]:
        """Every distinct final URL in the archive, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT url FROM fetches ORDER BY url").fetchall()
        return [r[0] for r in rows]

    def latest_body(self, url: str) -> bytes | None:
        """The body of the newest fetch of ``url`` (GET), or None if never fetched."""
        entry = self.latest(url)
        return self.body(entry.content_hash) if entry else None


def _to_archived(row: tuple[Any, ...]) -> ArchivedPage:
    (row_id, url, requested, method, digest, fetched_at, status, headers, content_hash) = row[:9]
    etag, last_modified, not_modified, size = row[9:]
    return ArchivedPage(
        id=row_id,
        url=url,
        requested_url=requested,
        method=method,
        request_digest=digest,
        fetched_at=datetime.fromisoformat(fetched_at),
        status=status,
        headers=json.loads(headers),
        content_hash=content_hash,
        etag=etag,
        last_modified=last_modified,
        not_modified=bool(not_modified),
        size=size,
    )
