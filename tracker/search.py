"""Full-text search over bills: one interface over SQLite FTS5 and PostgreSQL full-text search.

The index holds, per bill, five weighted fields: identifier, title (with other titles),
body (abstracts and subjects), sponsor names and the distinct action texts. SQLite keeps them in
the FTS5 table ``bill_fts`` (rowid = bill id); PostgreSQL keeps one weighted tsvector per bill in
``bill_search`` (weights A/B/C/D) with a GIN index. Both are created by migration 0002_search.

User input never reaches MATCH or ``to_tsquery`` as typed: :func:`parse_text` reduces it to our own
tokens (words of letters and digits, ``word*`` prefixes, ``"quoted phrases"``, ``-excluded`` words
and ``OR`` between groups) and the query is built from those tokens, always as bound parameters.
A bill number typed in the box (``HB 2795``, ``s6169``, ``ny s6169``) resolves to the bill.
"""

from __future__ import annotations

import heapq
import json
import re
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    false,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker.identifiers import normalize_identifier
from tracker.models import Bill
from tracker.vocab import ALL_STAGES, STAGE_LABELS, STATE_NAMES, TOPIC_LABELS, TOPICS

MAX_QUERY_CHARS = 500
MAX_TOKENS = 24
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 25
SORTS = ("relevance", "recency")
FACETS = ("state", "stage", "topic", "session")
SESSION_FACET_LIMIT = 20
_B = Bill.__table__

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
            sort=first.get("sort") if first.get("sort") in SORTS else "relevance",
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
        return replace(self, **{facet: values}, page=1)

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


_WORD = re.compile(r"[^\W_]+")
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
    words = tuple(_WORD.findall(body.lower()))[:MAX_TOKENS]
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


# --------------------------------------------------------------------------- results


@dataclass
class FacetValue:
    value: str
    count: int
    label: str
    selected: bool = False


@dataclass
class SearchResult:
    query: SearchQuery
    hits: list[dict[str, Any]]
    total: int
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bill_number: bool = False  # the box held a bill number and these hits are that bill

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def resolved(self) -> dict[str, Any] | None:
        """The one bill a typed bill number names, if it names exactly one."""
        return self.hits[0] if self.bill_number and len(self.hits) == 1 else None


HIT_COLUMNS = (
    "id",
    "state",
    "session",
    "identifier",
    "identifier_norm",
    "title",
    "stage",
    "topic",
    "relevant",
    "latest_action_date",
    "latest_action_description",
)


# --------------------------------------------------------------------------- search


def _connection(target: Session | Connection | Engine) -> tuple[Connection, bool]:
    if isinstance(target, Connection):
        return target, False
    if isinstance(target, Engine):
        return target.connect(), True
    return target.connection(), False


def search(
    target: Session | Connection | Engine, query: SearchQuery, warnings: Sequence[str] = ()
) -> SearchResult:
    """Run `query`: hits for its page, the total, facet counts and any warnings."""
    conn, owned = _connection(target)
    try:
        return _search(conn, query, list(warnings))
    finally:
        if owned:
            conn.close()


def _search(conn: Connection, query: SearchQuery, warnings: list[str]) -> SearchResult:
    if query.q and query.page == 1:
        found = _by_bill_number(conn, query)
        if found:
            return SearchResult(query, found, len(found), {}, warnings, bill_number=True)
    text_query = parse_text(query.q)
    if query.q.strip() and text_query.empty:
        warnings.append('nothing searchable in the query: use words, "phrases" or word*')
        return SearchResult(query, [], 0, _count_and_facets(conn, query, [false()])[1], warnings)
    match = _match(conn, text_query, query.sponsor)
    filters = _filters(query)
    ranked = not text_query.empty
    start, stop = (query.page - 1) * query.per_page, query.page * query.per_page
    key = _cache_key(conn, query)
    entry = _CACHE.get(key)
    if entry is None:
        entry = _first_look(conn, query, match, filters, ranked, stop, version=key[2])
        if entry.total >= CACHE_MIN_TOTAL:
            _CACHE.put(key, entry)
    total, facets, head = entry.total, entry.copy_facets(), entry.head
    if not total:
        page: list[tuple[int, float]] = []
    elif stop <= len(head) or (head and total <= len(head)):
        page = head[start:stop]
    else:
        page = _page_ids(conn, query, match, filters, ranked, query.per_page, start, total)
    hits = _hits_by_id(conn, page, with_score=_by_relevance(query, match, ranked))
    return SearchResult(query, hits, total, facets, warnings)


