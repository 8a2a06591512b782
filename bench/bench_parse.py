"""Parse speed per state over the saved real pages: how much our extraction costs over parsing.

For every page named in a state's ``examples:`` this times, per page and summed per state:

- ``bs4``: BeautifulSoup on the lxml tree builder alone (``lxml-xml`` for XML pages);
- ``lxml``: bare lxml (``lxml.html.fromstring`` / ``lxml.etree.fromstring``);
- ``ours``: our full extraction of that page kind (parse + selectors + transforms), i.e.
  :func:`scrapers.engine.parse_page`.

It prints pages per second for each and ``ours / bs4``, the aim being at most 1.5 (extraction
adds no more than half again over the BeautifulSoup parse). JSON and delimited pages have no
BeautifulSoup parse and are reported apart.

Run: .venv/bin/python bench/bench_parse.py [--repeat N] [state ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bs4 import BeautifulSoup  # noqa: E402
from lxml import etree  # noqa: E402
from lxml import html as lxml_html  # noqa: E402

from scrapers.engine import ExtractionError, parse_page  # noqa: E402
from scrapers.extract import decode  # noqa: E402
from tracker.collect.examples import resolve_fixture  # noqa: E402
from tracker.scraping import list_states, load_state_config  # noqa: E402


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def pages_of(state: str) -> list[tuple[str, str, bytes, str | None, str | None]]:
    """(kind, path, body, url, session) of every distinct saved page of the state's examples."""
    cfg = load_state_config(state)
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in cfg.examples:
        for kind, path in ex.pages.items():
            if (kind, path) in seen:
                continue
            seen.add((kind, path))
            out.append((kind, path, resolve_fixture(path).read_bytes(), ex.url, ex.session))
    return out


def time_page(
    cfg, kind: str, body: bytes, url: str | None, session: str | None, repeat: int
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Best-of-`repeat` seconds for the BeautifulSoup parse, bare lxml and our extraction."""
    page = cfg.pages[kind]
    ours = _best(lambda: _ours(cfg, kind, body, url, session), repeat)
    if page.format == "html":
        text = decode(body, page.encoding)
        return {
            "bs4": _best(lambda: BeautifulSoup(text, "lxml"), repeat),
            "lxml": _best(lambda: lxml_html.fromstring(body), repeat),
            "ours": ours,
        }
    if page.format == "xml":
        return {
            "bs4": _best(lambda: BeautifulSoup(body, "lxml-xml"), repeat),
            "lxml": _best(lambda: etree.fromstring(body.lstrip()), repeat),
            "ours": ours,
        }
    return {"ours": ours}


def bench_state(state: str, repeat: int) -> dict[str, float]:
    cfg = load_state_config(state)
    totals: dict[str, float] = defaultdict(float)
    for kind, _path, body, url, session in pages_of(state):
        t = time_page(cfg, kind, body, url, session, repeat)
        if "bs4" not in t:  # JSON and delimited pages have no BeautifulSoup parse
            totals["other_pages"] += 1
            totals["other_ours"] += t["ours"]
            continue
        totals["pages"] += 1
        totals["bytes"] += len(body)
        for key in ("bs4", "lxml", "ours"):
            totals[key] += t[key]
    return totals


def _ours(cfg, kind, body, url, session):  # type: ignore[no-untyped-def]
    try:
        parse_page(cfg, kind, body, url=url, session=session)
    except ExtractionError:
        pass  # an expected error page still costs a full parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("states", nargs="*", help="state codes (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per page")
    args = parser.parse_args()
    states = args.states or list_states()
    head = f"{'state':5} {'pages':>5} {'MB':>6} {'bs4 p/s':>8} {'lxml p/s':>8} {'ours p/s':>8} {'ours/bs4':>8} {'bs4/lxml':>8}"
    print(head)
    print("-" * len(head))
    grand: dict[str, float] = defaultdict(float)
    for st in states:
        t = bench_state(st, args.repeat)
        for k, v in t.items():
            grand[k] += v
        _row(st, t)
    print("-" * len(head))
    _row("all", grand)
    if grand["other_pages"]:
        rate = grand["other_pages"] / grand["other_ours"]
        print(f"JSON/delimited pages: {int(grand['other_pages'])}, ours {rate:.1f} pages/s")


def _row(label: str, t: dict[str, float]) -> None:
    if not t.get("pages"):
        print(f"{label:5} (no HTML/XML pages)")
        return
    n = t["pages"]
    print(
        f"{label:5} {int(n):5d} {t['bytes'] / 1e6:6.2f} {n / t['bs4']:8.1f} {n / t['lxml']:8.1f} "
        f"{n / t['ours']:8.1f} {t['ours'] / t['bs4']:8.2f} {t['bs4'] / t['lxml']:8.1f}"
    )


if __name__ == "__main__":
    main()
