"""Weekly "what changed" digests: one context per subscriber per ISO week, from `change` rows.

The week is read ONCE (:func:`load_week`): every change seen in the period, the bills they
touch, the hearings in the two weeks after it and a national snapshot. Each subscriber's
digest is then a filter over that in memory (:meth:`Week.context_for`), and identical
preference sets share one rendering (:class:`DigestRenderer`), so 10,000 subscribers cost
one query plus string work, and memory does not grow with the number of subscribers.

Delivery (:func:`send_digests`) writes the ledger per message: a row is claimed before the SMTP
transaction and finished after it, so a crash and a rerun send every remaining subscriber once
and nobody twice.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker import subscriptions
from tracker.models import Bill, Change, Hearing
from tracker.settings import Settings, get_settings
from tracker.subscription_models import DigestLedger, Subscriber
from tracker.templating import get_env
from tracker.vocab import (
    ALL_STAGES,
    LAW_STAGES,
    RELEVANT_TOPICS,
    STAGE_LABELS,
    stage_text,
    state_name,
)
from tracker.web import urls

log = logging.getLogger(__name__)

HEARING_WINDOW_DAYS = 14
# Changes whose date is this much older than the week are history (a first import or a
# backfill), not news; actions dated after the week are typos or placeholders (Open States #544).
STALE_DAYS = 28
FUTURE_GRACE_DAYS = 1
MAX_BILLS = 25  # more than this in one mail is unreadable; the rest are linked
MAX_EVENTS = 8
SNAPSHOT_DAYS = 365
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

_BC, _CC, _HC = Bill.__table__.c, Change.__table__.c, Hearing.__table__.c  # type: ignore[attr-defined]
_LEDGER = DigestLedger.__table__  # type: ignore[attr-defined]
_SUBS = Subscriber.__table__  # type: ignore[attr-defined]


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

    def __post_init__(self) -> None:
        bills_by: dict[tuple[str, str], list[BillItem]] = defaultdict(list)
        for b in self.bills.values():
            if b.events:
                bills_by[(b.state, b.topic or "none")].append(b)
        for items in bills_by.values():
            items.sort(key=_order)
        self._bills_by = dict(bills_by)
        self._counts_by = {
            k: (len(v), sum(b.is_new for b in v), sum(b.enacted for b in v), sum(b.died for b in v))
            for k, v in self._bills_by.items()
        }
        hearings_by: dict[tuple[str, str], list[HearingItem]] = defaultdict(list)
        for h in self.hearings:  # already in date order
            hearings_by[(h.bill.state, h.bill.topic or "none")].append(h)
        self._hearings_by = dict(hearings_by)

    def _keys(
        self, index: dict[tuple[str, str], Any], prefs: subscriptions.Preferences
    ) -> list[Any]:
        states, topics = set(prefs.states), set(prefs.topics)
        return [k for k in index if (not states or k[0] in states) and k[1] in topics]

    def _lists(
        self, prefs: subscriptions.Preferences
    ) -> tuple[list[list[BillItem]], list[HearingItem]]:
        terms = _terms(prefs.query)
        lists = [self._bills_by[k] for k in self._keys(self._bills_by, prefs)]
        hearing_lists = [self._hearings_by[k] for k in self._keys(self._hearings_by, prefs)]
        hearings = list(heapq.merge(*hearing_lists, key=lambda h: h.date))
        if terms:
            lists = [[b for b in items if all(t in b.haystack for t in terms)] for items in lists]
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
            "period_label": _period_label(self.start, self.end),
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
        select(_CC.bill_id, _CC.kind, _CC.field, _CC.old, _CC.new, _CC.effective_date)
        .where(_CC.seen_at >= lo, _CC.seen_at < hi, _CC.kind.in_(NEWS_KINDS))
        .order_by(_CC.bill_id, _CC.effective_date, _CC.id)
    )
    for r in conn.execute(q):
        eff = (r.effective_date or "")[:10]
        if eff and (eff < stale or eff > future):
            continue
        if r.kind == "field_changed" and r.field != "title":
            continue
        yield r


def _load_bills(
    conn: Connection, ids: set[int], out: dict[int, BillItem], settings: Settings
) -> None:
    cols = (
        _BC.id,
        _BC.state,
        _BC.session,
        _BC.identifier,
        _BC.title,
        _BC.topic,
        _BC.stage,
        _BC.furthest_stage,
        _BC.sources,
    )
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        for r in conn.execute(select(*cols).where(_BC.id.in_(chunk))):
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
    return (matching or same_day or [None])[-1]


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
        select(_HC.bill_id, _HC.date, _HC.committee, _HC.location, _HC.description)
        .where(
            _HC.date >= end.isoformat(),
            _HC.date < until,
            _HC.removed_at.is_(None),
            _HC.status != "cancelled",
        )
        .order_by(_HC.date)
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
        select(_BC.stage, func.count())
        .where(_BC.topic.in_(sorted(RELEVANT_TOPICS)), _BC.latest_action_date >= since)
        .group_by(_BC.stage)
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


# ----------------------------------------------------------------------------- rendering

# Per-subscriber values are rendered as these markers and substituted afterwards, so one
# rendering serves every subscriber with the same preferences.
_MARKERS = {
    "manage_url": "@@SPT-MANAGE@@",
    "unsubscribe_url": "@@SPT-UNSUB@@",
    "email": "@@SPT-EMAIL@@",
}


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    subject: str
    html: str
    text: str
    quiet: bool
    bills: int


class DigestRenderer:
    """Render digests for one week.

    Each bill's block is rendered once per detail level and reused in every digest that shows
    it; whole digests are cached (LRU) per preference set, with per-subscriber values left as
    markers. Memory is bounded by the week's size and the cache size, not by subscribers.
    """

    def __init__(self, week: Week, *, cache_size: int = 128) -> None:
        self.week = week
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], RenderedDigest] = OrderedDict()
        self._fragments: dict[tuple[int, str, str], str] = {}
        env = get_env()
        self._html = env.get_template("email/digest.html")
        self._text = env.get_template("email/digest.txt")
        self._subject = env.get_template("email/digest_subject.txt")
        self._bill = {
            "html": env.get_template("email/_bill.html"),
            "text": env.get_template("email/_bill.txt"),
        }

    def _fragment(self, bill: BillItem, detail: str, kind: str) -> str:
        key = (bill.id, detail, kind)
        hit = self._fragments.get(key)
        if hit is None:
            hit = self._bill[kind].render(b=bill, detail=detail, max_events=MAX_EVENTS)
            hit = Markup(hit) if kind == "html" else hit  # already escaped by its template
            self._fragments[key] = hit
        return hit

    def template(self, prefs: subscriptions.Preferences) -> RenderedDigest:
        key = (prefs.states, prefs.topics, prefs.query, prefs.detail)  # quiet_week: same text
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        ctx = self.week.context_for(prefs, dict(_MARKERS))
        ctx["bill_html"] = lambda b: self._fragment(b, prefs.detail, "html")
        ctx["bill_text"] = lambda b: self._fragment(b, prefs.detail, "text")
        rendered = RenderedDigest(
            subject=" ".join(self._subject.render(ctx).split()),
            html=self._html.render(ctx),
            text=self._text.render(ctx),
            quiet=ctx["quiet"],
            bills=ctx["counts"]["bills"],
        )
        if self.cache_size:
            self._cache[key] = rendered
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return rendered

    def render(
        self, prefs: subscriptions.Preferences, *, email: str, manage_url: str, unsubscribe_url: str
    ) -> RenderedDigest:
        t = self.template(prefs)
        values = {"manage_url": manage_url, "unsubscribe_url": unsubscribe_url, "email": email}
        html, text = t.html, t.text
        for key, marker in _MARKERS.items():
            html = html.replace(marker, str(escape(values[key])))
            text = text.replace(marker, values[key])
        return RenderedDigest(t.subject, html, text, t.quiet, t.bills)


def prefs_of(row: Any) -> subscriptions.Preferences:
    return subscriptions.Preferences(
        tuple(row.states or ()), tuple(row.topics or ()), row.query, row.detail, row.quiet_week
    )


# ----------------------------------------------------------------------------- delivery


@dataclass
class SendReport:
    """Counts of one run. `already`: subscribers with a ledger row for the period before this
    run looked at them (sent, skipped, bounced or uncertain); `uncertain`: rows this run found
    left `sending` by a crashed run (never resent)."""

    period: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    bounced: int = 0
    already: int = 0
    uncertain: int = 0
    would_send: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.period}: sent {self.sent}, skipped (quiet) {self.skipped}, "
            f"failed {self.failed}, bounced {self.bounced}, already done {self.already}, "
            f"uncertain {self.uncertain}, would send {self.would_send} "
            f"in {self.seconds:.1f}s"
        )


def _confirmed_batches(conn: Connection, size: int = 1000) -> Iterator[list[Any]]:
    last = 0
    cols = (
        _SUBS.c.id,
        _SUBS.c.email,
        _SUBS.c.states,
        _SUBS.c.topics,
        _SUBS.c.query,
        _SUBS.c.detail,
        _SUBS.c.quiet_week,
        _SUBS.c.bounce_count,
    )
    while True:
        rows = list(
            conn.execute(
                select(*cols)
                .where(_SUBS.c.status == "confirmed", _SUBS.c.id > last)
                .order_by(_SUBS.c.id)
                .limit(size)
            )
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id


def send_digests(
    engine: Engine,
    *,
    period: str,
    transport: Any | None,
    settings: Settings | None = None,
    dry_run: bool = False,
    bounce_threshold: int | None = None,
    renderer: DigestRenderer | None = None,
) -> SendReport:
    """Send `period`'s digest to every confirmed subscriber who has not had it yet.

    `transport` is a :class:`tracker.mail.SmtpTransport` (opened by the caller); with
    ``dry_run`` nothing is sent or written and the report counts what would go out.

    This thread renders; one sender thread claims each ledger row, sends over the one SMTP
    connection and records the outcome, so rendering overlaps the wait for the server while
    the claim -> send -> finish order (the exactly-once guarantee) stays one message at a time.
    """
    settings = settings or get_settings()
    if bounce_threshold is None:
        bounce_threshold = settings.digest_bounce_threshold
    report = SendReport(period)
    started = time.perf_counter()
    sender = (
        None if dry_run else _Sender(engine, transport, period=period, threshold=bounce_threshold)
    )
    with engine.connect() as conn:
        renderer = renderer or DigestRenderer(load_week(conn, period=period, settings=settings))
        conn.rollback()
        if sender is not None:
            report.uncertain += _mark_uncertain(conn, period)
            sender.start()
        try:
            for batch in _confirmed_batches(conn):
                done = _done_ids(conn, period, [r.id for r in batch])
                conn.rollback()
                for row in batch:
                    if row.id in done:
                        report.already += 1
                        continue
                    item = _prepare(row, renderer, settings)
                    if sender is not None:
                        sender.put(item)
                    elif item[0] == "skip":
                        report.skipped += 1
                    else:
                        report.would_send += 1
        finally:
            if sender is not None:
                sender.finish()
    if sender is not None:
        sender.merge_into(report)
    report.seconds = time.perf_counter() - started
    return report


def _prepare(row: Any, renderer: DigestRenderer, settings: Settings) -> tuple[Any, ...]:
    """("skip", id) for a quiet week the subscriber skips, else ("send", id, address, message)."""
    from tracker import mail

    prefs = prefs_of(row)
    # the row has the id and address a token needs; no ORM object per subscriber
    links = {
        "manage_url": subscriptions.link(row, "manage", settings=settings),
        "unsubscribe_url": subscriptions.link(row, "unsubscribe", settings=settings),
    }
    digest = renderer.render(prefs, email=row.email, **links)
    if digest.quiet and prefs.quiet_week == "skip":
        return ("skip", row.id)
    msg = mail.build_raw_message(
        to=row.email,
        subject=digest.subject,
        text=digest.text,
        html=digest.html,
        unsubscribe_url=links["unsubscribe_url"],
        settings=settings,
    )
    return ("send", row.id, row.email, msg, bool(row.bounce_count))


class _Sender(threading.Thread):
    """Owns the SMTP connection and the ledger writes; takes prepared messages from a queue."""

    def __init__(self, engine: Engine, transport: Any, *, period: str, threshold: int) -> None:
        super().__init__(name=f"digest-sender-{period}", daemon=True)
        self.engine, self.transport = engine, transport
        self.period, self.threshold = period, threshold
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=32)
        self.error: BaseException | None = None
        self.counts: Counter[str] = Counter()
        self._outcome: list[Any] = []  # ledger/subscriber updates not yet committed

    def put(self, item: tuple[Any, ...]) -> None:
        while True:
            self._raise_if_failed()
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self.is_alive():
            while self.is_alive():
                try:
                    self.queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
            self.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def merge_into(self, report: SendReport) -> None:
        for name, n in self.counts.items():
            setattr(report, name, getattr(report, name) + n)

    def run(self) -> None:
        from tracker import mail

        with self.engine.connect() as conn:
            while (item := self.queue.get()) is not None:
                try:
                    self.counts[self._handle(conn, item, mail)] += 1
                except BaseException as exc:  # noqa: BLE001 - handed to the rendering thread
                    self.error = exc
                    return
            _run_in_one_transaction(conn, self._outcome)

    def _handle(self, conn: Connection, item: tuple[Any, ...], mail: Any) -> str:
        # The previous message's outcome is written in the same transaction as this claim:
        # one commit per message. A crash before it leaves that row `sending`, which a rerun
        # marks uncertain and never resends: still nobody twice.
        before, self._outcome = self._outcome, []
        if item[0] == "skip":
            done = _claim(conn, item[1], self.period, "skipped", "", before=before)
            return "skipped" if done else "already"
        _, sub_id, address, msg, had_bounces = item
        if not _claim(conn, sub_id, self.period, "sending", msg["Message-ID"], before=before):
            return "already"
        try:
            self.transport.send(msg, to=address)
        except mail.PermanentFailure as exc:
            self._outcome = _finished(sub_id, self.period, "bounced", str(exc))
            self._outcome += _bounced(sub_id, self.threshold)
            return "bounced"
        except mail.TemporaryFailure as exc:
            self._outcome = _finished(sub_id, self.period, "failed", str(exc))
            return "failed"
        self._outcome = _finished(sub_id, self.period, "sent", "", reset_bounces=had_bounces)
        return "sent"


def _run_in_one_transaction(conn: Connection, statements: Sequence[Any]) -> None:
    for statement in statements:
        conn.execute(statement)
    conn.commit()


def _mark_uncertain(conn: Connection, period: str) -> int:
    """A previous run died during these SMTP transactions: never resend them."""
    n = conn.execute(
        update(_LEDGER)
        .where(_LEDGER.c.period == period, _LEDGER.c.status == "sending")
        .values(
            status="uncertain",
            error="run interrupted during delivery; not resent",
            updated_at=datetime.now(UTC),
        )
    ).rowcount
    conn.commit()
    return int(n or 0)


def _done_ids(conn: Connection, period: str, ids: Sequence[int]) -> set[int]:
    q = select(_LEDGER.c.subscriber_id).where(
        _LEDGER.c.period == period,
        _LEDGER.c.subscriber_id.in_(list(ids)),
        _LEDGER.c.status != "failed",
    )
    return set(conn.execute(q).scalars())


def _claim(
    conn: Connection,
    sub_id: int,
    period: str,
    status: str,
    message_id: str,
    before: Sequence[Any] = (),
) -> bool:
    """Insert this period's ledger row (or retake a `failed` one); False if another has it.

    `before` (the previous message's outcome) is committed in the same transaction.
    """
    values = {
        "status": status,
        "message_id": message_id,
        "updated_at": datetime.now(UTC),
        "error": "",
    }
    try:
        for statement in before:
            conn.execute(statement)
        conn.execute(
            insert(_LEDGER).values(subscriber_id=sub_id, period=period, attempts=1, **values)
        )
        conn.commit()
        return True
    except IntegrityError:
        conn.rollback()
    for statement in before:
        conn.execute(statement)
    n = conn.execute(
        update(_LEDGER)
        .where(
            and_(
                _LEDGER.c.subscriber_id == sub_id,
                _LEDGER.c.period == period,
                _LEDGER.c.status == "failed",
            )
        )
        .values(attempts=_LEDGER.c.attempts + 1, **values)
    ).rowcount
    conn.commit()
    return bool(n)


def _finished(
    sub_id: int, period: str, status: str, error: str, *, reset_bounces: bool = False
) -> list[Any]:
    """Statements recording a message's outcome (bounces count only when consecutive)."""
    statements: list[Any] = [
        update(_LEDGER)
        .where(_LEDGER.c.subscriber_id == sub_id, _LEDGER.c.period == period)
        .values(status=status, error=error[:2000], updated_at=datetime.now(UTC))
    ]
    if reset_bounces:
        statements.append(update(_SUBS).where(_SUBS.c.id == sub_id).values(bounce_count=0))
    return statements


def _bounced(sub_id: int, threshold: int) -> list[Any]:
    return [
        update(_SUBS)
        .where(_SUBS.c.id == sub_id)
        .values(bounce_count=_SUBS.c.bounce_count + 1, last_bounce_at=datetime.now(UTC)),
        update(_SUBS)
        .where(
            _SUBS.c.id == sub_id, _SUBS.c.status == "confirmed", _SUBS.c.bounce_count >= threshold
        )
        .values(status="bouncing"),
    ]
