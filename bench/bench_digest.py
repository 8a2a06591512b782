"""Benchmark: weekly digests for 1,000 and 10,000 subscribers over a REAL week of changes.

What it does (all local, nothing leaves the machine):

1. Imports the Windy Civi / Open States 2025 captures in ../shared/data (MA, MN, WA, VT, CO, OR
   tarballs) into a scratch SQLite database through the normal importer + ingest path (once;
   the database is kept for later runs).
2. We do not have two captures of the same states a week apart, so the "week of changes" is
   rebuilt from the real data instead: it picks the busiest ISO week by action date and writes
   the `change` rows ingest would have written had it scraped at the end of each day of that
   week: ``action_new`` for each action dated in the week, ``bill_new`` for bills first acted
   on in it, ``version_new`` for versions dated in it, and ``stage_changed`` where the stage
   rules give a different stage before and after the week. (No real hearing data exists in
   these captures, so the digests have no "coming up" section.)
3. Adds 10,000 confirmed subscribers with varied preferences (states, topics, saved search,
   detail, quiet-week choice; fixed random seed).
4. For each size, in a fresh child process (so peak RSS is that run's own): a ``--dry-run``
   pass (rendering and message building: digests/s), smtplib sending 300 messages to warm
   the new server process up (its first messages cost it more), then the real send through
   ``tracker.delivery.send_digests`` and a real SMTP client to an aiosmtpd server running in
   another process (messages/s, peak memory), then smtplib alone sending as many messages,
   of the same sizes (the largest real digest cut to each size), to the same server over one
   connection: the limit. The real send and its limit run in turn, twice (the ledger emptied
   between), so that both see the machine as it is at the time; the figures are the two
   rounds' totals. Targets (issue 15): dry-run >=
   2,000/s, sending >= 80% of smtplib alone, flat memory. Each figure is also printed as a
   ``BENCH_ROW`` line for ``bench/run_all.py --scripts``; the dry run's rate per CPU second
   is in its note (the wall-clock rate on a busy machine says more about the machine).

    .venv/bin/python bench/bench_digest.py                    # 1k and 10k, render cache on
    .venv/bin/python bench/bench_digest.py --no-cache         # every digest rendered afresh
    .venv/bin/python bench/bench_digest.py --db /tmp/bench-digest.db --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update

DEFAULT_DB = Path("/tmp/bench-digest/tracker.db")
BENCH_SOURCE = "bench:real-week"
STATES_IN_DATA = ["ma", "mn", "wa", "vt", "co", "or"]
QUERIES = ["health", "insurance", "medicaid", "care", "tax", "school", "universal"]


def shared_data() -> Path:
    from tracker.settings import get_settings

    shared = get_settings().resolved_shared_dir()
    if shared is None or not (shared / "data").is_dir():
        sys.exit("../shared/data not found: set TRACKER_SHARED_DIR")
    return shared / "data"


def engine_for(db: Path):  # type: ignore[no-untyped-def]
    from tracker.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    return engine


# ----------------------------------------------------------------------------- 1. import


def import_real_data(engine) -> None:  # type: ignore[no-untyped-def]
    from scrapers.importers import RecordError, iter_openstates
    from tracker.ingest import ingest_bills
    from tracker.models import Bill

    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(Bill)).scalar()
    if have:
        print(f"database already holds {have} bills; skipping the import")
        return
    tarballs = sorted((shared_data() / "openstates" / "windy_civi_2025").glob("*.tar.gz"))
    started = time.perf_counter()
    bills = (b for b in iter_openstates(tarballs) if not isinstance(b, RecordError))
    report = ingest_bills(engine, bills, source="import:openstates", kind="import")
    print(
        f"imported {len(tarballs)} Windy Civi tarballs: {report.summary()} "
        f"in {time.perf_counter() - started:.0f}s"
    )


# ----------------------------------------------------------------------------- 2. the week


def busiest_week(engine) -> str:  # type: ignore[no-untyped-def]
    from tracker.digest import format_period
    from tracker.models import Action

    per_week: Counter[str] = Counter()
    with engine.connect() as conn:
        day = func.substr(Action.date, 1, 10)
        for d, n in conn.execute(select(day, func.count()).group_by(day)):
            try:
                per_week[format_period(date.fromisoformat(d))] += n
            except ValueError:
                continue
    period, count = per_week.most_common(1)[0]
    print(f"busiest ISO week by action date: {period} with {count} actions")
    return period


def build_week_changes(engine, period: str) -> None:  # type: ignore[no-untyped-def]
    """Write the change rows a daily scrape would have produced during `period`."""
    from tracker.digest import parse_period
    from tracker.models import Action, Bill, Change, Version

    start, end = parse_period(period)
    lo, hi = start.isoformat(), end.isoformat()
    with engine.begin() as conn:
        conn.execute(delete(Change).where(Change.source == BENCH_SOURCE))
        acts = conn.execute(
            select(
                Action.bill_id,
                Action.date,
                Action.description,
                Action.chamber,
                Action.classification,
            )
            .where(Action.removed_at.is_(None))
            .order_by(Action.bill_id, Action.position)
        ).all()
        by_bill: dict[int, list[Any]] = defaultdict(list)
        for a in acts:
            by_bill[a.bill_id].append(a)
        touched = {b for b, rows in by_bill.items() if any(lo <= r.date[:10] < hi for r in rows)}
        info = {
            r.id: r
            for r in conn.execute(
                select(Bill.id, Bill.chamber, Bill.classification).where(Bill.id.in_(touched))
            )
        }
        changes: list[dict[str, Any]] = []
        for bill_id in sorted(touched):
            changes.extend(_bill_changes(bill_id, by_bill[bill_id], info[bill_id], lo, hi))
        versions = conn.execute(
            select(Version.bill_id, Version.note, Version.url, Version.date).where(
                Version.date >= lo, Version.date < hi, Version.kind == "version"
            )
        ).all()
        changes += [
            _change(v.bill_id, "version_new", {"note": v.note, "url": v.url}, v.date[:10])
            for v in versions
        ]
        conn.execute(insert(Change), changes)
    kinds = Counter(c["kind"] for c in changes)
    print(f"wrote {len(changes)} change rows for {len(touched)} bills: {dict(kinds)}")


def _change(bill_id: int, kind: str, new: Any, day: str, old: Any = None) -> dict[str, Any]:
    seen = datetime.fromisoformat(day).replace(hour=23, tzinfo=UTC)  # that day's evening scrape
    return {
        "bill_id": bill_id,
        "source": BENCH_SOURCE,
        "kind": kind,
        "old": old,
        "new": new,
        "effective_date": day,
        "seen_at": seen,
        "field": "stage" if kind == "stage_changed" else None,
    }


def _bill_changes(
    bill_id: int, rows: list[Any], bill: Any, lo: str, hi: str
) -> list[dict[str, Any]]:
    from tracker.stages import compute_stage

    out = []
    if rows and lo <= min(r.date[:10] for r in rows) < hi:
        out.append(
            _change(bill_id, "bill_new", {"stage": "introduced"}, min(r.date[:10] for r in rows))
        )
    for r in rows:
        if lo <= r.date[:10] < hi:
            out.append(
                _change(
                    bill_id,
                    "action_new",
                    {
                        "description": r.description,
                        "chamber": r.chamber,
                        "date": r.date,
                        "classification": r.classification,
                    },
                    r.date[:10],
                )
            )
    as_dicts = [dict(r._mapping) for r in rows]

    def stage(limit: str) -> Any:
        return compute_stage(
            [a for a in as_dicts if a["date"][:10] < limit],
            bill_chamber=bill.chamber,
            bill_classification=bill.classification,
        )

    before, after = stage(lo), stage(hi)
    if before.stage != after.stage:
        out.append(
            _change(
                bill_id, "stage_changed", after.stage, (after.date or hi)[:10], old=before.stage
            )
        )
    return out


# ----------------------------------------------------------------------------- 3. subscribers


def random_preferences(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.3:
        states: list[str] = []
    else:
        states = sorted(rng.sample(STATES_IN_DATA + ["ny", "ca", "md"], rng.randint(1, 3)))
    t = rng.random()
    if t < 0.5:
        topics = ["single-payer", "single-payer-study"]
    elif t < 0.7:
        topics = ["coverage-expansion", "public-option", "single-payer", "single-payer-study"]
    elif t < 0.9:  # everything, even bills that are not about health care: the heaviest digests
        topics = [
            "coverage-expansion",
            "none",
            "public-option",
            "resolution",
            "single-payer",
            "single-payer-study",
        ]
    else:
        topics = ["single-payer"]
    return {
        "states": states,
        "topics": topics,
        "query": rng.choice(QUERIES) if rng.random() < 0.15 else None,
        "detail": rng.choice(["full", "brief"]),
        "quiet_week": "skip" if rng.random() < 0.3 else "send",
    }


def ensure_subscribers(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    from tracker.subscription_models import DigestLedger, Subscriber

    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(Subscriber)).scalar() or 0
        if have >= n:
            return
        rng = random.Random(8058)
        now = datetime.now(UTC)
        rows = [
            {
                "email": f"bench{i:05d}@example.org",
                "status": "confirmed",
                "bounce_count": 0,
                "created_at": now,
                "confirmed_at": now,
                **random_preferences(rng),
            }
            for i in range(n)
        ]
        conn.execute(delete(DigestLedger))  # an earlier, smaller run's ledger names them
        conn.execute(delete(Subscriber))
        conn.execute(insert(Subscriber), rows)
    print(f"added {n} subscribers")


def activate_first(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    """Only the first `n` subscribers are confirmed; the ledger starts empty."""
    from tracker.subscription_models import DigestLedger, Subscriber

    with engine.begin() as conn:
        conn.execute(delete(DigestLedger))
        ids = conn.execute(select(Subscriber.id).order_by(Subscriber.id)).scalars().all()
        cut = ids[n - 1] if n <= len(ids) else ids[-1]
        conn.execute(update(Subscriber).values(status="confirmed").where(Subscriber.id <= cut))
        conn.execute(update(Subscriber).values(status="pending").where(Subscriber.id > cut))


# ----------------------------------------------------------------------------- 4. the run


def _smtp_server(port: int, count, ready, pipelining: bool = False) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    class Counter_:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            with count.get_lock():
                count.value += 1
            return "250 OK"

        if pipelining:  # aiosmtpd does not offer it by default; Postfix, Exim, SES, Gmail do

            async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
                session.host_name = hostname
                return [*responses[:-1], "250-PIPELINING", responses[-1]]

    controller = Controller(Counter_(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_run(db: Path, period: str, port: int, cache: bool) -> None:
    """One measured run in this process; prints a JSON line.

    Three passes over the same subscribers: ``--dry-run`` (rendering and message building
    only, nothing written), the real send through ``send_digests`` (ledger and SMTP), and
    smtplib alone sending messages of the same sizes over one connection to the same server:
    the limit the real send is compared with."""
    from tracker import delivery, digest, digest_render
    from tracker.settings import get_settings
    from tracker.subscription_models import DigestLedger

    engine = engine_for(db)
    settings = get_settings()
    started = time.perf_counter()
    with engine.connect() as conn:
        week = digest.load_week(conn, period=period, settings=settings)
    load_s = time.perf_counter() - started
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = 4096 if cache else 0
    cpu_before = _cpu_self()
    dry = delivery.send_digests(
        engine,
        period=period,
        transport=None,
        settings=settings,
        dry_run=True,
        renderer=digest_render.DigestRenderer(week, cache_size=size),
    )
    dry_cpu = _cpu_self() - cpu_before
    # The server process is new: its first messages cost it more (allocations, lazy setup).
    # Warmed up first, so neither side of the comparison pays for that.
    warm = _warm_up(port)
    sent = seconds = alone_seconds = cpu = 0.0
    for _ in range(ROUNDS):  # ours, then the limit, in turn: both see the same machine
        with engine.begin() as conn:
            conn.execute(delete(DigestLedger))
        renderer = digest_render.DigestRenderer(week, cache_size=size)
        transport = Recording(
            host="127.0.0.1", port=port, envelope_from="digest@example.org", rate_per_second=0
        )
        cpu_before = _cpu_self()
        with transport:
            report = delivery.send_digests(
                engine, period=period, transport=transport, settings=settings, renderer=renderer
            )
        cpu += _cpu_self() - cpu_before
        sent, seconds = sent + report.sent, seconds + report.seconds
        # the limit: smtplib alone sending messages of the same sizes (digests differ in size
        # from a few kB to 100 kB, and the server's time grows with it)
        alone_seconds += _smtplib_alone(port, transport.sizes, transport.largest)
    alone_rate = sent / alone_seconds
    messages = report.sent + report.skipped
    print(
        json.dumps(
            {
                "sent": report.sent,
                "skipped": report.skipped,
                "failed": report.failed,
                "seconds": round(seconds / ROUNDS, 2),
                "load_week_s": round(load_s, 2),
                "per_second": round(ROUNDS * messages / seconds, 1) if seconds else 0,
                "sent_per_second": round(sent / seconds, 1) if seconds else 0,
                "dry_per_second": round((dry.would_send + dry.skipped) / dry.seconds, 1),
                "dry_per_cpu_second": round((dry.would_send + dry.skipped) / max(dry_cpu, 1e-6), 1),
                "smtplib_per_second": round(alone_rate, 1),
                "smtplib_sent": int(sent) + warm,
                "mean_message_kb": round(sum(transport.sizes) / max(1, report.sent) / 1024, 1),
                "week_bills": sum(1 for b in week.bills.values() if b.events),
                # sets of choices encoded (one each: the cache holds them all) and template runs
                "distinct_prefs": getattr(renderer, "encodings", None)
                or getattr(renderer, "renderings", None),
                "renderings": getattr(renderer, "renderings", None),
                "rss_after_load_mb": round(rss_after_load / 1024, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "connections": transport.connections,
                "client_cpu_ms_per_msg": round(cpu * 1000 / max(1, ROUNDS * messages), 2),
            }
        )
    )


def _recording_transport():  # type: ignore[no-untyped-def]
    from tracker import mail

    class Recording(mail.SmtpTransport):
        """The real transport, noting each message's size and keeping the largest."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.sizes: list[int] = []
            self.largest = b""

        def send(self, msg: Any, *, to: str, **kw: Any) -> None:
            super().send(msg, to=to, **kw)
            data = mail.as_bytes(msg)
            self.sizes.append(len(data))
            if len(data) > len(self.largest):
                self.largest = data

    return Recording


