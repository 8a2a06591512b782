"""Ingest: upsert by natural key, change history, nothing lost, idempotent re-ingest."""

from __future__ import annotations

import copy
import gc
from typing import Any

import pytest
from sqlalchemy import func, select

from tracker.ingest import ingest_bills
from tracker.models import (
    Action,
    Bill,
    BillSource,
    Change,
    Hearing,
    Run,
    Sponsorship,
    Version,
    Vote,
)
from tracker.scraped import ScrapedBill


def synthetic_bill(**over: Any) -> dict[str, Any]:
    """A made-up bill (synthetic: not from any real source) in ScrapedBill shape."""
    bill: dict[str, Any] = {
        "state": "ny",
        "legislative_session": "2025-2026",
        "identifier": "S 1234",
        "title": "Establishes the synthetic universal health plan",
        "chamber": "upper",
        "actions": [
            {"date": "2025-01-08", "description": "Referred to health", "chamber": "upper"},
        ],
        "sponsorships": [{"name": "Jane Example", "primary": True, "classification": "primary"}],
        "versions": [{"note": "Introduced", "links": [{"url": "https://example.org/s1234.pdf"}]}],
        "sources": [{"url": "https://example.org/s1234"}],
    }
    bill.update(over)
    return bill


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(model)).scalar_one()


def changes(engine) -> list[tuple[str, Any, Any]]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        rows = c.execute(select(Change.kind, Change.old, Change.new).order_by(Change.id)).all()
    return [tuple(r) for r in rows]


def test_new_bill_then_identical_reingest_writes_nothing(engine) -> None:
    r1 = ingest_bills(engine, [synthetic_bill()], source="test")
    assert r1.summary() == {"new": 1, "updated": 0, "unchanged": 0, "errors": 0}
    before = (count(engine, Change), count(engine, Action), count(engine, Bill))
    r2 = ingest_bills(engine, [synthetic_bill()], source="test")
    assert r2.summary() == {"new": 0, "updated": 0, "unchanged": 1, "errors": 0}
    assert (count(engine, Change), count(engine, Action), count(engine, Bill)) == before
    assert [k for k, *_ in changes(engine)] == ["bill_new"]
    with engine.connect() as c:
        bill = c.execute(select(Bill)).one()._mapping
        assert bill["identifier"] == "S 1234" and bill["identifier_norm"] == "S1234"
        assert bill["stage"] and bill["topic"]
        runs = c.execute(select(Run.status, Run.counts).order_by(Run.id)).all()
    assert [r.status for r in runs] == ["ok", "ok"]
    assert runs[1].counts["unchanged"] == 1


def test_identifier_forms_are_one_bill(engine) -> None:
    ingest_bills(engine, [synthetic_bill(identifier="S1234")], source="a")
    ingest_bills(engine, [synthetic_bill(identifier="S 01234")], source="b")
    ingest_bills(engine, [synthetic_bill(identifier="S1234-B")], source="c")
    assert count(engine, Bill) == 1
    assert count(engine, BillSource) == 3


def test_changes_are_recorded_and_nothing_is_lost(engine) -> None:
    ingest_bills(engine, [synthetic_bill()], source="test")
    second = synthetic_bill(
        title="Establishes the synthetic universal health plan, as amended",
        actions=[
            {"date": "2025-01-08", "description": "Referred to health", "chamber": "upper"},
            {"date": "2025-03-02", "description": "Reported favorably", "chamber": "upper"},
        ],
        sponsorships=[
            {"name": "Jane Example", "primary": True, "classification": "primary"},
            {"name": "Sam Cosponsor", "primary": False},
        ],
        versions=[
            {"note": "Introduced", "links": [{"url": "https://example.org/s1234.pdf"}]},
            {"note": "Amended", "links": [{"url": "https://example.org/s1234a.pdf"}]},
        ],
        hearings=[{"date": "2025-03-10T10:00", "committee": "Health", "location": "Room 1"}],
    )
    r = ingest_bills(engine, [second], source="test")
    assert r.summary()["updated"] == 1
    kinds = [k for k, *_ in changes(engine)]
    for kind in (
        "field_changed",
        "action_new",
        "sponsor_added",
        "version_new",
        "hearing_scheduled",
    ):
        assert kind in kinds, kind

    # The source comes back short: no title, the last action and the cosponsor gone.
    short = copy.deepcopy(second)
    short["title"] = ""
    short["actions"] = short["actions"][:1]
    short["sponsorships"] = short["sponsorships"][:1]
    ingest_bills(engine, [short], source="test")
    with engine.connect() as c:
        bill = c.execute(select(Bill.title)).scalar_one()
        actions = c.execute(select(Action.description, Action.removed_at)).all()
        sponsors = c.execute(select(Sponsorship.name, Sponsorship.removed_at)).all()
    assert bill.endswith("as amended")
    assert len(actions) == 2 and any(a.removed_at is not None for a in actions)
    assert len(sponsors) == 2 and any(s.removed_at is not None for s in sponsors)
    kinds = [k for k, *_ in changes(engine)]
    assert "action_removed" in kinds and "sponsor_removed" in kinds


