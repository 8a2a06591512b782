"""One bench command: every figure where a person waits, beside its limit measured in the same run.

    python bench/run_all.py                        # the table; JSON in bench/results/run_all.json
    python bench/run_all.py --compare OLD.json     # and each figure against an earlier run
    python bench/run_all.py --scripts              # also the other bench/*.py in their quick mode
    python bench/run_all.py --only cli search      # some sections only

A figure alone says little on a shared, noisy machine; its ratio to the limit measured a moment
before on the same machine says more. So each row is: what we do, the limit (the raw library
doing the least that job needs), the ratio of the two, and the issue's target. Absolute targets
are judged on a quiet machine; ratios on any. Sections:

- ``cli``: ``tracker --help`` and ``tracker search`` against ``python -c pass``;
- ``search``: cold searches (result cache cleared) against the raw FTS5 / tsvector query and
  count, on SQLite and, when ``TRACKER_TEST_POSTGRES_URL``'s server answers, PostgreSQL;
- ``import``: Open States' Idaho 2025 scrape (790 bills, ``../shared``) imported with default
  settings, first and again unchanged, against a raw ``executemany`` of as many bill rows, and
  against Open States' own importer where ``openstates`` is installed;
- ``smtp``: smtplib alone against a local aiosmtpd server (the limit for sending digests;
  ``bench/bench_digest.py`` measures our side with ``--scripts``).

A bench script run with ``--scripts`` may print lines ``BENCH_ROW {json}`` (keys as in
:class:`Row`); those rows join the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results"
PY = sys.executable
TRACKER = [PY, "-m", "tracker.cli"]
PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUERIES = ["health", '"single payer"', "insur*", "medicaid expansion"]
# bench/*.py in a quick mode, for --scripts
SCRIPTS = [
    ["bench_health.py", "--states", "10"],
    ["bench_search.py", "--subset", "small", "--backend", "sqlite"],
    ["bench_import.py", "--subset", "small", "--backend", "sqlite"],
    ["bench_digest.py", "--sizes", "300"],
]


@dataclass
class Row:
    section: str
    name: str
    value: float | None  # None: not measured here (see note)
    unit: str
    limit_name: str = ""
    limit: float | None = None
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit


def shared() -> Path:
    return Path(os.environ.get("TRACKER_SHARED_DIR", ROOT.parent / "shared"))


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def p95_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=str(OUT / "run_all" / "data"))
    if "TRACKER_SHARED_DIR" in os.environ:
        env["TRACKER_SHARED_DIR"] = os.environ["TRACKER_SHARED_DIR"]
    return env


def run_cmd(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


# --------------------------------------------------------------------------------- data


IDAHO = "data/openstates/scraper_output_id_2025"


def import_seconds(url: str) -> tuple[float, dict[str, Any]]:
    """`tracker import openstates` of Idaho 2025 with default settings: (seconds, summary)."""
    t0 = time.perf_counter()
    done = run_cmd(
        [*TRACKER, "import", "openstates", str(shared() / IDAHO), "--json"], env_for(url)
    )
    return time.perf_counter() - t0, json.loads(done.stdout.strip().splitlines()[-1])


def bench_db() -> str:
    """A SQLite database holding Idaho 2025, imported once and kept for later runs."""
    path = OUT / "run_all" / "idaho.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        import_seconds(url)
    return url


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL rows say so
        return False


@contextmanager
def pg_database(name: str) -> Iterator[str]:
    """A scratch PostgreSQL database on the test server, dropped afterwards."""
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------------- sections


def cli_rows(repeat: int) -> list[Row]:
    """Each command started `repeat` times, interleaved with the floor so load hits them alike:
    the median wall time, and the median CPU time of the child in the note (steadier on a
    busy machine)."""
    import resource

    url = bench_db()
    env = env_for(url)
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        "tracker --help": [*TRACKER, "--help"],
        "tracker search health (Idaho)": [*TRACKER, "search", "health"],
        "tracker search health --format json": [*TRACKER, "search", "health", "--format", "json"],
    }
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, args in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            run_cmd(args, None if name == "python -c pass" else env)
            wall[name].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    load = f"load {os.getloadavg()[0]:.1f}"
    med = {name: statistics.median(times) for name, times in wall.items()}
    note = {name: f"cpu {statistics.median(c):.3f} s; {load}" for name, c in cpu.items()}
    floor = med["python -c pass"]
    limit = "python -c pass"
    targets = {"tracker --help": "< 0.4 s"}
    return [Row("cli", "python -c pass", floor, "s", target="(the floor)", note=note[limit])] + [
        Row("cli", name, med[name], "s", limit, floor, targets.get(name, "< 0.5 s"), note[name])
        for name in commands
        if name != limit
    ]


def search_rows(url: str, backend: str, repeat: int) -> list[Row]:
    from tracker.db import make_engine
    from tracker.search import SearchQuery, clear_cache, search

    engine = make_engine(url)
    rows = []
    for words in QUERIES:
        query, _warnings = SearchQuery.from_pairs([("q", words)])

        def ours() -> None:
            clear_cache()
            search(engine, query)  # noqa: B023 - called at once, in this iteration

        raw = raw_search(engine, backend, words)
        ours_ms, raw_ms = p95_ms(ours, repeat), p95_ms(raw, repeat)
        limit = "raw FTS5 match+rank+count" if backend == "sqlite" else "raw tsvector query+count"
        rows.append(
            Row(f"search {backend}", f"search {words} (cold, p95)", ours_ms, "ms", limit, raw_ms,
                "p95 < 20 ms")
        )  # fmt: skip
    engine.dispose()
    return rows


PG_RAW = {
    "words": (
        "SELECT bill_id FROM bill_search, websearch_to_tsquery('english', :q) q "
        "WHERE document @@ q ORDER BY ts_rank(document, q) DESC LIMIT 25",
        "SELECT count(*) FROM bill_search WHERE document @@ websearch_to_tsquery('english', :q)",
    ),
    "prefix": (
        "SELECT bill_id FROM bill_search, to_tsquery('english', :q) q "
        "WHERE document @@ q ORDER BY ts_rank(document, q) DESC LIMIT 25",
        "SELECT count(*) FROM bill_search WHERE document @@ to_tsquery('english', :q)",
    ),
}


def raw_search(engine: Any, backend: str, words: str) -> Callable[[], object]:
    """The least a search page needs from the database: the first 25 ranked ids and the count."""
    from sqlalchemy import text

    if backend == "sqlite":
        page = text("SELECT rowid FROM bill_fts WHERE bill_fts MATCH :q ORDER BY rank LIMIT 25")
        count = text("SELECT count(*) FROM bill_fts WHERE bill_fts MATCH :q")
        param = words
    else:
        # a prefix needs to_tsquery's :*; words and phrases read as a person types them
        page, count = PG_RAW["prefix" if words.endswith("*") else "words"]
        page, count = text(page), text(count)
        param = words.replace("*", ":*")

    def run() -> None:
        with engine.connect() as conn:
            conn.execute(page, {"q": param}).all()
            conn.execute(count, {"q": param}).scalar_one()

    return run


def import_rows(backend: str, url: str) -> list[Row]:
    first, summary = import_seconds(url)
    again, summary_again = import_seconds(url)
    bills = summary.get("new", 0) + summary.get("updated", 0) + summary.get("unchanged", 0)
    raw = raw_executemany(bills)
    section = f"import {backend}"
    rows = [
        Row(section, f"first import, Idaho 2025 ({bills} bills)", first, "s",
            f"raw executemany of {bills} bill rows", raw, "(all shared data < 60 s)"),
        Row(section, "re-import, nothing changed", again, "s", "first import", first,
            "ratio <= 0.1 (10x faster) SQLite, <= 0.2 PostgreSQL",
            note=f"{summary_again.get('unchanged', 0)} unchanged"),
    ]  # fmt: skip
    return rows


def raw_executemany(n: int) -> float:
    """Seconds to insert `n` bill-sized rows with sqlite3's executemany in one transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db")
        conn.execute(
            "CREATE TABLE bill (id INTEGER PRIMARY KEY, state TEXT, session TEXT, identifier TEXT,"
            " title TEXT, data TEXT, UNIQUE (state, session, identifier))"
        )
        rows = [
            ("id", "2025", f"H {i}", f"Relating to health care, section {i}", "{}" * 200)
            for i in range(n)
        ]
        t0 = time.perf_counter()
        with conn:
            conn.executemany(
                "INSERT INTO bill (state, session, identifier, title, data) VALUES (?,?,?,?,?)",
                rows,
            )
        took = time.perf_counter() - t0
        conn.close()
    return took