def Recording(**kw: Any):  # type: ignore[no-untyped-def]  # noqa: N802 - a class, made late
    return _recording_transport()(**kw)


def _smtplib_alone(port: int, sizes: list[int], largest: bytes) -> float:
    """Seconds smtplib alone takes to send one message per size in `sizes` (the real send's
    messages, in order): the largest real digest cut to that size at a line end."""
    import smtplib

    cut = {}
    for size in set(sizes):
        end = largest.rfind(b"\r\n", 0, size)
        cut[size] = largest[: end + 2] if end > 0 else largest[:size]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i, size in enumerate(sizes):
            smtp.sendmail("digest@example.org", [f"bench{i:05d}@example.org"], cut[size])
    return time.perf_counter() - started


WARM_UP = 300  # messages smtplib sends before the measured runs
ROUNDS = 2  # real sends, each followed by smtplib alone sending the same sizes


def _warm_up(port: int) -> int:
    """smtplib sends :data:`WARM_UP` messages of about 20 kB (a digest's size); returns how many."""
    import smtplib

    body = b"".join(b"%05d " % i + b"x" * 70 + b"\r\n" for i in range(260))
    message = b"Subject: warm-up\r\n\r\n" + body
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(WARM_UP):
            smtp.sendmail("digest@example.org", [f"warm{i:05d}@example.org"], message)
    return WARM_UP


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(  # type: ignore[no-untyped-def]
    db: Path, engine, period: str, n: int, cache: bool, pipelining: bool = False
) -> dict[str, Any]:
    activate_first(engine, n)
    port = _free_port()
    count = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=_smtp_server, args=(port, count, ready, pipelining), daemon=True
    )
    server.start()
    ready.wait(10)
    try:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--db",
            str(db),
            "--period",
            period,
            "--port",
            str(port),
        ] + ([] if cache else ["--no-cache"])
        server_cpu = _cpu_of(server.pid)  # type: ignore[arg-type]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        server_cpu = _cpu_of(server.pid) - server_cpu  # type: ignore[arg-type]
    finally:
        time.sleep(0.2)
        result_count = count.value
        server.terminate()
        server.join()
    # what the server got from the real sends, per round (as `sent`)
    result["smtp_received"] = (result_count - result["smtplib_sent"]) / ROUNDS
    result["server_cpu_ms_per_msg"] = round(server_cpu * 1000 / max(1, result_count), 2)
    return result


