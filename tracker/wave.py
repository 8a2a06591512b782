"""The wave: single-payer, study and public-option bills by year and by the furthest stage reached.

The project began from a prediction that states would file a raft of single-payer bills and
resolutions; this module counts whether they did, from whatever the database holds, and says what
that is (which states, which years), because a year with no data is not a year with no bills.

A bill's year is the date of its first action (introduction), else the year its session names.
A bill that stopped (vetoed, failed, died, withdrawn) is counted at the furthest stage it reached
before it stopped, recomputed from the actions before its stopping date. Resolutions and memorials
are counted apart from bills: adopting one makes no law. Stages come from :mod:`tracker.vocab` in
its order, so a stage added there is counted here without a change.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from tracker.models import Action, Bill, Change
from tracker.stages import compute_stage
from tracker.vocab import ALL_STAGES, TERMINAL_STAGES

WAVE_TOPICS: tuple[str, ...] = ("single-payer", "single-payer-study", "public-option", "resolution")
KINDS: tuple[str, ...] = ("bill", "resolution")
KIND_LABELS = {"bill": "Bills", "resolution": "Resolutions and memorials"}
# An end that is a stop, not a step: such a bill is counted at the stage it reached before.
# (`adopted`, for a resolution, is a step reached, should vocab list it among the terminal ones.)
STOPS: tuple[str, ...] = tuple(s for s in TERMINAL_STAGES if s != "adopted")
# The stages a bill can be counted at, in vocab order.
LADDER: tuple[str, ...] = tuple(s for s in ALL_STAGES if s not in STOPS)
CSV_COLUMNS = ("year", "state", "kind", "topic", "furthest_stage", "bills")

_B, _A, _C = Bill.__table__, Action.__table__, Change.__table__
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


@dataclass(frozen=True)
class WaveBill:
    state: str
    session: str
    identifier: str
    topic: str
    kind: str
    year: int | None
    furthest: str
    stage: str


@dataclass
class Wave:
    """The counted bills of one scope (national, or one state) and what the data covers."""

    bills: list[WaveBill]
    coverage: dict[str, list[int]]  # state -> the years it has bills on file for
    state: str | None = None
    years: list[int] = field(init=False)

    def __post_init__(self) -> None:
        seen = {y for ys in self.coverage.values() for y in ys}
        seen |= {b.year for b in self.bills if b.year is not None}
        self.years = list(range(min(seen), max(seen) + 1)) if seen else []

    def states_in(self, year: int) -> list[str]:
        """States with any bill on file for `year`."""
        return sorted(s for s, ys in self.coverage.items() if year in ys)

    def counts(self, kind: str) -> dict[int, dict[str, int]]:
        """year -> furthest stage -> number of `kind` bills."""
        out: dict[int, dict[str, int]] = {y: {} for y in self.years}
        for b in self.bills:
            if b.kind == kind and b.year is not None:
                out[b.year][b.furthest] = out[b.year].get(b.furthest, 0) + 1
        return out

    def topic_counts(self) -> dict[int, dict[str, int]]:
        """year -> topic -> number of bills and resolutions."""
        out: dict[int, dict[str, int]] = {y: {} for y in self.years}
        for b in self.bills:
            if b.year is not None:
                out[b.year][b.topic] = out[b.year].get(b.topic, 0) + 1
        return out

    def stages_present(self) -> list[str]:
        present = {b.furthest for b in self.bills}
        return [s for s in LADDER if s in present]

    def undated(self) -> int:
        return sum(1 for b in self.bills if b.year is None)

    def rows(self) -> list[dict[str, Any]]:
        """Long-format counts, one row per (year, state, kind, topic, furthest stage)."""
        tally: dict[tuple[Any, ...], int] = defaultdict(int)
        for b in self.bills:
            tally[(b.year or "", b.state, b.kind, b.topic, b.furthest)] += 1
        order = {s: i for i, s in enumerate(LADDER)}
        keys = sorted(tally, key=lambda k: (str(k[0]), k[1], k[2], k[3], order.get(k[4], 99)))
        return [dict(zip(CSV_COLUMNS, (*k, tally[k]), strict=True)) for k in keys]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()

    def coverage_text(self) -> str:
        """Which states and years the data has, e.g. 'MN 2025; OR 2014, 2018, 2022'."""
        return "; ".join(f"{s.upper()} {_spans(ys)}" for s, ys in sorted(self.coverage.items()))


def wave(conn: Connection, *, state: str | None = None) -> Wave:
    """The wave nationally, or for one state (two-letter code)."""
    # by topic only, then the state: wave bills are few, and a state filter in SQL makes the
    # planner walk all of that state's bills by the state index instead
    rows = conn.execute(
        select(
            _B.c.id,
            _B.c.state,
            _B.c.session,
            _B.c.identifier,
            _B.c.topic,
            _B.c.classification,
            _B.c.chamber,
            _B.c.stage,
            _B.c.stage_date,
            _B.c.latest_action_date,
        ).where(_B.c.topic.in_(WAVE_TOPICS))
    ).all()
    rows = [r for r in rows if state is None or r.state == state]
    ids = [r.id for r in rows]
    first = _first_action_dates(conn, ids)
    stopped = [r for r in rows if (r.stage or "introduced") in STOPS]
    reached = _reached_before_stop(conn, stopped)
    bills = []
    for r in rows:
        stage = r.stage or "introduced"
        bills.append(
            WaveBill(
                state=r.state,
                session=r.session,
                identifier=r.identifier,
                topic=r.topic,
                kind=bill_kind(topic=r.topic, classification=r.classification),
                year=_year(first.get(r.id), r.session, r.latest_action_date),
                furthest=reached.get(r.id, stage),
                stage=stage,
            )
        )
    bills.sort(key=lambda b: (b.year or 0, b.state, b.session, b.identifier))
    covered = coverage(conn, state=state)
    for b in bills:  # a bill introduced before its session's other actions (prefiled)
        if b.year is not None and b.year not in covered.get(b.state, []):
            covered[b.state] = sorted({*covered.get(b.state, []), b.year})
    return Wave(bills=bills, coverage=covered, state=state)


def bill_kind(*, topic: str | None, classification: Iterable[str] | None) -> str:
    """``resolution`` for resolutions and memorials (by topic or by classification), else ``bill``."""
    kinds = {c.lower() for c in classification or ()}
    by_class = "bill" not in kinds and any("resolution" in k or "memorial" in k for k in kinds)
    return "resolution" if topic == "resolution" or by_class else "bill"


_COVERAGE_CACHE: dict[tuple[Any, ...], dict[str, list[int]]] = {}


def coverage(conn: Connection, *, state: str | None = None) -> dict[str, list[int]]:
    """state -> years it has bills on file for: each session's span of action dates, or the
    years its name gives when no bill of it has a dated action.

    That takes a pass over every bill, so the answer is kept until a bill or a change is added
    (two primary-key lookups to check): the overview shows it on every request.
    """
    key = (
        conn.engine.url.render_as_string(hide_password=True),
        state,
        conn.execute(select(func.max(_B.c.id))).scalar(),
        conn.execute(select(func.max(_C.c.id))).scalar(),
    )
    if key not in _COVERAGE_CACHE:
        if len(_COVERAGE_CACHE) > 64:
            _COVERAGE_CACHE.clear()
        _COVERAGE_CACHE[key] = _coverage(conn, state=state)
    return {code: list(years) for code, years in _COVERAGE_CACHE[key].items()}


def _coverage(conn: Connection, *, state: str | None) -> dict[str, list[int]]:
    q = select(
        _B.c.state,
        _B.c.session,
        func.min(_B.c.latest_action_date),
        func.max(_B.c.latest_action_date),
    ).group_by(_B.c.state, _B.c.session)
    if state:
        q = q.where(_B.c.state == state)
    years: dict[str, set[int]] = defaultdict(set)
    for code, session, low, high in conn.execute(q):
        span = _span(low, high) or {int(y) for y in _YEAR.findall(session or "")}
        years[code] |= span
    return {code: sorted(ys) for code, ys in years.items() if ys}


def _span(low: str | None, high: str | None) -> set[int]:
    a, b = _year_of(low), _year_of(high)
    if a is None or b is None:
        return set()
    return set(range(a, b + 1))


def _year_of(value: Any) -> int | None:
    text = str(value or "")[:4]
    return int(text) if text.isdigit() else None


def _year(first_action: Any, session: str, latest: Any) -> int | None:
    found = _YEAR.search(session or "")
    return _year_of(first_action) or (int(found.group(1)) if found else None) or _year_of(latest)


def _first_action_dates(conn: Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    q = (
        select(_A.c.bill_id, func.min(_A.c.date))
        .where(_A.c.bill_id.in_(ids), _A.c.removed_at.is_(None))
        .group_by(_A.c.bill_id)
    )
    return {bill_id: first for bill_id, first in conn.execute(q)}


def _reached_before_stop(conn: Connection, stopped: list[Any]) -> dict[int, str]:
    """For bills that stopped: the stage their actions before the stop had reached."""
    if not stopped:
        return {}
    actions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    q = select(_A.c.bill_id, _A.c.date, _A.c.description, _A.c.chamber, _A.c.classification).where(
        _A.c.bill_id.in_([r.id for r in stopped]), _A.c.removed_at.is_(None)
    )
    for r in conn.execute(q):
        actions[r.bill_id].append(dict(r._mapping))
    out = {}
    for r in stopped:
        before = actions[r.id]
        if r.stage_date:
            before = [a for a in before if (a["date"] or "")[:10] < str(r.stage_date)[:10]]
        stage = compute_stage(
            before, bill_chamber=r.chamber, bill_classification=r.classification
        ).stage
        out[r.id] = stage if stage in LADDER else LADDER[0]
    return out


def _spans(years: list[int]) -> str:
    """'2009–2011, 2014' for [2009, 2010, 2011, 2014]."""
    parts: list[str] = []
    start: int | None = None
    prev: int = 0
    for y in [*years, None]:
        if start is not None and (y is None or y != prev + 1):
            parts.append(str(start) if start == prev else f"{start}–{prev}")
            start = None
        if y is None:
            break
        if start is None:
            start = y
        prev = y
    return ", ".join(parts)