def openstates_row(section: str, ours: float) -> Row:
    try:
        import openstates  # noqa: F401
    except ImportError:
        return Row(section, "Open States' own importer, same data", None, "s",
                   note="openstates not installed: pip install openstates to compare")  # fmt: skip
    # Their importer needs its Django database; bench_import.py documents the setup.
    return Row(section, "Open States' own importer, same data", None, "s", "ours", ours,
               ">= 5x slower than ours", note="installed: run it per bench_import.py")  # fmt: skip


def smtp_rows(count: int) -> list[Row]:
    """Messages per second that smtplib alone sends to a local aiosmtpd server (one connection)."""
    import smtplib
    from email.message import EmailMessage

    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def] # noqa: N802
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "digest"
        msg.set_content("x" * 6000)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            t0 = time.perf_counter()
            for _ in range(count):
                smtp.send_message(msg)
            took = time.perf_counter() - t0
    finally:
        controller.stop()
    return [
        Row("smtp", f"smtplib alone, {count} messages", count / took, "msg/s",
            note="limit for digest sending (>= 80% of it); ours: --scripts runs bench_digest.py"),
    ]  # fmt: skip


def script_rows(out: list[str]) -> list[Row]:
    rows = []
    for args in SCRIPTS:
        t0 = time.perf_counter()
        done = subprocess.run(
            [PY, str(ROOT / "bench" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=3600,
        )
        took = time.perf_counter() - t0
        out.append(f"\n$ {' '.join(args)}  ({took:.0f} s, exit {done.returncode})\n{done.stdout}")
        for line in done.stdout.splitlines():
            if line.startswith("BENCH_ROW "):
                rows.append(Row(**json.loads(line.removeprefix("BENCH_ROW "))))
    return rows


# --------------------------------------------------------------------------------- report


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def table(rows: list[Row], old: dict[str, float] | None) -> str:
    head = ["section", "figure", "value", "limit", "limit value", "ratio", "target"]
    if old is not None:
        head.append("before")
    lines = []
    for r in rows:
        cells = [r.section, r.name, f"{fmt(r.value)} {r.unit}", r.limit_name,
                 fmt(r.limit), f"{fmt(r.ratio)}x" if r.ratio else "-",
                 f"{r.target} ({r.note})" if r.target and r.note else r.target or r.note]  # fmt: skip
        if old is not None:
            cells.append(f"{fmt(old.get(key(r)))} {r.unit}" if key(r) in old else "-")
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in lines]
    return "\n".join(out)


def key(row: Row) -> str:
    return f"{row.section} | {row.name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", type=Path, default=OUT / "run_all.json", help="write the rows here")
    ap.add_argument("--compare", type=Path, help="an earlier run's JSON: show its figures beside")
    ap.add_argument("--only", nargs="+", choices=["cli", "search", "import", "smtp"])
    ap.add_argument("--repeat", type=int, default=20, help="timings per search figure")
    ap.add_argument("--scripts", action="store_true", help="also run bench/*.py in quick mode")
    args = ap.parse_args()
    if not (shared() / IDAHO).exists():
        sys.exit(f"run_all: {shared() / IDAHO} is missing (set TRACKER_SHARED_DIR)")
    wanted = set(args.only or ["cli", "search", "import", "smtp"])
    pg = pg_available()
    rows: list[Row] = []
    started = time.perf_counter()
    if "cli" in wanted:
        rows += cli_rows(repeat=5)
    if "search" in wanted:
        rows += search_rows(bench_db(), "sqlite", args.repeat)
    if "import" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            rows += import_rows("sqlite", f"sqlite:///{Path(tmp) / 'import.db'}")
    if pg and {"search", "import"} & wanted:
        with pg_database("tracker_bench_run_all") as url:
            imported = import_rows("postgresql", url)
            rows += imported if "import" in wanted else []
            if "search" in wanted:
                rows += search_rows(url, "postgresql", args.repeat)
    elif not pg:
        rows.append(Row("postgresql", "PostgreSQL figures", None, "", note=f"{PG_URL}: no answer"))
    if "import" in wanted:
        first = next((r.value for r in rows if r.name.startswith("first import")), None)
        rows.append(openstates_row("import", first or 0.0))
    if "smtp" in wanted:
        rows += smtp_rows(count=500)
    outputs: list[str] = []
    if args.scripts:
        rows += script_rows(outputs)
    old = None
    if args.compare:
        before = json.loads(args.compare.read_text())["rows"]
        old = {f"{r['section']} | {r['name']}": r["value"] for r in before}
    load = os.getloadavg()[0]
    print(table(rows, old))
    print(f"\n{time.perf_counter() - started:.0f} s; load average {load:.1f} on {os.cpu_count()} "
          "cores (absolute targets are judged on a quiet machine, ratios on any)")  # fmt: skip
    for text in outputs:
        print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "commit": commit(),
        "load_average": load,
        "cores": os.cpu_count(),
        "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
    }
    args.json.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.json}")


def commit() -> str | None:
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