# Counting, faceting and ranking 15,000+ matches for one common word costs ~100 ms; a staffer
# paging through them (or the next visitor asking the same) reuses the first result. Only big
# result sets are kept, and each entry is tied to a data version that any ingest changes.
CACHE_MIN_TOTAL = 1000
CACHED_IDS = 200
CACHE_SIZE = 64
FEW_ROWS = 2000
SPLIT_RANK_MIN = 5000
FEW_MATCHES = 50


@dataclass(frozen=True)
class _Cached:
    total: int
    facets: dict[str, list[FacetValue]]
    head: list[tuple[int, float]]  # the first CACHED_IDS (bill id, score) in result order

    def copy_facets(self) -> dict[str, list[FacetValue]]:
        return {name: [replace(v) for v in values] for name, values in self.facets.items()}


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...] | None) -> _Cached | None:
        if key is None:
            return None
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...] | None, entry: _Cached) -> None:
        if key is None:
            return
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_CACHE = _LRU(CACHE_SIZE)


def clear_cache() -> None:
    """Forget cached counts and rankings (benchmarks measuring cold searches call this)."""
    _CACHE.clear()


def _cache_key(conn: Connection, query: SearchQuery) -> tuple[Any, ...]:
    """The database, its data version and the query without its page.

    Ingest stamps ``bill.last_changed`` on every change and new bills get new ids, so the
    newest stamp and the highest id (two index lookups) change whenever results could.
    """
    newest = select(func.max(_B.c.last_changed)).scalar_subquery()
    # two subqueries: one SELECT of both maxima would scan instead of using the two indexes
    version = tuple(conn.execute(select(newest, select(func.max(_B.c.id)).scalar_subquery())).one())
    engine = conn.engine
    return (id(engine), str(engine.url), version, replace(query, page=1, per_page=1))


def _first_look(
    conn: Connection,
    query: SearchQuery,
    match: Match | None,
    filters: list[Any],
    ranked: bool,
    stop: int,
    *,
    version: tuple[Any, ...],
) -> _Cached:
    """Total, facets and the first CACHED_IDS (id, score), those only if the page is in them."""
    if match is not None and _snapshot_applies(conn, query, match, filters, version):
        fast = _from_snapshot(conn, query, match, filters, ranked, stop, version)
        if fast is not None:
            return fast
    conds = filters + ([_B.c.id.in_(match.ids)] if match is not None else [])
    total, facets = _count_and_facets(conn, query, conds, cover=match is not None)
    # ranking a big match set costs the same for its first pages as for one: keep them
    fetch = total and stop <= CACHED_IDS
    head = _page_ids(conn, query, match, filters, ranked, CACHED_IDS, 0, total) if fetch else []
    return _Cached(total, facets, head)


# Joining 19,000 matched ids to bill to count facets costs 35 ms (SQLite) to 75 ms
# (PostgreSQL); counting them against a per-process snapshot of every bill's facet values and
# recency position costs a few. The snapshot is rebuilt (~0.1 s) when the data version moves.
# On PostgreSQL the matches, once fetched, always go through it: matching again costs more.
SNAPSHOT_MIN = 5000


@dataclass(frozen=True)
class _Snapshot:
    version: tuple[Any, ...]
    combos: list[tuple[Any, ...]]  # distinct (state, stage, topic, session), as in FACETS
    sizes: list[int]  # bills per combination
    code: array  # by bill id: 1 + index into combos; 0 where no bill has that id
    order: array  # by bill id: position by latest action (newest first), then id


_SNAPSHOTS: dict[tuple[int, str], _Snapshot] = {}


def _snapshot(conn: Connection, version: tuple[Any, ...]) -> _Snapshot:
    key = (id(conn.engine), str(conn.engine.url))
    snap = _SNAPSHOTS.get(key)
    if snap is not None and snap.version == version:
        return snap
    recency = [_B.c.latest_action_date.desc().nulls_last(), _B.c.id.desc()]
    stmt = select(_B.c.id, *[_B.c[name] for name in FACETS]).order_by(*recency)
    rows = _raw_rows(conn, stmt)
    size = max((row[0] for row in rows), default=0) + 1
    code, order = array("I", bytes(4 * size)), array("I", bytes(4 * size))
    combos: dict[tuple[Any, ...], int] = {}
    for position, (bill_id, *values) in enumerate(rows):
        code[bill_id] = combos.setdefault(tuple(values), len(combos) + 1)
        order[bill_id] = position
    sizes = [0] * len(combos)
    for n in code:
        if n:
            sizes[n - 1] += 1
    snap = _Snapshot(version, list(combos), sizes, code, order)
    if len(_SNAPSHOTS) >= 4:  # a few databases per process at most (tests, benchmarks)
        _SNAPSHOTS.clear()
    _SNAPSHOTS[key] = snap
    return snap


