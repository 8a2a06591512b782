"""`tracker import` end to end on real shared data, on both database backends."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from tracker.cli import app
from tracker.db import make_engine
from tracker.models import Bill, BillSource, Change, Run

runner = CliRunner()
OR_SPECIAL_2025 = (
    "OR_2025-2025_1st_Special_Session_CSV_20251009_708eb2835118140a97eb468afd76a4b0.zip"
)


def _json_line(output: str) -> dict[str, int]:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def test_import_openstates_samples_twice(db_url: str, shared_data: Path) -> None:
    samples = shared_data / "openstates/windy_civi_2025/samples"
    first = runner.invoke(app, ["import", "openstates", str(samples), "--json"])
    assert first.exit_code == 0, first.output
    assert _json_line(first.output) == {"new": 24, "updated": 0, "unchanged": 0, "errors": 0}
    second = runner.invoke(app, ["import", "openstates", str(samples), "--json"])
    assert second.exit_code == 0, second.output
    assert _json_line(second.output) == {"new": 0, "updated": 0, "unchanged": 24, "errors": 0}
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Change)).scalar_one() == 24
        hf = c.execute(select(Bill).where(Bill.state == "mn", Bill.identifier_norm == "HF27")).one()
        runs = c.execute(select(Run.status).order_by(Run.id)).scalars().all()
    assert hf.session == "2025-2026" and hf.title
    assert runs == ["ok", "ok"]
    engine.dispose()
    full = runner.invoke(app, ["import", "openstates", str(samples), "--json", "--full"])
    assert full.exit_code == 0, full.output
    assert _json_line(full.output) == {"new": 0, "updated": 0, "unchanged": 24, "errors": 0}


def test_same_bill_from_two_sources_is_one_row(db_url: str, shared_data: Path) -> None:
    tarball = shared_data / "openstates/windy_civi_2025/or-data-pipeline_metadata.tar.gz"
    legiscan = shared_data / "legiscan/archive" / OR_SPECIAL_2025
    assert runner.invoke(app, ["import", "openstates", str(tarball)]).exit_code == 0
    result = runner.invoke(app, ["import", "legiscan", str(legiscan), "--json"])
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with engine.connect() as c:
        bills = c.execute(select(func.count()).select_from(Bill)).scalar_one()
        both = c.execute(
            select(BillSource.bill_id).group_by(BillSource.bill_id).having(func.count() == 2)
        ).all()
        shared_ids = [row.bill_id for row in both]
        primary = set(
            c.execute(select(Bill.primary_source).where(Bill.id.in_(shared_ids))).scalars()
        )
    summary = _json_line(result.output)
    assert len(both) == 3, "the three OR 2025S1 bills are in both sources"
    assert bills == 3 + summary["new"]
    assert primary == {"import:openstates"}
    engine.dispose()


def test_bad_input_is_named_and_the_rest_imports(
    db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "bill_broken_synthetic.json"
    broken.write_text('{"identifier": "HB 1", ')
    good = shared_data / "legiscan/api_json/bill"
    result = runner.invoke(app, ["import", "openstates", str(broken), "--json"])
    assert result.exit_code == 1
    assert "bill_broken_synthetic.json" in result.output
    result = runner.invoke(app, ["import", "legiscan", str(good), "--json"])
    assert result.exit_code == 0, result.output
    assert _json_line(result.output)["new"] == 6
    missing = runner.invoke(app, ["import", "legiscan", str(tmp_path / "nope.zip")])
    assert missing.exit_code == 2 and "nope.zip" in missing.output
