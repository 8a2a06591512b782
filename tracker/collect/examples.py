"""Saved pages in, JSON out: what ``tracker scrapers parse`` prints and ``check`` compares.

The scrapers library parses; a printed bill is also understood (classified actions, stage) by
:mod:`tracker.understand`, the same code ingest runs, so the output shows what would be stored.

:func:`parse_pages` runs a state config over pages of named kinds that together describe one bill
(a bill page and its augment pages: a JSON object) or one list (list and index pages: a JSON
array). Each state config lists its saved pages under ``examples:``; :func:`run_example` parses one
and :func:`compare` diffs it against ``tests/expected/<st>/<name>.json``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from scrapers.config import Example, StateConfig
from scrapers.engine import (
    BillPages,
    ExtractionError,
    assemble_bill,
    bill_from_pages,
    group_index,
    merge_index,
    parse_page,
)
from tracker.scraped import ScrapedBill
from tracker.settings import get_settings
from tracker.understand import understood

# Stages depend on "today" only for sessions still running; fix it so outputs are reproducible.
EXAMPLE_TODAY = date(2025, 6, 30)


def expected_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "expected"


def fixture_roots() -> list[Path]:
    """Where example page paths are looked up: ../shared/fixtures/real/html, then the repo."""
    roots = []
    shared = get_settings().resolved_shared_dir()
    if shared:
        roots.append(Path(shared) / "fixtures" / "real" / "html")
    roots.append(Path(__file__).resolve().parents[2])
    return roots


def resolve_fixture(path: str) -> Path:
    for root in fixture_roots():
        candidate = root / path
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(r) for r in fixture_roots())
    raise FileNotFoundError(
        f"saved page {path!r} not found under {tried} (set TRACKER_SHARED_DIR?)"
    )


def understood_for(
    config: StateConfig, bill: ScrapedBill, *, today: date | None = None
) -> ScrapedBill:
    """The parsed bill with classified actions and its stage, as ingest would understand it
    (the session's end date from the state's config)."""
    try:
        spec = config.session(bill.legislative_session)
        session_end = spec.end_date.isoformat() if spec.end_date else None
    except KeyError:
        session_end = None
    return understood(bill, session_end=session_end, today=today)


def _clean(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _bill_json(bill: Any) -> dict[str, Any]:
    return bill.model_dump(mode="json")


def parse_pages(
    config: StateConfig,
    pages: Mapping[str, bytes | str],
    *,
    url: str | None = None,
    session: str | None = None,
    today: date | None = None,
) -> Any:
    """Parse pages (kind -> body) of one bill or one list into JSON-ready data.

    `url` is the address of the bill or list page (the first page given); augment pages are
    parsed without one unless the bill page's values name it.
    """
    roles = {kind: config.pages[kind].role for kind in pages}
    if "bill" in roles.values():
        bodies = {
            kind: (body, url if roles[kind] == "bill" else None) for kind, body in pages.items()
        }
        bill = bill_from_pages(config, bodies, session=session)
        return _bill_json(understood_for(config, bill, today=today))
    if set(roles.values()) == {"augment"}:
        collected = BillPages()
        for kind, body in pages.items():
            collected.add(parse_page(config, kind, body, url=url, session=session))
        merged: dict[str, Any] = {}
        for record in collected.records:
            for k, v in _clean(record).items():
                merged.setdefault(k, v)
        return merged
    lists = [k for k, r in roles.items() if r == "list"]
    indexes = [k for k, r in roles.items() if r == "index"]
    sessions = [k for k, r in roles.items() if r == "sessions"]
    out: list[Any] = []
    for kind in sessions:
        out += [_clean(item) for item in parse_page(config, kind, pages[kind], url=url).items]
    index_items = [
        item
        for kind in indexes
        for item in parse_page(
            config, kind, pages[kind], url=None if lists else url, session=session
        ).items
    ]
    for kind in lists:
        result = parse_page(config, kind, pages[kind], url=url, session=session)
        if config.pages[kind].yields == "bills":
            merged_items, _ = merge_index(result.items, index_items)
            for item in merged_items:
                collected = BillPages()
                collected.add({k: v for k, v in item.items() if k != "url"}, url=url, kind=kind)
                bill = assemble_bill(config, collected, session=session)
                out.append(_bill_json(understood_for(config, bill, today=today)))
        else:
            out += [_clean(item) for item in result.items]
            out += [{"list_url": u} for u in result.follow_urls]
            if result.next_url:
                out.append({"next_page": result.next_url})
    if indexes and not lists:
        out += group_index(index_items)
    return out


@dataclass
class ExampleResult:
    state: str
    name: str
    output: Any
    expected: Any
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.output == self.expected

    def diff(self) -> str:
        left = (
            _dumps(self.expected).splitlines()
            if self.expected is not None
            else ["(no expected file)"]
        )
        right = _dumps(self.output).splitlines()
        return "\n".join(difflib.unified_diff(left, right, "expected", "parsed", lineterm="", n=2))


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _sample(data: Any, n: int | None) -> Any:
    if n is None or not isinstance(data, list):
        return data
    return {"count": len(data), "first": data[:n], "last": data[-n:] if len(data) > n else []}


def run_example(config: StateConfig, example: Example) -> Any:
    """The JSON an example's pages give; an expected error page gives {"error": message}."""
    pages = {kind: resolve_fixture(path).read_bytes() for kind, path in example.pages.items()}
    try:
        output = parse_pages(
            config, pages, url=example.url, session=example.session, today=EXAMPLE_TODAY
        )
    except ExtractionError as exc:
        if not example.error:
            raise
        return {"error": exc.reason, "selector": exc.selector}
    if example.error:
        raise AssertionError(
            f"{config.state}/{example.name}: expected an error, but the pages parsed"
        )
    return _sample(output, example.sample)


def expected_path(state: str, name: str) -> Path:
    return expected_dir() / state / f"{name}.json"


def compare(config: StateConfig, example: Example, *, update: bool = False) -> ExampleResult:
    path = expected_path(config.state, example.name)
    try:
        output = run_example(config, example)
        error = None
    except (ExtractionError, AssertionError) as exc:
        output, error = {"unexpected error": str(exc)}, str(exc)
    if update and error is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dumps(output), encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return ExampleResult(config.state, example.name, output, expected, error)
