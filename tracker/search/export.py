"""Search results as CSV rows (every hit, fixed columns, safe for spreadsheets) or as the JSON
of GET /api/bills, shared by the API and `tracker search --format json`."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tracker.search.query import SearchQuery
from tracker.urls import api_bill_path, bill_path_of, search_path
from tracker.vocab import TOPIC_LABELS

if TYPE_CHECKING:
    from tracker.search.results import SearchResult

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


def result_json(result: SearchResult, base_url: str) -> dict[str, Any]:
    """A search result as GET /api/bills answers it (and `tracker search --format json`)."""
    q = result.query
    base = base_url.rstrip("/")
    hits = [
        {**h, "url": base + bill_path_of(h), "api_url": base + api_bill_path(h)}
        for h in result.hits
    ]
    pairs = q.to_pairs(page=False)
    return {
        "query": {
            **{k: v for k, v in q.__dict__.items()},
            "state": list(q.state),
            "stage": list(q.stage),
            "topic": list(q.topic),
        },
        "total": result.total,
        # false: total and facet counts are lower bounds over part of a big match set
        "total_exact": result.total_exact,
        "page": q.page,
        "per_page": q.per_page,
        "pages": result.pages,
        "bill_number": result.bill_number,
        "topic": (
            {"value": result.topic, "label": TOPIC_LABELS.get(result.topic, result.topic)}
            if result.topic
            else None
        ),
        "results": hits,
        "facets": {
            name: [{"value": f.value, "label": f.label, "count": f.count} for f in values]
            for name, values in result.facets.items()
        },
        "warnings": result.warnings,
        "links": {
            "self": search_path(q.to_pairs(), base="/api/bills"),
            "html": search_path(q.to_pairs(), base="/search/"),
            "csv": search_path(pairs, base="/api/bills.csv"),
            "next": (
                search_path(q.at_page(q.page + 1).to_pairs(), base="/api/bills")
                if q.page < result.pages
                else None
            ),
        },
    }
