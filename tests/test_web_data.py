"""Bill page data: 'last checked' moves with every run that saw the bill, even unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from tracker.ingest import ingest_bills
from tracker.models import Bill
from tracker.web.data import bill_page


def test_unchanged_reimport_still_counts_as_checked(engine) -> None:
    bill = {
        "state": "vt",
        "legislative_session": "2025-2026",
        "identifier": "H 9",
        "title": "Synthetic bill about road signs",
        "actions": [{"date": "2025-01-10", "description": "Read first time"}],
    }
    ingest_bills(engine, [bill], source="import:test")
    old = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(update(Bill.__table__).values(last_checked=old))
    report = ingest_bills(engine, [bill], source="import:test")
    assert report.unchanged == 1
    with engine.connect() as c:
        bill_id = c.execute(select(Bill.id)).scalar_one()
        page = bill_page(c, bill_id)
    assert page is not None
    assert page["bill"]["last_checked"][:4] == str(datetime.now(UTC).year)


def test_companion_links_are_listed_once(engine) -> None:
    from tracker.models import BillLink
    from tracker.web.data import bill_links

    title = "Synthetic universal health care act establishing a single-payer health plan"
    house = {
        "state": "mn",
        "legislative_session": "2025-2026",
        "identifier": "HF 9",
        "title": title,
        "chamber": "lower",
    }
    senate = {**house, "identifier": "SF 9", "chamber": "upper"}
    ingest_bills(engine, [house, senate], source="import:test")
    with engine.begin() as c:
        ids = dict(c.execute(select(Bill.identifier, Bill.id)).all())
        existing = {(r.bill_id, r.other_bill_id) for r in c.execute(select(BillLink)).all()}
        for a, b in ((ids["HF 9"], ids["SF 9"]), (ids["SF 9"], ids["HF 9"])):
            if (a, b) not in existing:
                c.execute(
                    BillLink.__table__.insert().values(
                        bill_id=a, other_bill_id=b, relation="companion", score=1.0, evidence=[]
                    )
                )
    with engine.connect() as c:
        links = bill_links(c, ids["HF 9"])
    assert [link["identifier"] for link in links] == ["SF 9"]
