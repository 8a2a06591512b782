"""What a staffer asked for: the query's URL parameters, its words and typed bill numbers.

User input never reaches MATCH or ``to_tsquery`` as typed: :func:`parse_text` reduces it to our own
tokens (words of letters and digits, ``word*`` prefixes, ``"quoted phrases"``, ``-excluded`` words
and ``OR`` between groups); the backends build their queries from those tokens only. Bad URL
parameters are dropped with a warning rather than refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from tracker.identifiers import normalize_identifier
from tracker.vocab import ALL_STAGES, STATE_NAMES, TOPICS

MAX_QUERY_CHARS = 500
MAX_TOKENS = 24
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 25
SORTS = ("relevance", "recency")

# --------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class SearchQuery:
    """What a staffer asked for. Every field has a URL parameter of the same name."""

    q: str = ""
    state: tuple[str, ...] = ()
    session: str | None = None
    stage: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()
    sponsor: str | None = None
    since: str | None = None  # last action on or after this date (YYYY[-MM[-DD]])
    until: str | None = None  # last action on or before this date
    relevant: bool = False
    sort: str = "relevance"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Any]]) -> tuple[SearchQuery, list[str]]:
        """Build a query from URL-style (key, value) pairs, leniently: bad values are dropped
        and described in the returned warnings instead of raising."""
        multi: dict[str, list[str]] = {}
        for key, value in pairs:
            if value is None:
                continue
            values = value if isinstance(value, list | tuple) else [value]
            # NUL and other control characters never reach the database (PostgreSQL rejects NUL)
            cleaned = (_CONTROL.sub("", str(v)) for v in values)
            multi.setdefault(key, []).extend(v for v in cleaned if v.strip() != "")
        warnings: list[str] = []
        first = {k: v[0].strip() for k, v in multi.items() if v}
        query = cls(
            q=first.get("q", "")[:MAX_QUERY_CHARS],
            state=_pick(multi.get("state"), _valid_state, "state", warnings),
            session=(first.get("session") or None),
            stage=_pick(
                multi.get("stage"), lambda s: s if s in ALL_STAGES else None, "stage", warnings
            ),
            topic=_pick(
                multi.get("topic"), lambda t: t if t in TOPICS else None, "topic", warnings
            ),
            sponsor=(first.get("sponsor", "")[:200] or None),
            since=_date_param(first.get("since"), "since", warnings, end=False),
            until=_date_param(first.get("until"), "until", warnings, end=True),
            relevant=first.get("relevant", "").lower() in ("1", "true", "yes", "on"),
            sort=first["sort"] if first.get("sort") in SORTS else "relevance",
            page=_int_param(first.get("page"), 1, 1, 100_000),
            per_page=_int_param(first.get("per_page"), DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        )
        return query, warnings

    def to_pairs(self, *, page: bool = True) -> list[tuple[str, str]]:
        """URL parameters in a fixed order, defaults left out: a stable URL per result set."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs += [("state", s) for s in self.state]
        if self.session:
            pairs.append(("session", self.session))
        pairs += [("stage", s) for s in self.stage]
        pairs += [("topic", t) for t in self.topic]
        for key in ("sponsor", "since", "until"):
            if getattr(self, key):
                pairs.append((key, getattr(self, key)))
        if self.relevant:
            pairs.append(("relevant", "1"))
        if self.sort != "relevance":
            pairs.append(("sort", self.sort))
        if page and self.page != 1:
            pairs.append(("page", str(self.page)))
        if self.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(self.per_page)))
        return pairs

    def toggled(self, facet: str, value: str) -> SearchQuery:
        """This query with a facet value added (or removed if present), back on page 1."""
        if facet == "session":
            return replace(self, session=None if self.session == value else value, page=1)
        current: tuple[str, ...] = getattr(self, facet)
        values = tuple(v for v in current if v != value)
        if len(values) == len(current):
            values = current + (value,)
        changed: dict[str, Any] = {facet: values}
        return replace(self, **changed, page=1)

    def at_page(self, page: int) -> SearchQuery:
        return replace(self, page=page)

    @property
    def has_filters(self) -> bool:
        return bool(
            self.state
            or self.session
            or self.stage
            or self.topic
            or self.sponsor
            or self.since
            or self.until
            or self.relevant
        )


