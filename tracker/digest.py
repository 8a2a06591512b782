"""Weekly "what changed" digests: one context per subscriber per ISO week, from `change` rows.

The week is read ONCE (:func:`load_week`): every change seen in the period, the bills they
touch, the hearings in the two weeks after it and a national snapshot. Each subscriber's
digest is then a filter over that in memory (:meth:`Week.context_for`), and identical
preference sets share one rendering (:mod:`tracker.digest_render`), so 10,000 subscribers cost
one query plus string work, and memory does not grow with the number of subscribers.

Rendering (:class:`~tracker.digest_render.DigestRenderer`) is :mod:`tracker.digest_render` and
delivery (sending, the ledger) :mod:`tracker.delivery`; this module builds the week.

A digest never reports a mass removal: removals are not news kinds, and the stage changes of a
run whose removals the guard held (``tracker.ingest.apply_removals``) are left out, since
they follow from the very list the guard did not trust.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from tracker import subscriptions, urls
from tracker.models import Bill, Change, Hearing, Run
from tracker.runs import HELD_REMOVALS
from tracker.settings import Settings, get_settings
from tracker.vocab import (
    ALL_STAGES,
    LAW_STAGES,
    RELEVANT_TOPICS,
    STAGE_LABELS,
    stage_text,
    state_name,
)

log = logging.getLogger(__name__)

HEARING_WINDOW_DAYS = 14
# Changes whose date is this much older than the week are history (a first import or a
# backfill), not news; actions dated after the week are typos or placeholders (Open States #544).
STALE_DAYS = 28
FUTURE_GRACE_DAYS = 1
MAX_BILLS = 25  # more than this in one mail is unreadable; the rest are linked
MAX_EVENTS = 8
SNAPSHOT_DAYS = 365
POSSIBLE_TOPIC = "single-payer"  # who gets the bills a curator has not reviewed yet
NEWS_KINDS = (
    "bill_new",
    "action_new",
    "stage_changed",
    "sponsor_added",
    "version_new",
    "field_changed",
)
DIED = frozenset({"dead", "failed", "vetoed", "withdrawn"})
# Ordering within a digest: what a reader most needs to know first.
STAGE_WEIGHT = {
    "enacted": 100,
    "sent_to_governor": 85,
    "adopted": 65,  # [stages] a resolution adopted: news, but not a law
    "vetoed": 90,
    "passed_both_chambers": 80,
    "passed_one_chamber": 70,
    "passed_committee": 60,
    "failed": 55,
    "dead": 50,
    "withdrawn": 50,
    "in_committee": 30,
    "introduced": 25,
}
KIND_WEIGHT = {
    "bill_new": 40,
    "hearing": 45,
    "version_new": 20,
    "action_new": 15,
    "sponsor_added": 10,
    "field_changed": 5,
}

bill_col, change_col, hearing_col = Bill.__table__.c, Change.__table__.c, Hearing.__table__.c


# ----------------------------------------------------------------------------- periods


class PeriodError(ValueError):
    pass


def parse_period(period: str) -> tuple[date, date]:
    """``2025-W10`` -> (Monday, next Monday); a clear error for anything else."""
    try:
        year, week = period.upper().split("-W")
        start = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise PeriodError(f"period {period!r} is not an ISO week like 2025-W10") from None
    return start, start + timedelta(days=7)


def format_period(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def last_complete_period(now: datetime | None = None) -> str:
    """The ISO week that ended most recently: Monday's digest reports the week before."""
    today = (now or datetime.now(UTC)).date()
    return format_period(today - timedelta(days=7))


# ----------------------------------------------------------------------------- the week


@dataclass(slots=True)
class Event:
    kind: str
    date: str | None
    text: str = ""
    stage: str | None = None
    old_stage: str | None = None
    url: str = ""
    names: list[str] = field(default_factory=list)
    chamber: str | None = None
    classification: tuple[str, ...] = ()


@dataclass(slots=True)
class BillItem:
    id: int
    state: str
    session: str
    identifier: str
    title: str
    topic: str | None
    stage: str | None
    status_url: str
    official_url: str
    events: list[Event] = field(default_factory=list)
    importance: int = 0
    is_new: bool = False
    enacted: bool = False
    died: bool = False
    headline: str = ""
    haystack: str = ""
    key_event: Event | None = None  # what a brief digest shows: the most important change
    furthest_stage: str | None = None  # [stages] shown beside a terminal stage
    possible: bool = False  # decision `possible`: "possibly single-payer — under review"

    @property
    def digest_topic(self) -> str:
        """The topic a subscriber follows to get this bill: a `possible` bill goes to those who
        follow single-payer (recall first: they review one extra bill rather than miss one),
        labelled as under review."""
        return POSSIBLE_TOPIC if self.possible else (self.topic or "none")


