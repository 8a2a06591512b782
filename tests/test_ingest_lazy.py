"""Lazy bills (RawBill) and importer worker processes: the fast import path must store exactly
what the plain path stores, skip validation only for unchanged bills, and report bad records
the same way. Real inputs from ../shared/data; broken ones from tests/synthetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import scrapers.importers.base as base
from scrapers.importers.base import RawBill
from scrapers.importers.legiscan import iter_legiscan
from scrapers.importers.openstates import iter_openstates
from tracker.collect.parallel import prefetch
from tracker.db import make_engine, upgrade
from tracker.ingest import ingest_bills, known_hashes
from tracker.models import Action, Bill

SYNTHETIC = Path(__file__).parent / "synthetic"


def _inputs(shared_data: Path) -> list[tuple[str, list[Path]]]:
    return [
        ("openstates", [shared_data / "openstates/windy_civi_2025/samples"]),
        ("legiscan", [shared_data / "legiscan/api_json/bill"]),
    ]


def _api_raws(shared_data: Path) -> list[RawBill]:
    """LegiScan's API bills, as lazy bills."""
    raws = iter_legiscan([shared_data / "legiscan/api_json/bill"], lazy=True)
    return [x for x in raws if type(x) is RawBill]


def _iter(kind: str, paths: list[Path], **kw: Any) -> Any:
    return (iter_openstates if kind == "openstates" else iter_legiscan)(paths, **kw)


def test_lazy_items_build_to_the_eager_ones(shared_data: Path) -> None:
    for kind, paths in [*_inputs(shared_data), ("openstates", [SYNTHETIC / "openstates"])]:
        eager = list(_iter(kind, paths))
        lazy = list(_iter(kind, paths, lazy=True))
        assert any(type(x) is RawBill for x in lazy)
        assert [x.build() if type(x) is RawBill else x for x in lazy] == eager


def test_raw_key_and_digest_are_those_of_the_validated_bill(shared_data: Path) -> None:
    raws = _api_raws(shared_data)
    assert raws
    for raw in raws:
        bill = raw.build()
        assert raw.bill_key() == (bill.state, bill.legislative_session, raw.bill_key()[2])  # type: ignore[index]
        again = RawBill(dict(raw.fields()), raw.where, raw.line)
        assert again.digest() == raw.digest() and len(raw.digest() or "") == 40
    changed = RawBill({**raws[0].fields(), "title": "Another title"}, "x", None)
    assert changed.digest() != raws[0].digest()