def _valid_state(value: str) -> str | None:
    value = value.strip().lower()
    return value if value in STATE_NAMES else None


def _pick(values: list[str] | None, check: Any, name: str, warnings: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in values or []:
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            ok = check(part)
            if ok is None:
                warnings.append(f"ignored unknown {name} {part[:40]!r}")
            elif ok not in out:
                out.append(ok)
    return tuple(out)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_PARAM = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def _date_param(value: str | None, name: str, warnings: list[str], *, end: bool) -> str | None:
    """Normalise YYYY, YYYY-MM or YYYY-MM-DD to a full date (the range's first or last day)."""
    if not value:
        return None
    m = _DATE_PARAM.match(value.strip())
    try:
        if not m:
            raise ValueError
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        if day:
            return date(year, int(month), int(day)).isoformat()
        if month:
            first = date(year, int(month), 1)
            if not end:
                return first.isoformat()
            nxt = date(year + (first.month == 12), first.month % 12 + 1, 1)
            return (nxt - timedelta(days=1)).isoformat()
        return date(year, 12, 31).isoformat() if end else date(year, 1, 1).isoformat()
    except ValueError:
        warnings.append(f"ignored {name} {value[:40]!r}: use a date like 2025-03-01")
        return None


def _int_param(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value))) if value else default
    except ValueError:
        return default


# --------------------------------------------------------------------------- text parsing


@dataclass(frozen=True)
class Item:
    """One searchable unit: a word, a prefix (``word*``) or a phrase of words."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class TextQuery:
    groups: tuple[tuple[Item, ...], ...] = ()  # OR of groups; each group is an AND of items
    excluded: tuple[Item, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(self.groups)


WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_MIN_PREFIX = 2


def parse_text(raw: str) -> TextQuery:
    """Reduce any input to our own tokens. Never raises; drops what it cannot use."""
    groups: list[list[Item]] = [[]]
    excluded: list[Item] = []
    count = 0
    for m in _TOKEN.finditer((raw or "")[:MAX_QUERY_CHARS]):
        if count >= MAX_TOKENS:
            break
        if m.group(3) == "OR":
            if groups[-1]:
                groups.append([])
            continue
        if m.group(3) in ("AND", "NOT"):
            continue
        negate, body = (m.group(1), m.group(2)) if m.group(3) is None else ("", m.group(3))
        quoted = m.group(3) is None
        if not quoted and body.startswith("-") and len(body) > 1:
            negate, body = "-", body[1:]
        item = _item(body, quoted)
        if item is None:
            continue
        count += len(item.words)
        (excluded if negate else groups[-1]).append(item)
    clean = tuple(tuple(g) for g in groups if g)
    return TextQuery(groups=clean, excluded=tuple(excluded) if clean else ())


def _item(body: str, quoted: bool) -> Item | None:
    words = tuple(WORD.findall(body.lower()))[:MAX_TOKENS]
    if not words:
        return None
    star = not quoted and body.rstrip().endswith("*")
    if star and len(words) == 1 and len(words[0]) >= _MIN_PREFIX:
        return Item(words, prefix=True)
    return Item(words)


# --------------------------------------------------------------------------- bill numbers

_BILL_NUMBER = re.compile(
    r"^\s*(?:(?P<st>[A-Za-z]{2})[\s:/-]+)?"
    r"(?P<id>[A-Za-z]{1,4}\.?(?:\s?[A-Za-z]{1,3}\.?)?\s*-?\s*\d{1,6}(?:\s*-?\s*[A-Za-z])?)\s*$"
)


def detect_bill_number(raw: str) -> tuple[str | None, str] | None:
    """``(state or None, normalised identifier)`` when the input looks like a bill number."""
    m = _BILL_NUMBER.match(raw or "")
    if not m:
        return None
    state = m.group("st")
    if state and state.lower() not in STATE_NAMES:
        return None
    return (state.lower() if state else None), normalize_identifier(m.group("id"))
