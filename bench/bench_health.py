"""How long `tracker status`, /health and an alert check take after a year of scheduled scrapes.

Usage:
    .venv/bin/python bench/bench_health.py [--states 50] [--runs-per-day 4] [--url sqlite:///...]

Fills a scratch database (default: a temporary SQLite file) with one year of synthetic scrape-job
runs per state (a failure every ~10th run), then times the health computation for every state
and one alert check. Prints the figures; no thresholds, no asserts.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from tracker.db import make_engine, upgrade  # noqa: E402
from tracker.models import Run  # noqa: E402


def fill(engine, states: list[str], per_day: int) -> int:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=365)
    rows = []
    for st in states:
        for n in range(365 * per_day):
            at = start + timedelta(hours=n * 24 / per_day)
            status = "failed" if rng.random() < 0.1 else "ok"
            rows.append(
                {
                    "source": f"job:scrape:{st}",
                    "state": st,
                    "kind": "job",
                    "status": status,
                    "started_at": at,
                    "finished_at": at + timedelta(minutes=3),
                    "counts": {"bills": rng.randint(900, 1100)},
                    "errors": [],
                    "message": "ConnectionError: refused" if status == "failed" else "scrape ok",
                }
            )
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(Run.__table__), rows[i : i + 5000])
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", type=int, default=50)
    parser.add_argument("--runs-per-day", type=int, default=4)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench-health.db"
    engine = make_engine(url)
    upgrade(engine)
    states = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(args.states)]
    t0 = time.perf_counter()
    n = fill(engine, states, args.runs_per_day)
    print(
        f"{n} runs for {len(states)} states written in {time.perf_counter() - t0:.1f}s ({engine.dialect.name})"
    )

    from tracker import health
    from tracker.alerts import update_alert

    health._configs = lambda: dict.fromkeys(states)  # type: ignore[assignment]  # synthetic states
    t0 = time.perf_counter()
    rows = health.all_health(engine)
    print(
        f"all_health (tracker status, /health): {len(rows)} states in {1000 * (time.perf_counter() - t0):.0f} ms"
    )
    t0 = time.perf_counter()
    update_alert(engine, states[0], send=lambda *a: None)
    print(f"one alert check after a scrape: {1000 * (time.perf_counter() - t0):.1f} ms")


if __name__ == "__main__":
    main()
