"""A page's prepared statements (tracker.web.data.common.Prepared) give the rows SQLAlchemy gives:
the same keys, values and types (JSON, DateTime and Boolean columns converted), on SQLite read
from the sqlite3 connection itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import MultipleResultsFound

from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.web.data import bill as bill_data
from tracker.web.data import changes as changes_data
from tracker.web.data.common import (
    Prepared,
    bill_source_table,
    bill_table,
    change_table,
    hearing_table,
    run_table,
    sponsorship_table,
    version_table,
    vote_table,
)

BILL = {
    "state": "mn",
    "legislative_session": "2025-2026",
    "identifier": "HF 77",
    "title": "Synthetic universal health care act",
    "chamber": "lower",
    "classification": ["bill"],
    "subject": ["Health"],
    "sources": [{"url": "https://example.org/hf77", "note": "home"}],
    "actions": [
        {"date": "2025-01-10", "description": "Introduced", "classification": ["introduction"]},
        {"date": "2025-02-01", "description": "Referred to Health", "classification": []},
    ],
}


def _as_sqlalchemy(conn: Any, prepared: Prepared, params: dict[str, Any]) -> list[Any]:
    rows = [dict(r._mapping) for r in conn.execute(prepared.stmt, params)]
    return [[(k, type(v).__name__, v) for k, v in row.items()] for row in rows]


def _as_prepared(conn: Any, prepared: Prepared, params: dict[str, Any]) -> list[Any]:
    rows = prepared.dicts(conn, params)
    return [[(k, type(v).__name__, v) for k, v in row.items()] for row in rows]


@pytest.fixture
def page_rows(engine: Any) -> tuple[int, int]:
    """Two companion bills (ingest links them), one with a row in every table its page reads."""
    other = {**BILL, "identifier": "SF 77", "chamber": "upper"}
    ingest_bills(engine, [BILL, other], source="import:test")
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    with engine.begin() as c:
        ids = dict(c.execute(select(Bill.identifier, Bill.id)).all())
        bill_id, other_id = ids["HF 77"], ids["SF 77"]
        c.execute(
            insert(sponsorship_table),
            [
                dict(bill_id=bill_id, source="t", name="Ann", primary=True, removed_at=None),
                dict(bill_id=bill_id, source="t", name="Bo", primary=False, removed_at=when),
            ],
        )
        c.execute(
            insert(version_table),
            [dict(bill_id=bill_id, source="t", url="https://example.org/v1", note="Intro")],
        )
        c.execute(insert(hearing_table), [dict(bill_id=bill_id, source="t", date="2025-02-03")])
        c.execute(insert(vote_table), [dict(bill_id=bill_id, source="t", yes=5, no=2)])
        c.execute(
            insert(run_table),
            [
                dict(
                    source="import:test",
                    counts={},
                    errors=[],
                    status="ok",
                    finished_at=datetime(2098, 1, 1, tzinfo=UTC),
                ),
                # a later failed run does not count as a check
                dict(
                    source="import:test",
                    counts={},
                    errors=[],
                    status="error",
                    finished_at=datetime(2099, 1, 1, tzinfo=UTC),
                ),
            ],
        )
        c.execute(
            insert(change_table),
            [
                dict(bill_id=bill_id, kind="stage", field="stage", old={"a": 1}, new=None)
                for _ in range(3)
            ],
        )
    return bill_id, other_id


def _statements(bill_id: int, state: str) -> list[tuple[str, Prepared, dict[str, Any]]]:
    by_bill = {"bill_id": bill_id}
    return [
        ("find", bill_data._FIND_BILL, {"state": state, "session": "2025-2026", "norm": "HF77"}),
        ("last run", bill_data._LAST_RUN, {"bill_id": bill_id, "state": state}),
        ("bill", bill_data._BILL, by_bill),
        ("actions", bill_data._ACTIONS, by_bill),
        ("sponsors", bill_data._SPONSORS, by_bill),
        ("versions", bill_data._VERSIONS, by_bill),
        ("hearings", bill_data._HEARINGS, by_bill),
        ("votes", bill_data._VOTES, by_bill),
        ("links out", bill_data._LINKS[0][0], by_bill),
        ("links in", bill_data._LINKS[1][0], by_bill),
        ("sources", bill_data._SOURCES, by_bill),
        ("changes of a bill", changes_data._CHANGES_OF_BILL, by_bill),
    ]


def test_rows_are_sqlalchemys(engine: Any, page_rows: tuple[int, int]) -> None:
    bill_id, _ = page_rows
    with engine.connect() as conn:
        for name, prepared, params in _statements(bill_id, "mn"):
            got = _as_prepared(conn, prepared, params)
            assert got, name  # every statement finds a row: the comparison means something
            assert got == _as_sqlalchemy(conn, prepared, params), name


def test_sqlite_reads_the_sqlite3_connection(sqlite_engine: Any) -> None:
    """On SQLite every statement of a bill page takes the direct path (a fixed IN list is
    expanded once); the rows still come converted."""
    ingest_bills(sqlite_engine, [BILL], source="import:test")
    with sqlite_engine.connect() as conn:
        bill_id = conn.execute(select(Bill.id)).scalar_one()
        for name, prepared, params in _statements(bill_id, "mn"):
            prepared.dicts(conn, params)
            assert prepared._plans[conn.dialect] is not None, name
        row = bill_data._BILL.first(conn, {"bill_id": bill_id})
    assert row is not None
    assert isinstance(row["first_seen"], datetime)
    assert row["classification"] == ["bill"]
    assert row["relevant"] is False or row["relevant"] is True


def test_last_run_counts_ok_runs_only(engine: Any, page_rows: tuple[int, int]) -> None:
    bill_id, _ = page_rows
    with engine.connect() as conn:
        latest = bill_data._LAST_RUN.scalar(conn, {"bill_id": bill_id, "state": "mn"})
    assert latest.replace(tzinfo=None) == datetime(2098, 1, 1)


def test_a_list_passed_per_call_goes_through_sqlalchemy(engine: Any, page_rows: Any) -> None:
    ids = list(page_rows)
    prepared = Prepared(
        select(bill_table.c.identifier)
        .where(bill_table.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(bill_table.c.identifier)
    )
    with engine.connect() as conn:
        assert prepared.dicts(conn, {"ids": ids}) == [
            {"identifier": "HF 77"},
            {"identifier": "SF 77"},
        ]
        assert prepared.dicts(conn, {"ids": ids[:1]}) == [{"identifier": "HF 77"}]


def test_scalars(engine: Any, page_rows: Any) -> None:
    everyone = Prepared(select(bill_table.c.id).where(bill_table.c.state == bindparam("state")))
    with engine.connect() as conn:
        assert everyone.scalar_one_or_none(conn, {"state": "zz"}) is None
        assert everyone.scalar(conn, {"state": "zz"}) is None
        assert everyone.scalar(conn, {"state": "mn"}) in page_rows
        with pytest.raises(MultipleResultsFound):
            everyone.scalar_one_or_none(conn, {"state": "mn"})


def test_changes_of_one_bill_as_of_several(engine: Any, page_rows: tuple[int, int]) -> None:
    """One bill's changes (prepared statements) are those the many-bills path finds for it."""
    bill_id, other_id = page_rows
    with engine.connect() as conn:
        for bill, limit, count in ((bill_id, 2, 2), (bill_id, 30, 4), (other_id, 30, 1)):
            one = changes_data.recent_changes(conn, bill_ids=[bill], limit=limit)
            many = changes_data.recent_changes(conn, bill_ids=[bill, -1], limit=limit)
            assert len(one) == count  # the new bill's change and three stage changes
            assert one == many


def test_sqlite_checks_what_it_read(sqlite_engine: Any) -> None:
    """The direct path reads committed rows of the same database (not a stale copy)."""
    ingest_bills(sqlite_engine, [BILL], source="import:test")
    with sqlite_engine.connect() as conn:
        bill_id = conn.execute(select(Bill.id)).scalar_one()
        before = bill_data._SOURCES.dicts(conn, {"bill_id": bill_id})
    with sqlite_engine.begin() as c:
        c.execute(
            insert(bill_source_table).values(bill_id=bill_id, source="z:test", content_hash="x")
        )
    with sqlite_engine.connect() as conn:
        after = bill_data._SOURCES.dicts(conn, {"bill_id": bill_id})
    assert [r["source"] for r in after] == [r["source"] for r in before] + ["z:test"]
