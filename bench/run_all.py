"""One bench command: every "must reach" figure of issue 15, beside its limit measured in the same run.

    python bench/run_all.py                        # the table; JSON in bench/results/run_all.json
    python bench/run_all.py --quick                # smaller inputs (a few minutes)
    python bench/run_all.py --compare OLD.json     # and each figure beside an earlier run's
    python bench/run_all.py --only cli jobs-web    # some sections only
    python bench/run_all.py --inline-only          # only the figures measured in this process

A figure alone says little on a shared, noisy machine; its ratio to the limit measured a moment
before on the same machine says more. So each row is: what we do, the limit (the raw library
doing the least that job needs, or the same thing idle), the ratio of the two, and the issue's
target. Absolute targets are judged on a quiet machine; ratios on any. Before each section the
bench waits (90 s at most) until the machine is quiet, under a tenth of its CPU busy over a
second, so that what the section before left running (PostgreSQL's autovacuum after an import)
is not measured with the next; what it waited and found is printed at the end and kept in the
JSON (``settled``).

Most sections are the other bench/*.py scripts, run as they are (``--quick``: with their small
inputs): each prints one line ``BENCH_ROW {json}`` (keys as in :class:`Row`) per figure, and
those rows make the table. Two are measured here (``cli``, ``smtp``) and two
have a fallback here when their script gives no row (``search``, ``import``: Idaho 2025 only).

At the end, every "must reach" row of the issue (:data:`MUST`) is checked against the table: one
with no measured row gets a row ``not measured: why`` (PostgreSQL down, ``OPENSTATES_PYTHON``
unset for the comparison with Open States' importer, a script absent or failed, or no row of that
name), so nothing is silently missing.
Scripts keep their imported databases in bench/results/ between runs: a first run takes longer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the other bench scripts, as modules
OUT = ROOT / "bench" / "results"
PY = sys.executable
TRACKER = [PY, "-m", "tracker.cli"]
PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUERIES = ["health", '"single payer"', "insur*", "medicaid expansion"]


DIGEST_DB = "bench/results/digest/tracker.db"  # this checkout's own, kept between runs


@dataclass(frozen=True)
class Script:
    """A section measured by a bench script: its arguments for the default and --quick runs."""

    key: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    timeout: float = 1800.0


# In the order they run. The default inputs are the (all shared data, MN, 3,000
# subscribers); --quick takes each script's small inputs.
SCRIPTS = [
    Script("search", ("bench_search.py", "--backend", "both", "--searches-only"),
           ("bench_search.py", "--backend", "both", "--searches-only", "--subset", "small")),
    Script("jobs-web", ("bench_jobs_web.py", "--backend", "both"),
           ("bench_jobs_web.py", "--backend", "both", "--quick")),
    Script("web", ("bench_web.py",), ("bench_web.py", "--duration", "3")),
    Script("import", ("bench_import.py", "--backend", "both"),
           ("bench_import.py", "--backend", "both", "--subset", "small")),
    Script("digest", ("bench_digest.py", "--db", DIGEST_DB, "--sizes", "3000"),
           ("bench_digest.py", "--db", DIGEST_DB, "--sizes", "300")),
]  # fmt: skip
INLINE = ["cli", "smtp"]
SECTIONS = ["cli", *(s.key for s in SCRIPTS), "smtp"]


@dataclass(frozen=True)
class Must:
    """A "must reach" row of issue 15. A table row counts for it when its section and name
    (lower case) contain every word of `words` and, if given, one of `any_of`."""

    key: str
    what: str
    target: str
    limit_name: str
    section: str  # the section that measures it
    words: tuple[str, ...]
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    backend: str = ""  # "postgresql": needs the server

    def matches(self, row: Row) -> bool:
        text = f"{row.section} {row.name}".lower()
        return (
            "(fallback)" not in row.section  # Idaho only, in this process: not the figure
            and all(w in text for w in self.words)
            and (not self.any_of or any(w in text for w in self.any_of))
            and not any(w in text for w in self.none_of)
        )


RE = ("re-import", "reimport", "second", "again", "unchanged")
# the floor of `tracker search`: the third-party modules it loads (see cli_rows)
LIBS = "the libraries search loads, imported alone"

MUST = [
    Must("search-sqlite", "new search over HTTP, all shared data, SQLite", "p95 < 20 ms",
         "raw FTS5 + rank", "search", ("search", "sqlite"), none_of=("jobs",)),
    Must("search-postgresql", "new search over HTTP, all shared data, PostgreSQL", "p95 < 20 ms",
         "raw tsvector query", "search", ("search", "postgres"), none_of=("jobs",),
         backend="postgresql"),
    Must("jobs-web-sqlite", "search over HTTP while tracker run's first scrapes run, SQLite",
         "p95 < 30 ms", "the same server idle", "jobs-web", ("jobs", "sqlite")),
    Must("jobs-web-postgresql", "search over HTTP while first scrapes run, PostgreSQL",
         "p95 < 30 ms", "the same server idle", "jobs-web", ("jobs", "postgres"),
         backend="postgresql"),
    Must("cli-search", "tracker search on the command line", "< 0.5 s", LIBS, "cli",
         ("cli", "tracker search")),
    Must("cli-help", "tracker --help", "< 0.4 s", "python -c pass", "cli", ("cli", "--help")),
    Must("import-first", "first import of all shared data, SQLite, default settings",
         "< 60 s, < 500 MB", "SQLite alone storing the same rows", "import",
         ("import", "sqlite", "first")),
    Must("reimport-sqlite", "re-import, nothing changed, SQLite", ">= 10x faster",
         "first import", "import", ("import", "sqlite"), any_of=RE),
    Must("reimport-postgresql", "re-import, nothing changed, PostgreSQL", ">= 5x faster",
         "first import", "import", ("import", "postgres"), any_of=RE, backend="postgresql"),
    Must("openstates", "import vs Open States' own importer (Idaho 2025, PostgreSQL)",
         ">= 5x first, >= 10x re-import", "openstates' importer", "import", ("open states",),
         backend="postgresql"),
    Must("digest-render", "weekly digest rendering (--dry-run)", ">= 2,000/s", "", "digest",
         ("digest",), any_of=("render", "dry")),
    Must("digest-send", "weekly digest sending", ">= 80% of smtplib alone, flat memory",
         "smtplib alone, same server", "digest", ("digest",), any_of=("send", "sent")),
    Must("web-load", "pages under 8 concurrent clients, MN, SQLite", ">= 200 req/s at p95 < 50 ms",
         "", "web", ("web",), none_of=("jobs",)),
]  # fmt: skip


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


# Runs `tracker <args>` as `python -m tracker.cli` does, then prints (on stderr, last line) the
# third-party modules it loaded, in load order: what the command cannot start faster than.
LIBRARIES_OF = """
import json, sys
sys.argv = ["tracker", *sys.argv[1:]]
try:
    from tracker.cli import main
    main()
