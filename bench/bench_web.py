"""Pages under concurrent load: the real server, 8 clients, MN data on SQLite.

    python bench/bench_web.py                        # 10 s per endpoint, 8 connections
    python bench/bench_web.py --duration 5 --workers 1
    python bench/bench_web.py --reimport             # import MN again into the scratch database
    python bench/bench_web.py --uncached-only        # only TRACKER_PAGE_CACHE_MB=0 (a miss's cost)

Open States' MN scrape (``../shared/data/openstates/windy_civi_2025/mn-*.tar.gz``) is imported
once into ``bench/results/web/mn.db`` (later runs reuse it). The server is started as a person
starts it, ``tracker run --no-scheduler`` in a subprocess (no scrapes from the network during a
bench; ``--workers`` is passed through), and driven by ``wrk`` (Debian's ``apt-get install wrk``)
with a Lua script that walks a list of URLs per endpoint and reports p50/p95/p99. Without wrk, a
small asyncio HTTP/1.1 client in a separate process does the same (slower, so its figures are a
lower bound).

The URLs are a realistic mix, the same in every run (seeded): 2,000 distinct searches made of
the bills' own title words (words, pairs, "phrases", prefixes*, -exclusions, OR; a quarter with
a stage/topic/session/relevant/recency filter, a tenth on a later page), the same searches on
/api/bills, and 1,000 distinct bill pages; each endpoint's requests are drawn from its URLs with
a Zipf-like repetition (the k-th most asked ~1/k as often). The page cache therefore answers
what such a mix repeats; each endpoint is also measured with TRACKER_PAGE_CACHE_MB=0 (every page
built afresh), the CPU cost a cache miss pays.

Per endpoint: requests/s, p50/p95 latency, the server's CPU time per request and its RSS
(every process of the server: the supervisor and its workers) before and after. The limit,
measured in the same run with the same client and connections: a minimal Starlette app that
answers "hello" on uvicorn with the same number of workers. Lines ``BENCH_ROW {json}`` join
``bench/run_all.py --scripts``'s table. ``bench/web_cpu.py`` measures the app's own CPU per
uncached request in one process (steadier on a shared machine), or profiles it.
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
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "web"
PY = sys.executable
TARGET = "≥ 200 req/s, p95 < 50 ms (quiet machine)"
# The URL mix: distinct searches built from the bills' own title words (single words, adjacent
# pairs, quoted phrases, prefixes, an excluded word), some with filters (stage, topic, session,
# relevant, sort, a later page), and distinct bill pages; each request draws one with a
# Zipf-like repetition (the k-th most asked is asked ~1/k as often), so the page cache answers
# what a real mix repeats, and no more.
SEARCHES = 2000
BILL_PAGES = 1000
SEQUENCE = 20_000  # requests drawn per endpoint; wrk's threads walk it from random starts
ZIPF_S = 1.0
STOPWORDS = frozenset(
    "the and for with from that this into relating modifying providing requiring bill act "
    "certain various other under their than have been were also which".split()
)

HELLO_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request):
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/{path:path}", hello)])
    """
)

LUA = textwrap.dedent(
    """
    local paths = {}
    local i = 0
    local threads = 0
    setup = function(thread)
      threads = threads + 1
      thread:set("tid", threads)
    end
    init = function(args)
      for line in io.lines(args[1]) do paths[#paths + 1] = line end
      -- the threads walk the same drawn sequence from far-apart starts (the same in every run)
      i = (tid - 1) * math.floor(#paths / 2)
    end
    request = function()
      i = i % #paths + 1
      return wrk.format("GET", paths[i])
    end
    done = function(summary, latency, requests)
      local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
      out:write(string.format(
        '{"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "p99": %f, "errors": %d, '
        .. '"non2xx": %d}\\n',
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
        latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout, summary.errors.status))
      out:close()
    end
    """
)


