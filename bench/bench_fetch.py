"""Figures for the polite client: a first and a second fetch of an unchanged site, and throughput.

Serves every saved real page with a known URL (../shared/fixtures/real/html) from a local server,
once with ETag/Last-Modified support and once without, and fetches them all twice through
HttpClient with a PageArchive. Prints requests, bytes, 304s and pages that need re-parsing.

Run: .venv/bin/python bench/bench_fetch.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from httpserver import LocalSite, http_date  # noqa: E402

from scrapers.archive import PageArchive  # noqa: E402
from scrapers.http import HttpClient  # noqa: E402
from tracker.settings import get_settings  # noqa: E402

UA = "SinglePayerTracker-bench/1.0 (+https://example.org; bench@example.org)"


def scrape(client: HttpClient, urls: list[str]) -> dict[str, float]:
    before = client.stats()
    started = time.perf_counter()
    reparse = sum(not client.get(url).unchanged for url in urls)
    seconds = time.perf_counter() - started
    after = client.stats()
    return {
        "requests": after["requests"] - before["requests"],
        "bytes": after["bytes"] - before["bytes"],
        "304s": after["not_modified"] - before["not_modified"],
        "to parse": reparse,
        "seconds": seconds,
    }


def run_site(html_dir: Path, *, validators: bool) -> None:
    options = {"etag": True, "last_modified": http_date(time.time() - 86400)} if validators else {}
    with LocalSite() as site, tempfile.TemporaryDirectory() as tmp:
        served = site.serve_real_pages(html_dir, **options)
        urls = sorted(set(served.values()))
        with (
            PageArchive(Path(tmp)) as archive,
            HttpClient(
                user_agent=UA, default_delay=0, timeout=5, max_bytes=20_000_000, archive=archive
            ) as client,
        ):
            label = "with ETag/Last-Modified" if validators else "without validators"
            print(f"\n{len(urls)} real pages, server {label}")
            print(
                f"{'run':<8}{'requests':>10}{'bytes':>12}{'304s':>7}{'to parse':>10}{'seconds':>9}"
            )
            for run in ("first", "second"):
                f = scrape(client, urls)
                print(
                    f"{run:<8}{f['requests']:>10}{f['bytes']:>12,}{f['304s']:>7}"
                    f"{f['to parse']:>10}{f['seconds']:>9.3f}"
                )


def throughput(html_dir: Path, rounds: int) -> None:
    page = html_dir / "nm" / "2019_SB11_legislation_detail.html"
    with (
        LocalSite() as site,
        HttpClient(user_agent=UA, default_delay=0, timeout=5, max_bytes=20_000_000) as client,
    ):
        site.add("/bill", page)
        url = site.url("/bill")
        client.get(url)
        started = time.perf_counter()
        for _ in range(rounds):
            client.get(url)
        seconds = time.perf_counter() - started
    size = page.stat().st_size
    print(
        f"\nclient overhead: {rounds} GETs of a {size:,}-byte page in {seconds:.2f}s = "
        f"{rounds / seconds:.0f} requests/s, {rounds * size / seconds / 1e6:.1f} MB/s "
        "(local server, no delay; a live host allows about 1 request/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    shared = get_settings().resolved_shared_dir()
    if shared is None:
        sys.exit("../shared not found; set TRACKER_SHARED_DIR")
    html_dir = shared / "fixtures" / "real" / "html"
    run_site(html_dir, validators=True)
    run_site(html_dir, validators=False)
    throughput(html_dir, args.rounds)


if __name__ == "__main__":
    main()
