"""Search over HTTP while `tracker run`'s first scrapes run, against the same server idle.

    python bench/bench_jobs_web.py                       # SQLite and PostgreSQL (if it answers)
    python bench/bench_jobs_web.py --backend sqlite
    python bench/bench_jobs_web.py --quick               # one round of scrapes, fewer requests

Issue 15: with the scheduler's jobs in the web server's process, search over HTTP answered at
p95 195 ms while the first scrapes ran, against < 30 ms idle. Now `tracker run` starts the jobs
in a child process. What this measures, all local (nothing leaves the machine):

1. A database holding Minnesota (LegiScan's 2025-26 bulk CSV, ~7,000 bills), imported once
   with ``tracker import legiscan`` and kept (SQLite: bench/results/jobs_web/mn.db;
   PostgreSQL: the database ``tracker_jobsbench_mn``); each run works on a fresh copy.
2. The saved real legislature pages of ../shared/fixtures/real served locally as the demo
   does (:mod:`tracker.demo`), and a copy of the state configs pointed at them.
3. First scrapes of every served state put in the job store as ``tracker run`` does when it
   finds an empty database (``first-scrape:<state>`` one-off jobs, 2 s apart; here for the
   demo's saved sessions and bills, ``--rounds`` times over), then a real ``tracker run``.
4. One client, as a person searching: GET /search?q=<a word of the MN titles, never the
   same twice> back to back, while the runs table says a scrape is running; then as many on
   the same server once every scrape has finished (idle). A request counts as "during" only
   if some scrape run covered it from start to end (the runs' recorded times).

Prints p50/p95 of both phases and their ratio, plus one ``BENCH_ROW`` line per backend for
``bench/run_all.py``. Target (issue 15): p95 < 30 ms during the scrapes; the ratio to idle is
what a noisy machine can judge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "jobs_web"
PY = sys.executable
PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_TEMPLATE = "tracker_jobsbench_mn"
PG_RUN = "tracker_jobsbench_run"
TARGET_MS = 30.0


def shared() -> Path:
    return Path(os.environ.get("TRACKER_SHARED_DIR", ROOT.parent / "shared"))


def mn_zip() -> Path:
    found = sorted((shared() / "data" / "legiscan" / "bulk_csv").glob("MN_*.zip"))
    if not found:
        sys.exit(f"bench_jobs_web: no MN_*.zip in {shared() / 'data/legiscan/bulk_csv'}")
    return found[-1]


def base_env(url: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=str(data), TRACKER_ENVIRONMENT="test")
    env["TRACKER_SHARED_DIR"] = str(shared())
    return env


def import_mn(url: str, data: Path) -> None:
    done = subprocess.run(
        [PY, "-m", "tracker.cli", "import", "legiscan", str(mn_zip()), "--json"],
        env=base_env(url, data),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import of {mn_zip().name} failed:\n{done.stderr[-2000:]}")


# --------------------------------------------------------------------------------- databases


@contextmanager
def sqlite_copy(tmp: Path) -> Iterator[str]:
    """A fresh copy of the MN database (imported once into bench/results/jobs_web/mn.db)."""
    cached = OUT / "mn.db"
    if not cached.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        building = OUT / "mn-building.db"
        building.unlink(missing_ok=True)
        print(f"importing {mn_zip().name} into {cached} (once) ...", flush=True)
        import_mn(f"sqlite:///{building}", tmp / "import-data")
        building.rename(cached)
        for left in OUT.glob("mn-building.db*"):  # ingest's lock file beside it
            left.unlink()
    target = tmp / "run.db"
    src, dst = sqlite3.connect(cached), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    yield f"sqlite:///{target}"


def pg_admin() -> str:
    return PG_URL.replace("postgresql+psycopg", "postgresql")


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(pg_admin(), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL row says so
        return False


def _pg_url(name: str) -> str:
    return pg_admin().rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def pg_copy(tmp: Path) -> Iterator[str]:
    """A fresh copy (CREATE DATABASE ... TEMPLATE) of the MN database, dropped afterwards."""
    import psycopg

    with psycopg.connect(pg_admin(), autocommit=True) as conn:
        have = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_TEMPLATE,)
        ).fetchone()
        if have is None:
            print(f"importing {mn_zip().name} into PostgreSQL {PG_TEMPLATE} (once) ...", flush=True)
            conn.execute(f'CREATE DATABASE "{PG_TEMPLATE}_building"')
            try:
                import_mn(_pg_url(f"{PG_TEMPLATE}_building"), tmp / "import-data")
            except Exception:
                conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}_building" WITH (FORCE)')
                raise
            conn.execute(f'ALTER DATABASE "{PG_TEMPLATE}_building" RENAME TO "{PG_TEMPLATE}"')
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_RUN}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_RUN}" TEMPLATE "{PG_TEMPLATE}"')
    try:
        yield _pg_url(PG_RUN)
    finally:
        with psycopg.connect(pg_admin(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_RUN}" WITH (FORCE)')


# --------------------------------------------------------------------------------- saved sites


def saved_sites(stack: ExitStack, tmp: Path) -> tuple[Path, dict[str, tuple[str, list[str]]]]:
    """Serve the saved pages from a child process (so its threads never take this process's
    GIL from the measuring client); returns the pointed config folder and {state: (session,
    bills)}."""
    server = subprocess.Popen(
        [PY, __file__, "--serve-pages", str(tmp)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TRACKER_SHARED_DIR": str(shared())},
    )

    def stop() -> None:
        if server.stdin is not None:
            server.stdin.close()  # the child serves until its stdin closes
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    stack.callback(stop)
    assert server.stdout is not None
    if server.stdout.readline().strip() != "READY":
        raise RuntimeError("the saved pages' server did not start")
    plan = json.loads((tmp / "plan.json").read_text())
    return tmp / "config", {st: (session, bills) for st, (session, bills) in plan.items()}


def serve_pages(tmp: Path) -> None:
    """The child of :func:`saved_sites`: serve, write the config and plan, wait for stdin EOF."""
    from tracker import demo
    from tracker.paths import config_dir
    from tracker.scraping import list_states, load_state_config

    configs = {st: load_state_config(st) for st in list_states()}
    with demo.serve_saved_pages(
        demo.shared_html_dir(), extra=demo.example_urls(list(configs.values()))
    ) as sites:
        config = tmp / "config"
        served = demo.demo_config_dir(config_dir(), config, sites.origin_map())
        plan: dict[str, tuple[str, list[str]]] = {}
        for st in served:
            session = demo.saved_session(configs[st], sites)
            if session is None:
                continue
            bills = demo.session_bills(configs[st], sites, session)
            demo._mute_unsaved_checks(config / "states" / f"{st}.yaml", configs[st], session, sites)
            if bills:
                plan[st] = (session, bills)
        (tmp / "plan.json").write_text(json.dumps(plan))
        print("READY", flush=True)
        sys.stdin.read()
        hits = sum(s.hits for s in sites.servers.values())
        misses = sum(s.misses for s in sites.servers.values())
        (tmp / "pages.json").write_text(json.dumps({"hits": hits, "misses": misses}))


def seed_first_scrapes(url: str, plan: dict[str, tuple[str, list[str]]], rounds: int) -> int:
    """One-off ``first-scrape:`` jobs in the job store, 2 s apart, as `tracker run` schedules
    them for an empty database (:func:`tracker.scheduler.schedule_first_scrapes`), for the
    demo's saved sessions and bills. Returns how many."""
    from apscheduler.triggers.date import DateTrigger

    from tracker.db import make_engine
    from tracker.scheduler import FIRST_SCRAPE_PREFIX, make_scheduler

    engine = make_engine(url)
    scheduler = make_scheduler(engine, workers=1)
    # a store writer only: this process must never run a job, even in the moment between its
    # shutdown and its loop noticing (a paused scheduler's loop may still wake then)
    scheduler._process_jobs = lambda: None  # type: ignore[method-assign]
    scheduler.start(paused=True)
    now, n = datetime.now(UTC), 0
    try:
        for r in range(rounds):
            for st, (session, bills) in sorted(plan.items()):
                scheduler.add_job(
                    "tracker.jobs:scrape_state",
                    trigger=DateTrigger(run_date=now + timedelta(seconds=n * 2.0)),
                    id=f"{FIRST_SCRAPE_PREFIX}{st}" + (f"-{r}" if r else ""),
                    name=f"First scrape of {st.upper()}",
                    kwargs={"state": st, "source": "scrape", "bills": bills, "sessions": [session]},
                    replace_existing=True,
                    misfire_grace_time=None,
                )
                n += 1
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()
    return n


