"""Ingest: upsert by natural key, change history, nothing lost, idempotent re-ingest."""

from __future__ import annotations

import copy
import functools
import gc
from datetime import UTC, datetime
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
    rows over and over) and a collection runs after each batch from the second on, so a cycle
    made while writing a batch is gone by the next one, the first batch's by the third: memory
    stays bounded by two batches. Restored afterwards."""
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
    assert seen == [(False, False), (False, True), (False, False)]
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
    assert len(alive) == 2 and max(alive) <= 1, alive  # after batches 2 and 3 (see BatchCollector)


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


# --------------------------------------------------------------------------- batched updates

PREFERRED, OTHER = "import:openstates", "import:legiscan"  # source_rank 1 and 2


def _act(date: str, description: str) -> dict[str, Any]:
    return {"date": date, "description": description, "chamber": "upper"}


INTRODUCED = _act("2025-01-08", "Introduced and read first time")
REFERRED = _act("2025-02-01", "Referred to Health")
PASSED = _act("2025-03-01", "Passed the Senate")
REPORTED = _act("2025-03-05", "Reported favorably")
FILED = _act("2025-01-07", "Prefiled")


def _bill(group: int, n: int, **over: Any) -> dict[str, Any]:
    """Bill `n` of `group`: groups hold the same bills under other numbers (S 101, S 201...)."""
    fields = {
        "identifier": f"S {group}0{n}",
        "title": f"Relating to synthetic ferry schedules, part {n}",
        "sources": [{"url": f"https://example.org/{n}"}],
    }
    return synthetic_bill(**{**fields, **over})


def _history(group: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """Runs (source, bills) before the one under test: the preferred source's actions of bills
    1 and 6 and the other source's of bill 4 end up stored with positions out of id order (an
    action met later was listed first); bill 6's preferred actions share a position (a partial
    list re-numbered some of them)."""
    b = functools.partial(_bill, group)
    return [
        (
            PREFERRED,
            [
                b(1, actions=[INTRODUCED, REFERRED]),
                b(6, actions=[INTRODUCED, REFERRED]),
                b(9, actions=[INTRODUCED, REFERRED, PASSED]),
            ],
        ),
        (
            PREFERRED,
            [
                b(1, actions=[PASSED, INTRODUCED, REFERRED]),
                b(6, actions=[FILED, INTRODUCED], provided=["sponsorships", "versions"]),
            ],
        ),
        (
            OTHER,
            [
                b(1, actions=[INTRODUCED]),
                b(
                    2,
                    actions=[INTRODUCED, REFERRED],
                    sponsorships=[
                        {"name": "Jane Example", "primary": True},
                        {"name": "John Example"},
                    ],
                    versions=[
                        {"note": "Introduced", "links": [{"url": "https://example.org/v1"}]},
                        {"note": "Amended", "links": [{"url": "https://example.org/v2"}]},
                    ],
                    hearings=[{"date": "2025-02-10", "committee": "Health", "location": "Rm 1"}],
                ),
                b(4, actions=[INTRODUCED, REFERRED]),
                b(5, actions=[INTRODUCED, REFERRED]),
                b(9, actions=[INTRODUCED, FILED, REFERRED]),
            ],
        ),
        (
            OTHER,
            [
                b(4, actions=[FILED, INTRODUCED, REFERRED]),
                b(9, actions=[FILED, INTRODUCED]),  # Referred removed
            ],
        ),
    ]


def _under_test(group: int) -> list[dict[str, Any]]:
    """The run under test (the other source): new bills among changed ones."""
    b = functools.partial(_bill, group)
    return [
        b(7),  # new
        # not preferred: the stage is the preferred source's (stored out of id order)
        b(1, actions=[INTRODUCED, REPORTED]),
        # new, updated and vanished children of every kind, a new title
        b(
            2,
            title="Relating to synthetic ferry schedules, part 2, amended",
            actions=[{**INTRODUCED, "committee": "Rules"}, PASSED],
            sponsorships=[{"name": "Jane Example", "primary": True}, {"name": "Ann Example"}],
            versions=[{"note": "Introduced", "links": [{"url": "https://example.org/v1"}]}],
            hearings=[{"date": "2025-02-10", "committee": "Health", "location": "Rm 2"}],
            votes=[{"date": "2025-03-01", "motion": "Do pass", "result": "pass", "yes": 5}],
        ),
        b(8),  # new
        # actions not given: the stage follows this source's stored actions
        b(
            4,
            actions=[],
            sponsorships=[{"name": "Jane Example", "primary": True}, {"name": "Ann Example"}],
            provided=["sponsorships"],
        ),
        # actions not given but some listed: stored, and the stage follows all this source's
        b(5, actions=[PASSED, INTRODUCED], provided=["sponsorships"]),
        # the other source's first word on the bill; the preferred source's share a position
        b(6, actions=[INTRODUCED]),
        # not preferred, actions not given: its own stage from its stored actions (one removed)
        b(9, actions=[], sponsorships=[{"name": "Ann Example"}], provided=["sponsorships"]),
    ]


def _rows_by_bill(engine, group: int) -> dict[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Each of the group's bills' rows, children and change rows (in id order), without ids,
    timestamps (set or not) and the bill's number."""
    times = {"first_seen", "last_seen", "last_checked", "last_changed", "seen_at", "removed_at"}

    def plain(row: Any) -> tuple[Any, ...]:
        return tuple(
            (v is not None) if k in times else v
            for k, v in row._mapping.items()
            if k not in {"id", "bill_id", "run_id", "identifier", "identifier_norm", "content_hash"}
        )

    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as c:
        bills = c.execute(select(Bill.__table__).where(Bill.identifier.like(f"S {group}0%")))
        for bill in bills.all():
            n = int(bill.identifier[-1])
            got: dict[str, Any] = {"bill": plain(bill)}
            for model in (*CHILD_MODELS, BillSource, Change):
                table = model.__table__  # type: ignore[attr-defined]
                rows = c.execute(
                    select(table).where(table.c.bill_id == bill.id).order_by(table.c.id)
                )
                got[table.name] = [plain(r) for r in rows]
            out[n] = got
    return out


