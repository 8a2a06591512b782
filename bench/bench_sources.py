"""Benchmark: one weekly cycle over every state against local fakes of the two APIs, three times.

The fakes (tests/fake_apis.py) serve REAL shared data in each API's documented format: the Open
States fake serves every Windy Civi bill (MA, MN, WA, VT, CO, OR 2025) and the Idaho 2025
scraper output as API v3 bills; the LegiScan fake serves the real bulk CSV datasets (AZ, CO, GA,
KS, MN, OR) as getBill records plus the six real getBill payloads. Other states answer with
empty lists, as a state with nothing on the topic would.

A cycle = national discovery (both APIs) + every state (50 + DC) with both API sources
(strategy ``all``: the upper bound; ``first-success`` would skip LegiScan wherever Open States
answered). Week 1 starts from an empty database; week 2 has no upstream change (aim: no bill
re-fetched); week 3 has three changed bills in each API.

Quotas compared against (the numbers and where they come from):
- Open States API v3, default (free) tier: 10 requests/minute and 250/day
  (openstates/api-v3, api/auth.py: ``Tier("default", 10, 0, 250)``).
- LegiScan API, free public tier: 30,000 queries/month (LegiScan API terms).

    .venv/bin/python bench/bench_sources.py            # all real data (~20k + ~14k bills)
    .venv/bin/python bench/bench_sources.py --quick    # the 24 Windy Civi samples only
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_apis import (  # noqa: E402
    KEY,
    FakeLegiscan,
    FakeOpenStates,
    getbill_from_dataset,
    getbill_from_scrape,
    real_getbill_records,
    scrape_bills_from,
)
from httpserver import LocalSite  # noqa: E402

OS_DAILY, OS_PER_MINUTE, LS_MONTHLY = 250, 10, 30_000
WEEKS_PER_MONTH = 4.35


def shared_data() -> Path:
    from tracker.settings import get_settings

    shared = get_settings().resolved_shared_dir()
    if shared is None or not (shared / "data").is_dir():
        sys.exit("../shared/data not found: set TRACKER_SHARED_DIR")
    return shared / "data"


def load_data(
    data: Path, quick: bool
) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    from scrapers.importers.legiscan import iter_legiscan

    windy = data / "openstates/windy_civi_2025"
    if quick:
        os_pairs = list(scrape_bills_from([windy / "samples"]))
        ls_records = [getbill_from_scrape(s, b) for s, b in os_pairs]
    else:
        os_pairs = list(
            scrape_bills_from(
                sorted(windy.glob("*.tar.gz")) + [data / "openstates/scraper_output_id_2025"]
            )
        )
        ls_records = []
        for zip_path in sorted((data / "legiscan/bulk_csv").glob("*.zip")):
            m = re.match(r"[A-Z]{2}_(\d{4})-(\d{4})_", zip_path.name)
            years = (int(m.group(1)), int(m.group(2))) if m else (2025, 2025)
            ls_records += [
                getbill_from_dataset(b, years=years)
                for b in iter_legiscan([zip_path])
                if hasattr(b, "extras")
            ]
    ls_records += real_getbill_records(data / "legiscan/api_json/bill")
    return os_pairs, ls_records


def bench_config():  # type: ignore[no-untyped-def]
    """The repo's config/sources.yaml, with both APIs for every state and no local caps, so the
    bench measures what a cycle needs (caps are compared afterwards)."""
    from tracker.collect.options import load_sources_config

    config = load_sources_config()
    config.default = ["openstates-api", "legiscan-api"]
    config.strategy = "all"
    config.states = {}
    for name in ("openstates-api", "legiscan-api"):
        api = config.sources.api(name)
        api.requests_per_second, api.daily_cap, api.monthly_cap = 10_000.0, None, None
    config.sources.openstates_api.first_run_days = 1000  # the first sync sees all of 2025
    return config


def cycle(
    engine, client, config, states: list[str], fos: FakeOpenStates, fls: FakeLegiscan
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from tracker.collect.runner import run_discovery, run_state_sources

    fos.calls, fos.served, fls.calls, fls.ops = 0, 0, 0, {}
    started = time.perf_counter()
    results = run_discovery(engine, client=client, config=config)
    for st in states:
        results += run_state_sources(engine, st, client=client, config=config)
    failed = [r.line() for r in results if not r.succeeded]
    busy = [r.line() for r in results if r.fetched and r.source == "openstates-api"]
    return {
        "seconds": time.perf_counter() - started,
        "os_calls": fos.calls,
        "os_bills_sent": fos.served,
        "ls_calls": fls.calls,
        "ls_ops": dict(sorted(fls.ops.items())),
        "fetched": sum(r.fetched for r in results),
        "skipped_unchanged": sum(r.skipped_unchanged for r in results),
        "new": sum(r.new for r in results),
        "updated": sum(r.updated for r in results),
        "failed": failed,
        "busy": busy,
    }


def touch_some(engine, fos: FakeOpenStates, fls: FakeLegiscan) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from tracker.models import Bill
    from tracker.source_models import LegiscanBill

    today = time.strftime("%Y-%m-%d", time.gmtime())
    with engine.connect() as conn:
        followed = list(
            conn.execute(
                select(LegiscanBill.bill_id)
                .where(LegiscanBill.followed.is_(True))
                .order_by(LegiscanBill.bill_id)
                .limit(3)
            ).scalars()
        )
        tracked = list(
            conn.execute(
                select(Bill.identifier, Bill.state)
                .where(Bill.primary_source == "openstates-api")
                .order_by(Bill.id)
                .limit(3)
            )
        )
    for bill_id in followed:
        fls.touch(bill_id, day=today, action="Bench: committee hearing held")
    for identifier, _state in tracked:
        fos.touch(identifier, day=today, description="Bench: committee hearing held")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="24 sample bills instead of all data")
    args = parser.parse_args()

    t0 = time.perf_counter()
    os_pairs, ls_records = load_data(shared_data(), args.quick)
    fos, fls = FakeOpenStates.from_scrape(os_pairs), FakeLegiscan(ls_records)
    print(
        f"loaded {len(fos.bills)} Open States bills, {len(fls.records)} LegiScan records "
        f"in {time.perf_counter() - t0:.1f}s"
    )

    with tempfile.TemporaryDirectory() as tmp, LocalSite() as os_site, LocalSite() as ls_site:
        os_site.add("/bills", handler=fos.handle, any_query=True)
        ls_site.add("/", handler=fls.handle, any_query=True)
        os.environ.update(
            {
                "TRACKER_DATA_DIR": tmp,
                "TRACKER_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "TRACKER_OPENSTATES_API_URL": os_site.url("/").rstrip("/"),
                "TRACKER_OPENSTATES_API_KEY": KEY,
                "TRACKER_LEGISCAN_API_URL": ls_site.url("/"),
                "TRACKER_LEGISCAN_API_KEY": KEY,
            }
        )
        from tracker.db import make_engine, upgrade
        from tracker.scraping import http_client
        from tracker.settings import reset_settings
        from tracker.vocab import STATE_NAMES

        reset_settings()
        engine = make_engine()
        upgrade(engine)
        config = bench_config()
        states = sorted(s for s in STATE_NAMES if s not in ("us", "pr"))
        weeks = []
        with http_client(default_delay=0, max_retries=1) as client:
            weeks.append(
                ("week 1 (empty database)", cycle(engine, client, config, states, fos, fls))
            )
            weeks.append(
                ("week 2 (no upstream change)", cycle(engine, client, config, states, fos, fls))
            )
            touch_some(engine, fos, fls)
            weeks.append(
                ("week 3 (3+3 bills changed)", cycle(engine, client, config, states, fos, fls))
            )
        report(weeks, len(states), config)


def report(weeks: list[tuple[str, dict[str, Any]]], n_states: int, config: Any) -> None:
    print(f"\nweekly cycle: discovery + {n_states} states, both APIs per state (strategy all)")
    print(
        f"{'':30} {'OS calls':>9} {'OS bills':>9} {'LS calls':>9} {'fetched':>8} {'skipped':>8} "
        f"{'new':>5} {'upd':>5} {'secs':>6}"
    )
    for name, w in weeks:
        print(
            f"{name:30} {w['os_calls']:>9} {w['os_bills_sent']:>9} {w['ls_calls']:>9} {w['fetched']:>8} "
            f"{w['skipped_unchanged']:>8} {w['new']:>5} {w['updated']:>5} {w['seconds']:>6.1f}"
        )
        print(f"{'':30} LegiScan ops: {w['ls_ops']}")
        for line in w["failed"]:
            print(f"{'':30} NOT OK: {line}")
        if os.environ.get("BENCH_VERBOSE"):
            for line in w["busy"]:
                print(f"{'':30} {line}")
    first, steady = weeks[0][1], weeks[1][1]
    os_rps = config.sources.openstates_api.requests_per_second
    print("\nagainst the free tiers:")
    print(
        f"  Open States: first cycle {first['os_calls']} calls, a quiet week {steady['os_calls']} "
        f"(default tier {OS_DAILY}/day, {OS_PER_MINUTE}/minute; config caps "
        f"{config.sources.openstates_api.daily_cap or 240}/day). At the configured pace the quiet "
        f"week's calls take about {steady['os_calls'] / 0.15 / 60:.0f} minutes (0.15 requests/s)."
        if os_rps
        else ""
    )
    monthly = steady["ls_calls"] * WEEKS_PER_MONTH
    print(
        f"  LegiScan: first cycle {first['ls_calls']} queries, a quiet week {steady['ls_calls']}, "
        f"about {monthly:.0f} a month at one cycle a week = {100 * monthly / LS_MONTHLY:.1f}% of "
        f"{LS_MONTHLY:,}/month (config cap 25,000)."
    )
    print(f"  bills re-fetched in the quiet week: {steady['fetched']} (aim: 0)")


if __name__ == "__main__":
    main()