def shared() -> Path:
    return Path(os.environ.get("TRACKER_SHARED_DIR", ROOT.parent / "shared"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- data


def ensure_imported(db: Path, reimport: bool) -> int:
    """MN's bills in `db`; imported in a child process so this one stays small."""
    if reimport and db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    tars = sorted((shared() / "data/openstates/windy_civi_2025").glob("mn-*.tar.gz"))
    if not tars:
        sys.exit(f"no MN data under {shared()}/data/openstates/windy_civi_2025")
    code = textwrap.dedent(
        """
        import json, sys, time
        from sqlalchemy import func, select
        from tracker.db import make_engine, upgrade
        from tracker.models import Bill
        engine = make_engine("sqlite:///" + sys.argv[1])
        upgrade(engine)
        with engine.connect() as conn:
            have = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
        if not have:
            from scrapers.importers.openstates import iter_openstates
            from tracker.ingest import ingest_bills
            t = time.perf_counter()
            report = ingest_bills(engine, iter_openstates(json.loads(sys.argv[2]), lazy=True),
                                  source="import:openstates")
            print("  imported:", report.line(), f"in {time.perf_counter() - t:.1f}s",
                  file=sys.stderr)
            with engine.connect() as conn:
                have = conn.execute(select(func.count()).select_from(Bill)).scalar_one()
        print(have)
        """
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [PY, "-c", code, str(db), json.dumps([str(t) for t in tars])],
        check=True,
        capture_output=True,
        text=True,
        env=server_env(db),
        cwd=ROOT,
    )
    sys.stderr.write(out.stderr)
    return int(out.stdout.split()[-1])


def _bills(db: Path) -> list[tuple[str, str, str, str, str]]:
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT state, session, identifier, coalesce(title, ''), stage FROM bill ORDER BY id"
        ).fetchall()
    finally:
        con.close()


def zipf_draw(items: list[str], n: int, rng: random.Random) -> list[str]:
    """`n` draws from `items`, the k-th (1-based) weighted 1/k**ZIPF_S."""
    weights = [1 / (k + 1) ** ZIPF_S for k in range(len(items))]
    return rng.choices(items, weights=weights, k=n)


def bill_paths(db: Path, n: int, rng: random.Random) -> list[str]:
    """`n` distinct bill pages, picked at random (the order is their popularity rank)."""
    from tracker.urls import bill_path

    rows = _bills(db)
    return [
        bill_path(s, sess, ident) for s, sess, ident, _, _ in rng.sample(rows, min(n, len(rows)))
    ]


def search_queries(db: Path, n: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    """`n` distinct searches (query pairs) such as people type, from the bills' title words:
    single words (mostly common ones), adjacent pairs, "quoted phrases", prefixes*, an
    excluded -word, OR; a quarter with a filter (stage, topic, session, relevant, recency
    order) and some on a later page. The order is their popularity rank (shuffled)."""
    bills = _bills(db)
    titles = [re.findall(r"[a-z]{3,}", title.lower()) for _, _, _, title, _ in bills]
    df: dict[str, int] = {}
    for words in titles:
        for w in set(words) - STOPWORDS:
            df[w] = df.get(w, 0) + 1
    vocab = sorted((w for w, c in df.items() if c >= 2), key=lambda w: (-df[w], w))
    common = vocab[:300]
    stages = sorted({stage for *_, stage in bills if stage})
    sessions = sorted({sess for _, sess, *_ in bills})
    topics = ["single-payer", "public-option", "none"]

    def word() -> str:
        return rng.choice(common if rng.random() < 0.6 else vocab)

    def adjacent(k: int) -> list[str]:
        while True:
            words = rng.choice(titles)
            if len(words) >= k:
                at = rng.randrange(len(words) - k + 1)
                return words[at : at + k]

    def text() -> str:
        kind = rng.random()
        if kind < 0.40:
            return word()
        if kind < 0.60:
            return " ".join(adjacent(2))
        if kind < 0.72:
            return '"' + " ".join(adjacent(rng.choice((2, 3)))) + '"'
        if kind < 0.84:
            w = rng.choice(common)
            return w[: max(3, min(len(w) - 1, rng.choice((4, 5, 6))))] + "*"
        if kind < 0.92:
            return f"{word()} -{rng.choice(common)}"
        return f"{word()} OR {word()}"

    seen: set[tuple[tuple[str, str], ...]] = set()
    out: list[list[tuple[str, str]]] = []
    while len(out) < n:
        pairs = [("q", text())]
        if rng.random() < 0.25:
            pairs.append(
                rng.choice(
                    [
                        ("stage", rng.choice(stages)),
                        ("topic", rng.choice(topics)),
                        ("session", rng.choice(sessions)),
                        ("relevant", "1"),
                        ("sort", "recency"),
                        ("state", bills[0][0]),
                    ]
                )
            )
        if rng.random() < 0.10:
            pairs.append(("page", str(rng.randint(2, 4))))
        key = tuple(pairs)
        if key not in seen:
            seen.add(key)
            out.append(pairs)
    return out


def repeat_share(drawn: list[str], n: int) -> float:
    """The share of the first `n` draws that repeat an earlier one (what a cache could answer)."""
    head = drawn[:n]
    return 1 - len(set(head)) / max(1, len(head))


def url_mix(db: Path, args: argparse.Namespace) -> dict[str, tuple[list[str], int]]:
    """Per endpoint: the drawn request sequence and how many distinct URLs it holds."""
    rng = random.Random(15)  # the same mix in every run, before and after a change
    searches = [urlencode(pairs) for pairs in search_queries(db, args.searches, rng)]
    pages = bill_paths(db, args.bill_pages, rng)
    endpoints = {
        "/search/?q=…": [f"/search/?{q}" for q in searches],
        "/api/bills?q=…": [f"/api/bills?{q}" for q in searches],
        "bill page": pages,
    }
    out = {}
    for name, urls in endpoints.items():
        drawn = zipf_draw(urls, SEQUENCE, random.Random(name))
        out[name] = (drawn, len(set(drawn)))
    return out


def server_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=f"sqlite:///{db}",
        TRACKER_DATA_DIR=str(db.parent),
        TRACKER_ENVIRONMENT="development",
        TRACKER_SHARED_DIR=str(shared()),
        PYTHONPATH=str(ROOT),
    )
    return env


# ----------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str

    def pids(self) -> list[int]:
        """The server's process and every descendant (uvicorn's workers)."""
        found = [self.proc.pid]
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        i = 0
        while i < len(found):
            found.extend(children.get(found[i], []))
            i += 1
        return [p for p in found if not _is_resource_tracker(p)]

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            m = re.search(r"VmRSS:\s+(\d+)", status)
            total += int(m.group(1)) if m else 0
        return total / 1024

    def cpu_s(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _is_resource_tracker(pid: int) -> bool:
    """multiprocessing's helper process (spawned with the workers): not a server process."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def start(name: str, argv: list[str], env: dict[str, str], port: int, probe: str) -> Server:
    log = (OUT / f"{name}.log").open("wb")
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}: see {OUT / f'{name}.log'}")
        try:
            with urllib.request.urlopen(base + probe, timeout=5) as r:
                r.read()
            return Server(name, proc, base)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"{name} did not answer within 120 s")


def start_tracker(db: Path, workers: int | None, extra_env: dict[str, str]) -> Server:
    port = free_port()
    argv = [PY, "-m", "tracker.cli", "run", "--no-scheduler", "--port", str(port)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return start("tracker", argv, {**server_env(db), **extra_env}, port, "/healthz")


def start_hello(workers: int) -> Server:
    port = free_port()
    app_dir = OUT / "hello"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "hello_app.py").write_text(HELLO_APP)
    argv = [PY, "-m", "uvicorn", "hello_app:app", "--port", str(port), "--log-level", "warning"]
    argv += ["--no-access-log", "--app-dir", str(app_dir)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return start("hello", argv, dict(os.environ), port, "/")


# ----------------------------------------------------------------------------- load


def load(base: str, paths: list[str], *, connections: int, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk"):
        return _wrk(base, paths, connections=connections, seconds=seconds)
    return _asyncio_client(base, paths, connections=connections, seconds=seconds)


def _wrk(base: str, paths: list[str], *, connections: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "rotate.lua"
        script.write_text(LUA)
        out = Path(tmp) / "out.json"
        threads = min(2, connections)
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
        ]
        listed = Path(tmp) / "paths.txt"
        listed.write_text("\n".join(paths) + "\n")
        argv += ["-s", str(script), base, "--", str(listed)]
        subprocess.run(
            argv, check=True, capture_output=True, env={**os.environ, "BENCH_WRK_OUT": str(out)}
        )
        # each wrk thread runs done() only once, on the summary: the file has one line
        got = json.loads(out.read_text().splitlines()[-1])
    got["rps"] = got["requests"] / got["seconds"]
    got["client"] = "wrk"
    return got


ASYNC_CLIENT = r"""
import asyncio, json, sys, time
from urllib.parse import urlsplit

base, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
paths = json.loads(sys.stdin.read())
host, port = urlsplit(base).hostname, urlsplit(base).port
lat, errors = [], 0

async def client(k):
    global errors
    r, w = await asyncio.open_connection(host, port)
    i, end = k * len(paths) // connections, time.monotonic() + seconds  # far-apart starts
    while time.monotonic() < end:
        path = paths[i % len(paths)]; i += 1
        t = time.perf_counter()
        w.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()); await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length")))
        await r.readexactly(length)
        if not head.startswith(b"HTTP/1.1 2"):
            errors += 1
        lat.append(time.perf_counter() - t)
    w.close()

t0 = time.perf_counter()
async def main():
    await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(connections))), seconds + 30)