def warm(target: Session | Connection | Engine) -> None:
    """Build the facet snapshot now (~0.5 s for 150,000 bills) rather than in the first big
    search after a change; a web process can call it after an ingest or at start."""
    conn, owned = _connection(target)
    try:
        _snapshot(conn, _cache_key(conn, SearchQuery())[2])
    finally:
        if owned:
            conn.close()


def _raw_rows(conn: Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Every row of a parameterless statement as plain DB-API tuples: for all 154,000 bills
    SQLAlchemy's rows alone cost 0.3 s. On SQLite it reads the narrow covering index."""
    sql = str(stmt.compile(dialect=conn.dialect))
    if conn.dialect.name == "sqlite" and _has_index(conn, COVER_INDEX):
        sql = _FROM_BILL.sub(f"FROM bill INDEXED BY {COVER_INDEX}", sql, count=1)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _has_index(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name}
    )
    return found.first() is not None


def _from_snapshot(
    conn: Connection,
    query: SearchQuery,
    match: Match,
    filters: list[Any],
    ranked: bool,
    stop: int,
    version: tuple[Any, ...],
) -> _Cached | None:
    """The first look at a big match set from the snapshot, which also applies the state,
    session, stage and topic filters; None when the set is small."""
    relevance = _by_relevance(query, match, ranked)
    scores = relevance and match.top is None  # PostgreSQL ranks here; FTS5 ranks itself
    if scores:
        rows = [
            tuple(r) for r in conn.execute(select(match.scored.c.bill_id, match.scored.c.score))
        ]
    else:
        rows = [(bill_id, 0.0) for bill_id in conn.execute(match.ids).scalars()]
    if len(rows) < (SNAPSHOT_MIN if match.top is not None else 0):
        return None  # FTS5 lists ids cheaply: a small set is counted faster in SQL
    snap = _snapshot(conn, version)
    wanted = _wanted_combos(query, snap)
    rows = [row for row in rows if row[0] < len(snap.code) and snap.code[row[0]] in wanted]
    counts = Counter(snap.code[bill_id] for bill_id, _ in rows)
    sums: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for combo, n in counts.items():
        for name, value in zip(FACETS, snap.combos[combo - 1], strict=True):
            if value is not None:
                sums[name][value] = sums[name].get(value, 0) + n
    facets = _facet_values(query, {name: list(v.items()) for name, v in sums.items()})
    total, order = len(rows), snap.order
    if stop > CACHED_IDS:
        head: list[tuple[int, float]] = []
    elif relevance and not scores:
        head = _page_ids(conn, query, match, filters, ranked, CACHED_IDS, 0, total)
    elif relevance:  # the SQL order: score, then latest action, then id
        head = heapq.nsmallest(CACHED_IDS, rows, key=lambda r: (-r[1], order[r[0]]))
    else:
        head = heapq.nsmallest(CACHED_IDS, rows, key=lambda r: order[r[0]])
    return _Cached(total, facets, head)


def _snapshot_applies(
    conn: Connection,
    query: SearchQuery,
    match: Match,
    filters: list[Any],
    version: tuple[Any, ...],
) -> bool:
    """Whether the snapshot should count this search: no date or relevance filter, and either
    no filter at all or, on PostgreSQL, facet filters letting through a tenth of all bills or
    more (narrower ones are answered faster by the database from its own indexes)."""
    if query.relevant or query.since or query.until:
        return False
    if not filters:
        return True
    if match.top is not None:  # SQLite: its filtered plans are fast enough
        return False
    snap = _snapshot(conn, version)
    share = sum(snap.sizes[code - 1] for code in _wanted_combos(query, snap))
    return share * 10 >= max(1, sum(snap.sizes))


def _wanted_combos(query: SearchQuery, snap: _Snapshot) -> set[int]:
    """Codes of the facet value combinations the query's filters let through."""
    wanted = set()
    session_wanted = (query.session or "").replace("\x00", "")
    for code, (state, stage, topic, session) in enumerate(snap.combos, start=1):
        if query.state and state not in query.state:
            continue
        if query.session and session != session_wanted:
            continue
        if (query.stage and stage not in query.stage) or (query.topic and topic not in query.topic):
            continue
        wanted.add(code)
    return wanted


