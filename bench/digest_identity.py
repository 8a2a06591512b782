"""Every digest message of a week, hashed: compare two commits' output byte for byte.

Runs the real send (``tracker.delivery.send_digests``) over a database's confirmed subscribers
with a transport that only records each message's bytes, the clock frozen where a message
carries it (the Date header and the timestamp inside the signed links), so two runs of the same
code give the same bytes and two commits can be compared:

    .venv/bin/python bench/digest_identity.py --db /tmp/bench.db --out after.json
    PYTHONPATH=/path/to/main/checkout .venv/bin/python bench/digest_identity.py \\
        --db /tmp/bench.db --out before.json
    .venv/bin/python bench/digest_identity.py --compare before.json after.json

It also hashes, per distinct set of choices, what a preview shows (``DigestRenderer.render``:
the html and text bodies and the subject). It writes the ledger of the database it is given
(it starts by clearing the ledger of the period): give it a scratch copy (``bench_digest.py``'s
database, which that bench clears again before each size). Uses only what main has too
(``send_digests``, ``DigestRenderer``, ``load_week``), so it runs against either commit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

FROZEN_DATE = "Mon, 03 Mar 2025 07:00:00 GMT"
FROZEN_TIMESTAMP = 1_741_000_000


def freeze_clock() -> None:
    """The Date header and the links' signing time, fixed (the only per-run parts)."""
    import email.utils

    import itsdangerous.timed

    from tracker import mail

    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: FROZEN_TIMESTAMP  # type: ignore[method-assign]

    def formatdate(*args: Any, **kw: Any) -> str:
        return FROZEN_DATE

    email.utils.formatdate = formatdate
    mail.formatdate = formatdate  # type: ignore[attr-defined]


class Recorder:
    """A transport that keeps a hash of each message instead of sending it."""

    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}
        self.sizes = 0

    def send(self, msg: Any, *, to: str, meanwhile: Any = None) -> None:
        from tracker import mail

        data = mail.as_bytes(msg)
        if to in self.hashes:
            raise AssertionError(f"{to} got two messages")
        self.hashes[to] = hashlib.sha256(data).hexdigest()
        self.sizes += len(data)
        if meanwhile is not None:
            meanwhile()


def run(db: Path, period: str | None, limit: int | None) -> dict[str, Any]:
    from sqlalchemy import delete, select

    from tracker import delivery, digest, digest_render
    from tracker.db import make_engine
    from tracker.settings import get_settings
    from tracker.subscription_models import DigestLedger, Subscriber

    freeze_clock()
    settings = get_settings()
    engine = make_engine(f"sqlite:///{db}")
    if period is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_digest import busiest_week

        period = busiest_week(engine)
    with engine.begin() as conn:
        conn.execute(delete(DigestLedger).where(DigestLedger.period == period))
    with engine.connect() as conn:
        week = digest.load_week(conn, period=period, settings=settings)
        table = Subscriber.__table__
        rows = list(
            conn.execute(select(table).where(table.c.status == "confirmed").order_by(table.c.id))
        )
    if limit is not None and len(rows) > limit:
        raise SystemExit(f"{len(rows)} confirmed subscribers; expected at most {limit}")
    dry = delivery.send_digests(
        engine, period=period, transport=None, settings=settings, dry_run=True
    )
    recorder = Recorder()
    report = delivery.send_digests(engine, period=period, transport=recorder, settings=settings)
    previews: dict[str, str] = {}
    renderer = digest_render.DigestRenderer(week)
    for sub in rows:
        prefs = digest_render.prefs_of(sub)
        key = repr((prefs.states, prefs.topics, prefs.query, prefs.detail))
        if key in previews:
            continue
        r = renderer.render(prefs, email="someone@example.org", manage_url="M", unsubscribe_url="U")
        blob = "\0".join((r.subject, r.html, r.text, str(r.quiet), str(r.bills)))
        previews[key] = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    whole = hashlib.sha256()
    for to in sorted(recorder.hashes):
        whole.update(f"{to} {recorder.hashes[to]}\n".encode())
    for key in sorted(previews):
        whole.update(f"{key} {previews[key]}\n".encode())
    return {
        "period": period,
        "subscribers": len(rows),
        "dry_run": {"would_send": dry.would_send, "skipped": dry.skipped},
        "sent": report.sent,
        "skipped": report.skipped,
        "failed": report.failed,
        "bytes": recorder.sizes,
        "distinct_choices": len(previews),
        "all": whole.hexdigest(),
        "messages": recorder.hashes,
        "previews": previews,
    }


def compare(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    bad = 0
    for name in ("period", "subscribers", "dry_run", "sent", "skipped", "failed", "bytes"):
        if a[name] != b[name]:
            print(f"{name}: {a[name]} != {b[name]}")
            bad += 1
    for part in ("messages", "previews"):
        keys = set(a[part]) | set(b[part])
        differ = sorted(k for k in keys if a[part].get(k) != b[part].get(k))
        bad += len(differ)
        print(f"{part}: {len(keys)} compared, {len(differ)} differ {differ[:5]}")
    print(f"all: {a['all']} {'==' if a['all'] == b['all'] else '!='} {b['all']}")
    return 1 if bad or a["all"] != b["all"] else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path)
    parser.add_argument("--period", help="ISO week; default: the busiest one (as bench_digest)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if not args.db or not args.out:
        parser.error("--db and --out (or --compare)")
    result = run(args.db, args.period, None)
    args.out.write_text(json.dumps(result, indent=0, sort_keys=True))
    print(
        f"{result['period']}: {result['subscribers']} subscribers, sent {result['sent']}, "
        f"skipped {result['skipped']}, {result['distinct_choices']} distinct choices, "
        f"{result['bytes']} bytes; all {result['all']}"
    )


if __name__ == "__main__":
    main()