# --------------------------------------------------------------------------------- measuring


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


QUERIES = 100_000  # distinct searches: a new one per request, so no cache answers


def fresh(queries: Iterator[str]) -> str:
    """The next search never asked before (none is asked twice: no cache answers it)."""
    q = next(queries, None)
    if q is None:
        raise RuntimeError(f"all {QUERIES:,} distinct searches were asked: raise QUERIES")
    return q


def query_words(url: str, n: int) -> list[str]:
    """Distinct words of the MN bill titles (5+ letters), shuffled with a fixed seed."""
    from sqlalchemy import text

    from tracker.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        titles = conn.execute(text("SELECT title FROM bill ORDER BY id")).scalars()
        words = sorted({w.lower() for t in titles for w in re.findall(r"[A-Za-z]{5,}", t or "")})
    engine.dispose()
    rng = random.Random(15)
    rng.shuffle(words)
    # then pairs of them (both words must match), never a query twice: as many as `n` asks
    # (a fast server asks for more than the words during a long round of scrapes)
    queries, seen = list(words), set(words)
    for step in range(7, 7 + 64):
        for i in range(len(words)):
            if len(queries) >= n:
                return queries
            pair = f"{words[i]} {words[(i * step + 3) % len(words)]}"
            if pair not in seen:
                seen.add(pair)
                queries.append(pair)
    return queries