@dataclass(slots=True)
class HearingItem:
    bill: BillItem
    date: str
    committee: str
    location: str
    description: str


def _order(b: BillItem) -> tuple[int, str, str]:
    return (-b.importance, b.state, b.identifier)


@dataclass
class Week:
    """Everything one period's digests draw on, loaded once.

    Bills with news are indexed by (state, topic), each list in digest order with its counts
    precomputed, so one subscriber's selection merges a few short lists instead of scanning
    the whole week.
    """

    period: str
    start: date
    end: date
    bills: dict[int, BillItem]
    hearings: list[HearingItem]
    snapshot: dict[str, Any]
    settings: Settings
    _bills_by: dict[tuple[str, str], list[BillItem]] = field(init=False, repr=False)
    _counts_by: dict[tuple[str, str], tuple[int, int, int, int]] = field(init=False, repr=False)
    _hearings_by: dict[tuple[str, str], list[HearingItem]] = field(init=False, repr=False)
    # (state, topic) list filtered by a saved search's words: many preference sets share one
    _matching: dict[tuple[Any, ...], list[BillItem]] = field(init=False, repr=False)
    _period_label: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bills_by: dict[tuple[str, str], list[BillItem]] = defaultdict(list)
        for b in self.bills.values():
            if b.events:
                bills_by[(b.state, b.digest_topic)].append(b)
        for items in bills_by.values():
            items.sort(key=_order)
        self._bills_by = dict(bills_by)
        self._counts_by = {
            k: (len(v), sum(b.is_new for b in v), sum(b.enacted for b in v), sum(b.died for b in v))
            for k, v in self._bills_by.items()
        }
        hearings_by: dict[tuple[str, str], list[HearingItem]] = defaultdict(list)
        for h in self.hearings:  # already in date order
            hearings_by[(h.bill.state, h.bill.digest_topic)].append(h)
        self._hearings_by = dict(hearings_by)
        self._matching = {}
        self._period_label = _period_label(self.start, self.end)

    def _matches(self, key: tuple[str, str], terms: tuple[str, ...]) -> list[BillItem]:
        hit = self._matching.get((key, terms))
        if hit is None:
            hit = self._bills_by[key]
            for term in terms:  # the same bills as all(terms) per bill, in far fewer steps
                hit = [b for b in hit if term in b.haystack]
            if len(self._matching) < 4096:  # bounded by the week's keys and saved searches
                self._matching[(key, terms)] = hit
        return hit

    def _keys(
        self, index: dict[tuple[str, str], Any], prefs: subscriptions.Preferences
    ) -> list[Any]:
        states, topics = set(prefs.states), set(prefs.topics)
        return [k for k in index if (not states or k[0] in states) and k[1] in topics]

    def _lists(
        self, prefs: subscriptions.Preferences
    ) -> tuple[list[list[BillItem]], list[HearingItem]]:
        terms = tuple(_terms(prefs.query))
        keys = self._keys(self._bills_by, prefs)
        if terms:
            lists = [self._matches(k, terms) for k in keys]
        else:
            lists = [self._bills_by[k] for k in keys]
        hearing_lists = [self._hearings_by[k] for k in self._keys(self._hearings_by, prefs)]
        hearings = list(heapq.merge(*hearing_lists, key=lambda h: h.date))
        if terms:
            hearings = [h for h in hearings if all(t in h.bill.haystack for t in terms)]
        return lists, hearings

    def select(self, prefs: subscriptions.Preferences) -> tuple[list[BillItem], list[HearingItem]]:
        """Every bill with news and every hearing a subscriber follows, most important first."""
        lists, hearings = self._lists(prefs)
        return list(heapq.merge(*lists, key=_order)), hearings

    def context_for(
        self, prefs: subscriptions.Preferences, links: dict[str, str]
    ) -> dict[str, Any]:
        lists, hearings = self._lists(prefs)
        top = list(itertools.islice(heapq.merge(*lists, key=_order), MAX_BILLS))
        if prefs.query:
            counts = [
                (
                    len(v),
                    sum(b.is_new for b in v),
                    sum(b.enacted for b in v),
                    sum(b.died for b in v),
                )
                for v in lists
            ]
        else:
            counts = [self._counts_by[k] for k in self._keys(self._bills_by, prefs)]
        n, new, enacted, died = (sum(c[i] for c in counts) for i in range(4))
        return {
            "period": self.period,
            "period_label": self._period_label,
            "hearing_until": self.end + timedelta(days=HEARING_WINDOW_DAYS - 1),
            "groups": _group_by_state(top, hearings),
            "quiet": not n and not hearings,
            "counts": {
                "bills": n,
                "hearings": len(hearings),
                "new": new,
                "enacted": enacted,
                "died": died,
            },
            "more": max(0, n - MAX_BILLS),
            "detail": prefs.detail,
            "prefs": _prefs_summary(prefs),
            "snapshot": self.snapshot,
            "links": links,
            "email": links.get("email", ""),
            "site": _site(self.settings),
        }


