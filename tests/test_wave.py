"""The wave (tracker.wave) on real data, both backends: Oregon's 2019 session from LegiScan's
archive (a study bill enacted, a public-option bill and a memorial that died) and the Open States
2025 samples; synthetic bills only for the edge cases (no actions at all, a prefiled bill)."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _pg_admin, _pg_url_for
from sqlalchemy import select, text

from tracker.db import make_engine
from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.wave import LADDER, STOPS, WAVE_TOPICS, bill_kind, wave
from tracker.web.wave_chart import chart, nice_max


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def wave_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[Any]:
    """One database per backend for the module (the tests only read it)."""
    from scrapers.importers.legiscan import iter_legiscan
    from scrapers.importers.openstates import iter_openstates

    name = None
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("wave") / "wave.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("postgres_template")
        name = f"t_wave_{uuid.uuid4().hex[:10]}"
        with _pg_admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url = _pg_url_for(name)
    engine = make_engine(url)
    oregon = sorted((shared_data / "legiscan/archive").glob("OR_2019-2019_Regular_Session_*.zip"))
    assert oregon, "OR 2019 LegiScan archive missing from ../shared"
    ingest_bills(engine, iter_legiscan(oregon), source="import:legiscan")
    samples = shared_data / "openstates/windy_civi_2025/samples"
    ingest_bills(engine, iter_openstates([samples]), source="import:openstates")
    yield engine
    engine.dispose()
    if name:
        with _pg_admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _by_id(w: Any) -> dict[tuple[str, str], Any]:
    return {(b.state, b.identifier): b for b in w.bills}


def test_every_wave_bill_counted_once_at_a_stage_reached(wave_engine) -> None:  # type: ignore[no-untyped-def]
    with wave_engine.connect() as conn:
        w = wave(conn)
        in_db = conn.execute(
            select(Bill.state, Bill.identifier, Bill.stage).where(Bill.topic.in_(WAVE_TOPICS))
        ).all()
    assert len(w.bills) == len(in_db) >= 15
    assert {(b.state, b.identifier) for b in w.bills} == {(s, i) for s, i, _ in in_db}
    assert all(b.furthest in LADDER and b.furthest not in STOPS for b in w.bills)
    stopped = [b for b in w.bills if b.stage in STOPS]
    assert stopped, "the Oregon session has bills that died"
    bills = _by_id(w)
    # died in committee after a do-pass report: counted where it got, not as 'dead'
    assert bills[("or", "HB 2012")].stage == "dead"
    assert bills[("or", "HB 2012")].furthest == "passed_committee"
    assert bills[("or", "SB 770")].furthest == "enacted" and bills[("or", "SB 770")].year == 2019
    # a memorial to Congress is counted apart from the bills
    assert bills[("or", "SJM 2")].kind == "resolution"
    assert bills[("wa", "SJM 8004")].kind == "resolution"
    assert sum(w.counts("resolution")[2019].values()) == 1
    assert sum(w.counts("bill")[2019].values()) == len(
        [b for b in w.bills if b.year == 2019 and b.kind == "bill"]
    )


def test_coverage_says_which_states_and_years_the_data_has(wave_engine) -> None:  # type: ignore[no-untyped-def]
    with wave_engine.connect() as conn:
        w = wave(conn)
        oregon = wave(conn, state="or")
    assert w.years[0] == 2019 and w.years[-1] >= 2025
    assert w.states_in(2019) == ["or"]
    assert w.states_in(2021) == [], "no session of 2021 was imported: no data, not zero bills"
    assert "OR 2019" in w.coverage_text() and "MN 2025" in w.coverage_text()
    assert {b.state for b in oregon.bills} == {"or"} and oregon.coverage == {"or": [2019]}
    drawn = chart(w)
    gaps = [g["year"] for g in drawn["groups"] if not g["covered"]]
    assert 2021 in gaps and 2019 not in gaps and 2025 not in gaps
    assert "No data on file for" in drawn["summary"] and "2021" in drawn["summary"]


def test_csv_sums_to_the_bills_and_matches_the_chart(wave_engine) -> None:  # type: ignore[no-untyped-def]
    with wave_engine.connect() as conn:
        w = wave(conn)
    rows = list(csv.DictReader(io.StringIO(w.to_csv())))
    assert rows and set(rows[0]) == {"year", "state", "kind", "topic", "furthest_stage", "bills"}
    assert sum(int(r["bills"]) for r in rows) == len(w.bills)
    assert {r["furthest_stage"] for r in rows} <= set(LADDER)
    drawn = chart(w)
    segments = [s for g in drawn["groups"] for bar in g["bars"] for s in bar["segments"]]
    assert sum(s["n"] for s in segments) == len(w.bills)
    # taller segment for more bills; nothing drawn outside the plot
    assert all(
        drawn["top"] - 0.5 <= s["y"] and s["y"] + s["h"] <= drawn["bottom"] + 0.5 for s in segments
    )


# synthetic: no actions at all, the year comes from the session's name
SYNTHETIC = {
    "state": "nm",
    "legislative_session": "2031 Regular Session",
    "identifier": "HB 1",
    "title": "Synthetic Health Security Act creating a single-payer health care system",
    "classification": ["bill"],
}


def test_synthetic_edge_cases(engine) -> None:  # type: ignore[no-untyped-def]
    ingest_bills(engine, [SYNTHETIC], source="test")
    with engine.connect() as conn:
        w = wave(conn)
    assert [(b.identifier, b.year, b.furthest) for b in w.bills] == [("HB 1", 2031, "introduced")]
    assert w.coverage == {"nm": [2031]} and w.years == [2031]
    # coverage is cached; a new bill is seen at once
    ingest_bills(
        engine, [{**SYNTHETIC, "identifier": "HB 2", "legislative_session": "2033"}], source="test"
    )
    with engine.connect() as conn:
        assert wave(conn).coverage == {"nm": [2031, 2033]}


def test_resolutions_are_told_apart_from_bills() -> None:
    assert bill_kind(topic="single-payer", classification=["joint memorial"]) == "resolution"
    assert bill_kind(topic="resolution", classification=["bill"]) == "resolution"
    assert bill_kind(topic="single-payer", classification=["bill"]) == "bill"
    assert bill_kind(topic="public-option", classification=None) == "bill"


def test_axis_tops_are_round_numbers() -> None:
    tops = [nice_max(n) for n in (0, 1, 2, 3, 7, 11, 17, 24, 49, 51, 230)]
    assert tops == [1, 1, 2, 3, 8, 15, 20, 25, 50, 60, 250]