except SystemExit:
    pass
finally:
    ours = ("tracker", "scrapers")
    names = [
        name for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and "site-packages" in module.__file__
        and name.split(".")[0] not in ours and not name.split(".")[-1].startswith("_")
        and all(part.isidentifier() for part in name.split("."))  # loaded by path, not by name
    ]
    print(json.dumps(names), file=sys.stderr)
"""


def libraries_of(args: list[str], env: dict[str, str]) -> list[str]:
    """The third-party modules `tracker <args>` imports (its own modules and private ones left
    out: importing the public ones loads those)."""
    done = run_cmd([PY, "-c", LIBRARIES_OF, *args], env)
    return json.loads(done.stderr.strip().splitlines()[-1])


def cli_rows(repeat: int) -> list[Row]:
    """Each command started `repeat` times, interleaved with the floors so load hits them
    alike: the median wall time, and the median CPU time of the child in the note (steadier
    on a busy machine). Two floors: ``python -c pass``, and for `tracker search` the
    libraries it imports, imported alone (what no code of ours can start faster than: on a
    slow machine that alone can be over the target)."""
    import compileall
    import resource

    url = bench_db()
    env = env_for(url)
    # A person's `tracker` runs from compiled bytecode (pip writes it when it installs, a
    # checkout on its first run); with PYTHONDONTWRITEBYTECODE set, as in some sandboxes and
    # CI, every start here would compile the project's modules again (12% of a search).
    for package in ("tracker", "scrapers"):
        compileall.compile_dir(ROOT / package, quiet=1)
    libraries = libraries_of(["search", "health"], env)
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        LIBS: [PY, "-c", "import " + ", ".join(libraries)],
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
    tops = sorted({name.split(".")[0] for name in libraries})
    note[LIBS] += f"; {len(libraries)} modules of {', '.join(tops)}"
    floor = med["python -c pass"]
    limits = {
        name: ("python -c pass", floor)
        if not name.startswith("tracker search")
        else (LIBS, med[LIBS])
        for name in commands
    }
    targets = {"tracker --help": "< 0.4 s", LIBS: "(the floor of tracker search)"}
    return [Row("cli", "python -c pass", floor, "s", target="(the floor)", note=note["python -c pass"])] + [
        Row("cli", name, med[name], "s", *limits[name], targets.get(name, "< 0.5 s"), note[name])
        for name in commands
        if name != "python -c pass"
    ]  # fmt: skip


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
    from bench_import import raw_executemany  # the same limit as the import bench's

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


ROW_KEYS = {f.name for f in fields(Row)}


def parse_rows(stdout: str) -> list[Row]:
    """The ``BENCH_ROW {json}`` lines of a script's output, as rows (unknown keys are dropped)."""
    rows = []
    for line in stdout.splitlines():
        if not line.startswith("BENCH_ROW "):
            continue
        try:
            data = json.loads(line.removeprefix("BENCH_ROW "))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and {"section", "name"} <= data.keys():
            data.setdefault("value", None)
            data.setdefault("unit", "")
            rows.append(Row(**{k: v for k, v in data.items() if k in ROW_KEYS}))
    return rows


