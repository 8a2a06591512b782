"""CPU per uncached request, in this process: bench_web's URL mix through the ASGI app.

    .venv/bin/python bench/web_cpu.py                    # CPU ms per request, each endpoint
    .venv/bin/python bench/web_cpu.py --profile bill     # cProfile of the bill pages
    .venv/bin/python bench/web_cpu.py --inline           # the worker-thread part run inline

The app is built as `tracker run` builds it, on bench_web's MN scratch database, with the page
cache off (TRACKER_PAGE_CACHE_MB=0): every request builds its page. Each endpoint's first
`--urls` distinct URLs of the mix are requested one after another, `--reps` times; the figure
is the median process CPU time per request. No server, no client, no other thread at work: a
steadier measure than bench_web's on a shared machine, without the HTTP server's own cost.
Compare two checkouts by running each one's copy of this script (same database).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_web  # noqa: E402


async def call(app: Any, url: str) -> int:
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def run(app: Any, urls: list[str]) -> None:
    for url in urls:
        status = await call(app, url)
        if status >= 500:
            sys.exit(f"{url}: {status}")


async def main(args: argparse.Namespace) -> None:
    db = args.db.resolve()
    bench_web.ensure_imported(db, False)
    for key, value in bench_web.server_env(db).items():
        if key.startswith("TRACKER_"):
            os.environ[key] = value
    os.environ["TRACKER_PAGE_CACHE_MB"] = "0"
    mix = bench_web.url_mix(db, argparse.Namespace(searches=2000, bill_pages=1000))
    if args.inline:
        import tracker.web.pagecache as pagecache

        async def inline(fn: Any, *a: Any) -> Any:
            return fn(*a)

        pagecache.run_in_threadpool = inline  # type: ignore[assignment]
    from tracker.web.app import create_app

    app = create_app()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        for name, (drawn, _) in mix.items():
            if args.profile and not name.startswith(("/" + args.profile, args.profile)):
                continue
            urls = sorted(set(drawn), key=drawn.index)[: args.urls]
            await run(app, urls[:20])  # templates compiled, statements prepared
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await run(app, urls)
                profile.disable()
                print(f"===== {name}")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
                continue
            took = []
            for _ in range(args.reps):
                start = time.process_time()
                await run(app, urls)
                took.append((time.process_time() - start) * 1000 / len(urls))
            took.sort()
            each = " ".join(f"{t:.3f}" for t in took)
            print(f"{name:<16} CPU ms/request: median {took[len(took) // 2]:.3f} (each: {each})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=bench_web.OUT / "mn.db")
    parser.add_argument("--urls", type=int, default=300, help="distinct URLs per endpoint")
    parser.add_argument("--reps", type=int, default=5, help="passes over them")
    parser.add_argument("--inline", action="store_true", help="no worker thread")
    parser.add_argument("--profile", help="cProfile one endpoint: search, api or bill")
    asyncio.run(main(parser.parse_args()))
