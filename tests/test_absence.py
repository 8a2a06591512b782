"""Absence is not deletion (issue 13, failure 4), on both backends, with the real KS LegiScan
dataset: a delivery without ``history.csv`` or without ``people.csv``/``sponsors.csv`` keeps
every stored action and sponsor and writes no change rows; a delivery that does list fewer
children, but far fewer, is held by the mass-removal guard, flagged on /health and in
``tracker status``, and its stage moves stay out of the digest.

The zips are the real dataset rewritten into tmp_path (members left out or thinned).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tracker import health
from tracker.cli import app
from tracker.db import make_engine
from tracker.digest import format_period, load_week
from tracker.models import Action, Change, Run, Sponsorship
from tracker.runs import HELD_REMOVALS

runner = CliRunner()
KS_ZIP = "legiscan/bulk_csv/KS_2025-2026_Regular_Session_CSV_20250411_0c8fd50618be7bd118fafec187dc7f90.zip"


def _rewrite(src: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the zip at `src` with each member passed through `change` (None: left out)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = change(info.filename, zin.read(info))
            if body is not None:
                zout.writestr(info.filename, body)
    return dest


def _import(path: Path) -> int:
    result = runner.invoke(app, ["import", "legiscan", str(path), "--workers", "0", "--json"])
    assert result.exit_code == 0, result.output
    engine = make_engine()
    with engine.connect() as conn:
        run_id = conn.execute(select(func.max(Run.id))).scalar_one()
    engine.dispose()
    return run_id


def _live(url: str, model: type) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(model).where(model.removed_at.is_(None))
        ).scalar_one()
    engine.dispose()
    return n


def _changes_of(url: str, run_id: int) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Change.kind, func.count()).where(Change.run_id == run_id).group_by(Change.kind)
        ).all()
    engine.dispose()
    return dict(rows)


@pytest.fixture
def ks_zip(shared_data: Path) -> Path:
    return shared_data / KS_ZIP


def test_a_zip_without_history_keeps_every_action(
    db_url: str, ks_zip: Path, tmp_path: Path
) -> None:
    _import(ks_zip)
    actions = _live(db_url, Action)
    assert actions > 1000
    partial = _rewrite(
        ks_zip, tmp_path / "no-history.zip", lambda n, b: None if n.endswith("history.csv") else b
    )
    run_id = _import(partial)
    assert _live(db_url, Action) == actions
    assert _changes_of(db_url, run_id) == {}


def test_a_zip_without_people_or_sponsors_keeps_every_sponsor(
    db_url: str, ks_zip: Path, tmp_path: Path
) -> None:
    _import(ks_zip)
    sponsors = _live(db_url, Sponsorship)
    assert sponsors > 1000
    for left_out in ("people.csv", "sponsors.csv"):
        partial = _rewrite(
            ks_zip,
            tmp_path / f"no-{left_out}.zip",
            lambda n, b, out=left_out: None if n.endswith(out) else b,
        )
        run_id = _import(partial)
        assert _live(db_url, Sponsorship) == sponsors, left_out
        assert _changes_of(db_url, run_id) == {}, left_out


def _thin_history(name: str, body: bytes) -> bytes:
    """history.csv with only its header and every tenth row: most actions really gone."""
    if not name.endswith("history.csv"):
        return body
    lines = body.splitlines(keepends=True)
    return b"".join(lines[:1] + lines[1::10])


def test_a_mass_removal_is_held_flagged_and_kept_out_of_the_digest(
    db_url: str, ks_zip: Path, tmp_path: Path
) -> None:
    _import(ks_zip)
    actions = _live(db_url, Action)
    run_id = _import(_rewrite(ks_zip, tmp_path / "thin.zip", _thin_history))
    assert _live(db_url, Action) == actions  # nothing removed
    changes = _changes_of(db_url, run_id)
    assert "action_removed" not in changes
    engine = make_engine(db_url)
    with engine.connect() as conn:
        counts = conn.execute(select(Run.counts).where(Run.id == run_id)).scalar_one()
        week = load_week(conn, period=format_period(__import__("datetime").date.today()))
    held = counts[HELD_REMOVALS]["ks"]
    assert held["action"] > 0.8 * actions
    system = health.system_health(engine)
    assert [h["run"] for h in system["held"]] == [run_id]
    # The stage moves that follow from the thinned history are not news.
    assert changes.get("stage_changed", 0) > 0
    reported = [e for b in week.bills.values() for e in b.events if e.kind == "stage_changed"]
    assert len(reported) < changes["stage_changed"]
    engine.dispose()
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 1
    shown = json.loads(status.output[status.output.index("{") :])
    assert shown["system"]["held"][0]["run"] == run_id
    # The next run that goes through clears the flag.
    _import(ks_zip)
    assert health.system_health(make_engine(db_url))["held"] == []


def test_a_small_removal_a_source_lists_goes_through(
    db_url: str, ks_zip: Path, tmp_path: Path
) -> None:
    """The guard is a share: one bill's history shorter by a row is removed as before."""
    _import(ks_zip)
    actions = _live(db_url, Action)

    def drop_one(name: str, body: bytes) -> bytes:
        if not name.endswith("history.csv"):
            return body
        lines = body.splitlines(keepends=True)
        return b"".join(lines[:1] + lines[2:])

    run_id = _import(_rewrite(ks_zip, tmp_path / "one-less.zip", drop_one))
    assert _live(db_url, Action) == actions - 1
    assert _changes_of(db_url, run_id).get("action_removed") == 1


def test_held_removals_reach_the_run_row_of_every_caller() -> None:
    """Sources that record their own run (bulk, API) carry the held removals into its counts."""
    from tracker.ingest import IngestReport
    from tracker.runs import RunResult

    report = IngestReport(source="legiscan-dataset", held={"ks": {"action": 900}})
    assert report.summary()[HELD_REMOVALS] == {"ks": {"action": 900}}
    result = RunResult(source="legiscan-dataset", state="ks")
    result.add_ingest(report)
    assert result.counts()[HELD_REMOVALS] == {"ks": {"action": 900}}
    assert HELD_REMOVALS not in RunResult(source="x").counts()
