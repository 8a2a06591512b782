"""`tracker run` whose scrape job holds the GIL on purpose (used by tests/test_run.py).

Run as a script. The job process is spawned, so it runs this file again (as ``__mp_main__``)
and gets the same busy job. ``sum(range(n))`` is one C call: it never lets another thread of
its process run, as a long parse would, for about ``BUSY_JOB_SECONDS``. The file named by
``BUSY_JOB_FLAG`` says ``started PID``, then ``finished PID SECONDS``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import tracker.jobs


def busy_scrape(state: str, source: str | None = None, bills: list[str] | None = None) -> None:
    flag = Path(os.environ["BUSY_JOB_FLAG"])
    started = time.perf_counter()
    sum(range(10**6))
    per_item = (time.perf_counter() - started) / 10**6
    n = int(float(os.environ.get("BUSY_JOB_SECONDS", "4")) / per_item)
    flag.write_text(f"started {os.getpid()}")
    started = time.perf_counter()
    sum(range(n))  # holds the GIL throughout
    flag.write_text(f"finished {os.getpid()} {time.perf_counter() - started:.3f}")


tracker.jobs.scrape_state = busy_scrape  # type: ignore[assignment]

if __name__ == "__main__":
    from tracker.cli import main

    main()
