"""Import all of ../shared/data on SQLite and PostgreSQL, twice; print speed and peak memory.

Each import runs in its own subprocess so its peak RSS is its own. The second import of the
same data must write nothing (0 new, 0 updated) and be at least five times faster.

    python bench/bench_import.py                 # both backends
    python bench/bench_import.py --backend sqlite
    python bench/bench_import.py --subset small  # a quick run on a few files
    python bench/bench_import.py --workers 0     # importers in the ingest process
    python bench/bench_import.py --workers 2     # two importer processes

By default the number of importer processes is what ``tracker import`` chooses
(``tracker.collect.parallel.default_workers``: none for small inputs or one core). The
machine may be shared: CPU seconds are printed besides wall seconds.

Targets (issue 15): first import < 60 s on SQLite with default settings, second >= 10x faster
on SQLite and >= 5x on PostgreSQL, peak RSS < 500 MB (writer and workers together).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def shared() -> Path:
    p = Path(os.environ.get("TRACKER_SHARED_DIR", ROOT.parent / "shared"))
    if not p.is_dir():
        sys.exit(f"error: {p} not found; set TRACKER_SHARED_DIR")
    return p


def inputs(subset: str) -> list[tuple[str, list[Path]]]:
    data = shared() / "data"
    if subset == "small":
        return [
            ("openstates", [data / "openstates/windy_civi_2025/samples"]),
            ("legiscan", [data / "legiscan/bulk_csv"]),
        ]
    return [
        (
            "openstates",
            [
                data / "openstates/scraper_output_id_2025",
                data / "openstates/windy_civi_2025",
                data / "openstates/billy_csv_ak_27",
            ],
        ),
        (
            "legiscan",
            [
                data / "legiscan/bulk_csv",
                data / "legiscan/archive",
                data / "legiscan/api_json/bill",
            ],
        ),
    ]


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from sqlalchemy import func, select
from tracker.db import make_engine, upgrade
from tracker.ingest import ingest_bills
from tracker.models import Action
from tracker.collect.parallel import import_stream


def cpu(who=resource.RUSAGE_SELF):
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def main():
    url, plan, asked = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    full = sys.argv[4:] == ["full"]
    engine = make_engine(url)
    upgrade(engine)
    out = {"new": 0, "updated": 0, "unchanged": 0, "errors": 0, "actions_in": 0}
    t0, c0, w0 = time.perf_counter(), cpu(), cpu(resource.RUSAGE_CHILDREN)
    for kind, paths in plan:
        source = f"import:{kind}"
        paths = [Path(p) for p in paths]
        it, workers = import_stream(  # as tracker import does
            kind, paths, engine=engine, source=source,
            workers=None if asked == "auto" else int(asked), full=full,
        )
        out.setdefault("workers", []).append(workers)
        r = ingest_bills(engine, it, source=source)
        for k, v in r.summary().items():
            out[k] += v
        out["actions_in"] += r.actions
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = cpu() - c0
    out["worker_cpu_seconds"] = cpu(resource.RUSAGE_CHILDREN) - w0
    out["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with engine.connect() as c:
        out["actions_stored"] = c.execute(select(func.count()).select_from(Action)).scalar_one()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":  # importer workers are spawned: they import this file, not run it
    main()
"""


def run_child(url: str, plan: list[tuple[str, list[Path]]], workers: str) -> dict:
    arg = json.dumps([(k, [str(p) for p in ps]) for k, ps in plan])
    script = Path(tempfile.mkdtemp(prefix="bench-import-")) / "child.py"
    script.write_text(CHILD)  # a file, not -c: the importer workers are spawned processes
    proc = subprocess.run(
        [sys.executable, str(script), url, arg, workers],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        sys.exit(f"import failed on {url}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pg_database() -> str:
    from sqlalchemy import create_engine, text

    from tracker.db import normalize_url

    name = f"bench_import_{os.getpid()}"
    admin = create_engine(normalize_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return normalize_url(PG_ADMIN).rsplit("/", 1)[0] + "/" + name


def line(label: str, r: dict) -> str:
    bills = r["new"] + r["updated"] + r["unchanged"]
    cpu, workers = r["cpu_seconds"], r["worker_cpu_seconds"]
    # On an idle machine with 2 cores the wall time is about max(ingest CPU, all CPU / 2).
    idle = max(cpu, (cpu + workers) / 2)
    return (
        f"{label:<16} {r['seconds']:6.1f} s wall, CPU {cpu:6.1f} s ingest + {workers:6.1f} s "
        f"importer workers (idle 2-core estimate {idle:6.1f} s); "
        f"{bills / r['seconds']:5.0f} bills/s {r['actions_in'] / r['seconds']:6.0f} actions/s; "
        f"peak RSS {r['peak_rss_mb']:4.0f} MB ingest, {r['worker_peak_rss_mb']:4.0f} MB per worker; "
        f"new={r['new']} updated={r['updated']} unchanged={r['unchanged']} errors={r['errors']}; "
        f"workers {r['workers']}"
    )


def total_rss(r: dict) -> float:
    """Writer plus workers: the largest worker's peak times the number of workers (a bound)."""
    return r["peak_rss_mb"] + max(r["workers"]) * r["worker_peak_rss_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--subset", choices=["all", "small"], default="all")
    ap.add_argument(
        "--workers",
        default="auto",
        help="importer processes (0: in the ingest process; default: what tracker import picks)",
    )
    args = ap.parse_args()
    plan = inputs(args.subset)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"bench_import: {args.subset} of {shared() / 'data'}")
    for backend in backends:
        tmp = tempfile.mkdtemp(prefix="bench-import-")
        url = f"sqlite:///{tmp}/bench.db" if backend == "sqlite" else pg_database()
        first = run_child(url, plan, args.workers)
        second = run_child(url, plan, args.workers)
        print(line(f"{backend} first", first))
        print(line(f"{backend} second", second))
        speedup = first["seconds"] / second["seconds"]
        cpu_speedup = (first["cpu_seconds"] + first["worker_cpu_seconds"]) / (
            second["cpu_seconds"] + second["worker_cpu_seconds"]
        )
        ok = second["new"] == 0 and second["updated"] == 0
        print(
            f"{backend}: second import {speedup:.1f}x faster by wall, {cpu_speedup:.1f}x by all CPU "
            f"(target >= {10 if backend == 'sqlite' else 5}x), writes nothing: {ok}; "
            f"total peak RSS {total_rss(first):.0f} MB "
            f"(target < 500); load average {os.getloadavg()[0]:.1f}; "
            f"{first['actions_stored']} actions stored"
        )
    _ = resource  # peak RSS is measured in the children


if __name__ == "__main__":
    main()