def _filters(query: SearchQuery) -> list[Any]:
    conds: list[Any] = []
    if query.state:
        conds.append(_B.c.state.in_(query.state))
    if query.session:
        conds.append(_B.c.session == query.session.replace("\x00", ""))
    if query.stage:
        conds.append(_B.c.stage.in_(query.stage))
    if query.topic:
        conds.append(_B.c.topic.in_(query.topic))
    if query.relevant:
        conds.append(_B.c.relevant.is_(True))
    if query.since:
        conds.append(_B.c.latest_action_date >= query.since)
    if query.until:
        next_day = (date.fromisoformat(query.until) + timedelta(days=1)).isoformat()
        conds.append(_B.c.latest_action_date < next_day)
    return conds


def _by_relevance(query: SearchQuery, match: Match | None, ranked: bool) -> bool:
    return match is not None and ranked and query.sort == "relevance"


def _page_ids(
    conn: Connection,
    query: SearchQuery,
    match: Match | None,
    filters: list[Any],
    ranked: bool,
    limit: int,
    offset: int,
    total: int,
) -> list[tuple[int, float]]:
    """(bill id, score) from `offset`, by relevance (scored matches) or by latest action."""
    latest: Any = _B.c.latest_action_date
    if match is None and total <= FEW_ROWS and conn.dialect.name == "sqlite":
        # few bills pass the filters: sort them, rather than let SQLite walk the date index
        # through every bill looking for them (200 ms for the 77 relevant bills)
        latest = latest.concat("")
    recency = [latest.desc().nulls_last(), _B.c.id.desc()]
    relevance = _by_relevance(query, match, ranked)
    if relevance and not filters and match.top is not None:
        # nothing to filter on: let FTS5 sort by its configured rank (bm25 with our weights)
        if match.split is not None and total >= SPLIT_RANK_MIN:
            return _split_top(conn, match.split, limit, offset)
        return [tuple(r) for r in conn.execute(match.top.bindparams(limit=limit, offset=offset))]
    if relevance and match.split is not None and total <= FEW_MATCHES:
        return _score_few(conn, match, filters, limit, offset)
    if relevance and match.split is not None and total >= FEW_ROWS:
        if conn.execute(match.split.count).scalar_one() >= SPLIT_RANK_MIN:
            return _split_filtered(conn, match.split, filters, recency, limit, offset)
    if relevance:
        scored = match.scored
        # pick the page's ids from narrow columns first, then read those few full rows
        stmt = select(_B.c.id, scored.c.score).select_from(
            scored.join(_B, scored.c.bill_id == _B.c.id)
        )
        stmt = stmt.where(*filters).order_by(scored.c.score.desc(), *recency)
    else:
        conds = filters + ([_B.c.id.in_(match.ids)] if match is not None else [])
        stmt = select(_B.c.id, literal(0.0).label("score")).where(*conds).order_by(*recency)
    stmt = stmt.limit(limit).offset(offset)
    index = COVER_INDEX if match is not None else None
    return [tuple(r) for r in _execute(conn, stmt, index=index)]


def _split_top(conn: Connection, split: Any, limit: int, offset: int) -> list[tuple[int, float]]:
    """Bills with the words in their identifier or title first, then the rest, each by bm25.

    FTS5 scores every match before it sorts (~4 us each): for a common word (19,000 bills)
    ranking the title matches alone costs half, and they rank first by weight anyway. The
    order is the same on every page, so paging neither repeats nor skips a bill.
    """
    in_title = int(conn.execute(split.title_count).scalar_one())
    rows: list[tuple[int, float]] = []
    if offset < in_title:
        stmt = split.title_top.bindparams(limit=limit, offset=offset)
        rows = [tuple(r) for r in conn.execute(stmt)]
    if len(rows) < limit:
        stmt = split.rest_top.bindparams(limit=limit - len(rows), offset=max(0, offset - in_title))
        rows += [tuple(r) for r in conn.execute(stmt)]
    return rows


def _score_few(
    conn: Connection, match: Match, filters: list[Any], limit: int, offset: int
) -> list[tuple[int, float]]:
    """A handful of filtered matches: score just them (FTS5 seeks each rowid, ~0.5 ms)
    rather than every match of the words, then order as SQL would."""
    stmt = select(_B.c.id, _B.c.latest_action_date).where(*filters, _B.c.id.in_(match.ids))
    latest = dict(tuple(r) for r in _execute(conn, stmt, index=COVER_INDEX))
    if not latest:
        return []
    scores = dict(
        tuple(r) for r in conn.execute(match.split.scored_ids, {"ids": json.dumps(list(latest))})
    )
    ordered = sorted(latest, reverse=True)  # id, newest first
    ordered.sort(key=lambda i: latest[i] or "", reverse=True)  # latest action, nulls last
    ordered.sort(key=lambda i: -scores.get(i, 0.0))  # score: stable sorts keep the ties' order
    return [(i, scores.get(i, 0.0)) for i in ordered[offset : offset + limit]]


