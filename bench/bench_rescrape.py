"""A first and a second scrape of an unchanged site: requests, bytes downloaded, pages parsed.

A local server (tests/httpserver.py) serves New Mexico's saved real pages under their original
URLs with ETags, as the real site would; the scraper runs twice through the real HttpClient with
a page archive and a parse cache. The aim: the second run downloads nothing the server can
answer with 304 and re-parses no page at all.

Run: .venv/bin/python bench/bench_rescrape.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from httpserver import LocalSite  # noqa: E402

from scrapers.archive import PageArchive  # noqa: E402
from scrapers.http import HttpClient  # noqa: E402
from scrapers.scrape import ParseCache, Scraper  # noqa: E402
from tracker.scraping import load_state_config  # noqa: E402
from tracker.settings import get_settings  # noqa: E402

PAGES = {
    "https://www.nmlegis.gov/Legislation/Legislation_List": "nm/legislation_list_no_results.html",
    "https://www.nmlegis.gov/Committee/Standing_Committee?CommitteeCode=HHHC": "nm/2021_HHHC_house_health_committee.html",
    "https://www.nmlegis.gov/Legislation/Legislation_List?Session=57": "nm/2019_legislation_list_session57.html",
    "https://www.nmlegis.gov/Legislation/Legislation?chamber=S&legType=B&legNo=11&year=19": "nm/2019_SB11_legislation_detail.html",
    "https://www.nmlegis.gov/Legislation/Legislation?chamber=H&legType=B&legNo=73&year=19": "nm/2019_HB73_legislation_detail.html",
}


def main() -> None:
    shared = get_settings().resolved_shared_dir()
    if shared is None:
        sys.exit("../shared is not available (set TRACKER_SHARED_DIR)")
    html = Path(shared) / "fixtures" / "real" / "html"
    work = Path(tempfile.mkdtemp(prefix="bench-rescrape-"))
    with LocalSite() as site:
        for url, rel in PAGES.items():
            site.add_file(url, html / rel, etag=True)
        print(
            f"{'run':6} {'requests':>8} {'304':>5} {'bytes':>10} {'parsed':>6} {'reused':>6} {'bills':>5} {'seconds':>7}"
        )
        for run in ("first", "second"):
            site.clear_log()
            with HttpClient(
                archive=PageArchive(work / "archive"),
                user_agent="bench",
                default_delay=0.0,
                timeout=10.0,
                max_bytes=20_000_000,
            ) as client:
                scraper = Scraper(
                    load_state_config("nm"),
                    client,
                    cache=ParseCache(work / "parse.sqlite"),
                    base_url=site.url("/").rstrip("/"),
                )
                scraper.client.set_host_delay(site.url("/").split("//")[1].rstrip("/"), 0.0)
                start = time.perf_counter()
                bills = list(scraper.run(sessions=["2019"], bills=["SB 11", "HB 73"]))
                took = time.perf_counter() - start
            s = scraper.stats
            requests = len([r for r in site.requests if r.path != "/robots.txt"])
            print(
                f"{run:6} {requests:8d} {s.not_modified:5d} {s.bytes:10d} {s.parsed:6d} {s.reused:6d} "
                f"{len(bills):5d} {took:7.2f}"
            )


if __name__ == "__main__":
    main()