def bench_row(**row: Any) -> None:
    """One ``BENCH_ROW`` line for ``bench/run_all.py --scripts`` (keys as its ``Row``)."""
    row = {"section": "digest", "limit_name": "", "limit": None, "note": "", **row}
    print("BENCH_ROW " + json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--no-cache", action="store_true", help="render every digest afresh")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--period", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_run(args.db, args.period, args.port, cache=not args.no_cache)
        return
    args.db.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(args.db)
    import_real_data(engine)
    period = busiest_week(engine)
    build_week_changes(engine, period)
    ensure_subscribers(engine, max(args.sizes))
    mode = "render cache off" if args.no_cache else "render cache on"
    print(f"\nperiod {period}, {mode}; each size in a fresh process, SMTP server in another")
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other work on the machine slows the wall-clock figures; the CPU columns are per message)"
    )
    print(
        f"{'subscribers':>11} {'sent':>6} {'skipped':>7} {'seconds':>7} {'msg/s':>7} "
        f"{'sent/s':>7} {'smtplib alone/s':>15} {'% of it':>7} {'dry-run/s':>9} "
        f"{'RSS after load MB':>17} {'peak RSS MB':>11} {'SMTP got':>8} {'conns':>5} "
        f"{'client CPU ms/msg':>17} {'SMTP server CPU ms/msg':>22}"
    )
    results = {}
    for n in args.sizes:
        r = results[n] = measure(args.db, engine, period, n, cache=not args.no_cache)
        share = (
            100 * r["sent_per_second"] / r["smtplib_per_second"] if r["smtplib_per_second"] else 0
        )
        print(
            f"{n:>11} {r['sent']:>6} {r['skipped']:>7} {r['seconds']:>7} {r['per_second']:>7} "
            f"{r['sent_per_second']:>7} {r['smtplib_per_second']:>15} {share:>6.0f}% "
            f"{r['dry_per_second']:>9} {r['rss_after_load_mb']:>17} {r['peak_rss_mb']:>11} "
            f"{r['smtp_received']:>8} {r['connections']:>5} {r['client_cpu_ms_per_msg']:>17} "
            f"{r['server_cpu_ms_per_msg']:>22}"
        )
    # The same run against a server that offers PIPELINING, as most real ones do: the transport
    # then sends MAIL, RCPT and DATA at once (two round trips a message instead of four);
    # smtplib alone, the limit, never pipelines.
    big = max(args.sizes)
    piped = measure(args.db, engine, period, big, cache=not args.no_cache, pipelining=True)
    print(
        f"{big:>11} {piped['sent']:>6} {piped['skipped']:>7} {piped['seconds']:>7} "
        f"{piped['per_second']:>7} {piped['sent_per_second']:>7} "
        f"{piped['smtplib_per_second']:>15} "
        f"{100 * piped['sent_per_second'] / max(piped['smtplib_per_second'], 1e-9):>6.0f}%  "
        "(the server offers PIPELINING)"
    )
    print("targets (issue 15): dry-run >= 2,000/s; sent/s >= 80% of smtplib alone; flat memory")
    load = f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    for n, r in results.items():
        bench_row(
            name=f"digest dry-run, {n} subscribers",
            value=r["dry_per_second"],
            unit="digests/s",
            target=">= 2,000/s",
            note=f"{r['dry_per_cpu_second']:.0f}/s per CPU second; "
            f"{r['distinct_prefs']} distinct choices; {load}",
        )
    sends = [(f"{n} subscribers", r, "", ">= 80% of the limit") for n, r in results.items()]
    sends.append(
        (f"{big} subscribers, the server offers PIPELINING", piped, " (never pipelines)",
         "(beside the row above)")
    )  # fmt: skip
    for what, r, never, target in sends:
        bench_row(
            name=f"digest send, {what}",
            value=r["sent_per_second"],
            unit="msg/s",
            limit_name=f"smtplib alone{never}, same server and run",
            limit=r["smtplib_per_second"],
            target=target,
            note=f"client CPU {r['client_cpu_ms_per_msg']} ms/msg; {load}",
        )
    if len(results) > 1:
        small, large = min(results), max(results)
        bench_row(
            name=f"digest peak RSS, {large:,} vs {small:,} subscribers",
            value=results[large]["peak_rss_mb"],
            unit="MB",
            limit_name=f"peak RSS at {small:,}",
            limit=results[small]["peak_rss_mb"],
            target="flat (ratio near 1)",
            note="each size in a fresh process; render caches bounded (32 MB of bodies each)",
        )
    print(
        f"(week: {r['week_bills']} bills with changes; load_week {r['load_week_s']}s; "
        f"distinct preference sets: {r['distinct_prefs']}, rendered in "
        f"{r['renderings']} template runs)"
    )


if __name__ == "__main__":
    main()