def script_rows(
    script: Script, *, quick: bool, out: list[str], bench_dir: Path | None = None
) -> tuple[list[Row], str]:
    """Run one bench script; returns its rows and why it gave none ("" when it gave some)."""
    bench_dir = bench_dir or ROOT / "bench"
    args = list(script.quick if quick else script.args)
    name = f"bench/{args[0]}"
    if not (bench_dir / args[0]).exists():
        return [], f"{name} is absent in this checkout"

    def run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                [PY, str(bench_dir / argv[0]), *argv[1:]],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=script.timeout,
            )
        except subprocess.TimeoutExpired:
            return None

    t0 = time.perf_counter()
    print(f"running {' '.join(args)} ...", file=sys.stderr, flush=True)
    done = run(args)
    if quick and done is not None and done.returncode == 2 and "unrecognized" in done.stderr:
        args = list(script.args)  # a script with no small mode: its default run
        done = run(args)
    took = time.perf_counter() - t0
    if done is None:
        return [], f"{name} ran over {script.timeout:.0f} s"
    out.append(f"\n$ {' '.join(args)}  ({took:.0f} s, exit {done.returncode})\n{done.stdout}")
    rows = parse_rows(done.stdout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        out.append(done.stderr[-3000:])
        return rows, f"{name} exit {done.returncode}: {last[:200]}"
    return rows, "" if rows else f"{name} printed no BENCH_ROW line"


def coverage(
    rows: list[Row], why: dict[str, str], *, sections: set[str], pg: bool, openstates: bool
) -> list[Row]:
    """A ``not measured: why`` row for each must-reach row of `sections` no measured row gives."""
    missing = []
    for must in MUST:
        if must.section not in sections:
            continue
        matched = [r for r in rows if must.matches(r)]
        if any(r.value is not None for r in matched):
            continue
        if must.backend == "postgresql" and not pg:
            reason = f"PostgreSQL at {PG_URL} does not answer"
        elif must.key == "openstates" and not openstates:
            reason = (
                "OPENSTATES_PYTHON is not set: a venv outside the repo with "
                "openstates==6.25.6 (see bench/bench_import.py)"
            )
        elif why.get(must.section):
            reason = why[must.section]
        elif matched:
            reason = next((r.note for r in matched if r.note), "the row has no value")
        else:
            wanted = " + ".join(must.words) + (
                f" + one of {'/'.join(must.any_of)}" if must.any_of else ""
            )
            reason = f"no row of section {must.section!r} names {wanted}"
        missing.append(
            Row(f"must: {must.key}", must.what, None, "", must.limit_name, None, must.target,
                f"not measured: {reason}")
        )  # fmt: skip
    return missing


def openstates_installed() -> bool:
    """bench_import.py compares with Open States' importer run by this interpreter."""
    return bool(os.environ.get("OPENSTATES_PYTHON"))


# --------------------------------------------------------------------------------- report


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def table(rows: list[Row], old: dict[str, float | None] | None = None) -> str:
    """The rows as a text table; with `old` (key -> value), an earlier run's figure beside."""
    head = ["section", "figure", "value", "limit", "limit value", "ratio", "target"]
    if old is not None:
        head.append("before")
    head.append("note")
    lines = []
    for r in rows:
        unit = f" {r.unit}" if r.unit else ""
        cells = [r.section, r.name, f"{fmt(r.value)}{unit if r.value is not None else ''}",
                 r.limit_name, fmt(r.limit), f"{fmt(r.ratio)}x" if r.ratio else "-", r.target]  # fmt: skip
        if old is not None:
            before = old.get(key(r))
            cells.append(f"{fmt(before)}{unit}" if before is not None else "-")
        cells.append(r.note)
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=False)]
    widths[-1] = 0  # the note: not padded
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * max(w, 4) for w in widths))
    out += [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in lines
    ]
    return "\n".join(out)


def key(row: Row) -> str:
    return f"{row.section} | {row.name}"


