"""A re-import skips input files unchanged since an earlier import (tracker.ingest_files), and
still stores exactly what reading them would: a changed file is read, a bill stored otherwise
since is read again from its file, --full reads everything, and errors are reported each time."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import scrapers.importers.base as base
from tracker.collect.parallel import import_stream
from tracker.ingest import ingest_bills
from tracker.models import Action, Bill, ImportFile

SOURCE = "import:openstates"


def _bill(n: int, title: str = "", actions: int = 1) -> dict[str, Any]:
    return {
        "legislative_session": "2025",
        "identifier": f"H {n}",
        "title": title or f"Relating to health care, part {n}",
        "actions": [
            {
                "description": "Introduced" if a == 0 else f"Amended ({a})",
                "date": f"2025-01-{a + 1:02d}",
                "organization_id": '~{"classification": "lower"}',
                "classification": [],
                "related_entities": [],
            }
            for a in range(actions)
        ],
        "jurisdiction": {"id": "ocd-jurisdiction/country:us/state:id/government"},
    }


def _write(folder: Path, n: int, **kw: Any) -> Path:
    path = folder / f"bill_{n}.json"
    path.write_text(json.dumps(_bill(n, **kw)))
    return path


def _import(engine: Any, folder: Path, *, full: bool = False, workers: int = 0) -> Any:
    items, _ = import_stream(
        "openstates", [folder], engine=engine, source=SOURCE, workers=workers, full=full
    )
    return ingest_bills(engine, items, source=SOURCE)


def _counts(engine: Any) -> tuple[int, int]:
    with engine.connect() as c:
        return (
            c.execute(select(func.count()).select_from(Bill)).scalar_one(),
            c.execute(
                select(func.count()).select_from(Action).where(Action.removed_at.is_(None))  # type: ignore[union-attr]
            ).scalar_one(),
        )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "scrape"
    root.mkdir()
    for n in range(1, 6):
        _write(root, n)
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each bill JSON was parsed."""
    seen: list[str] = []
    import scrapers.importers.openstates as openstates

    real = openstates.bill_from_json

    def counting(raw: bytes, where: str, *, lazy: bool = False) -> Any:
        seen.append(Path(where).name)
        return real(raw, where, lazy=lazy)

    monkeypatch.setattr(openstates, "bill_from_json", counting)
    return seen


def test_second_import_reads_no_file_and_writes_nothing(
    engine: Any, folder: Path, reads: list[str]
) -> None:
    first = _import(engine, folder)
    assert (first.new, first.errors) == (5, [])
    stored = _counts(engine)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(ImportFile)).scalar_one() == 5
    reads.clear()
    second = _import(engine, folder)
    assert (second.new, second.updated, second.unchanged, second.changes) == (0, 0, 5, 0)
    assert reads == [] and _counts(engine) == stored


def test_a_changed_file_is_read_and_only_it(engine: Any, folder: Path, reads: list[str]) -> None:
    _import(engine, folder)
    path = _write(folder, 3, title="Relating to single-payer health care", actions=2)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: content decides
    reads.clear()
    second = _import(engine, folder)
    assert reads == ["bill_3.json"]
    assert (second.new, second.updated, second.unchanged) == (0, 1, 4)
    with engine.connect() as c:
        title = c.execute(select(Bill.title).where(Bill.identifier == "H 3")).scalar_one()
    assert title == "Relating to single-payer health care"
    assert _counts(engine) == (5, 6)
    reads.clear()
    third = _import(engine, folder)
    assert (third.updated, third.unchanged, reads) == (0, 5, [])


def test_a_bill_stored_otherwise_since_is_read_again_from_its_file(
    engine: Any, folder: Path, tmp_path: Path, reads: list[str]
) -> None:
    """Another file of the same source gave the bill since: its stored digest is not the one
    the known file gave, so the file is read and the bill written back as that file says."""
    _import(engine, folder)
    other = tmp_path / "other"
    other.mkdir()
    _write(other, 2, title="Another title for H 2")
    assert _import(engine, other).updated == 1
    reads.clear()
    again = _import(engine, folder)
    assert reads == ["bill_2.json"]
    assert (again.updated, again.unchanged) == (1, 4)
    with engine.connect() as c:
        title = c.execute(select(Bill.title).where(Bill.identifier == "H 2")).scalar_one()
    assert title == "Relating to health care, part 2"


def test_full_reads_every_file(engine: Any, folder: Path, reads: list[str]) -> None:
    _import(engine, folder)
    reads.clear()
    again = _import(engine, folder, full=True)
    assert sorted(reads) == [f"bill_{n}.json" for n in range(1, 6)]
    assert (again.new, again.updated, again.unchanged) == (0, 0, 5)


def test_a_file_with_an_error_is_read_and_reported_every_time(
    engine: Any, folder: Path, reads: list[str]
) -> None:
    (folder / "bill_9.json").write_text('{"identifier": "H 9", "title": ')  # broken JSON
    first = _import(engine, folder)
    assert (first.new, len(first.errors)) == (5, 1)
    reads.clear()
    second = _import(engine, folder)
    assert reads == ["bill_9.json"] and len(second.errors) == 1
    assert (second.new, second.updated, second.unchanged) == (0, 0, 5)


