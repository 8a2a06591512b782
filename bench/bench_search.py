"""Search, page render and static build speed with all of ../shared/data loaded.

    python bench/bench_search.py                      # SQLite and PostgreSQL
    python bench/bench_search.py --backend sqlite
    python bench/bench_search.py --subset small       # a quick run on a few files
    python bench/bench_search.py --searches-only --compare bench/results/search/before.json

The data is imported once through the importers and ingest into
bench/results/search/bench.db (SQLite) and the PostgreSQL database ``tracker_bench_search``;
later runs reuse them (``--reimport`` starts over). Printed per backend:

- import time, and the search index cost: one ``reindex_bills`` batch of 500 bills and a full
  ``rebuild_index`` (the index is built by one of them, whichever ingest is wired to use);
- p50/p95 latency of 20 representative searches (words, phrases, prefixes, filters, bill
  numbers) through ``tracker.search.search``, cold (result cache emptied) and repeated (served
  by the cache, as when paging), against a naive LIKE scan answering the same questions in
  the same run, and the limit: the raw FTS5 / tsvector query for the words alone, best 25 by
  rank (aim: p95 < 20 ms);
- whether `single payer` ranks every bill the classifier marked yes first, and the first 25
  bills of every query (``--compare`` an earlier figures file to see what moved);
- bill page and state page render time;
- a full static build and an incremental rebuild after one bill changes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Text, cast, create_engine, func, or_, select, text, update  # noqa: E402

from tracker.db import make_engine, normalize_url, upgrade  # noqa: E402
from tracker.models import Bill  # noqa: E402
from tracker.search import (  # noqa: E402
    SearchQuery,
    clear_cache,
    rebuild_index,
    reindex_bills,
    search,
)

OUT = ROOT / "bench" / "results" / "search"
PG_ADMIN = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# scratch database name; TRACKER_BENCH_SEARCH_PG_DB (or --pg-db) keeps parallel runs apart
PG_DB = os.environ.get("TRACKER_BENCH_SEARCH_PG_DB", "tracker_bench_search")
REPEAT = 5
LIKE = True  # --no-like leaves out the naive LIKE scans (seconds each on all shared data)

# (label, query parameters): what staffers type, with and without filters.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("word", {"q": "health"}),
    ("two words", {"q": "single payer"}),
    ("phrase", {"q": '"universal health care"'}),
    ("phrase", {"q": '"health plan"'}),
    ("prefix", {"q": "medic*"}),
    ("prefix", {"q": "insur*"}),
    ("words+state", {"q": "health insurance", "state": ["mn"]}),
    ("word+stage", {"q": "health", "stage": ["in_committee"]}),
    ("word+topic", {"q": "health", "topic": ["public-option"]}),
    ("word+dates", {"q": "medicaid", "since": "2025-01-01", "until": "2025-06-30"}),
    ("relevant only", {"relevant": "1"}),
    ("filters only", {"state": ["ma"], "stage": ["in_committee"]}),
    ("sponsor", {"sponsor": "smith"}),
    ("word+sponsor", {"q": "health", "sponsor": "johnson"}),
    ("recency sort", {"q": "tax", "sort": "recency"}),
    ("exclusion", {"q": "health -dental"}),
    ("or", {"q": "medicare OR medicaid"}),
    ("bill number", {"q": "HF 1812"}),
    ("bill number+state", {"q": "wa SJM 8004"}),
    ("page 5", {"q": "education", "page": "5"}),
]


def inputs(subset: str) -> list[tuple[str, list[Path]]]:
    from bench_import import inputs as import_inputs  # the same data the import bench loads

    return import_inputs(subset)


# --------------------------------------------------------------------------- databases


def engine_for(backend: str, subset: str, reimport: bool):  # type: ignore[no-untyped-def]
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / f"bench-{subset}.db"
        if reimport:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        return make_engine(f"sqlite:///{path}")
    name = f"{PG_DB}_{subset}"
    admin = create_engine(normalize_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if reimport and exists:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_engine(normalize_url(PG_ADMIN).rsplit("/", 1)[0] + "/" + name)


def ensure_imported(engine, subset: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from scrapers.importers.legiscan import iter_legiscan
    from scrapers.importers.openstates import iter_openstates
    from tracker.ingest import ingest_bills

    upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
    if have:
        print(f"  reusing {have} bills already imported")
        return {"bills": have}
    started = time.perf_counter()
    for kind, paths in inputs(subset):
        items = iter_openstates(paths) if kind == "openstates" else iter_legiscan(paths)
        report = ingest_bills(engine, items, source=f"import:{kind}")
        print(f"  {report.line()}")
    took = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        # what autovacuum soon does after a bulk load: statistics and the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
    print(f"  imported {have} bills in {took:.1f}s")
    return {"bills": have, "import_s": round(took, 1)}


# --------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def index_costs(engine) -> dict[str, float]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        ids = list(conn.execute(select(Bill.id)).scalars())
    batch = random.Random(1).sample(ids, min(500, len(ids)))
    with engine.begin() as conn:
        batch_ms = timed(lambda: reindex_bills(conn, batch))
    rebuild_s = timed(lambda: rebuild_index(engine)) / 1000
    return {"reindex_500_ms": round(batch_ms, 1), "rebuild_s": round(rebuild_s, 2)}


def naive_like(conn, params: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """The same question answered without the index: LIKE over title, abstracts and actions."""
    from tracker.search import SearchQuery, parse_text
    from tracker.search.filters import filter_conditions
    from tracker.tables import action_table, bill_table, sponsorship_table

    # search's conditions are on tracker.tables' bill table: the same table, not the model's
    bills, actions, sponsors = bill_table.c, action_table.c, sponsorship_table.c

    query, _ = SearchQuery.from_pairs(params.items())
    conds = list(filter_conditions(query))
    tq = parse_text(query.q)
    for group in tq.groups[:1]:
        for item in group:
            pattern = "%" + " ".join(item.words).rstrip() + "%"
            in_actions = select(actions.bill_id).where(actions.description.ilike(pattern))
            conds.append(
                or_(
                    bills.title.ilike(pattern),
                    cast(bills.abstracts, Text).ilike(pattern),
                    bills.id.in_(in_actions),
                )
            )
    if query.sponsor:
        by_name = select(sponsors.bill_id).where(sponsors.name.ilike(f"%{query.sponsor}%"))
        conds.append(bills.id.in_(by_name))
    stmt = select(bills.id, bills.title).where(*conds)
    conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    conn.execute(stmt.order_by(bills.latest_action_date.desc()).limit(25)).all()


def raw_limit(conn, params: dict[str, Any]) -> bool:  # type: ignore[no-untyped-def]
    """The limit: the query's words alone through the index, best 25 by its rank (FTS5 bm25 or
    ts_rank) and their count; no filters or facets. False when the query has no words."""
    from tracker.search import fts5_expression, parse_text, pg_tsquery

    tq = parse_text(params.get("q", ""))
    if tq.empty or params.get("sponsor"):
        return False
    if conn.dialect.name == "sqlite":
        sql = "SELECT rowid FROM bill_fts WHERE bill_fts MATCH :fts ORDER BY rank LIMIT 25"
        count = "SELECT count(*) FROM bill_fts WHERE bill_fts MATCH :fts"
        binds = {"fts": fts5_expression(tq)}
    else:
        expr, binds = pg_tsquery(tq)
        # the tsquery computed once for ts_rank (a subquery), as tracker.search does
        sql = (
            f"SELECT bill_id FROM bill_search WHERE document @@ {expr} "  # noqa: S608
            f"ORDER BY ts_rank(document, (SELECT {expr})) DESC LIMIT 25"
        )
        count = f"SELECT count(*) FROM bill_search WHERE document @@ {expr}"  # noqa: S608
    conn.execute(text(sql), binds).all()
    conn.execute(text(count), binds).scalar_one()
    return True


def ranking(conn) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The first 25 bills of each bench query, to compare the order before and after a change."""
    order = {}
    for label, params in QUERIES:
        query, _ = SearchQuery.from_pairs(params.items())
        hits = search(conn, query).hits
        key = f"{label} {json.dumps(params, sort_keys=True)}"
        order[key] = [f"{h['state']} {h['session']} {h['identifier']}" for h in hits]
    return order


