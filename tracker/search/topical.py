"""Search that knows the topic: words that name a topic also find the bills decided on it.

A staffer typing ``single payer``, ``medicare for all`` or ``universal healthcare`` wants the
single-payer bills, and many of those are known only by the name of the programme they create
("New York Health Act", "CalCare"). The topic classifier has already decided every bill
(``bill.topic``, ``bill.topic_decision``, ``bill.relevant``); when the whole query, outside any
"quotes", is a topic's name or one of its synonyms, the search adds those bills to the literal
matches and ranks them first: `yes` (``relevant``) before `possible` before bills that only
contain the words. The synonyms are data, listed next to each topic in ``config/topics.yaml``.
A phrase in double quotes stays literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, or_, select

from tracker.models import Bill
from tracker.search.backends import Match
from tracker.search.facets import FacetValue, count_and_facets, facet_values
from tracker.search.query import WORD, SearchQuery, TextQuery
from tracker.vocab import RELEVANT_TOPICS

bill_table = Bill.__table__

# the decision order within the topic's bills: yes, then possible
YES, POSSIBLE = 0, 1
_HEALTHCARE = re.compile(r"\bhealthcare\b")


@dataclass(frozen=True)
class TopicMatch:
    """The topic a query's words name, and the synonym they matched."""

    topic: str
    phrase: str

    def condition(self) -> Any:
        """The bills decided on this topic: for single-payer `yes` (``relevant``) or
        `possible`; for any other topic, its bills."""
        if self.topic in RELEVANT_TOPICS:
            return or_(bill_table.c.relevant.is_(True), bill_table.c.topic_decision == "possible")
        return bill_table.c.topic == self.topic

    def rank(self) -> Any:
        """0 for a `yes` bill, 1 for a `possible` one (SQL), to order the topic's bills."""
        if self.topic not in RELEVANT_TOPICS:
            return case((bill_table.c.topic == self.topic, YES), else_=POSSIBLE)
        return case((bill_table.c.relevant.is_(True), YES), else_=POSSIBLE)


def normalize(words: str) -> str:
    """Lower case, words only (hyphens and punctuation dropped), "healthcare" as "health care"."""
    return _HEALTHCARE.sub("health care", " ".join(WORD.findall(words.lower())))


def topic_of(raw: str, text_query: TextQuery, config_dir: Path | None = None) -> TopicMatch | None:
    """The topic the query names, or None: the whole query must be unquoted plain words (no
    OR, -exclusion or prefix*) equal to a topic's name or one of its synonyms."""
    if '"' in raw or len(text_query.groups) != 1 or text_query.excluded:
        return None
    items = text_query.groups[0]
    if any(item.prefix for item in items):
        return None
    phrase = normalize(" ".join(w for item in items for w in item.words))
    topic = synonyms(config_dir or _config_dir()).get(phrase)
    return TopicMatch(topic, phrase) if topic else None


def _config_dir() -> Path:
    from tracker.settings import get_settings

    return Path(get_settings().resolved_config_dir)


def synonyms(config_dir: Path) -> dict[str, str]:
    """Normalised synonym -> topic, from the topics file (re-read when it changes)."""
    from tracker.topics import TOPICS_FILE

    path = config_dir / TOPICS_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _synonyms(path, stamp)


@lru_cache(maxsize=8)
def _synonyms(path: Path, stamp: int) -> dict[str, str]:
    from tracker.topics import load_topics_config

    found: dict[str, str] = {}
    for topic, spec in load_topics_config(path).topics.items():
        for phrase in spec.synonyms:
            found.setdefault(normalize(phrase), topic)
    found.pop("", None)
    return found


def decided_bills(
    conn: Connection, named: TopicMatch, filters: list[Any], sponsor: Match | None
) -> list[tuple[int, int]]:
    """(bill id, YES or POSSIBLE) of the topic's bills passing the filters, newest first.

    A few hundred bills at most (the classifier's decisions), read from the narrow index."""
    conds = [*filters, named.condition()]
    if sponsor is not None:
        conds.append(bill_table.c.id.in_(sponsor.ids))
    recency = [bill_table.c.latest_action_date.desc().nulls_last(), bill_table.c.id.desc()]
    stmt = select(bill_table.c.id, named.rank()).where(*conds).order_by(*recency)
    return [(int(i), int(r)) for i, r in conn.execute(stmt)]


def merged_facets(
    conn: Connection,
    query: SearchQuery,
    literal: dict[str, list[FacetValue]],
    decided: list[int],
    overlap: list[int],
) -> dict[str, list[FacetValue]]:
    """The literal matches' facet counts plus the decided bills', less those in both."""
    counts: dict[str, dict[str, int]] = {
        name: {f.value: f.count for f in values} for name, values in literal.items()
    }
    for ids, sign in ((decided, 1), (overlap, -1)):
        if not ids:
            continue
        _, extra = count_and_facets(conn, query, [bill_table.c.id.in_(ids)], cover=True)
        for name, values in extra.items():
            into = counts.setdefault(name, {})
            for f in values:
                into[f.value] = into.get(f.value, 0) + sign * f.count
    pairs = {name: [(v, n) for v, n in c.items() if n > 0] for name, c in counts.items()}
    return facet_values(query, pairs)