def _split_filtered(
    conn: Connection, split: _Split, filters: list[Any], recency: list[Any], limit: int, offset: int
) -> list[tuple[int, float]]:
    """_split_top for filtered bills: title matches that pass the filters, then the rest."""

    def part(scored: Any, count: bool = False, limit: int = 0, offset: int = 0) -> Any:
        joined = scored.join(_B, scored.c.bill_id == _B.c.id)
        if count:
            stmt = select(func.count()).select_from(joined).where(*filters)
            return _execute(conn, stmt, index=COVER_INDEX).scalar_one()
        stmt = select(_B.c.id, scored.c.score).select_from(joined).where(*filters)
        stmt = stmt.order_by(scored.c.score.desc(), *recency).limit(limit).offset(offset)
        return [tuple(r) for r in _execute(conn, stmt, index=COVER_INDEX)]

    rows = part(split.title_scored, limit=limit, offset=offset)
    if len(rows) < limit:
        in_title = len(rows) if offset == 0 else part(split.title_scored, count=True)
        rows += part(split.rest_scored, limit=limit - len(rows), offset=max(0, offset - in_title))
    return rows


def _hits_by_id(conn: Connection, page: list[Any], *, with_score: bool) -> list[dict[str, Any]]:
    """Full hit rows for a page of (bill id, score), in the page's order."""
    if not page:
        return []
    cols = [_B.c[name] for name in HIT_COLUMNS]
    ids = [bill_id for bill_id, _ in page]
    rows = {r.id: dict(r._mapping) for r in conn.execute(select(*cols).where(_B.c.id.in_(ids)))}
    return [
        _hit({**rows[bill_id], **({"score": score} if with_score else {})})
        for bill_id, score in page
        if bill_id in rows
    ]


# SQLite would look bills up in the wide bill rows (JSON, texts) or walk a one-column index
# and then those rows; these two indexes (migration 0002_search) hold every column search
# filters, counts and sorts on, by id (for matched bills) and by state (for filters only).
# The planner does not pick them by itself, hence INDEXED BY.
COVER_INDEX = "ix_bill_search_cover"
STATE_INDEX = "ix_bill_state_facets"
_FROM_BILL = re.compile(r"\bFROM bill(?=\s)")


def _execute(conn: Connection, stmt: Any, *, index: str | None) -> Any:
    if index is None or conn.dialect.name != "sqlite":
        return conn.execute(stmt)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = _FROM_BILL.sub(f"FROM bill INDEXED BY {index}", str(compiled), count=1)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    try:
        return conn.exec_driver_sql(sql, params)
    except OperationalError as exc:  # a database migrated without the index: plain plan
        if "no such index" not in str(exc):
            raise
        return conn.execute(stmt)


def _hit(row: dict[str, Any]) -> dict[str, Any]:
    row["relevant"] = bool(row["relevant"])
    if "score" in row:
        row["score"] = round(float(row["score"] or 0.0), 4)
    return row


_FACET_LABELS: dict[str, Any] = {
    "state": lambda v: STATE_NAMES.get(v, v.upper()),
    "stage": lambda v: STAGE_LABELS.get(v, v),
    "topic": lambda v: TOPIC_LABELS.get(v, v),
    "session": lambda v: v,
}


def _count_and_facets(
    conn: Connection, query: SearchQuery, conds: list[Any], *, cover: bool = False
) -> tuple[int, dict[str, list[FacetValue]]]:
    """The total and every facet's counts over the filtered (and matched) bills.

    One GROUP BY over all facet columns, summed per facet here, reads the bills once. On
    SQLite it runs on a narrow covering index (by id for matched bills, else by state);
    PostgreSQL plans filter-only facets better one column at a time.
    """
    sums: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    if cover or conn.dialect.name == "sqlite":
        cols = [_B.c[name] for name in FACETS]
        stmt = select(*cols, func.count()).select_from(_B).where(*conds).group_by(*cols)
        total = 0
        index = COVER_INDEX if cover else STATE_INDEX
        for *values, n in _execute(conn, stmt, index=index):
            total += n
            for name, value in zip(FACETS, values, strict=True):
                if value is not None:
                    sums[name][value] = sums[name].get(value, 0) + n
    else:
        total = conn.execute(select(func.count()).select_from(_B).where(*conds)).scalar_one()
        for name in FACETS:
            column = _B.c[name]
            stmt = select(column, func.count()).where(*conds, column.is_not(None)).group_by(column)
            sums[name] = dict(conn.execute(stmt).all())
    return total, _facet_values(query, {k: list(v.items()) for k, v in sums.items()})


