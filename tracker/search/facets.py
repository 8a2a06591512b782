"""Facet counts: how many of the found bills are in each state, stage, topic and session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from tracker.search.plans import COVER_INDEX, STATE_INDEX, execute
from tracker.search.query import SearchQuery
from tracker.tables import bill_table
from tracker.vocab import STAGE_LABELS, STATE_NAMES, TOPIC_LABELS

FACETS = ("state", "stage", "topic", "session")
SESSION_FACET_LIMIT = 20


@dataclass
class FacetValue:
    value: str
    count: int
    label: str
    selected: bool = False


_FACET_LABELS: dict[str, Any] = {
    "state": lambda v: STATE_NAMES.get(v, v.upper()),
    "stage": lambda v: STAGE_LABELS.get(v, v),
    "topic": lambda v: TOPIC_LABELS.get(v, v),
    "session": lambda v: v,
}


def count_and_facets(
    conn: Connection, query: SearchQuery, conds: list[Any], *, cover: bool = False
) -> tuple[int, dict[str, list[FacetValue]]]:
    """The total and every facet's counts over the filtered (and matched) bills.

    One GROUP BY over all facet columns, summed per facet here, reads the bills once. On
    SQLite it runs on a narrow covering index (by id for matched bills, else by state);
    PostgreSQL plans filter-only facets better one column at a time.
    """
    sums: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    if cover or conn.dialect.name == "sqlite":
        cols = [bill_table.c[name] for name in FACETS]
        stmt = select(*cols, func.count()).select_from(bill_table).where(*conds).group_by(*cols)
        total = 0
        index = COVER_INDEX if cover else STATE_INDEX
        for *values, n in execute(conn, stmt, index=index):
            total += n
            for name, value in zip(FACETS, values, strict=True):
                if value is not None:
                    sums[name][value] = sums[name].get(value, 0) + n
    else:
        total = conn.execute(
            select(func.count()).select_from(bill_table).where(*conds)
        ).scalar_one()
        for name in FACETS:
            column = bill_table.c[name]
            stmt = select(column, func.count()).where(*conds, column.is_not(None)).group_by(column)
            sums[name] = {row[0]: row[1] for row in conn.execute(stmt)}
    return total, facet_values(query, {k: list(v.items()) for k, v in sums.items()})


def facet_values(
    query: SearchQuery, counts: dict[str, list[tuple[str, int]]]
) -> dict[str, list[FacetValue]]:
    facets: dict[str, list[FacetValue]] = {}
    for name, pairs in counts.items():
        pairs = sorted(pairs, key=lambda p: (-p[1], p[0]))
        if name == "session":
            pairs = pairs[:SESSION_FACET_LIMIT]
        chosen = (query.session,) if name == "session" else getattr(query, name)
        facets[name] = [
            FacetValue(value, n, _FACET_LABELS[name](value), value in chosen) for value, n in pairs
        ]
    return facets