def test_two_sources_do_not_flap(engine) -> None:
    a = synthetic_bill()
    b = synthetic_bill(actions=[{"date": "2025-01-08", "description": "REFERRED TO HEALTH"}])
    ingest_bills(engine, [a], source="scrape:ny")
    ingest_bills(engine, [b], source="import:legiscan")
    n = count(engine, Change)
    for _ in range(2):
        ingest_bills(engine, [a], source="scrape:ny")
        ingest_bills(engine, [b], source="import:legiscan")
    assert count(engine, Change) == n
    with engine.connect() as c:
        assert c.execute(select(Bill.primary_source)).scalar_one() == "scrape:ny"


def test_stage_change_is_a_change(engine) -> None:
    ingest_bills(engine, [synthetic_bill()], source="test")
    passed = synthetic_bill(
        actions=[
            {
                "date": "2025-01-08",
                "description": "Referred to health",
                "chamber": "upper",
                "classification": ["referral-committee"],
            },
            {
                "date": "2025-04-01",
                "description": "Passed Senate",
                "chamber": "upper",
                "classification": ["passage"],
            },
        ]
    )
    ingest_bills(engine, [passed], source="test")
    stage_changes = [(o, n) for k, o, n in changes(engine) if k == "stage_changed"]
    assert stage_changes and stage_changes[-1][1] == "passed_one_chamber"


def test_bad_records_are_reported_and_the_rest_goes_on(engine) -> None:
    good = synthetic_bill(identifier="S 1")
    bad = synthetic_bill(identifier="S 2", actions=[{"date": "yesterday", "description": "x"}])
    unknown = synthetic_bill(identifier="S 3", colour="red")
    r = ingest_bills(engine, [bad, good, unknown], source="test")
    assert r.new == 1 and len(r.errors) == 2
    assert "date" in str(r.errors[0]) and "colour" in str(r.errors[1])
    with engine.connect() as c:
        assert c.execute(select(Run.status)).scalar_one() == "partial"


def test_hearing_moved_is_a_change(engine) -> None:
    first = synthetic_bill(
        hearings=[{"date": "2025-03-10T10:00", "committee": "Health", "location": "Room 1"}]
    )
    moved = synthetic_bill(
        hearings=[{"date": "2025-03-10T10:00", "committee": "Health", "location": "Room 9"}]
    )
    ingest_bills(engine, [first], source="test")
    ingest_bills(engine, [moved], source="test")
    assert "hearing_changed" in [k for k, *_ in changes(engine)]
    with engine.connect() as c:
        assert c.execute(select(Hearing.location)).scalar_one() == "Room 9"
        assert c.execute(select(func.count()).select_from(Version)).scalar_one() == 1


@pytest.mark.parametrize("n", [1201])
def test_batches_and_duplicates_in_one_stream(engine, n: int) -> None:
    bills = [
        synthetic_bill(identifier=f"A {i}", title=f"Synthetic road sign act {i}") for i in range(n)
    ]
    bills.append(synthetic_bill(identifier="A 0", title="Renamed synthetic bill"))
    r = ingest_bills(engine, bills, source="test", batch_size=500)
    assert r.new == n and r.updated == 1
    assert count(engine, Bill) == n


def test_reintroduced_single_payer_bill_is_linked_to_its_earlier_session(engine) -> None:
    from tracker.models import BillLink

    title = "Enacts the synthetic New York Health Act, a single-payer universal health care system"
    old = synthetic_bill(legislative_session="2023-2024", identifier="S 7000", title=title)
    new = synthetic_bill(legislative_session="2025-2026", identifier="S 3425", title=title)
    ingest_bills(engine, [old], source="test")
    ingest_bills(engine, [new], source="test")
    with engine.connect() as c:
        relevant = c.execute(select(Bill.relevant)).scalars().all()
        links = c.execute(select(BillLink.relation, BillLink.bill_id, BillLink.other_bill_id)).all()
        ids = dict(c.execute(select(Bill.session, Bill.id)).all())
    assert relevant == [True, True]
    assert ("prior-session", ids["2025-2026"], ids["2023-2024"]) in [tuple(x) for x in links]


