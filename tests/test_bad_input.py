"""Bad input at the importers' door (issue 13): tolerant reading of new upstream fields,
whole-or-nothing archives, size caps checked while streaming, control characters cleaned alike
on both backends, and one hostile record never costing the good ones beside it.

Inputs are real shared data rewritten into tmp_path; the hand-made pieces are named synthetic.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from scrapers.importers.base import RecordError
from scrapers.importers.legiscan import iter_legiscan
from scrapers.importers.openstates import iter_openstates
from tracker.cli import app
from tracker.db import make_engine
from tracker.models import Action, Bill
from tracker.scraped import ScrapedBill

runner = CliRunner()
CO_TARBALL = "openstates/windy_civi_2025/co-data-pipeline_metadata.tar.gz"
KS_ZIP = "legiscan/bulk_csv/KS_2025-2026_Regular_Session_CSV_20250411_0c8fd50618be7bd118fafec187dc7f90.zip"


def _summary(output: str) -> dict[str, int]:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def _members(tarball: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(tarball) as tf:
        return [(m, tf.extractfile(m).read()) for m in tf if m.isfile()]  # type: ignore[union-attr]


def _write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, body in members:
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return path


def _rewrite_bills(members: list[tuple[tarfile.TarInfo, bytes]], change: Any) -> list[Any]:
    out = []
    for info, body in members:
        if info.name.endswith("metadata.json"):
            data = json.loads(body)
            change(data)
            body = json.dumps(data).encode()
        out.append((info, body))
    return out


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as c:
        bills = c.execute(select(func.count()).select_from(Bill)).scalar_one()
        actions = c.execute(select(func.count()).select_from(Action)).scalar_one()
    engine.dispose()
    return bills, actions


def _bill_count(members: list[tuple[tarfile.TarInfo, bytes]]) -> int:
    return sum(1 for info, _ in members if info.name.endswith("metadata.json"))


# --- 1. one new upstream field ------------------------------------------------------------------


def test_a_new_upstream_field_is_kept_and_reported_once(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    members = _members(shared_data / CO_TARBALL)

    def add_fields(bill: dict[str, Any]) -> None:
        bill["updated_at"] = "2025-06-01T00:00:00"
        for action in bill.get("actions") or []:
            action["updated_at"] = "2025-06-01T00:00:00"

    archive = _write_tar(tmp_path / "co_new_field.tar.gz", _rewrite_bills(members, add_fields))
    result = runner.invoke(app, ["import", "openstates", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    n = _bill_count(members)
    assert _summary(result.output) == {"new": n, "updated": 0, "unchanged": 0, "errors": 0}
    warnings = [line for line in result.output.splitlines() if "updated_at" in line]
    assert len(warnings) == 1 and f"in {n:,} bill(s)" in warnings[0]
    assert "actions.updated_at" in warnings[0]
    engine = make_engine(db_url)
    with engine.connect() as c:
        extras = c.execute(select(Bill.extras).limit(1)).scalar_one()
    engine.dispose()
    assert extras["unknown_fields"]["updated_at"] == "2025-06-01T00:00:00"


def test_a_known_field_of_the_wrong_type_is_still_an_error(tmp_path: Path) -> None:
    body = {
        "legislative_session": "2025",
        "identifier": "H 9900",
        "title": ["SYNTHETIC title as a list"],
        "jurisdiction": {"id": "ocd-jurisdiction/country:us/state:id/government"},
    }
    (tmp_path / "bill_synthetic_wrong_type.json").write_text(json.dumps(body))
    (item,) = iter_openstates([tmp_path])
    assert isinstance(item, RecordError) and item.severity == "error"
    assert "title" in item.message and "bill_synthetic_wrong_type.json" in item.path


# --- 2. truncated archives ----------------------------------------------------------------------


def test_a_truncated_tarball_imports_nothing(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    real = (shared_data / CO_TARBALL).read_bytes()
    cut = tmp_path / "co_cut.tar.gz"
    cut.write_bytes(real[: len(real) // 2])
    result = runner.invoke(app, ["import", "openstates", str(cut), "--json"])
    assert result.exit_code == 1
    assert "co_cut.tar.gz" in result.output and "truncated" in result.output
    assert _counts(db_url) == (0, 0)


def test_a_tar_cut_between_members_is_caught(shared_data: Path, tmp_path: Path) -> None:
    """The case tarfile itself accepts: a sound gzip stream around a tar that stops at a member
    boundary, with no end-of-archive block."""
    from scrapers.importers.base import check_tar

    whole = gzip.decompress((shared_data / CO_TARBALL).read_bytes())
    with tarfile.open(fileobj=io.BytesIO(whole)) as tf:
        members = [m for m in tf if m.isfile()]
    boundary = members[len(members) // 2].offset
    cut = tmp_path / "co_boundary.tar.gz"
    cut.write_bytes(gzip.compress(whole[:boundary]))
    with tarfile.open(cut, "r|gz") as tf:  # what the importer used to trust
        assert sum(1 for _ in tf) > 0
    items = list(iter_openstates([cut]))
    assert len(items) == 1 and isinstance(items[0], RecordError)
    assert "truncated" in items[0].message and items[0].path == str(cut)
    sound = tmp_path / "co_sound.tar.gz"
    sound.write_bytes(gzip.compress(whole))
    assert check_tar(sound, _limits()) is None


def test_a_damaged_zip_member_imports_nothing_from_the_zip(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "KS_2025-2026_Regular_Session_CSV_damaged.zip"
    with zipfile.ZipFile(shared_data / KS_ZIP) as src, zipfile.ZipFile(damaged, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_STORED)
    raw = bytearray(damaged.read_bytes())
    at = raw.index(b"csv/history.csv") + 4096  # inside history.csv's stored bytes
    raw[at : at + 8] = b"SYNTHETC"
    damaged.write_bytes(bytes(raw))
    result = runner.invoke(app, ["import", "legiscan", str(damaged), "--json"])
    assert result.exit_code == 1 and "archive not imported" in result.output
    assert _counts(db_url) == (0, 0)


# --- 3. control characters ----------------------------------------------------------------------


def test_nul_in_a_title_is_cleaned_alike_on_both_backends(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    members = _members(shared_data / CO_TARBALL)
    first = {"done": False}

    def poison(bill: dict[str, Any]) -> None:
        if not first["done"]:
            bill["title"] = "Health\u0000 care\u0007 for all"
            first["done"] = True

    archive = _write_tar(tmp_path / "co_nul.tar.gz", _rewrite_bills(members, poison))
    result = runner.invoke(app, ["import", "openstates", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    assert _summary(result.output)["new"] == _bill_count(members)
    assert "control characters" in result.output and "in 1 bill(s)" in result.output
    engine = make_engine(db_url)
    with engine.connect() as c:
        titles = set(c.execute(select(Bill.title)).scalars())
    engine.dispose()
    assert "Health care  for all" in titles
    assert not any("\x00" in t or "\x07" in t for t in titles)


def test_nul_in_a_legiscan_csv_loses_no_bill(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    poisoned = tmp_path / "KS_2025-2026_Regular_Session_CSV_nul.zip"
    with zipfile.ZipFile(shared_data / KS_ZIP) as src, zipfile.ZipFile(poisoned, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("/bills.csv"):
                lines = body.split(b"\n")
                lines[1] = lines[1].replace(b",", b"\x00,", 3)  # NUL inside the first row
                body = b"\n".join(lines)
                expected = len([x for x in lines[1:] if x.strip()])
            out.writestr(info, body)
    result = runner.invoke(app, ["import", "legiscan", str(poisoned), "--json"])
    assert result.exit_code == 0, result.output
    assert _summary(result.output)["new"] == expected
    bills, _ = _counts(db_url)
    assert bills == expected


def test_scraped_bill_cleans_every_string() -> None:
    bill = ScrapedBill.model_validate(
        {
            "state": "id",
            "legislative_session": "2025",
            "identifier": "H\x00 1",
            "title": "A\x0bB",
            "actions": [{"date": "2025-01-01", "description": "Read\x00 first\x1f time"}],
            "extras": {"note": "x\x00y"},
        }
    )
    assert bill.identifier == "H 1" and bill.title == "A B"
    assert bill.actions[0].description == "Read first  time"
    assert bill.extras == {"note": "xy"}


# --- 5. hostile records -------------------------------------------------------------------------


def _hostile_folder(shared_data: Path, tmp_path: Path) -> tuple[Path, str]:
    members = _members(shared_data / CO_TARBALL)
    good = json.loads(next(body for info, body in members if info.name.endswith(".json")))
    folder = tmp_path / "co" / "hostile"
    folder.mkdir(parents=True)
    (folder / "bill_good.json").write_text(json.dumps(good))
    deep = dict(good, identifier="SYNTHETIC 1")
    (folder / "bill_synthetic_deep.json").write_text(
        json.dumps(deep)[:-1] + ', "extras": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    )
    (folder / "bill_synthetic_huge_int.json").write_text(
        json.dumps(good)[:-1] + ', "_id": ' + "9" * 1_000_000 + "}"
    )
    (folder / "bill_synthetic_extras_deep.json").write_text(
        json.dumps(dict(good, identifier="SYNTHETIC 2", extras={"x": _nest(40)}))
    )
    return folder, good["identifier"]


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_hostile_records_are_skipped_and_the_good_one_imports(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    folder, identifier = _hostile_folder(shared_data, tmp_path)
    result = runner.invoke(app, ["import", "openstates", str(folder), "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert _summary(result.output) == {"new": 1, "updated": 0, "unchanged": 0, "errors": 3}
    for name in ("bill_synthetic_deep", "bill_synthetic_huge_int", "bill_synthetic_extras_deep"):
        assert name in result.output
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.execute(select(Bill.identifier)).scalars().all() == [identifier]
    engine.dispose()


# --- 6. size caps -------------------------------------------------------------------------------


def _limits() -> Any:
    from scrapers.importers.base import Limits

    return Limits.from_env()


def test_an_oversized_member_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_IMPORT_MAX_MEMBER_BYTES", str(1 << 20))
    archive = tmp_path / "synthetic_bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("country:us/state:id/sessions/2025/bills/H1/metadata.json")
        info.size = 64 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 1 << 20
    tracemalloc.start()
    items = list(iter_openstates([archive]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(items) == 1 and "TRACKER_IMPORT_MAX_MEMBER_BYTES" in items[0].message
    assert items[0].path.endswith("!country:us/state:id/sessions/2025/bills/H1/metadata.json")
    assert peak < 8 << 20  # never held the member


def test_an_archive_over_the_file_cap_is_refused(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_IMPORT_MAX_FILE_BYTES", str(100_000))
    (tar_item,) = list(iter_openstates([shared_data / CO_TARBALL]))
    assert "TRACKER_IMPORT_MAX_FILE_BYTES" in tar_item.message
    (zip_item,) = list(iter_legiscan([shared_data / KS_ZIP]))
    assert "TRACKER_IMPORT_MAX_FILE_BYTES" in zip_item.message


def test_a_zip_member_over_the_cap_is_refused(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_IMPORT_MAX_MEMBER_BYTES", str(100_000))
    items = list(iter_legiscan([shared_data / KS_ZIP]))
    assert len(items) == 1 and "TRACKER_IMPORT_MAX_MEMBER_BYTES" in items[0].message
    assert "!KS/" in items[0].path


def test_a_blank_line_csv_stops_early(shared_data: Path, tmp_path: Path) -> None:
    from scrapers.importers.base import MAX_BLANK_LINES

    folder = tmp_path / "KS" / "2025-2026_Regular_Session" / "csv"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(shared_data / KS_ZIP) as src:
        for info in src.infolist():
            if info.filename.endswith(".csv"):
                (folder / Path(info.filename).name).write_bytes(src.read(info))
    bills = folder / "bills.csv"
    header, first, *_ = bills.read_text().split("\n")
    bills.write_text(header + "\n" + first + "\n" + "\n" * (MAX_BLANK_LINES * 50) + first + "\n")
    items = list(iter_legiscan([bills]))
    errors = [x for x in items if isinstance(x, RecordError) and x.severity == "error"]
    assert [x for x in items if isinstance(x, ScrapedBill)][0].identifier
    (blank,) = [e for e in errors if "blank lines" in e.message]
    assert blank.line == MAX_BLANK_LINES + 3  # header, one row, then the cap: not the whole file


def test_a_new_legiscan_api_field_is_kept_and_reported_once(
    shared_data: Path, tmp_path: Path
) -> None:
    for source in sorted((shared_data / "legiscan/api_json/bill").glob("*.json")):
        record = json.loads(source.read_bytes())
        record["bill"]["last_updated_synthetic"] = "2025-06-01"
        (tmp_path / source.name).write_text(json.dumps(record))
    items = list(iter_legiscan([tmp_path]))
    bills = [x for x in items if isinstance(x, ScrapedBill)]
    warnings = [x for x in items if isinstance(x, RecordError)]
    assert len(bills) == 6 and all(
        b.extras["unknown_fields"] == {"last_updated_synthetic": "2025-06-01"} for b in bills
    )
    (warning,) = warnings
    assert warning.severity == "warning" and "last_updated_synthetic" in warning.message
    assert "in 6 bill(s)" in warning.message


def test_dates_are_checked_alike_the_first_time_and_after() -> None:
    """Checked dates are remembered (actions share few dates): a remembered date is stored as
    the first check stored it, a bad date fails every time, and a required date stays required."""
    base = {"state": "ny", "legislative_session": "2025", "identifier": "S 1", "title": "T"}

    def bill(*dates: str) -> ScrapedBill:
        actions = [{"date": d, "description": "Read"} for d in dates]
        return ScrapedBill.model_validate({**base, "actions": actions})

    for _ in range(2):
        got = bill("2025-01-02 10:00", " 2025-01-03 ", "2025-01-02 10:00")
        assert [a.date for a in got.actions] == ["2025-01-02T10:00", "2025-01-03", "2025-01-02T10:00"]  # fmt: skip
        for bad in ("01/02/2025", "", "2025-1-2"):
            with pytest.raises(ValueError, match="date"):
                bill(bad)
    votes = [{"date": "2025-01-02 10:00", "motion": "Pass"}, {"date": "", "motion": "Pass"}]
    got = ScrapedBill.model_validate({**base, "votes": votes})
    assert [v.date for v in got.votes] == ["2025-01-02T10:00", None]