def scrape_runs(url: str) -> list[tuple[str, datetime, datetime | None]]:
    from sqlalchemy import text

    from tracker.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, started_at, finished_at FROM run WHERE source LIKE 'job:scrape:%'")
        ).all()
    engine.dispose()
    return [(s, _utc(a), _utc(b) if b else None) for s, a, b in rows]


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def measure(url: str, config: Path, tmp: Path, seeded: int, idle_requests: int) -> dict[str, Any]:
    import httpx

    env = base_env(url, tmp / "data")
    # the saved sites are local; a link to a site nobody saved fails at once (no backoff
    # sleeps): the scrapes are parsing and writing, which is what competes with requests
    env.update(
        TRACKER_CONFIG_DIR=str(config), TRACKER_HTTP_DEFAULT_DELAY="0", TRACKER_HTTP_MAX_RETRIES="0"
    )
    port = free_port()
    log = (tmp / "run.log").open("w")
    proc = subprocess.Popen(
        [PY, "-m", "tracker.cli", "run", "--port", str(port)],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    words = iter(query_words(url, QUERIES))
    samples: list[tuple[datetime, datetime, float]] = []  # (start, end, ms)
    idle: list[float] = []
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"tracker run did not start; see {tmp / 'run.log'}")
                time.sleep(0.2)
            client.get("/search/", params={"q": "warmup"})  # first request: templates, pools
            deadline = time.monotonic() + 1800
            checked = 0.0
            while time.monotonic() < deadline:
                start = datetime.now(UTC)
                t0 = time.perf_counter()
                answer = client.get("/search/", params={"q": fresh(words)})
                ms = (time.perf_counter() - t0) * 1000
                answer.raise_for_status()
                samples.append((start, datetime.now(UTC), ms))
                if time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    runs = scrape_runs(url)
                    if len(samples) % 200 < 5:
                        done = sum(1 for s, _a, _b in runs if s != "running")
                        print(
                            f"  {len(samples)} requests; scrapes done {done}/{seeded}", flush=True
                        )
                    if len(runs) >= seeded and all(s != "running" for s, _a, _b in runs):
                        break
            runs = scrape_runs(url)
            for _ in range(idle_requests):
                t0 = time.perf_counter()
                client.get("/search/", params={"q": fresh(words)}).raise_for_status()
                idle.append((time.perf_counter() - t0) * 1000)
            if any(s == "running" for s, _a, _b in scrape_runs(url)):
                raise RuntimeError("a scrape started during the idle phase: the figures mix")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    spans = [(a, b) for _s, a, b in runs if b is not None]
    during = [ms for s, e, ms in samples if any(a <= s and e <= b for a, b in spans)]
    statuses: dict[str, int] = {}
    for s, _a, _b in runs:
        statuses[s] = statuses.get(s, 0) + 1
    busy = sum((b - a).total_seconds() for a, b in spans)
    return {
        "during": during,
        "idle": idle,
        "runs": statuses,
        "scrape_seconds": busy,
        "window_seconds": (max(b for _a, b in spans) - min(a for a, _b in spans)).total_seconds()
        if spans
        else 0.0,
    }