def compare_ranking(now: dict[str, list[str]], before: dict[str, list[str]]) -> None:
    """Per query: how many of the earlier first 25 are still there, and in the same order."""
    for key, hits in now.items():
        old = before.get(key)
        if old is None:
            continue
        kept = len(set(hits) & set(old))
        same = hits == old
        print(f"    {key[:70]:<70} {kept:>3}/{len(old):<3} kept{'  same order' if same else ''}")


def topic_check(conn) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """`single payer`: every bill the classifier marked yes, and ranked before any other."""
    yes = conn.execute(select(func.count()).select_from(Bill).where(Bill.relevant.is_(True)))
    n = int(yes.scalar_one())
    hits = search(conn, SearchQuery(q="single payer", per_page=max(1, n))).hits
    first = sum(1 for h in hits if h["relevant"])
    print(f"  'single payer': the first {n} results hold {first} of the {n} bills marked yes")
    return {"single_payer_yes": n, "single_payer_yes_first": first}


def cpu(conn) -> float:  # type: ignore[no-untyped-def]
    """CPU milliseconds used so far by this process and, for a PostgreSQL server on this
    machine, by the connection's backend (from /proc: 10 ms ticks, summed over many queries)."""
    used = time.process_time() * 1000
    if conn.dialect.name == "postgresql":
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
        except OSError:  # a server elsewhere: this process only
            pass
    return used


