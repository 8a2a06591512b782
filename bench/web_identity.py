"""Every URL of bench_web's mix from two servers, compared byte for byte.

Starts `tracker run --no-scheduler` from two checkouts on the same database (bench_web's MN
scratch database) and fetches each distinct URL of bench_web's mix (2,000 searches, the same on
/api/bills, 1,000 bill pages) plus a few other pages from both; the status, the body and the
headers must be the same, apart from what is per request or per browser: ``date``, a CSRF
token in a form (``name="csrf_token" value="…"``), the ``set-cookie`` carrying it, and the
ETag of a body holding one. Each URL is fetched twice, the second time through the page cache.

    .venv/bin/python bench/web_identity.py --base /path/to/main/checkout

Exit status 0 when every answer is the same; else the first differences are printed.
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_web  # noqa: E402

CSRF = re.compile(rb'(name="csrf_token" value=")[^"]*(")')
PER_REQUEST = {"date", "set-cookie"}
EXTRA = [
    "/",
    "/about/",
    "/search/",
    "/api/states",
    "/api/bills",
    "/states/mn/",
    "/search/?q=%00",
    "/bills/mn/nope/HF1/",
    "/api/bills/mn/nope/HF1",
    "/api/bills?page=0",
]


def start(root: Path, db: Path) -> bench_web.Server:
    port = bench_web.free_port()
    env = {**bench_web.server_env(db), "PYTHONPATH": str(root)}
    argv = [bench_web.PY, "-m", "tracker.cli", "run", "--no-scheduler", "--port", str(port)]
    log = (bench_web.OUT / f"identity-{port}.log").open("wb")
    import subprocess
    import time
    import urllib.request

    proc = subprocess.Popen(argv, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if proc.poll() is not None:
            sys.exit(f"the server in {root} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                r.read()
            return bench_web.Server(str(root), proc, base)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"the server in {root} did not answer")


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, dict[str, str], bytes]:
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    headers: dict[str, str] = {}
    for k, v in r.getheaders():
        k = k.lower()
        headers[k] = f"{headers[k]}\n{v}" if k in headers else v
    return r.status, headers, body


def comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[Any, ...]:
    status, headers, body = answer
    personal = CSRF.search(body) is not None
    kept = {
        k: v
        for k, v in headers.items()
        if k not in PER_REQUEST and not (personal and k in ("etag", "content-length"))
    }
    return status, sorted(kept.items()), CSRF.sub(rb"\1\2", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--db", type=Path, default=bench_web.OUT / "mn.db")
    parser.add_argument("--show", type=int, default=5, help="differences to print")
    args = parser.parse_args()
    db = args.db.resolve()
    bench_web.ensure_imported(db, False)
    mix = bench_web.url_mix(db, argparse.Namespace(searches=2000, bill_pages=1000))
    urls = list(EXTRA)
    for drawn, _ in mix.values():
        urls += sorted(set(drawn), key=drawn.index)
    servers = [start(args.base.resolve(), db), start(ROOT, db)]
    differ = 0
    kinds: dict[int, int] = {}
    try:
        conns = [http.client.HTTPConnection(s.base.removeprefix("http://")) for s in servers]
        for round_ in ("first", "again (page cache)"):
            for path in urls:
                a, b = (comparable(fetch(c, path)) for c in conns)
                kinds[a[0]] = kinds.get(a[0], 0) + 1
                if a != b:
                    differ += 1
                    if differ <= args.show:
                        print(f"DIFFERS ({round_}): {path}")
                        for x, y in zip(a, b, strict=True):
                            if x != y:
                                print(f"  base: {str(x)[:600]}\n  this: {str(y)[:600]}")
    finally:
        for s in servers:
            s.stop()
    statuses = ", ".join(f"{n} × {k}" for k, n in sorted(kinds.items()))
    print(f"{len(urls):,} URLs, each fetched twice from both servers ({statuses}): ", end="")
    print("all identical" if not differ else f"{differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