def test_second_lazy_import_validates_nothing_and_writes_nothing(
    engine: Any, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, paths = _inputs(shared_data)[0]
    first = ingest_bills(engine, _iter(kind, paths, lazy=True), source="import:openstates")
    n = first.new
    assert n >= 20 and not first.errors
    calls: list[str] = []
    real = base.validate_bill

    def counting(data: dict[str, Any], where: str, line: int | None) -> Any:
        calls.append(where)
        return real(data, where, line)

    monkeypatch.setattr(base, "validate_bill", counting)
    second = ingest_bills(engine, _iter(kind, paths, lazy=True), source="import:openstates")
    assert (second.new, second.updated, second.unchanged, calls) == (0, 0, n, [])

    items = list(_iter(kind, paths, lazy=True))
    at, old = next((i, x) for i, x in enumerate(items) if type(x) is RawBill)
    target = items[at] = RawBill(
        {**old.fields(), "title": "A retitled synthetic bill"}, old.where, old.line
    )
    third = ingest_bills(engine, items, source="import:openstates")
    assert (third.new, third.updated, third.unchanged) == (0, 1, n - 1)
    assert calls == [target.where]  # only the changed bill was validated
    with engine.connect() as c:
        titles = set(c.execute(select(Bill.title)).scalars())
    assert "A retitled synthetic bill" in titles


def test_lazy_bad_records_are_reported_like_eager_ones(sqlite_engine: Any) -> None:
    eager = ingest_bills(
        sqlite_engine, iter_openstates([SYNTHETIC / "openstates"]), source="import:a"
    )
    lazy = ingest_bills(
        sqlite_engine, iter_openstates([SYNTHETIC / "openstates"], lazy=True), source="import:b"
    )
    assert eager.errors and sorted(map(str, lazy.errors)) == sorted(map(str, eager.errors))
    assert sorted(map(str, lazy.warnings)) == sorted(map(str, eager.warnings))
    assert (lazy.new, lazy.updated) == (0, 2) and eager.new == 2


def _snapshot(engine: Any) -> tuple[list[Any], list[Any]]:
    cols = [
        Bill.state,
        Bill.session,
        Bill.identifier,
        Bill.identifier_norm,
        Bill.title,
        Bill.stage,
        Bill.stage_date,
        Bill.stage_reason,
        Bill.topic,
        Bill.topic_score,
        Bill.topic_evidence,
        Bill.relevant,
        Bill.subjects,
        Bill.abstracts,
        Bill.sources,
        Bill.latest_action_date,
        Bill.primary_source,
    ]
    with engine.connect() as c:
        bills = [tuple(r) for r in c.execute(select(*cols).order_by(*cols[:4]))]
        actions = [
            tuple(r)
            for r in c.execute(
                select(
                    Bill.identifier_norm,
                    Action.position,
                    Action.date,
                    Action.description,
                    Action.classification,
                    Action.source,
                )
                .join(Bill, Bill.id == Action.bill_id)
                .order_by(Bill.identifier_norm, Action.position)
            )
        ]
    return bills, actions


def test_prefetch_in_worker_processes_stores_what_the_plain_path_stores(
    sqlite_engine: Any, shared_data: Path, tmp_path: Path
) -> None:
    plain = make_engine(f"sqlite:///{tmp_path}/plain.db")
    upgrade(plain)
    for kind, paths in _inputs(shared_data):
        source = f"import:{kind}"
        fast = ingest_bills(
            sqlite_engine,
            prefetch(kind, paths, engine=sqlite_engine, workers=2),
            source=source,
        )
        slow = ingest_bills(plain, _iter(kind, paths), source=source)
        assert fast.summary() == slow.summary() and fast.new > 0
    assert _snapshot(sqlite_engine) == _snapshot(plain)
    for kind, paths in _inputs(shared_data):  # again: the snapshot of stored hashes skips all
        source = f"import:{kind}"
        assert known_hashes(sqlite_engine, source)
        again = ingest_bills(
            sqlite_engine, prefetch(kind, paths, engine=sqlite_engine), source=source
        )
        assert (again.new, again.updated) == (0, 0) and again.unchanged > 0


def test_default_workers_parse_in_the_writer_for_small_inputs_and_one_core(
    shared_data: Path,
) -> None:
    from tracker.collect.parallel import WORTH_BYTES, default_workers

    small = [
        shared_data / "legiscan/api_json/bill"
    ]  # a few bills: workers cost more than they save
    assert default_workers(small, cpus=2) == 0
    everything = [shared_data / "legiscan", shared_data / "openstates"]
    assert sum(f.stat().st_size for p in everything for f in p.rglob("*") if f.is_file()) > (
        WORTH_BYTES
    )
    assert default_workers(everything, cpus=2) == 1  # the writer keeps the other core
    assert default_workers(everything, cpus=4) == 2  # the writer is the bottleneck beyond two
    assert default_workers(everything, cpus=1) == 0


@pytest.mark.parametrize("share", [True, False])
def test_prefetch_hands_out_the_items_in_the_plain_order_whoever_reads_a_chunk(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, share: bool
) -> None:
    """Workers claim chunks in order and the caller reads a chunk itself when none has claimed
    it (share): the items come in the order of the plain path either way."""
    import tracker.collect.parallel as parallel

    monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)  # many chunks: both sides claim some
    paths = [shared_data / "openstates/windy_civi_2025/samples"]
    plain = [
        (x.bill_key(), x.digest()) if type(x) is RawBill else str(x)
        for x in iter_openstates(paths, lazy=True)
    ]
    got = [
        (x.bill_key(), x.digest()) if type(x) is RawBill else str(x)
        for x in prefetch("openstates", paths, workers=1, share=share)
    ]
    assert len(plain) > 10 and got == plain


def test_a_prepared_bill_waits_to_be_sent_as_bytes_only(shared_data: Path) -> None:
    """An importer process sheds a new bill's validated model and fields once it is prepared:
    it waits in the queue as its JSON and rows, and still builds to the same bill at ingest."""
    import pickle

    import tracker.collect.parallel as parallel

    parallel._init(set(), {}, True)
    try:
        raws = _api_raws(shared_data)
        assert raws
        for raw in raws:
            expected = raw.build()
            parallel._prepare(raw)
            assert raw.prepared and raw.blob
            assert raw.data is None and raw._built is None
            again = pickle.loads(pickle.dumps(raw))
            assert again.build() == expected and again.prepared == raw.prepared
    finally:
        parallel._init(set(), {}, False)