def _terms(query: str | None) -> list[str]:
    return [t.strip("\"'").lower() for t in (query or "").split() if t.strip("\"'")]


def _period_label(start: date, end: date) -> str:
    last = end - timedelta(days=1)
    return f"{start:%b} {start.day} – {last:%b} {last.day}, {last.year}"


def _prefs_summary(prefs: subscriptions.Preferences) -> dict[str, Any]:
    from tracker.vocab import TOPIC_LABELS

    return {
        "states": [state_name(s) for s in prefs.states] or ["All states"],
        "topics": [TOPIC_LABELS.get(t, t) for t in prefs.topics],
        "query": prefs.query,
    }


def _site(settings: Settings) -> dict[str, str]:
    return {
        "base_url": settings.base_url.rstrip("/"),
        "postal_address": settings.org_postal_address,
        "reply_to": settings.mail_reply_to or settings.contact_email,
    }


def _group_by_state(bills: list[BillItem], hearings: list[HearingItem]) -> list[dict[str, Any]]:
    by_state: dict[str, dict[str, Any]] = {}
    for b in bills:
        group = by_state.setdefault(b.state, _new_group(b.state))
        group["bills"].append(b)
        group["importance"] = max(group["importance"], b.importance)
    for h in hearings:
        group = by_state.setdefault(h.bill.state, _new_group(h.bill.state))
        group["hearings"].append(h)
        group["importance"] = max(group["importance"], KIND_WEIGHT["hearing"])
    return sorted(by_state.values(), key=lambda g: (-g["importance"], -len(g["bills"]), g["name"]))


def _new_group(code: str) -> dict[str, Any]:
    return {"code": code, "name": state_name(code), "bills": [], "hearings": [], "importance": 0}


# ----------------------------------------------------------------------------- loading


def load_week(conn: Connection, *, period: str, settings: Settings | None = None) -> Week:
    """Read one period's changes, bills, upcoming hearings and the snapshot (a few queries)."""
    settings = settings or get_settings()
    start, end = parse_period(period)
    bills: dict[int, BillItem] = {}
    rows = list(_change_rows(conn, start, end))
    _load_bills(conn, {r.bill_id for r in rows}, bills, settings)
    for r in rows:
        item = bills.get(r.bill_id)
        if item is not None:
            _add_event(item, r)
    hearings = _hearings(conn, end, bills, settings)
    for item in bills.values():
        _finish(item)
    return Week(period, start, end, bills, hearings, _snapshot(conn, end, bills), settings)


def _change_rows(conn: Connection, start: date, end: date) -> Iterator[Any]:
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
    stale = (start - timedelta(days=STALE_DAYS)).isoformat()
    future = (end + timedelta(days=FUTURE_GRACE_DAYS)).isoformat()
    q = (
        select(
            change_col.bill_id,
            change_col.kind,
            change_col.field,
            change_col.old,
            change_col.new,
            change_col.effective_date,
            change_col.run_id,
        )
        .where(change_col.seen_at >= lo, change_col.seen_at < hi, change_col.kind.in_(NEWS_KINDS))
        .order_by(change_col.bill_id, change_col.effective_date, change_col.id)
    )
    held = _held_runs(conn, lo, hi)
    for r in conn.execute(q):
        if r.kind == "stage_changed" and r.run_id in held:
            continue  # the mass-removal guard held this run: its stage moves are not news
        eff = (r.effective_date or "")[:10]
        if eff and (eff < stale or eff > future):
            continue
        if r.kind == "field_changed" and r.field != "title":
            continue
        yield r


