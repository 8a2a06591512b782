"""What the wave chart costs the overview and state pages, with all of ../shared/data loaded.

    python bench/bench_wave.py                      # SQLite and PostgreSQL
    python bench/bench_wave.py --backend sqlite --subset small

Uses the databases bench/bench_search.py imports (and imports them the same way when missing).
Printed per backend, median of a few runs: the wave query nationally and for the state with the
most bills, the chart geometry, and the overview and state pages rendered in full, beside the
baseline measured in the same run: the queries those pages made before the chart
(``data.overview`` and ``data.state_page``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import func, select  # noqa: E402

from tracker.models import Bill  # noqa: E402
from tracker.wave import wave  # noqa: E402
from tracker.web import data, pages  # noqa: E402
from tracker.web.wave_chart import chart  # noqa: E402

REPEAT = 5


def _ms(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(backend: str, subset: str) -> dict[str, Any]:
    from bench_search import engine_for, ensure_imported

    print(f"\n== {backend} ({subset})")
    engine = engine_for(backend, subset, reimport=False)
    ensure_imported(engine, subset)
    with engine.connect() as conn:
        bills = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
        state = conn.execute(
            select(Bill.state).group_by(Bill.state).order_by(func.count().desc()).limit(1)
        ).scalar_one()
        w = wave(conn)
        figures = {
            "backend": backend,
            "bills": bills,
            "wave_bills": len(w.bills),
            "years": f"{w.years[0]}-{w.years[-1]}" if w.years else "",
            "wave_ms": _ms(lambda: wave(conn)),
            f"wave_{state}_ms": _ms(lambda: wave(conn, state=state)),
            "chart_ms": _ms(lambda: chart(w)),
            "baseline_overview_queries_ms": _ms(lambda: data.overview(conn)),
            "overview_page_ms": _ms(lambda: pages.render_overview(conn)),
            f"baseline_state_{state}_queries_ms": _ms(lambda: data.state_page(conn, state)),
            f"state_{state}_page_ms": _ms(lambda: pages.render_state(conn, state)),
        }
    engine.dispose()
    for key, value in figures.items():
        print(f"  {key:32} {value:.1f}" if isinstance(value, float) else f"  {key:32} {value}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subset", choices=["all", "small"], default="all")
    args = parser.parse_args()
    os.environ.setdefault("TRACKER_DATA_DIR", str(ROOT / "bench" / "results" / "search"))
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        run(backend, args.subset)


if __name__ == "__main__":
    main()