def test_an_invalid_bill_in_a_known_file_is_reported_again(
    engine: Any, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose bill failed validation in ingest is fingerprinted, but its bill is not
    stored with its digest: the next import reads it again and reports it again."""
    real = base.validate_bill

    def failing(data: dict[str, Any], where: str, line: int | None) -> Any:
        if data.get("identifier") == "H 4":
            return base.RecordError(where, line, "bill H 4 is invalid (test)")
        return real(data, where, line)

    monkeypatch.setattr(base, "validate_bill", failing)
    first = _import(engine, folder)
    assert (first.new, len(first.errors)) == (4, 1)
    second = _import(engine, folder)
    assert (second.new, second.unchanged, len(second.errors)) == (0, 4, 1)
    monkeypatch.setattr(base, "validate_bill", real)
    third = _import(engine, folder)
    assert (third.new, third.unchanged, third.errors) == (1, 4, [])


def test_workers_skip_known_files_too(engine: Any, folder: Path) -> None:
    first = _import(engine, folder, workers=2)
    assert first.new == 5
    _write(folder, 6)
    second = _import(engine, folder, workers=2)
    assert (second.new, second.updated, second.unchanged) == (1, 0, 5)
    assert _counts(engine) == (6, 6)


def test_workers_only_for_what_is_left_to_read(
    engine: Any, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.collect.parallel as parallel

    monkeypatch.setattr(parallel, "WORTH_BYTES", 1)  # every input is worth workers
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    items, workers = import_stream("openstates", [folder], engine=engine, source=SOURCE)
    assert workers == 2
    assert ingest_bills(engine, items, source=SOURCE).new == 5
    items, workers = import_stream("openstates", [folder], engine=engine, source=SOURCE)
    assert workers == 0  # nothing left to read: no process started
    assert ingest_bills(engine, items, source=SOURCE).unchanged == 5


def test_the_recorded_path_resolves_each_file_as_path_resolve_does(tmp_path: Path) -> None:
    """plan() resolves a folder once for its files; a file that is itself a link (or a file in a
    linked folder, or named relatively) still gets the path Path.resolve() gives it."""
    from tracker.ingest_files import unit_path

    real = tmp_path / "real"
    real.mkdir()
    (real / "a.json").write_text("{}")
    (real / "target.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "far.json").write_text("{}")
    (real / "link.json").symlink_to(elsewhere / "far.json")
    (real / "to_sibling.json").symlink_to("target.json")
    (tmp_path / "linked").symlink_to(real)
    paths = [
        real / "a.json",
        real / "link.json",
        real / "to_sibling.json",
        tmp_path / "linked" / "a.json",
        tmp_path / "linked" / "link.json",
        real / "missing.json",
        Path(os.path.relpath(real / "a.json")),
    ]
    folders: dict[str, str] = {}
    for p in paths:
        unit = (None, (p,))
        assert unit_path(unit, folders) == str(p.resolve()), p  # type: ignore[arg-type]
    assert str(elsewhere / "far.json") == unit_path((None, (real / "link.json",)), folders)  # type: ignore[arg-type]


def test_each_file_read_is_recorded_with_its_fingerprint_and_bills(
    engine: Any, tmp_path: Path
) -> None:
    """Sixty one-bill files (written with COPY on PostgreSQL, from 50 rows): one row each,
    with the fingerprint plan() computes, its bill's key and digest, the run, and the batch's
    time (as its bills'); read back, a re-import reads none of them."""
    from tracker.collect.parallel import units
    from tracker.ingest_files import fingerprint

    root = tmp_path / "many"
    root.mkdir()
    paths = [_write(root, n) for n in range(1, 61)]
    report = _import(engine, root)
    assert report.new == 60
    with engine.connect() as c:
        rows = {r.path: r for r in c.execute(select(ImportFile))}
        first_seen = set(c.execute(select(Bill.first_seen)).scalars())
    expected = {fp.path: fp for fp in (fingerprint(u) for u in units("openstates", [root])) if fp}
    assert set(rows) == set(expected) == {str(p.resolve()) for p in paths}
    for path, row in rows.items():
        assert (row.source, row.size, row.sha256) == (
            SOURCE,
            expected[path].size,
            expected[path].sha256,
        )
        (key,) = json.loads(row.bill_keys)
        assert row.bills == 1 and key[:3] == ["id", "2025", f"H{Path(path).stem.split('_')[1]}"]
        assert len(key[3]) == 40 and row.run_id == report.run_id
    assert {row.seen_at for row in rows.values()} == first_seen  # one batch, one time
    again = _import(engine, root)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 60)


def test_a_fingerprint_reads_a_file_larger_than_one_read_whole(tmp_path: Path) -> None:
    """Files are hashed in reads of 1 MiB: a file of 2.5 MiB has its full size and SHA-256,
    and a folder named as a unit has no fingerprint."""
    import hashlib

    from tracker.ingest_files import fingerprint

    big = tmp_path / "big.json"
    data = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MiB and a little
    big.write_bytes(data)
    fp = fingerprint((None, (big,)))  # type: ignore[arg-type]
    assert fp is not None and fp.size == len(data)
    per_file = f"big.json\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n".encode()
    assert fp.sha256 == hashlib.sha256(per_file).hexdigest()
    assert fingerprint((None, (tmp_path,))) is None  # type: ignore[arg-type]
