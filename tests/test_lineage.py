"""Lineage: reintroductions in earlier sessions and companions in the other chamber."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import Session, SQLModel, create_engine, select

from tracker.identifiers import normalize_identifier
from tracker.lineage import (
    _query_candidates,
    distinctive_names,
    link_bill,
    normalise_title,
    similarity,
)
from tracker.models import Bill, BillLink, LegislativeSession, Sponsorship


@pytest.fixture
def db():
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def add(
    db: Session,
    state: str,
    session: str,
    identifier: str,
    title: str,
    *,
    chamber: str | None = None,
    topic: str | None = None,
    sponsors: tuple[str, ...] = (),
    related: list[dict] | None = None,
) -> Bill:
    bill = Bill(
        state=state,
        session=session,
        identifier=identifier,
        identifier_norm=normalize_identifier(identifier),
        title=title,
        chamber=chamber,
        topic=topic,
        related_bills=related or [],
    )
    db.add(bill)
    db.flush()
    for name in sponsors:
        db.add(Sponsorship(bill_id=bill.id, source="test", name=name, primary=True))
    db.flush()
    return bill


def links(db: Session, bill: Bill) -> dict[tuple[str, str], BillLink]:
    rows = db.exec(select(BillLink).where(BillLink.bill_id == bill.id)).all()
    out = {}
    for row in rows:
        other = db.get(Bill, row.other_bill_id)
        out[(row.relation, other.identifier)] = row
    return out


def test_title_helpers():
    assert (
        normalise_title("An Act establishing Medicare for All in Massachusetts.")
        == "medicare all massachusetts"
    )
    assert distinctive_names(
        "An Act relating to the New York Health Act; establishing New York Health"
    ) == {"new york health act"}
    assert "minnesota health plan" in distinctive_names("Minnesota Health Plan establishment")
    assert (
        similarity(
            "Developing the Washington health trust.", "Developing the Washington health trust"
        )
        == 1.0
    )


def test_companion_from_related_bills_and_same_title(db):
    house = add(
        db, "mn", "2025-2026", "HF 1812", "Minnesota Health Plan establishment", chamber="lower"
    )
    senate = add(
        db,
        "mn",
        "2025-2026",
        "SF 929",
        "Minnesota Health Plan establishment",
        chamber="upper",
        related=[
            {
                "identifier": "HF1812",
                "legislative_session": "2025-2026",
                "relation_type": "companion",
            }
        ],
    )
    wa_h = add(
        db, "wa", "2025-2026", "HB 1445", "Developing the Washington health trust.", chamber="lower"
    )
    wa_s = add(
        db, "wa", "2025-2026", "SB 5233", "Developing the Washington health trust.", chamber="upper"
    )
    found = link_bill(db, senate)
    assert [(link.relation, link.other_bill_id, link.score) for link in found] == [
        ("companion", house.id, 1.0)
    ]
    assert found[0].evidence[0]["kind"] == "related_bills"
    found = link_bill(db, wa_s)
    assert [(link.relation, link.other_bill_id) for link in found] == [("companion", wa_h.id)]
    assert found[0].score == 0.9 and found[0].evidence[0]["kind"] == "same_title"


def test_reintroductions_in_earlier_sessions(db):
    for session, start in [
        ("2021-2022", "2021-01-05"),
        ("2023-2024", "2023-01-03"),
        ("2025-2026", "2025-01-14"),
    ]:
        db.add(LegislativeSession(state="mn", identifier=session, start_date=start))
    old = add(
        db,
        "mn",
        "2021-2022",
        "SF 1125",
        "Minnesota Health Plan, health board, health fund, office of "
        "health quality and planning established",
        topic="single-payer",
    )
    mid = add(
        db,
        "mn",
        "2023-2024",
        "SF 2740",
        "Minnesota Health Plan Establishment",
        topic="single-payer",
    )
    market = add(
        db,
        "mn",
        "2023-2024",
        "SF 662",
        "Minnesota Health Plan Market Rules; market rules work group",
        topic="none",
    )
    other_state = add(
        db, "ia", "2023-2024", "SF 1", "Minnesota Health Plan establishment", topic="single-payer"
    )
    new = add(
        db, "mn", "2025-2026", "SF 929", "Minnesota Health Plan establishment", topic="single-payer"
    )
    found = links(db, new) if link_bill(db, new) else {}
    assert set(found) == {("prior-session", "SF 1125"), ("prior-session", "SF 2740")}
    assert (
        found[("prior-session", "SF 2740")].score == 0.9
    )  # same title once boilerplate is dropped
    assert found[("prior-session", "SF 1125")].score == 0.8
    assert {e["kind"] for e in found[("prior-session", "SF 1125")].evidence} >= {"shared_name"}
    # looking back from the older bill finds nothing later, nor the market-rules namesake
    assert link_bill(db, old) == []
    assert all(link.other_bill_id not in (market.id, other_state.id) for link in link_bill(db, mid))


def test_shared_sponsor_and_similar_title(db):
    old = add(
        db,
        "ny",
        "2021-2022",
        "A 6058",
        "Establishes New York health; a universal single payer health plan",
        sponsors=("Richard N. Gottfried",),
    )
    new = add(
        db,
        "ny",
        "2023-2024",
        "A 7897",
        "Establishes New York health, a universal single payer plan",
        sponsors=("Gottfried",),
    )
    unrelated = add(
        db,
        "ny",
        "2021-2022",
        "A 1",
        "Establishes a universal pre-kindergarten plan",
        sponsors=("Someone Else",),
    )
    found = link_bill(db, new)
    by_other = {link.other_bill_id: link for link in found}
    assert old.id in by_other and unrelated.id not in by_other
    assert {e["kind"] for e in by_other[old.id].evidence} >= {"shared_sponsor"}


def test_idempotent_and_updates_in_place(db):
    add(db, "wa", "2023-2024", "HB 1", "Developing the Washington health trust.")
    new = add(db, "wa", "2025-2026", "HB 1445", "Developing the Washington health trust.")
    first = link_bill(db, new)
    second = link_bill(db, new)
    assert [x.id for x in first] == [x.id for x in second]
    assert len(db.exec(select(BillLink)).all()) == 1


def test_generic_titles_are_not_evidence(db):
    """Oregon titles say little; the abstract decides, and a bill with no words queries nothing."""
    generic = "Relating to health care; declaring an emergency."
    old = add(db, "or", "2023", "HB 2", generic)
    old.abstracts = [{"abstract": "Requires the Oregon Health Authority to study dental therapy."}]
    new = add(db, "or", "2025", "HB 3", generic)
    new.abstracts = [{"abstract": "Establishes the Universal Health Plan Governance Board."}]
    db.add_all([old, new])
    db.flush()
    assert link_bill(db, new) == []
    empty = add(db, "or", "2025", "HB 9999", "")
    statements: list[str] = []
    engine = db.get_bind()

    def record(*args):  # noqa: ANN002
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert link_bill(db, empty) == []
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if "FROM bill " in s or "FROM bill\n" in s]


def test_unsaved_bill_is_an_error(db):
    with pytest.raises(ValueError, match="has no id"):
        link_bill(db, Bill(state="mn", session="x", identifier="SF 1", identifier_norm="SF1"))


def test_title_words_match_whatever_their_case_on_both_backends(engine):
    """The candidate questions ignore the case of ASCII letters on both backends (SQLite's LIKE
    does it without ``lower``, PostgreSQL through it), keep other characters as they are, and
    take % and _ in a title word literally."""
    with Session(engine) as db:
        add(db, "mn", "2023-2024", "SF 1", "MINNESOTA HEALTH PLAN Establishment")
        add(db, "mn", "2023-2024", "SF 2", "Minnesota heälth plän establishment")
        add(db, "mn", "2023-2024", "SF 3", "Minnesota 100% Health_Plan fund")
        add(db, "mn", "2023-2024", "SF 4", "Minnesota 1000 HealthXPlan fund")
        new = add(db, "mn", "2025-2026", "SF 9", "Minnesota Health Plan establishment")
        found = {db.get(Bill, link.other_bill_id).identifier for link in link_bill(db, new)}
        assert found == {"SF 1"}

        def asked(*words: str) -> set[str]:
            got = _query_candidates(db, new, list(words), same_session=False)
            return {bill.identifier for bill in got}

        assert asked("minnesota health plan") == {"SF 1"}
        assert asked("HEäLTH", "PLän") == {"SF 2"}
        # SQLite folds ASCII letters only; PostgreSQL's lower() folds the others too.
        sqlite = engine.dialect.name == "sqlite"
        assert asked("HEÄLTH") == (set() if sqlite else {"SF 2"})
        assert asked("100%") == {"SF 3"}
        assert asked("health_plan") == {"SF 3"}
        assert asked("minnesota", "fund") == {"SF 3", "SF 4"}


def test_sqlite_answers_title_words_from_the_state_title_index(sqlite_engine):
    """On a migrated SQLite database the title questions read ``ix_bill_state_title`` alone,
    not every row of the state's bills."""
    plans: list[str] = []
    with Session(sqlite_engine) as db:
        add(db, "mn", "2023-2024", "SF 1", "Minnesota Health Plan establishment")
        new = add(db, "mn", "2025-2026", "SF 9", "Minnesota Health Plan establishment")
        raw = db.connection().connection.driver_connection

        def explain(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            if statement.startswith("SELECT bill.id \nFROM bill"):
                rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
                plans.append(" ".join(str(r[-1]) for r in rows))

        event.listen(sqlite_engine, "before_cursor_execute", explain)
        try:
            assert len(link_bill(db, new)) == 1
        finally:
            event.remove(sqlite_engine, "before_cursor_execute", explain)
    assert plans and all("COVERING INDEX ix_bill_state_title" in p for p in plans), plans