def test_a_big_load_refreshes_postgresql_statistics(engine, monkeypatch) -> None:
    import tracker.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BIG_LOAD", 3)
    ingest_bills(
        engine,
        [synthetic_bill(identifier=f"A {i}", title=f"Synthetic act {i}") for i in range(4)],
        source="test",
    )
    if engine.dialect.name != "postgresql":
        return  # SQLite plans from its own statistics; nothing to refresh
    import time

    analysed = None
    for _ in range(20):  # statistics views are flushed shortly after the transaction
        with engine.connect() as c:
            analysed = c.exec_driver_sql(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'bill'"
            ).scalar()
        if analysed is not None:
            break
        time.sleep(0.1)
    assert analysed is not None


def test_known_bills_updated_in_one_batch_each_diff_against_their_own_rows(engine) -> None:
    """The stored rows of a batch's known bills are read together (ingest_diff.read_stored):
    each bill must still be compared with its own rows only, duplicates within a bill kept."""
    dup = {"date": "2025-01-08", "description": "Referred to health", "chamber": "upper"}
    bills = [
        synthetic_bill(
            identifier=f"S {n}",
            actions=[dup, dup],
            sponsorships=[{"name": f"Sponsor {n}", "primary": True}],
        )
        for n in (1, 2, 3)
    ]
    ingest_bills(engine, bills, source="test")
    again = copy.deepcopy(bills)
    for n, bill in enumerate(again[:2], 1):
        bill["actions"].append(
            {"date": "2025-03-0" + str(n), "description": f"Reported {n}", "chamber": "upper"}
        )
    report = ingest_bills(engine, again, source="test")
    assert report.summary() == {"new": 0, "updated": 2, "unchanged": 1, "errors": 0}
    with engine.connect() as c:
        rows = c.execute(
            select(Bill.identifier, Change.kind, Change.new)
            .join(Bill, Bill.id == Change.bill_id)
            .where(Change.kind != "bill_new")
            .order_by(Change.id)
        ).all()
        actions = c.execute(
            select(Bill.identifier, func.count(), func.count(Action.removed_at))
            .join(Bill, Bill.id == Action.bill_id)
            .group_by(Bill.identifier)
            .order_by(Bill.identifier)
        ).all()
    news = [(ident, kind, new["description"]) for ident, kind, new in rows if kind == "action_new"]
    assert news == [("S 1", "action_new", "Reported 1"), ("S 2", "action_new", "Reported 2")]
    assert not [r for r in rows if r.kind.endswith("_removed") or r.kind == "sponsor_added"]
    assert [tuple(a) for a in actions] == [("S 1", 3, 0), ("S 2", 3, 0), ("S 3", 2, 0)]


def _every_kind_of_child() -> dict[str, Any]:
    return synthetic_bill(
        actions=[
            {"date": "2025-01-08", "description": "Introduced", "chamber": "upper"},
            {
                "date": "2025-02-01",
                "description": "Referred to Health",
                "chamber": "upper",
                "committee": "Health",
                "classification": ["referral-committee", "source-label"],
            },
        ],
        sponsorships=[
            {"name": "Jane Example", "primary": True, "classification": "primary"},
            {"name": "Health Committee", "entity_type": "organization", "chamber": "upper"},
        ],
        versions=[
            {
                "note": "Introduced",
                "date": "2025-01-08",
                "links": [
                    {"url": "https://example.org/s1.pdf", "media_type": "application/pdf"},
                    {"url": "https://example.org/s1.html"},
                ],
            },
            {"note": "No link yet", "classification": "draft"},
        ],  # fmt: skip
        documents=[
            {
                "note": "Fiscal note",
                "classification": "fiscal-note",
                "links": [{"url": "https://example.org/fn.pdf"}],
            }
        ],  # fmt: skip
        hearings=[{"date": "2025-03-10T10:00", "committee": "Health", "location": "Room 1"}],
        votes=[
            {
                "date": "2025-03-11",
                "motion": "Do pass",
                "result": "pass",
                "chamber": "upper",
                "yes": 5,
                "no": 2,
                "other": 1,
            }
        ],  # fmt: skip
    )


CHILD_MODELS = (Action, Sponsorship, Version, Hearing, Vote)