def run_backend(backend: str, rounds: int, idle_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-jobs-web-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        url = stack.enter_context(sqlite_copy(tmp) if backend == "sqlite" else pg_copy(tmp))
        config, plan = saved_sites(stack, tmp)
        seeded = seed_first_scrapes(url, plan, rounds)
        print(
            f"{backend}: {seeded} first scrapes of {', '.join(s.upper() for s in sorted(plan))} "
            f"(saved pages served locally), then tracker run ...",
            flush=True,
        )
        try:
            figures = measure(url, config, tmp, seeded, idle_requests)
        finally:
            shutil.copy(tmp / "run.log", OUT / f"run-{backend}.log")
    return figures


def row(backend: str, figures: dict[str, Any]) -> dict[str, Any]:
    during, idle = figures["during"], figures["idle"]
    section = f"jobs+web {backend}"
    name = "search over HTTP while first scrapes run, MN (p95)"
    if len(during) < 20:
        return {"section": section, "name": name, "value": None, "unit": "ms",
                "limit_name": "same server idle (p95)", "limit": pct(idle, 0.95) if idle else None,
                "target": f"p95 < {TARGET_MS:.0f} ms",
                "note": f"not measured: only {len(during)} requests fell inside a scrape run "
                "(raise --rounds)"}  # fmt: skip
    return {
        "section": section,
        "name": name,
        "value": round(pct(during, 0.95), 2),
        "unit": "ms",
        "limit_name": "same server idle (p95)",
        "limit": round(pct(idle, 0.95), 2),
        "target": f"p95 < {TARGET_MS:.0f} ms",
        "note": f"{len(during)} requests during {sum(figures['runs'].values())} scrape runs, "
        f"{len(idle)} idle",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help="one round of scrapes, 100 idle requests")
    ap.add_argument("--rounds", type=int, help="first scrapes of every served state, N times")
    ap.add_argument("--idle-requests", type=int, help="requests once the scrapes are done")
    ap.add_argument("--json", type=Path, default=OUT / "figures.json")
    ap.add_argument("--serve-pages", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_pages:
        serve_pages(args.serve_pages)
        return
    rounds = args.rounds or (1 if args.quick else 3)
    idle_requests = args.idle_requests or (100 if args.quick else 300)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    rows = []
    for backend in backends:
        if backend == "postgresql" and not pg_available():
            rows.append({"section": "jobs+web postgresql",
                         "name": "search over HTTP while first scrapes run, MN (p95)",
                         "value": None, "unit": "ms", "target": f"p95 < {TARGET_MS:.0f} ms",
                         "note": f"not measured: PostgreSQL at {PG_URL} does not answer"})  # fmt: skip
            continue
        figures = run_backend(backend, rounds, idle_requests)
        results[backend] = {k: v for k, v in figures.items() if k not in ("during", "idle")} | {
            "during_ms": summary(figures["during"]),
            "idle_ms": summary(figures["idle"]),
        }
        rows.append(row(backend, figures))
    load = os.getloadavg()[0]
    print(
        f"\n{'backend':<11} {'phase':<22} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    )
    for backend, r in results.items():
        for phase, key in (
            ("during first scrapes", "during_ms"),
            ("idle (same server)", "idle_ms"),
        ):
            s = r[key]
            print(f"{backend:<11} {phase:<22} {s['n']:>8} {fmt(s['p50'])} {fmt(s['p95'])} "
                  f"{fmt(s['max'])}")  # fmt: skip
        d, i = r["during_ms"]["p95"], r["idle_ms"]["p95"]
        ratio = f"{d / i:.2f}x" if d is not None and i else "-"
        print(f"{backend:<11} p95 during / idle: {ratio}; scrape runs {r['runs']} over "
              f"{r['window_seconds']:.0f} s (target p95 < {TARGET_MS:.0f} ms during)")  # fmt: skip
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    for r in rows:
        print("BENCH_ROW " + json.dumps(r))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"load_average": load, "results": results}, indent=2))


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(pct(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def fmt(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'-':>8}"


if __name__ == "__main__":
    main()
