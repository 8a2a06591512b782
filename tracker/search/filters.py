"""The query's filters (state, session, stage, topic, relevance, dates) as SQL conditions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tracker.search.query import SearchQuery
from tracker.tables import bill_table


def filter_conditions(query: SearchQuery) -> list[Any]:
    """Conditions on ``bill`` for the query's filters (the words are matched elsewhere)."""
    conds: list[Any] = []
    if query.state:
        conds.append(bill_table.c.state.in_(query.state))
    if query.session:
        conds.append(bill_table.c.session == query.session.replace("\x00", ""))
    if query.stage:
        conds.append(bill_table.c.stage.in_(query.stage))
    if query.topic:
        conds.append(bill_table.c.topic.in_(query.topic))
    if query.relevant:
        conds.append(bill_table.c.relevant.is_(True))
    if query.since:
        conds.append(bill_table.c.latest_action_date >= query.since)
    if query.until:
        next_day = (date.fromisoformat(query.until) + timedelta(days=1)).isoformat()
        conds.append(bill_table.c.latest_action_date < next_day)
    return conds