asyncio.run(main())
took = time.perf_counter() - t0
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000
print(json.dumps({"requests": len(lat), "seconds": took, "p50": q(50), "p95": q(95),
                  "p99": q(99), "errors": 0, "non2xx": errors}))
"""


def _asyncio_client(
    base: str, paths: list[str], *, connections: int, seconds: float
) -> dict[str, Any]:
    out = subprocess.run(
        [PY, "-c", ASYNC_CLIENT, base, str(seconds), str(connections)],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"the asyncio client failed:\n{out.stderr[-2000:]}")
    got = json.loads(out.stdout)
    got["rps"] = got["requests"] / got["seconds"]
    got["client"] = "asyncio"
    return got


def measure(server: Server, paths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    for path in paths[:3]:  # answered at all, and warm
        with urllib.request.urlopen(server.base + path, timeout=30) as r:
            r.read()
    rss0, cpu0 = server.rss_mb(), server.cpu_s()
    got = load(server.base, paths, connections=args.connections, seconds=args.duration)
    rss1, cpu1 = server.rss_mb(), server.cpu_s()
    got.update(
        rss_before=rss0,
        rss_after=rss1,
        cpu_ms_per_request=(cpu1 - cpu0) * 1000 / max(1, got["requests"]),
    )
    return got


# ----------------------------------------------------------------------------- report


def row(
    name: str, value: float, unit: str, limit_name: str, limit: float | None, note: str
) -> None:
    print(
        "BENCH_ROW "
        + json.dumps(
            {
                "section": "web",
                "name": name,
                "value": round(value, 2),
                "unit": unit,
                "limit_name": limit_name,
                "limit": None if limit is None else round(limit, 2),
                "target": TARGET if unit in ("req/s", "ms") else "flat memory",
                "note": note,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=OUT / "mn.db", help="scratch SQLite database")
    parser.add_argument("--reimport", action="store_true", help="import MN again")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="passed to `tracker run --workers` (default: tracker run's own default)",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cached-only",
        action="store_true",
        help="measure the server as deployed only (not also with TRACKER_PAGE_CACHE_MB=0)",
    )
    cache.add_argument(
        "--uncached-only",
        action="store_true",
        help="measure with TRACKER_PAGE_CACHE_MB=0 only (every page built: a cache miss's cost)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="load every endpoint this many times (memory)"
    )
    parser.add_argument(
        "--searches", type=int, default=SEARCHES, help="distinct searches in the URL mix"
    )
    parser.add_argument(
        "--bill-pages", type=int, default=BILL_PAGES, help="distinct bill pages in the URL mix"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    bills = ensure_imported(args.db.resolve(), args.reimport)
    mix = url_mix(args.db, args)
    endpoints = {name: drawn for name, (drawn, _) in mix.items()}
    load_avg = os.getloadavg()
    print(f"MN bills: {bills}; {args.connections} connections, {args.duration:g} s per endpoint")
    print(
        f"client: {'wrk' if shutil.which('wrk') else 'asyncio (wrk not installed)'}; "
        f"load average before: {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; "
        f"cores: {os.cpu_count()}"
    )
    for name, (drawn, distinct) in mix.items():
        print(
            f"URL mix {name}: {distinct:,} distinct URLs in {len(drawn):,} Zipf draws "
            f"(s={ZIPF_S:g}); {repeat_share(drawn, 5000):.0%} of the first 5,000 repeat one before"
        )

    configs: list[tuple[str, dict[str, str]]] = [] if args.uncached_only else [("", {})]
    if not args.cached_only:
        configs.append((" (no page cache)", {"TRACKER_PAGE_CACHE_MB": "0"}))
    runs = []
    for label, extra in configs:
        runs.append((label, *serve_and_load(args, endpoints, extra)))
    processes = runs[0][3]
    # uvicorn with workers: a supervisor and its workers (tracker run adds no process with
    # --no-scheduler); the limit gets as many workers
    hello = start_hello(max(1, processes - 1) if processes > 1 else 1)
    try:
        limit = measure(hello, ["/hello"], args)
    finally:
        hello.stop()

    print(f"server processes: {processes} (tracker run --workers {args.workers or 'default'})")
    head = (
        f"{'endpoint':<32} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>10} {'RSS MB before→after':>20} {'non-2xx':>8}"
    )
    print(head)
    print("-" * len(head))
    table = [(name + label, r) for label, results, _, _ in runs for name, r in results.items()]
    for name, r in [*table, ("limit: hello app", limit)]:
        print(
            f"{name:<32} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
            f"{r['cpu_ms_per_request']:>10.2f} "
            f"{r['rss_before']:>9.0f} → {r['rss_after']:<8.0f} {r['non2xx'] + r['errors']:>8}"
        )
    for label, _, (rss_start, rss_end, total), _ in runs:
        print(
            f"server RSS{label}: {rss_start:.0f} MB at start → {rss_end:.0f} MB "
            f"after {total:,} requests"
        )
    load_avg = os.getloadavg()
    print(f"load average after: {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")
    note = (
        f"MN {bills} bills, SQLite, {args.connections} clients, {processes} server processes, "
        f"load {load_avg[0]:.1f}"
    )
    for name, r in table:
        row(f"{name} req/s", r["rps"], "req/s", "hello app, same stack", limit["rps"], note)
        row(f"{name} p95", r["p95"], "ms", "hello app, same stack", limit["p95"], note)
    for label, _, (rss_start, rss_end, total), _ in runs:
        row(
            f"server RSS growth{label}",
            rss_end - rss_start,
            "MB",
            "",
            None,
            f"{rss_start:.0f} → {rss_end:.0f} MB over {total:,} requests",
        )
    (OUT / "last.json").write_text(
        json.dumps({"runs": runs, "limit": limit, "processes": processes}, indent=2)
    )


def serve_and_load(
    args: argparse.Namespace, endpoints: dict[str, list[str]], extra_env: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], tuple[float, float, int], int]:
    """Start `tracker run`, load each endpoint `args.rounds` times; results, RSS, processes."""
    tracker = start_tracker(args.db.resolve(), args.workers, extra_env)
    try:
        results: dict[str, dict[str, Any]] = {}
        rss_start = tracker.rss_mb()
        total = 0
        for _ in range(args.rounds):
            for name, paths in endpoints.items():
                results[name] = measure(tracker, paths, args)
                total += results[name]["requests"]
        rss_end = tracker.rss_mb()
        processes = len(tracker.pids())
    finally:
        tracker.stop()
    return results, (rss_start, rss_end, total), processes


if __name__ == "__main__":
    main()