def _children_by_source(engine, source: str) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    skip = {"id", "bill_id", "source", "first_seen"}
    out = {}
    with engine.connect() as c:
        for model in CHILD_MODELS:
            table = model.__table__  # type: ignore[attr-defined]
            cols = [col for col in table.columns if col.name not in skip]
            rows = c.execute(select(*cols).where(table.c.source == source).order_by(table.c.id))
            out[table.name] = [tuple(r) for r in rows]
    return out


@pytest.mark.parametrize("path", ["in the writer", "from an importer process"])
def test_a_new_bill_stores_its_children_as_the_update_path_does(engine, path: str) -> None:
    """A new bill's child rows (prepared as lists of values, by ingest itself or by an importer
    process) hold what the update path stores from the same bill (one dict per row): a second
    source giving the same bill stores every child again, value for value."""
    import pickle

    from scrapers.importers.base import RawBill
    from tracker.collect import parallel

    if path == "in the writer":
        first: Any = _every_kind_of_child()
    else:
        parallel._init(set(), {}, True)  # as an importer process: nothing known, prepare new bills
        first = RawBill(_every_kind_of_child(), "synthetic.json", 1)
        parallel._prepare(first)
        assert first.prepared
        first = pickle.loads(pickle.dumps(first))  # as it crosses the process boundary
    assert ingest_bills(engine, [first], source="a").new == 1
    assert ingest_bills(engine, [_every_kind_of_child()], source="b").updated == 1
    a, b = _children_by_source(engine, "a"), _children_by_source(engine, "b")
    assert [len(a[t]) for t in a] == [2, 2, 4, 1, 1]
    assert a == b


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_the_collector_runs_between_batches_not_inside_them(sqlite_engine) -> None:
    """While ingesting, automatic collection is off (it rescanned each batch's short-lived
    rows over and over) and a collection runs after each batch, so a cycle made while writing
    a batch is gone by the next one: memory stays bounded by one batch. Restored afterwards."""
    import gc
    import weakref

    seen: list[tuple[bool, bool]] = []  # per batch: collector on?, last batch's cycle alive?
    last: list[weakref.ref[_Cycle]] = []

    def progress(_n: int) -> None:
        seen.append((gc.isenabled(), bool(last) and last[-1]() is not None))
        last.append(weakref.ref(_Cycle()))

    bills = [synthetic_bill(identifier=f"A {i}") for i in range(5)]
    assert gc.isenabled()
    ingest_bills(sqlite_engine, bills, source="test", batch_size=2, progress=progress)
    assert seen == [(False, False)] * 3
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        ingest_bills(sqlite_engine, bills, source="other", batch_size=2)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_batch_is_freed_before_the_collection_between_batches(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collection after each batch scanned the whole batch (its bills, their rows), which
    the batch generator still held: some 5% of a first import of 790 bills. Only the bill read
    ahead (the first of the next batch) may be alive then."""

    def bills_alive() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is ScrapedBill)

    gc.collect()
    before = bills_alive()  # an earlier test's, still referenced
    alive: list[int] = []
    real = gc.collect

    def collect(generation: int = 2) -> int:
        alive.append(bills_alive() - before)
        return real(generation)

    monkeypatch.setattr(gc, "collect", collect)
    bills = (synthetic_bill(identifier=f"A {n}") for n in range(7))
    assert ingest_bills(engine, bills, source="test", batch_size=3).new == 7
    assert len(alive) == 3 and max(alive) <= 1, alive


@pytest.mark.parametrize(
    "value",
    [
        ["bill", "resolution"],
        [],
        {},
        {"legiscan": {"bill_id": 123, "status_date": None, "url": "https://example.org/?a=1&b"}},
        [{"abstract": 'Quotes " and \\ backslashes, tab\there', "note": "né — 日本"}],
        {"reason": "Passed on 2025-01-08: 'x'", "action_index": 3, "score": 0.1, "big": 1e20},
        [1.0, -0.0, 2.5e-07, True, False, None, 2**63 - 1],
        {"nested": [[["deep"]], {"k": [{"v": "\x01\x1f\u2028"}]}], "": ""},
        "a bare string, ümlaut",
        float("nan"),
    ],
)
def test_ingest_writes_json_text_byte_for_byte_as_json_dumps(value: Any) -> None:
    """The JSON columns' text is json.dumps' (stored rows stay comparable with earlier ones)."""
    import json

    from tracker.ingest_rows import json_dumps

    assert json_dumps(value) == json.dumps(value)