def search_latency(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Cold: the result cache emptied before every search (a new question); cached: the same
    search again, as when a staffer pages through results or reloads."""
    cold: list[float] = []
    cached: list[float] = []
    naive: list[float] = []
    raw: list[float] = []
    cpu_ours: list[float] = []
    cpu_raw: list[float] = []
    per_query = []
    with engine.connect() as conn:
        for label, params in QUERIES:
            query, _ = SearchQuery.from_pairs(params.items())
            search(conn, query)  # warm the database's caches

            def fresh(q: SearchQuery = query) -> None:
                clear_cache()
                search(conn, q)

            cpu_before = cpu(conn)
            mine = [timed(fresh) for _ in range(REPEAT)]
            mine_cpu = cpu(conn) - cpu_before
            again = [timed(lambda q=query: search(conn, q)) for _ in range(REPEAT)]
            like = [timed(lambda p=params: naive_like(conn, p)) for _ in range(2 if LIKE else 0)]
            if raw_limit(conn, params):
                cpu_before = cpu(conn)
                raw += [timed(lambda p=params: raw_limit(conn, p)) for _ in range(REPEAT)]
                cpu_raw.append(cpu(conn) - cpu_before)
                cpu_ours.append(mine_cpu)  # the same queries on both sides of the ratio
            cold += mine
            cached += again
            naive += like
            found = search(conn, query)
            # a lower bound (PostgreSQL, the first look at a big one-word search) ends in +
            total = f"{found.total}{'' if getattr(found, 'total_exact', True) else '+'}"
            per_query.append(
                (
                    label,
                    params,
                    total,
                    statistics.median(mine),
                    statistics.median(again),
                    statistics.median(like) if like else float("nan"),
                    mine_cpu / REPEAT,
                )
            )
    for label, params, total, mine_ms, again_ms, like_ms, cpu_ms in per_query:
        shown = json.dumps(params, ensure_ascii=False)
        print(
            f"    {label:<18} {shown[:48]:<48} {total:>8} hits {mine_ms:7.1f} ms"
            f" (CPU {cpu_ms:5.1f}; cached {again_ms:5.1f})  LIKE {like_ms:8.1f} ms"
        )
    return {
        "search_p50_ms": round(pct(cold, 50), 1),
        "search_p95_ms": round(pct(cold, 95), 1),
        "search_cached_p50_ms": round(pct(cached, 50), 1),
        "search_cached_p95_ms": round(pct(cached, 95), 1),
        "like_p50_ms": round(pct(naive, 50), 1) if naive else None,
        "like_p95_ms": round(pct(naive, 95), 1) if naive else None,
        "raw_p50_ms": round(pct(raw, 50), 1),
        "raw_p95_ms": round(pct(raw, 95), 1),
        # CPU per search (this process, plus the PostgreSQL backend's when it runs here) over
        # the queries with words: less swayed by a loaded machine than wall time
        "cpu_ms": round(sum(cpu_ours) / max(1, len(cpu_ours) * REPEAT), 1),
        "raw_cpu_ms": round(sum(cpu_raw) / max(1, len(cpu_raw) * REPEAT), 1),
    }


def render_times(engine) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from tracker.web.pages import render_bill, render_overview, render_state

    with engine.connect() as conn:
        ids = list(conn.execute(select(Bill.id).order_by(Bill.id)).scalars())
        sample = random.Random(2).sample(ids, min(100, len(ids)))
        states = [
            s
            for s, _ in conn.execute(
                select(Bill.state, func.count()).group_by(Bill.state).order_by(func.count().desc())
            )
        ]
        render_bill(conn, sample[0])
        bills = [timed(lambda i=i: render_bill(conn, i)) for i in sample]
        state = [timed(lambda s=s: render_state(conn, s)) for s in states[:8]]
        overview = [timed(lambda: render_overview(conn)) for _ in range(3)]
    return {
        "bill_page_p50_ms": round(pct(bills, 50), 1),
        "bill_page_p95_ms": round(pct(bills, 95), 1),
        "state_page_p50_ms": round(pct(state, 50), 1),
        "state_page_max_ms": round(max(state), 1),
        "overview_ms": round(statistics.median(overview), 1),
    }


def static_build(engine, bills: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from tracker.web.site_build import build_site

    out = Path(tempfile.mkdtemp(prefix="tracker-site-"))
    try:
        full = build_site(engine, out, bills=bills)
        print(f"    full:        {full.line()}")
        with engine.begin() as conn:  # one bill changes, as an ingest would record it
            bill_id = (
                conn.execute(select(Bill.id).where(Bill.relevant.is_(True)).limit(1)).scalar()
                or conn.execute(select(Bill.id).limit(1)).scalar_one()
            )
            conn.execute(
                update(Bill)
                .where(Bill.id == bill_id)
                .values(title=Bill.title + " (bench edit)", last_changed=func.now())
            )
        again = build_site(engine, out, bills=bills)
        print(f"    incremental: {again.line()}")
        with engine.begin() as conn:
            conn.execute(
                update(Bill)
                .where(Bill.id == bill_id)
                .values(title=func.replace(Bill.title, " (bench edit)", ""))
            )
        return {
            "static_full_s": round(full.seconds, 1),
            "static_pages": full.rendered,
            "static_incremental_s": round(again.seconds, 2),
            "incremental_rendered": again.rendered,
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(  # noqa: PLR0913 - the command's options
    backend: str,
    subset: str,
    reimport: bool,
    bills: str,
    skip_build: bool,
    *,
    searches_only: bool = False,
    compare: str | None = None,
) -> dict[str, Any]:
    print(f"\n== {backend} ({subset}) ==")
    engine = engine_for(backend, subset, reimport)
    figures: dict[str, Any] = {"backend": backend, **ensure_imported(engine, subset)}
    if not searches_only:
        figures.update(index_costs(engine))
        print(
            f"  index: reindex_bills(500 bills) {figures['reindex_500_ms']} ms; "
            f"rebuild_index {figures['rebuild_s']} s"
        )
    like = "LIKE median of 2" if LIKE else "no LIKE"
    print(f"  searches (median of {REPEAT} cold, then {REPEAT} repeated; {like}):")
    figures.update(search_latency(engine))
    print(
        f"  search p50 {figures['search_p50_ms']} ms, p95 {figures['search_p95_ms']} ms "
        f"(repeated: p50 {figures['search_cached_p50_ms']}, "
        f"p95 {figures['search_cached_p95_ms']}); "
        f"naive LIKE p50 {figures['like_p50_ms']} ms, p95 {figures['like_p95_ms']} ms; "
        f"limit (raw {'FTS5' if backend == 'sqlite' else 'tsvector'} query, words only, best 25 "
        f"and count): p50 {figures['raw_p50_ms']} ms, p95 {figures['raw_p95_ms']} ms"
    )
    print(
        f"  CPU per search over the queries with words: ours {figures['cpu_ms']} ms, "
        f"raw {figures['raw_cpu_ms']} ms (ratio {figures['cpu_ms'] / max(figures['raw_cpu_ms'], 0.1):.2f})"
    )
    raw_name = "FTS5" if backend == "sqlite" else "tsvector"
    row = {
        "section": f"search {backend}",
        "name": f"bench_search: {len(QUERIES)} searches, all shared data (cold, p95)",
        "value": figures["search_p95_ms"],
        "unit": "ms",
        "limit_name": f"raw {raw_name} match+rank+count, words only (p95)",
        "limit": figures["raw_p95_ms"],
        "target": "p95 < 20 ms",
        "note": f"{figures['bills']} bills; p50 {figures['search_p50_ms']} ms "
        f"(raw {figures['raw_p50_ms']}); CPU per search {figures['cpu_ms']} ms "
        f"(raw {figures['raw_cpu_ms']}); load average {os.getloadavg()[0]:.1f}",
    }
    print("BENCH_ROW " + json.dumps(row))
    cpu_row = {
        **row,
        "name": "bench_search: CPU per cold search with words (mean)",
        "value": figures["cpu_ms"],
        "limit_name": f"raw {raw_name} match+rank+count, CPU (mean)",
        "limit": figures["raw_cpu_ms"],
        "target": "ratio <= 1",
        "note": "process + PostgreSQL backend CPU" if backend != "sqlite" else "process CPU",
    }
    print("BENCH_ROW " + json.dumps(cpu_row))
    with engine.connect() as conn:
        figures.update(topic_check(conn))
        figures["ranking"] = ranking(conn)
    if compare:
        before = json.loads(Path(compare).read_text())
        earlier = next((f for f in before if f.get("backend") == backend), {})
        print(f"  ranking against {compare} (first 25 of each query):")
        compare_ranking(figures["ranking"], earlier.get("ranking", {}))
    if searches_only:
        engine.dispose()
        return figures
    figures.update(render_times(engine))
    print(
        f"  bill page p50 {figures['bill_page_p50_ms']} ms, p95 {figures['bill_page_p95_ms']} ms; "
        f"state page p50 {figures['state_page_p50_ms']} ms (max {figures['state_page_max_ms']}); "
        f"overview {figures['overview_ms']} ms"
    )
    if not skip_build:
        print("  static build:")
        figures.update(static_build(engine, bills))
    engine.dispose()
    return figures


def main() -> None:
    global PG_DB, LIKE, REPEAT  # noqa: PLW0603 - module-level settings the options override
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subset", choices=["all", "small"], default="all")
    parser.add_argument("--reimport", action="store_true", help="drop the bench databases first")
    parser.add_argument("--skip-build", action="store_true", help="leave out the static build")
    parser.add_argument(
        "--bills", choices=["all", "linked"], default="all", help="bill pages in the static build"
    )
    parser.add_argument(
        "--searches-only", action="store_true", help="searches only: no index, pages or build"
    )
    parser.add_argument(
        "--compare", metavar="FIGURES_JSON", help="an earlier figures file: compare the ranking"
    )
    parser.add_argument(
        "--no-like", action="store_true", help="leave out the naive LIKE scans (slow)"
    )
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timings per search")
    parser.add_argument("--pg-db", help=f"the PostgreSQL bench database's name prefix ({PG_DB})")
    args = parser.parse_args()
    if args.pg_db:
        PG_DB = args.pg_db
    LIKE, REPEAT = not args.no_like, args.repeat
    os.environ.setdefault("TRACKER_DATA_DIR", str(OUT))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [
        run(
            b,
            args.subset,
            args.reimport,
            args.bills,
            args.skip_build,
            searches_only=args.searches_only,
            compare=args.compare,
        )
        for b in backends
    ]
    suffix = "" if args.backend == "both" else f"-{args.backend}"
    written = OUT / f"figures-{args.subset}{suffix}.json"
    written.write_text(json.dumps(results, indent=2))
    print(f"\nfigures written to {written}")


if __name__ == "__main__":
    main()