def _held_runs(conn: Connection, lo: datetime, hi: datetime) -> set[int]:
    """Runs of the period (started before its end, finished after its start) that held
    removals."""
    run = Run.__table__.c
    q = select(run.id, run.counts).where(
        run.started_at < hi, (run.finished_at >= lo) | run.finished_at.is_(None)
    )
    return {run_id for run_id, counts in conn.execute(q) if (counts or {}).get(HELD_REMOVALS)}


def _load_bills(
    conn: Connection, ids: set[int], out: dict[int, BillItem], settings: Settings
) -> None:
    cols = (
        bill_col.id,
        bill_col.state,
        bill_col.session,
        bill_col.identifier,
        bill_col.title,
        bill_col.topic,
        bill_col.topic_decision,
        bill_col.stage,
        bill_col.furthest_stage,
        bill_col.sources,
    )
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        for r in conn.execute(select(*cols).where(bill_col.id.in_(chunk))):
            out[r.id] = _bill_item(r, settings)


def _bill_item(r: Any, settings: Settings) -> BillItem:
    status_url = settings.base_url.rstrip("/") + urls.bill_path(r.state, r.session, r.identifier)
    official = next(
        (
            s.get("url", "")
            for s in (r.sources or [])
            if isinstance(s, dict) and str(s.get("url", "")).startswith(("http://", "https://"))
        ),
        "",
    )
    return BillItem(
        id=r.id,
        state=r.state,
        session=r.session,
        identifier=r.identifier,
        title=r.title or "",
        topic=r.topic,
        possible=r.topic_decision == "possible" and r.topic not in RELEVANT_TOPICS,
        stage=r.stage,
        furthest_stage=r.furthest_stage,
        status_url=status_url,
        official_url=official,
    )


def _add_event(item: BillItem, r: Any) -> None:
    new = r.new if isinstance(r.new, dict) else {}
    date_ = (r.effective_date or "")[:10] or None
    if r.kind == "bill_new":
        item.is_new = True
        item.events.append(Event("bill_new", date_, "New bill", stage=new.get("stage")))
    elif r.kind == "action_new":
        item.events.append(
            Event(
                "action_new",
                date_,
                str(new.get("description", "")),
                chamber=new.get("chamber"),
                classification=tuple(new.get("classification") or ()),
            )
        )
    elif r.kind == "stage_changed":
        item.events.append(Event("stage_changed", date_, "", stage=r.new, old_stage=r.old))
    elif r.kind == "sponsor_added":
        _add_sponsor(item, date_, str(new.get("name", "")))
    elif r.kind == "version_new":
        url = str(new.get("url") or "")
        item.events.append(
            Event(
                "version_new",
                date_,
                str(new.get("note") or "New version"),
                url=url if url.startswith(("http://", "https://")) else "",
            )
        )
    elif r.kind == "field_changed":
        item.events.append(Event("field_changed", None, f"Title changed to: {r.new}"))


def _add_sponsor(item: BillItem, date_: str | None, name: str) -> None:
    for e in item.events:
        if e.kind == "sponsor_added":
            e.names.append(name)
            e.date = max(e.date or "", date_ or "") or None
            return
    item.events.append(Event("sponsor_added", date_, names=[name]))


def _finish(item: BillItem) -> None:
    """Tie stage changes to the action that caused them, order events, score the bill."""
    actions = [e for e in item.events if e.kind == "action_new"]
    used: set[int] = set()
    for e in item.events:
        if e.kind == "stage_changed":
            cause = _cause(e, actions)
            if cause is not None:  # the stage line quotes its action, which need not repeat
                e.text, e.chamber = cause.text, cause.chamber
                used.add(id(cause))
            item.enacted = item.enacted or e.stage in LAW_STAGES  # [stages] never a resolution
            item.died = item.died or e.stage in DIED
    item.events = [e for e in item.events if id(e) not in used]
    item.events.sort(key=lambda e: (e.date or "9999", _KIND_ORDER.get(e.kind, 9)))  # undated last
    item.importance = max((_weight(e) for e in item.events), default=0)
    if item.events:  # the most important; among equals, the latest
        item.key_event = max(reversed(item.events), key=_weight)
    item.importance += 5 if item.topic in RELEVANT_TOPICS else 0
    item.headline = _headline(item)
    words = [item.identifier, item.identifier.replace(" ", ""), item.title]
    words += [e.text for e in item.events] + [n for e in item.events for n in e.names]
    item.haystack = " ".join(words).lower()