def _facet_values(
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


def _by_bill_number(conn: Connection, query: SearchQuery) -> list[dict[str, Any]]:
    found = detect_bill_number(query.q)
    if not found:
        return []
    state, norm = found
    stmt = select(*[_B.c[n] for n in HIT_COLUMNS]).where(_B.c.identifier_norm == norm)
    states = (state,) if state else query.state
    if states:
        stmt = stmt.where(_B.c.state.in_(states))
    if query.session:
        stmt = stmt.where(_B.c.session == query.session)
    stmt = stmt.order_by(_B.c.relevant.desc(), _B.c.latest_action_date.desc().nulls_last())
    return [_hit(dict(r._mapping)) for r in conn.execute(stmt.limit(query.per_page))]


# --------------------------------------------------------------------------- dialects


@dataclass(frozen=True)
class _Split:
    """SQLite: the matches with the words in identifier or title, and the rest (_split_top)."""

    count: Any  # all matches, before filters
    title_count: Any
    title_top: Any  # FTS5's ORDER BY rank with :limit and :offset
    rest_top: Any
    title_scored: Any  # (bill_id, score), to join with filtered bills
    rest_scored: Any
    scored_ids: Any  # (bill_id, score) of the matches among :ids (a JSON list)


@dataclass(frozen=True)
class Match:
    """The bills matching the words: `ids` (for IN, cheap) and `scored` (bill_id, score)."""

    ids: Any
    scored: Any
    top: Any = None  # SQLite: FTS5's own ORDER BY rank with :limit and :offset
    split: Any = None  # SQLite: the same matches in two parts, see _Split


def _match(conn: Connection, tq: TextQuery, sponsor: str | None) -> Match | None:
    sponsor_words = tuple(_WORD.findall((sponsor or "").lower()))[:8]
    if tq.empty and not sponsor_words:
        return None
    if conn.dialect.name == "sqlite":
        return _fts5_match(tq, sponsor_words)
    return _pg_match(tq, sponsor_words)


# FTS5 column weights: identifier, title, body, sponsors, actions.
FTS5_WEIGHTS = "10.0, 5.0, 2.0, 1.0, 0.5"
_BM25 = f"bm25(bill_fts, {FTS5_WEIGHTS})"


def _fts5_item(item: Item) -> str:
    return '"' + " ".join(item.words) + '"' + ("*" if item.prefix else "")


def _fts5_excluding(expr: str, tq: TextQuery) -> str:
    for item in tq.excluded:
        expr = f"({expr} NOT {_fts5_item(item)})"
    return expr


def _fts5_groups(tq: TextQuery) -> str:
    groups = ["(" + " AND ".join(_fts5_item(i) for i in g) + ")" for g in tq.groups]
    return "(" + " OR ".join(groups) + ")"


def fts5_expression(tq: TextQuery, sponsor_words: Sequence[str] = ()) -> str:
    """The FTS5 MATCH string. Every word is [^\\W_]+ (no quotes), written inside quotes."""
    parts = [_fts5_excluding(_fts5_groups(tq), tq)] if not tq.empty else []
    parts += [f'sponsors : "{w}"' for w in sponsor_words]
    return " AND ".join(parts)


def fts5_title_split(tq: TextQuery) -> tuple[str, str]:
    """The same matches in two parts: those with the words in the identifier or title, and the
    rest. Together they are exactly ``fts5_expression(tq)``."""
    in_title = "({identifier title} : " + _fts5_groups(tq) + ")"
    return _fts5_excluding(in_title, tq), f"({fts5_expression(tq)} NOT {in_title})"


def _fts5_match(tq: TextQuery, sponsor_words: Sequence[str]) -> Match:
    expr = fts5_expression(tq, sponsor_words)
    ids = text("SELECT rowid FROM bill_fts WHERE bill_fts MATCH :fts").bindparams(fts=expr)
    scored = text(
        f"SELECT rowid AS bill_id, -{_BM25} AS score FROM bill_fts WHERE bill_fts MATCH :fts"  # noqa: S608 - constants only
    ).bindparams(fts=expr)
    top = text(
        "SELECT rowid AS bill_id, -rank AS score FROM bill_fts WHERE bill_fts MATCH :fts "
        "ORDER BY rank LIMIT :limit OFFSET :offset"
    ).bindparams(fts=expr)
    split = None
    if not tq.empty and not sponsor_words:
        title, rest = fts5_title_split(tq)
        count = text("SELECT count(*) FROM bill_fts WHERE bill_fts MATCH :fts")
        split = _Split(
            count.bindparams(fts=expr),
            count.bindparams(fts=title),
            top.bindparams(fts=title),
            top.bindparams(fts=rest),
            _materialized(scored.bindparams(fts=title), "mt"),
            _materialized(scored.bindparams(fts=rest), "mr"),
            text(
                f"SELECT rowid, -{_BM25} FROM bill_fts WHERE bill_fts MATCH :fts "  # noqa: S608
                "AND rowid IN (SELECT value FROM json_each(:ids))"
            ).bindparams(fts=expr),
        )
    return Match(
        ids.columns(rowid=Integer),
        _materialized(scored, "m"),
        top,
        split,
    )


def _materialized(scored: Any, name: str) -> Any:
    # MATERIALIZED: run MATCH once, never once per candidate row of a filtered bill scan
    return scored.columns(bill_id=Integer, score=Float).cte(name).prefix_with("MATERIALIZED")


def pg_tsquery(tq: TextQuery, sponsor_words: Sequence[str] = ()) -> tuple[str, dict[str, str]]:
    """A tsquery SQL expression built only from parameter placeholders, and its parameters."""
    params: dict[str, str] = {}

    def bind(value: str) -> str:
        name = f"tq{len(params)}"
        params[name] = value
        return f":{name}"

    def one(item: Item) -> str:
        if item.prefix:
            return f"to_tsquery('english', quote_literal({bind(item.words[0])}) || {bind(':*')})"
        if len(item.words) > 1:
            return f"phraseto_tsquery('english', {bind(' '.join(item.words))})"
        return f"plainto_tsquery('english', {bind(item.words[0])})"

    parts = []
    if not tq.empty:
        groups = ["(" + " && ".join(one(i) for i in g) + ")" for g in tq.groups]
        expr = "(" + " || ".join(groups) + ")"
        for item in tq.excluded:
            expr = f"({expr} && !!{one(item)})"
        parts.append(expr)
    for word in sponsor_words:
        parts.append(f"to_tsquery('english', quote_literal({bind(word)}) || {bind(':C')})")
    return "(" + " && ".join(parts) + ")", params


def _pg_match(tq: TextQuery, sponsor_words: Sequence[str]) -> Match:
    # The tsquery expression is written inline (not in a joined subquery) so the planner sees
    # it in the WHERE clause and uses the GIN index.
    expr, params = pg_tsquery(tq, sponsor_words)
    ids = text(f"SELECT bill_id FROM bill_search WHERE document @@ {expr}")  # noqa: S608
    scored = text(
        f"SELECT bill_id, ts_rank(document, {expr}) AS score "  # noqa: S608 - placeholders only
        f"FROM bill_search WHERE document @@ {expr}"
    )
    return Match(
        ids.bindparams(**params).columns(bill_id=Integer),
        scored.bindparams(**params).columns(bill_id=Integer, score=Float).subquery("m"),
    )


# --------------------------------------------------------------------------- indexing

_SQLITE_DOC = """
SELECT b.id,
  b.identifier || ' ' || b.identifier_norm || ' ' ||
    coalesce((SELECT group_concat(j.value, ' ') FROM json_each(b.other_identifiers) j), ''),
  b.title || ' ' ||
    coalesce((SELECT group_concat(json_extract(j.value, '$.title'), ' ')
              FROM json_each(b.other_titles) j), ''),
  coalesce((SELECT group_concat(json_extract(j.value, '$.abstract'), ' ')
            FROM json_each(b.abstracts) j), '') || ' ' ||
    coalesce((SELECT group_concat(j.value, ' ') FROM json_each(b.subjects) j), ''),
  coalesce((SELECT group_concat(DISTINCT s.name) FROM sponsorship s
            WHERE s.bill_id = b.id AND s.removed_at IS NULL), ''),
  coalesce((SELECT group_concat(DISTINCT a.description) FROM action a
            WHERE a.bill_id = b.id AND a.removed_at IS NULL), '')
FROM bill b
"""
_SQLITE_INSERT = "INSERT INTO bill_fts(rowid, identifier, title, body, sponsors, actions)"

_PG_ARRAY = "CASE WHEN json_typeof(b.{col}) = 'array' THEN b.{col} ELSE '[]'::json END"
_PG_DOC = f"""
INSERT INTO bill_search (bill_id, document)
SELECT b.id,
  setweight(to_tsvector('english', b.identifier || ' ' || b.identifier_norm || ' ' ||
      coalesce(oi.t, '') || ' ' || b.title || ' ' || coalesce(ot.t, '')), 'A') ||
  setweight(to_tsvector('english', coalesce(ab.t, '') || ' ' || coalesce(su.t, '')), 'B') ||
  setweight(to_tsvector('english', coalesce(sp.t, '')), 'C') ||
  setweight(to_tsvector('english', coalesce(ac.t, '')), 'D')
FROM bill b
LEFT JOIN LATERAL (SELECT string_agg(j, ' ') AS t
    FROM json_array_elements_text({_PG_ARRAY.format(col="other_identifiers")}) j) oi ON true
LEFT JOIN LATERAL (SELECT string_agg(j->>'title', ' ') AS t
    FROM json_array_elements({_PG_ARRAY.format(col="other_titles")}) j) ot ON true
LEFT JOIN LATERAL (SELECT string_agg(j->>'abstract', ' ') AS t
    FROM json_array_elements({_PG_ARRAY.format(col="abstracts")}) j) ab ON true
LEFT JOIN LATERAL (SELECT string_agg(j, ' ') AS t
    FROM json_array_elements_text({_PG_ARRAY.format(col="subjects")}) j) su ON true
LEFT JOIN LATERAL (SELECT string_agg(DISTINCT s.name, ' ') AS t FROM sponsorship s
    WHERE s.bill_id = b.id AND s.removed_at IS NULL) sp ON true
LEFT JOIN LATERAL (SELECT string_agg(DISTINCT a.description, ' ') AS t FROM action a
    WHERE a.bill_id = b.id AND a.removed_at IS NULL) ac ON true
{{where}}
ON CONFLICT (bill_id) DO UPDATE SET document = EXCLUDED.document
"""  # noqa: S608 - constants only


def reindex_bills(conn: Connection, bill_ids: Iterable[int]) -> None:
    """Re-index these bills inside the caller's transaction (ingest calls it after each batch).

    One DELETE and one INSERT ... SELECT per call: the documents are assembled by the database,
    so a batch of 500 bills costs two statements, not 500 round trips.
    """
    ids = sorted({int(i) for i in bill_ids})
    if not ids:
        return
    for chunk in _chunks(ids, 5000):
        if conn.dialect.name == "sqlite":
            param = json.dumps(chunk)
            conn.execute(
                text("DELETE FROM bill_fts WHERE rowid IN (SELECT value FROM json_each(:ids))"),
                {"ids": param},
            )
            conn.execute(
                text(
                    f"{_SQLITE_INSERT} {_SQLITE_DOC} "  # noqa: S608 - constants only
                    "WHERE b.id IN (SELECT value FROM json_each(:ids))"
                ),
                {"ids": param},
            )
        else:
            conn.execute(text(_PG_DOC.format(where="WHERE b.id = ANY(:ids)")), {"ids": chunk})


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rebuild_index_on(conn: Connection) -> None:
    """Drop and rebuild the whole index on `conn` (used by the migration and after big imports)."""
    if conn.dialect.name == "sqlite":
        # FTS5 keeps this setting: ORDER BY rank uses bm25 with our column weights
        conn.execute(
            text("INSERT INTO bill_fts(bill_fts, rank) VALUES ('rank', :rank)"),
            {"rank": f"bm25({FTS5_WEIGHTS})"},
        )
        conn.execute(text("DELETE FROM bill_fts"))
        conn.execute(text(f"{_SQLITE_INSERT} {_SQLITE_DOC}"))
        conn.execute(text("INSERT INTO bill_fts(bill_fts) VALUES ('optimize')"))
    else:
        conn.execute(text("TRUNCATE bill_search"))
        conn.execute(text(_PG_DOC.format(where="")))
        conn.execute(text("ANALYZE bill_search"))  # fresh statistics so the GIN index gets used


def rebuild_index(engine: Engine) -> int:
    """Rebuild the whole index in one transaction; returns the number of bills indexed."""
    with engine.begin() as conn:
        rebuild_index_on(conn)
        return int(conn.execute(select(func.count()).select_from(_B)).scalar_one())


def indexed_count(conn: Connection) -> int:
    table = "bill_fts" if conn.dialect.name == "sqlite" else "bill_search"
    return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


# --------------------------------------------------------------------------- export

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
    from tracker.web.urls import bill_path_of

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
    import csv

    writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