def test_a_worker_prepares_new_bills_only_while_the_writer_has_a_backlog(
    shared_data: Path,
) -> None:
    """Work moves to the idle side: with a piece of its own waiting in the queue a worker
    validates and prepares the new bills it sends; with none (the writer waits for it) it only
    digests them and the writer prepares them, as it does for a chunk it reads itself."""
    import multiprocessing

    import tracker.collect.parallel as parallel

    queue = multiprocessing.get_context("spawn").Queue(maxsize=4)
    try:
        for _ in range(parallel.BACKLOG):
            assert parallel._writer_has_backlog(queue) is False
            queue.put(("items", []))  # counted at once, before its feeder thread sends it
        assert parallel._writer_has_backlog(queue) is True
    finally:
        for _ in range(parallel.BACKLOG):
            queue.get(timeout=5)
        queue.close()
    chunk = parallel._chunks(parallel.units("legiscan", [shared_data / "legiscan/api_json/bill"]))
    parallel._init(set(), {}, True)
    try:
        helping = [False]
        idle = [x for c in chunk for x in parallel._chunk_stream(c, prepare=helping)]
        helping[0] = True
        busy = [x for c in chunk for x in parallel._chunk_stream(c, prepare=helping)]
    finally:
        parallel._init(set(), {}, False)
    idle_bills = [x for x in idle if type(x) is RawBill]
    busy_bills = [x for x in busy if type(x) is RawBill]
    assert idle_bills and len(idle_bills) == len(busy_bills)
    assert all(x.prepared is None and x.digest() for x in idle_bills)
    assert all(x.prepared for x in busy_bills)
    assert [x.digest() for x in idle_bills] == [x.digest() for x in busy_bills]
    assert [x.build() for x in idle_bills] == [x.build() for x in busy_bills]


def test_a_bill_built_from_its_bytes_keeps_its_fields_in_the_source_order(
    shared_data: Path,
) -> None:
    """Whoever builds a bill, it is the same bill down to the order of a free-form field's
    keys: the bytes a bill travels as keep the source's order (the digest sorts them)."""
    import hashlib
    import pickle

    import orjson

    raw = _api_raws(shared_data)[0]
    fields = {**raw.fields(), "extras": {"zeta": 1, "alpha": {"y": 2, "b": 3}}}
    here = RawBill(fields, "x", None)
    digest = here.digest()
    assert (
        digest
        == hashlib.sha1(b"raw1\0" + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
    )
    there = pickle.loads(pickle.dumps(here))
    here.shed()
    built = [RawBill(fields, "x", None).build(), here.build(), there.build()]
    for bill in built:
        assert list(bill.extras) == ["zeta", "alpha"]  # type: ignore[union-attr]
        assert list(bill.extras["alpha"]) == ["y", "b"]  # type: ignore[union-attr]
    assert built[0] == built[1] == built[2]


def test_a_worker_prepares_only_bills_no_source_has_stored_yet(
    shared_data: Path, sqlite_engine: Any
) -> None:
    """Prepared rows serve only a bill ingest inserts: the snapshot holds the keys of bills any
    source stored, and a bill prepared once is not prepared again when met later in the
    same import (the same session in a second archive)."""
    import tracker.collect.parallel as parallel

    raws = _api_raws(shared_data)
    stored = raws[0].build()
    ingest_bills(sqlite_engine, [stored], source="scrape:other")  # another source has it
    known, _ends = parallel._snapshot(sqlite_engine)
    assert parallel.key_token(raws[0].bill_key()) in known  # type: ignore[arg-type]
    parallel._init(known, {}, True)
    try:
        first, again = _api_raws(shared_data), _api_raws(shared_data)
        for raw in first + again:
            parallel._prepare(raw)
    finally:
        parallel._init(set(), {}, False)
    assert first[0].prepared is None
    assert all(raw.prepared for raw in first[1:])
    assert not any(raw.prepared for raw in again)
    assert [raw.digest() for raw in again] == [raw.digest() for raw in first]
