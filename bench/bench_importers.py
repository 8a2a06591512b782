"""Benchmark: iterate ALL of ../shared/data through the importers (no database).

Prints, per source folder, bills, actions, errors, wall and CPU seconds and peak RSS. Each folder runs in its
own child process so the peak memory is that folder's, not the maximum so far.

    .venv/bin/python bench/bench_importers.py            # all folders
    .venv/bin/python bench/bench_importers.py --errors   # also print the first errors
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SOURCES = [
    ("openstates", "openstates/scraper_output_id_2025"),
    ("openstates", "openstates/windy_civi_2025"),
    ("openstates", "openstates/billy_csv_ak_27"),
    ("legiscan", "legiscan/api_json"),
    ("legiscan", "legiscan/bulk_csv"),
    ("legiscan", "legiscan/archive"),
]


def shared_data() -> Path:
    from tracker.settings import get_settings

    shared = get_settings().resolved_shared_dir()
    if shared is None or not (shared / "data").is_dir():
        sys.exit("../shared/data not found: set TRACKER_SHARED_DIR")
    return shared / "data"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(kind: str, folder: Path, show_errors: bool) -> dict[str, object]:
    from scrapers.importers import RecordError, iter_legiscan, iter_openstates

    it = iter_openstates if kind == "openstates" else iter_legiscan
    bills = actions = errors = 0
    first_errors: list[str] = []
    start = time.perf_counter()
    cpu0 = _cpu()
    for item in it([folder]):
        if isinstance(item, RecordError):
            errors += 1
            if show_errors and len(first_errors) < 10:
                first_errors.append(str(item))
        else:
            bills += 1
            actions += len(item.actions)
    seconds = time.perf_counter() - start
    cpu = _cpu() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"bills": bills, "actions": actions, "errors": errors, "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(peak_mb, 1), "first_errors": first_errors}  # fmt: skip


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        print(json.dumps(run_one(args[1], Path(args[2]), "--errors" in args)))
        return
    data = shared_data()
    cols = ("bills", "actions", "errors", "seconds", "cpu_seconds", "peak_rss_mb")
    print(f"{'source':38}" + "".join(f"{c:>13}" for c in cols))
    total = dict.fromkeys(cols[:-1], 0.0)
    for kind, rel in SOURCES:
        cmd = [sys.executable, __file__, "--one", kind, str(data / rel), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
        row = json.loads(out.stdout)
        for key in total:
            total[key] += row[key]
        print(f"{rel:38}" + "".join(f"{row[c]:>13}" for c in cols))
        for err in row["first_errors"]:
            print(f"    {err}")
    print(f"{'TOTAL':38}" + "".join(f"{round(total[c], 2):>13}" for c in cols[:-1]))
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