# Within one day: the bill appears, moves, then the details.
_KIND_ORDER = {
    "bill_new": 0,
    "stage_changed": 1,
    "action_new": 2,
    "version_new": 3,
    "field_changed": 4,
    "sponsor_added": 5,
}

# Which action classifications move a bill into a stage: used to quote the right action.
STAGE_CAUSES: dict[str, frozenset[str]] = {
    "introduced": frozenset({"introduction", "filing", "reading-1"}),
    "in_committee": frozenset({"referral-committee", "referral"}),
    "passed_committee": frozenset({"committee-passage", "committee-passage-favorable"}),
    "passed_one_chamber": frozenset({"passage"}),
    "passed_both_chambers": frozenset({"passage", "concurrence"}),
    "adopted": frozenset({"passage", "concurrence"}),
    "sent_to_governor": frozenset({"executive-receipt", "enrolled"}),
    "enacted": frozenset({"executive-signature", "became-law", "veto-override-passage"}),
    "vetoed": frozenset({"executive-veto"}),
    "failed": frozenset({"failure", "committee-failure", "committee-passage-unfavorable"}),
    "withdrawn": frozenset({"withdrawal"}),
}


def _cause(stage: Event, actions: list[Event]) -> Event | None:
    """The week's action that moved the bill to `stage`: same day and matching kind if any."""
    same_day = [a for a in actions if a.date == stage.date] or actions
    wanted = STAGE_CAUSES.get(stage.stage or "", frozenset())
    matching = [a for a in same_day if wanted.intersection(a.classification)]
    pool = matching or same_day
    return pool[-1] if pool else None


def _weight(e: Event) -> int:
    if e.kind == "stage_changed":
        return STAGE_WEIGHT.get(e.stage or "", 20)
    return KIND_WEIGHT.get(e.kind, 1)


def _headline(item: BillItem) -> str:
    stages = [e for e in item.events if e.kind == "stage_changed"]
    if item.enacted:
        return "Enacted"
    if stages:
        last = stages[-1].stage or ""
        # [stages] "Died (furthest: passed one chamber)" when the bill had got further
        furthest = item.furthest_stage if last == item.stage else None
        return stage_text(last, furthest)
    if item.is_new:
        return "New bill"
    return ""


def _hearings(
    conn: Connection, end: date, bills: dict[int, BillItem], settings: Settings
) -> list[HearingItem]:
    until = (end + timedelta(days=HEARING_WINDOW_DAYS)).isoformat()
    q = (
        select(
            hearing_col.bill_id,
            hearing_col.date,
            hearing_col.committee,
            hearing_col.location,
            hearing_col.description,
        )
        .where(
            hearing_col.date >= end.isoformat(),
            hearing_col.date < until,
            hearing_col.removed_at.is_(None),
            hearing_col.status != "cancelled",
        )
        .order_by(hearing_col.date)
    )
    rows = list(conn.execute(q))
    _load_bills(conn, {r.bill_id for r in rows} - set(bills), bills, settings)
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in rows:
        key = (r.bill_id, r.date[:16], (r.committee or "").lower())
        if key in seen or r.bill_id not in bills:
            continue
        seen.add(key)
        out.append(
            HearingItem(
                bills[r.bill_id], r.date, r.committee or "", r.location or "", r.description or ""
            )
        )
    return out


def _snapshot(conn: Connection, end: date, bills: dict[int, BillItem]) -> dict[str, Any]:
    """Relevant bills nationally by stage (active in the last year) and states that moved."""
    since = (end - timedelta(days=SNAPSHOT_DAYS)).isoformat()
    q = (
        select(bill_col.stage, func.count())
        .where(bill_col.topic.in_(sorted(RELEVANT_TOPICS)), bill_col.latest_action_date >= since)
        .group_by(bill_col.stage)
    )
    counts = {stage or "introduced": n for stage, n in conn.execute(q)}
    by_stage = [
        {"stage": s, "label": STAGE_LABELS[s], "count": counts[s]}
        for s in ALL_STAGES
        if counts.get(s)
    ]
    active = sorted({b.state for b in bills.values() if b.events and b.topic in RELEVANT_TOPICS})
    return {
        "by_stage": by_stage,
        "total": sum(counts.values()),
        "active_states": [state_name(s) for s in active],
    }
