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

from tracker.paths import TOPICS_FILE
from tracker.search.backends import Match
from tracker.search.facets import FACETS, FacetValue, facet_values
from tracker.search.query import WORD, SearchQuery, TextQuery
from tracker.tables import bill_table
from tracker.vocab import RELEVANT_TOPICS

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
    """Normalised synonym -> topic, from the topics file (re-read when it changes; kept on disk
    between processes by :mod:`.synonym_cache`, so a command need not import tracker.topics)."""
    path = config_dir / TOPICS_FILE
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _synonyms(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _synonyms(path: Path, _mtime_ns: int, _size: int) -> dict[str, str]:
    from tracker.search.synonym_cache import cached_synonyms

    return cached_synonyms(path, derive_synonyms)


def derive_synonyms(path: Path) -> dict[str, str]:
    """The table itself, from the topics file read through tracker.topics' model."""
    from tracker.topics import load_topics_config

    found: dict[str, str] = {}
    for topic, spec in load_topics_config(path).topics.items():
        for phrase in spec.synonyms:
            found.setdefault(normalize(phrase), topic)
    found.pop("", None)
    return found


@dataclass(frozen=True)
class Decided:
    """One bill of the named topic: its id, YES or POSSIBLE, latest action and facet values."""

    id: int
    rank: int
    latest: Any
    facets: tuple[Any, ...]  # as FACETS


def decided_bills(
    conn: Connection, named: TopicMatch, filters: list[Any], sponsor: Match | None
) -> list[Decided]:
    """The topic's bills passing the filters, newest first (then by id, as SQL would).

    A few hundred bills at most (the classifier's decisions): sorted here, since SQLite
    would rather walk the whole date index looking for them."""
    conds = [*filters, named.condition()]
    if sponsor is not None:
        conds.append(bill_table.c.id.in_(sponsor.ids))
    cols = [bill_table.c.id, named.rank(), bill_table.c.latest_action_date]
    stmt = select(*cols, *[bill_table.c[name] for name in FACETS]).where(*conds)
    rows = [Decided(int(i), int(r), latest, tuple(f)) for i, r, latest, *f in conn.execute(stmt)]
    rows.sort(key=lambda d: d.id, reverse=True)
    rows.sort(key=lambda d: (d.latest is not None, str(d.latest or "")), reverse=True)
    return rows


def merged_facets(
    query: SearchQuery,
    literal: dict[str, list[FacetValue]],
    decided: list[Decided],
    overlap: set[int],
) -> dict[str, list[FacetValue]]:
    """The literal matches' facet counts plus the decided bills' not among them."""
    counts: dict[str, dict[str, int]] = {
        name: {f.value: f.count for f in values} for name, values in literal.items()
    }
    for bill in decided:
        if bill.id in overlap:
            continue
        for name, value in zip(FACETS, bill.facets, strict=True):
            if value is not None:
                into = counts.setdefault(name, {})
                into[value] = into.get(value, 0) + 1
    return facet_values(query, {name: list(c.items()) for name, c in counts.items()})