def _change_sequence(engine, group: int, run_id: int) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """A run's change rows of the group in id order: (bill number, kind, field, old, new)."""
    with engine.connect() as c:
        rows = c.execute(
            select(Bill.identifier, Change.kind, Change.field, Change.old, Change.new)
            .join(Bill, Bill.id == Change.bill_id)
            .where(Change.run_id == run_id, Bill.identifier.like(f"S {group}0%"))
            .order_by(Change.id)
        ).all()
    return [(int(r[0][-1]), *r[1:]) for r in rows]


def _max_ids(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return {
            m.__table__.name: c.execute(select(func.coalesce(func.max(m.id), 0))).scalar_one()  # type: ignore[attr-defined]
            for m in CHILD_MODELS
        }


def _ids_in_bill_order(engine, group: int, after: dict[str, int]) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """Per child table, the bill numbers of the group's rows with ids above `after`'s (those a
    run inserted), in id order; new bills (7, 8) left out."""
    out = {}
    with engine.connect() as c:
        for model in CHILD_MODELS:
            table = model.__table__  # type: ignore[attr-defined]
            rows = c.execute(
                select(Bill.identifier)
                .select_from(table)
                .join(Bill, Bill.id == table.c.bill_id)
                .where(Bill.identifier.like(f"S {group}0%"), table.c.id > after[table.name])
                .order_by(table.c.id)
            ).scalars()
            out[table.name] = [int(i[-1]) for i in rows if i[-1] not in "78"]
    return out


def _stage(engine, group: int, n: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        bill = c.execute(select(Bill.__table__).where(Bill.identifier == f"S {group}0{n}")).one()
        sources = c.execute(
            select(BillSource.source, BillSource.stage).where(BillSource.bill_id == bill.id)
        ).all()
    return {"stage": bill.stage, "reason": bill.stage_reason, "sources": dict(sources)}


def test_a_batch_of_updates_stores_what_updating_bill_by_bill_stores(engine, monkeypatch) -> None:
    """Updates of known bills are written together at the end of their batch (ingest_diff.
    Writes), and the stored actions a bill's stage needs come from the batch's read: a batch
    mixing new and changed bills stores the same rows, change rows and id order as the same
    bills ingested one per batch, and as update_existing called bill by bill on its own."""
    from tracker import ingest_diff
    from tracker.ingest import IngestReport, apply_removals, content_hash, writing
    from tracker.ingest_diff import update_existing
    from tracker.runs import start_run
    from tracker.scraped import ScrapedBill

    groups = (1, 2, 3)
    for step in range(len(_history(1))):
        source = _history(1)[step][0]
        ingest_bills(engine, [b for g in groups for b in _history(g)[step][1]], source=source)

    # The database is asked for a bill's stored actions only when the batch's read may not
    # hold them as it would give them: after the bill's own action rows were written (5), or
    # when two share a position (6).
    asked: list[tuple[int, str]] = []
    stored_actions = ingest_diff._stored_actions

    def asking(conn, bill_id: int, source: str):  # type: ignore[no-untyped-def]
        asked.append((bill_id, source))
        return stored_actions(conn, bill_id, source)

    monkeypatch.setattr(ingest_diff, "_stored_actions", asking)
    before_1 = _max_ids(engine)
    batched = ingest_bills(engine, _under_test(1), source=OTHER)  # one batch
    with engine.connect() as c:
        numbers = dict(c.execute(select(Bill.id, Bill.identifier)).all())
    assert [(numbers[b], source) for b, source in asked] == [("S 105", OTHER), ("S 106", PREFERRED)]
    before_2 = _max_ids(engine)
    one_per_batch = ingest_bills(engine, _under_test(2), source=OTHER, batch_size=1)
    assert batched.summary() == one_per_batch.summary()
    assert batched.summary() == {"new": 2, "updated": 6, "unchanged": 0, "errors": 0}

    # Group 3: update_existing alone, a transaction per bill, as a caller of it may do.
    run_id = start_run(engine, source=OTHER, kind="import")
    report = IngestReport(source=OTHER, run_id=run_id)
    ingest_bills(engine, [b for b in _under_test(3) if b["identifier"][-1] in "78"], source=OTHER)
    before_3 = _max_ids(engine)
    for data in _under_test(3):
        bill = ScrapedBill.model_validate(data)
        with writing(engine) as conn:
            bill_id, had = conn.execute(
                select(Bill.id, BillSource.id)
                .outerjoin(
                    BillSource, (BillSource.bill_id == Bill.id) & (BillSource.source == OTHER)
                )
                .where(Bill.identifier == bill.identifier)
            ).one()
            if data["identifier"][-1] in "78":
                continue  # new: ingested above
            update_existing(
                conn,
                bill,
                digest=content_hash(bill),
                bill_id=bill_id,
                had_source=had is not None,
                report=report,
                run_id=run_id,
                source=OTHER,
                now=datetime.now(UTC),
            )
    apply_removals(engine, report)

    rows = {g: _rows_by_bill(engine, g) for g in groups}
    assert rows[1] == rows[2]
    changed = {n: r for n, r in rows[1].items() if n not in (7, 8)}
    assert changed == {n: r for n, r in rows[3].items() if n not in (7, 8)}

    # The same change rows, in the same order; children inserted in bill order.
    seq = [s for s in _change_sequence(engine, 1, batched.run_id) if s[0] not in (7, 8)]
    assert seq == [
        s for s in _change_sequence(engine, 2, one_per_batch.run_id) if s[0] not in (7, 8)
    ]
    assert seq == _change_sequence(engine, 3, run_id)
    ids = _ids_in_bill_order(engine, 1, before_1)
    assert ids == _ids_in_bill_order(engine, 2, before_2)
    assert ids == _ids_in_bill_order(engine, 3, before_3)
    assert ids["action"] == sorted(ids["action"], key=[1, 2, 5, 6].index)
    assert ids["sponsorship"] == sorted(ids["sponsorship"], key=[2, 4, 5, 6, 9].index)
    kinds = {(n, kind) for n, kind, *_ in seq}
    assert {(2, k) for k in ("field_changed", "action_new", "sponsor_added", "vote_new")} <= kinds
    assert {(2, k) for k in ("hearing_changed", "action_removed", "sponsor_removed")} <= kinds

    # The stage of bill 1 (other source not preferred) is the preferred source's, from its
    # actions in their stored order (position, not id: Passed is listed first, stored last);
    # its own actions give its bill_source stage.
    bill_1 = _stage(engine, 1, 1)
    assert bill_1["stage"] == "passed_one_chamber"
    assert bill_1["reason"]["action_index"] == 0
    assert bill_1["sources"] == {PREFERRED: "passed_one_chamber", OTHER: "passed_committee"}
    # Bill 4 gives no actions: its stage follows this source's stored ones, in position order
    # (Referred is third, stored second).
    bill_4 = _stage(engine, 1, 4)
    assert bill_4["stage"] == "in_committee"
    assert bill_4["reason"]["action_index"] == 2
    # Bill 5 lists actions without giving them: they are stored, then the stage follows all
    # of this source's stored actions, those just written included.
    assert _stage(engine, 1, 5)["stage"] == "passed_one_chamber"
    # Bill 6: the preferred source's actions, two at one position: in the database's order.
    bill_6 = _stage(engine, 1, 6)
    assert bill_6["stage"] == "in_committee"
    assert bill_6["sources"][OTHER] == "introduced"
    with engine.connect() as c:
        listed = c.execute(
            select(Action.description)
            .join(Bill, Bill.id == Action.bill_id)
            .where(Bill.identifier == "S 106", Action.source == PREFERRED)
            .where(Action.removed_at.is_(None))
            .order_by(Action.position)
        ).scalars()
        assert bill_6["reason"]["action_index"] == list(listed).index(REFERRED["description"])
    # Bill 9: the stage is the preferred source's; this source's own (bill_source) is by its
    # stored actions, not the removed one.
    bill_9 = _stage(engine, 1, 9)
    assert bill_9["stage"] == "passed_one_chamber"
    assert bill_9["sources"] == {PREFERRED: "passed_one_chamber", OTHER: "introduced"}


def test_the_collector_runs_between_batches_from_the_second_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Automatic collection is off during an import; a collection of the young generations
    follows each batch from the second on (the first batch's cycles wait for the second's
    end), a full one every FULL_GC_EVERY batches, and the caller's setting comes back."""
    import gc

    import tracker.ingest as ingest

    collected: list[int] = []
    monkeypatch.setattr(ingest.gc, "collect", lambda generation=2: collected.append(generation))
    monkeypatch.setattr(ingest, "FULL_GC_EVERY", 3)
    assert gc.isenabled()
    with ingest.BatchCollector() as collector:
        assert not gc.isenabled()
        for _ in range(7):
            collector.between()
    assert gc.isenabled()
    assert collected == [1, 2, 1, 1, 2, 1]  # after batches 2 to 7; 3 and 6 are full
    gc.disable()
    try:
        with ingest.BatchCollector() as collector:
            collector.between()
            collector.between()
        assert not gc.isenabled() and collected == [1, 2, 1, 1, 2, 1]  # the caller's choice
    finally:
        gc.enable()


def test_a_batchs_time_is_stored_to_the_microsecond_in_every_row_it_writes(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch stamps its bills, their sources, children and changes with one `now`. On
    PostgreSQL it goes as the text psycopg would write for it, made once per batch (COPY for
    60 bills' children, INSERT for the few sponsors of 3): the same instant either way."""
    import tracker.ingest as ingest

    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return when

    monkeypatch.setattr(ingest, "datetime", Clock)
    many = [
        synthetic_bill(
            identifier=f"S {n}",
            actions=[
                {"date": "2025-01-08", "description": f"Referred {k}", "chamber": "upper"}
                for k in range(2)
            ],
        )
        for n in range(60)
    ]
    assert ingest_bills(engine, many, source="test").new == 60
    assert ingest_bills(engine, [synthetic_bill(identifier="S 999")], source="test").new == 1
    with engine.connect() as c:
        stamps = [
            *c.execute(select(Bill.first_seen, Bill.last_checked, Bill.last_changed)).all(),
            *c.execute(select(BillSource.first_seen, BillSource.last_seen)).all(),
            *c.execute(select(Action.first_seen)).all(),
            *c.execute(select(Sponsorship.first_seen)).all(),
            *c.execute(select(Version.first_seen)).all(),
            *c.execute(select(Change.seen_at)).all(),
        ]
    assert len(stamps) == 61 + 61 + 121 + 61 + 61 + 61
    values = {v.replace(tzinfo=UTC) if v.tzinfo is None else v for row in stamps for v in row}
    assert values == {when}
