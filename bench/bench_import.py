"""Import all of ../shared/data on SQLite and PostgreSQL, twice; print speed and peak memory.

Each import runs in its own subprocess so its peak RSS is its own. The second import of the
same data must write nothing (0 new, 0 updated) and be at least five times faster.

    python bench/bench_import.py                 # both backends
    python bench/bench_import.py --backend sqlite
    python bench/bench_import.py --subset small  # a quick run on a few files

Targets (issue 2): first import < 120 s on SQLite, second >= 5x faster, peak RSS < 500 MB.
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
        ("openstates", [data / "openstates/scraper_output_id_2025", data / "openstates/windy_civi_2025",
                        data / "openstates/billy_csv_ak_27"]),
        ("legiscan", [data / "legiscan/bulk_csv", data / "legiscan/archive", data / "legiscan/api_json/bill"]),
    ]


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from sqlalchemy import func, select
from tracker.db import make_engine, upgrade
from tracker.ingest import ingest_bills
from tracker.models import Action
from scrapers.importers.openstates import iter_openstates
from scrapers.importers.legiscan import iter_legiscan
url, plan = sys.argv[1], json.loads(sys.argv[2])
engine = make_engine(url)
upgrade(engine)
out = {"new": 0, "updated": 0, "unchanged": 0, "errors": 0, "actions_in": 0}
t0 = time.perf_counter()
for kind, paths in plan:
    it = (iter_openstates if kind == "openstates" else iter_legiscan)([Path(p) for p in paths])
    r = ingest_bills(engine, it, source=f"import:{kind}")
    for k, v in r.summary().items():
        out[k] += v
    out["actions_in"] += r.actions
out["seconds"] = time.perf_counter() - t0
with engine.connect() as c:
    out["actions_stored"] = c.execute(select(func.count()).select_from(Action)).scalar_one()
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_child(url: str, plan: list[tuple[str, list[Path]]]) -> dict:
    arg = json.dumps([(k, [str(p) for p in ps]) for k, ps in plan])
    proc = subprocess.run([sys.executable, "-c", CHILD, url, arg], capture_output=True, text=True,
                          cwd=ROOT)
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
    return (f"{label:<22} {r['seconds']:8.1f} s {bills / r['seconds']:9.0f} bills/s "
            f"{r['actions_in'] / r['seconds']:10.0f} actions/s  peak {r['peak_rss_mb']:6.0f} MB  "
            f"new={r['new']} updated={r['updated']} unchanged={r['unchanged']} errors={r['errors']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--subset", choices=["all", "small"], default="all")
    args = ap.parse_args()
    plan = inputs(args.subset)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"bench_import: {args.subset} of {shared() / 'data'}")
    for backend in backends:
        tmp = tempfile.mkdtemp(prefix="bench-import-")
        url = f"sqlite:///{tmp}/bench.db" if backend == "sqlite" else pg_database()
        first = run_child(url, plan)
        second = run_child(url, plan)
        print(line(f"{backend} first", first))
        print(line(f"{backend} second", second))
        speedup = first["seconds"] / second["seconds"]
        ok = second["new"] == 0 and second["updated"] == 0
        print(f"{backend}: second import {speedup:.1f}x faster (target >= 5x), writes nothing: {ok}; "
              f"{first['actions_stored']} actions stored")
    _ = resource  # peak RSS is measured in the children


if __name__ == "__main__":
    main()
