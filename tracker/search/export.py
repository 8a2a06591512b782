"""Search results as CSV or JSON rows: every hit, fixed columns, safe for spreadsheets."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tracker.search.query import SearchQuery
from tracker.urls import bill_path_of

EXPORT_COLUMNS = (
    "state",
    "session",
    "identifier",
    "title",
    "stage",
    "topic",
    "relevant",
    "latest_action_date",
    "latest_action_description",
    "url",
)
MAX_EXPORT_ROWS = 20_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection list


def export_query(query: SearchQuery, limit: int = MAX_EXPORT_ROWS) -> SearchQuery:
    """The same search as one page holding every row (an export ignores pagination)."""
    return replace(query, page=1, per_page=limit)


def export_rows(hits: Iterable[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    base = base_url.rstrip("/")
    return [
        {**{c: h.get(c) for c in EXPORT_COLUMNS if c != "url"}, "url": base + bill_path_of(h)}
        for h in hits
    ]


def csv_safe(value: Any) -> Any:
    """Keep spreadsheets from running scraped text as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(rows: Iterable[dict[str, Any]], out: Any) -> None:
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
