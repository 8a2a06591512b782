"""`tracker run` whose scrape job holds the database's write lock on purpose (tests/test_run_jobs.py).

Run as a script. The job process is spawned, so it runs this file again (as ``__mp_main__``)
and gets the same job. Inside a real ``tracker.jobs.scrape_state`` (so the run row says
``running``), the state's sources are replaced by one open write transaction on the bill table
that stays open, busy in pure Python, for ``WRITING_JOB_SECONDS``: as an ingest of a big
scrape would. The file named by ``WRITING_JOB_FLAG`` says ``writing PID`` while the
transaction is open, then ``committed PID``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

import tracker.jobs


def writing_sources(engine: Any, state: str, source: str | None = None, bills: Any = None) -> list:
    flag = Path(os.environ["WRITING_JOB_FLAG"])
    seconds = float(os.environ.get("WRITING_JOB_SECONDS", "8"))
    with engine.begin() as conn:
        # a write: from here until the commit this process holds the database's write lock
        conn.execute(text("UPDATE bill SET title = title"))
        conn.execute(text("DELETE FROM run WHERE id < 0"))
        flag.write_text(f"writing {os.getpid()}")
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += sum(i * i for i in range(1000))  # busy, as parsing is
    flag.write_text(f"committed {os.getpid()}")
    return []


tracker.jobs._run_sources = writing_sources  # type: ignore[assignment]

if __name__ == "__main__":
    from tracker.cli import main

    main()