def busy_share(seconds: float = 1.0, stat: Path = Path("/proc/stat")) -> float:
    """The share of all cores' time that was not idle over the next `seconds` (Linux)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:9]]
        return values[3] + values[4], sum(values)  # idle + iowait; user .. steal

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


QUIET = 0.10  # a quiet machine: under a tenth of its CPU busy over a second
SETTLE_S = 90.0  # the longest a section waits for it


def settle(
    measure: Callable[[], float] = busy_share, *, limit_s: float = SETTLE_S
) -> tuple[float, float]:
    """Wait until the machine is quiet (:data:`QUIET`) before a section: what the section
    before left running (PostgreSQL's autovacuum after a big import, a server still exiting)
    would otherwise be measured with it. Gives up after `limit_s` and says so; returns the
    seconds waited and the busy share last seen."""
    started = time.perf_counter()
    while True:
        busy = measure()
        waited = time.perf_counter() - started
        if busy < QUIET or waited >= limit_s:
            return waited, busy


def payload(
    rows: list[Row], *, load: float, quick: bool, settled: dict[str, str] | None = None
) -> dict[str, Any]:
    """What --json writes (and --compare reads)."""
    return {
        "commit": commit(),
        "quick": quick,
        "load_average": load,
        "cores": os.cpu_count(),
        "settled": settled or {},
        "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
    }


def earlier(data: dict[str, Any]) -> dict[str, float | None]:
    """key -> value of an earlier run's JSON (see :func:`payload`)."""
    return {f"{r['section']} | {r['name']}": r.get("value") for r in data.get("rows", [])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", type=Path, default=OUT / "run_all.json", help="write the rows here")
    ap.add_argument("--compare", type=Path, help="an earlier run's JSON: show its figures beside")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="these sections only")
    ap.add_argument("--quick", action="store_true", help="the scripts' small inputs")
    ap.add_argument("--inline-only", action="store_true", help="no bench scripts")
    ap.add_argument("--scripts", action="store_true", help=argparse.SUPPRESS)  # now the default
    ap.add_argument("--repeat", type=int, default=20, help="timings per fallback search figure")
    args = ap.parse_args()
    if not (shared() / IDAHO).exists():
        sys.exit(f"run_all: {shared() / IDAHO} is missing (set TRACKER_SHARED_DIR)")
    wanted = set(args.only or SECTIONS)
    pg = pg_available()
    rows: list[Row] = []
    why: dict[str, str] = {}
    outputs: list[str] = []
    started = time.perf_counter()
    settled: dict[str, str] = {}
    for section in SECTIONS:
        if section not in wanted:
            continue
        if Path("/proc/stat").exists():
            waited, busy = settle()
            settled[section] = f"waited {waited:.0f} s, then {100 * busy:.0f}% busy" + (
                "" if busy < QUIET else " (not quiet)"
            )
            print(f"{section}: {settled[section]}", file=sys.stderr, flush=True)
        if section == "cli":
            rows += cli_rows(repeat=5)
        elif section == "smtp":
            rows += smtp_rows(count=500)
        else:
            script = next(s for s in SCRIPTS if s.key == section)
            got, why[section] = (
                ([], "--inline-only")
                if args.inline_only
                else script_rows(script, quick=args.quick, out=outputs)
            )
            if not any(r.value is not None for r in got) and section in ("search", "import"):
                got += fallback_rows(section, pg, args.repeat, why[section])
            rows += got
    rows += coverage(rows, why, sections=wanted, pg=pg, openstates=openstates_installed())
    old = earlier(json.loads(args.compare.read_text())) if args.compare else None
    load = os.getloadavg()[0]
    for text in outputs:
        print(text)
    print(table(rows, old))
    measured = sum(1 for r in rows if r.value is not None)
    print(f"\n{measured} figures; {sum(1 for r in rows if r.section.startswith('must: '))} "
          f"must-reach rows not measured; {time.perf_counter() - started:.0f} s; load average "
          f"{load:.1f} on {os.cpu_count()} cores (absolute targets are judged on a quiet machine, "
          "ratios on any)")  # fmt: skip
    if settled:
        print("before each section, the machine (all cores): " + "; ".join(
            f"{name} {what}" for name, what in settled.items()))  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(payload(rows, load=load, quick=args.quick, settled=settled), indent=2)
    )
    print(f"wrote {args.json}")


def fallback_rows(section: str, pg: bool, repeat: int, why: str) -> list[Row]:
    """Idaho 2025 (790 bills) measured here, when the section's script gave no figure."""
    note = f"fallback, Idaho 2025 only ({why})"
    rows: list[Row] = []
    if section == "search":
        rows += search_rows(bench_db(), "sqlite", repeat)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows += import_rows("sqlite", f"sqlite:///{Path(tmp) / 'import.db'}")
    if pg:
        with pg_database("tracker_bench_run_all") as url:
            imported = import_rows("postgresql", url)
            rows += search_rows(url, "postgresql", repeat) if section == "search" else imported
    for r in rows:
        r.section += " (fallback)"
        r.note = f"{note}; {r.note}" if r.note else note
    return rows


def commit() -> str | None:
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
