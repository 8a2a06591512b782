"""Health data of the sources: this month's API usage against the quotas, and disagreements.

``quota_usage`` and ``disagreements`` are what ``tracker status``, ``tracker sources status`` and
the health page show. ``flag_disagreements`` compares what each source last said about a bill
(``bill_source.stage`` and the source's live actions) and keeps one ``source_disagreement`` row
per bill, kind and pair of sources; a disagreement that goes away gets ``resolved_at``. Both
observations always stay in the database: flagging never changes a bill.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update

from tracker.models import Action, Bill, BillSource
from tracker.source_models import ApiUsage, LegiscanBill, SourceDisagreement

_A, _B, _BS = Action.__table__, Bill.__table__, BillSource.__table__
_D, _U, _LB = SourceDisagreement.__table__, ApiUsage.__table__, LegiscanBill.__table__
MAX_EXAMPLES = 5
CHUNK = 500


@dataclass
class QuotaUsage:
    source: str
    month: str
    calls_month: int
    calls_today: int
    monthly_cap: int | None
    daily_cap: int | None

    @property
    def exhausted(self) -> bool:
        return (self.monthly_cap is not None and self.calls_month >= self.monthly_cap) or (
            self.daily_cap is not None and self.calls_today >= self.daily_cap
        )

    def line(self) -> str:
        month = f"{self.calls_month}" + (
            f"/{self.monthly_cap}" if self.monthly_cap is not None else ""
        )
        today = f"{self.calls_today}" + (f"/{self.daily_cap}" if self.daily_cap is not None else "")
        flag = "  QUOTA SPENT" if self.exhausted else ""
        return f"{self.source}: {month} calls in {self.month}, {today} today{flag}"


def quota_usage(
    engine: Engine,
    *,
    now: datetime | None = None,
    caps: dict[str, tuple[int | None, int | None]] | None = None,
) -> list[QuotaUsage]:
    """Usage this month (and today) per API source; ``caps`` is source -> (monthly, daily).

    Without ``caps`` the caps come from config/sources.yaml.
    """
    now = now or datetime.now(UTC)
    month, day = now.strftime("%Y-%m"), now.strftime("%Y-%m-%d")
    if caps is None:
        caps = _configured_caps()
    with engine.connect() as conn:
        rows = conn.execute(
            select(_U.c.source, func.sum(_U.c.calls))
            .where(_U.c.month == month)
            .group_by(_U.c.source)
        ).all()
        today = {
            s: c for s, c in conn.execute(select(_U.c.source, _U.c.calls).where(_U.c.day == day))
        }
    used = {source: int(total or 0) for source, total in rows}
    names = sorted(set(caps) | set(used))
    return [
        QuotaUsage(
            name, month, used.get(name, 0), int(today.get(name, 0)), *caps.get(name, (None, None))
        )
        for name in names
    ]


def _configured_caps() -> dict[str, tuple[int | None, int | None]]:
    from tracker.collect.options import API_SOURCES, load_sources_config

    config = load_sources_config()
    return {
        name: (config.sources.api(name).monthly_cap, config.sources.api(name).daily_cap)
        for name in API_SOURCES
    }


def legiscan_tracking(engine: Engine) -> dict[str, int]:
    """How many LegiScan bills are known, followed, and waiting for a changed record."""
    with engine.connect() as conn:
        known = conn.execute(select(func.count()).select_from(_LB)).scalar() or 0
        followed = (
            conn.execute(
                select(func.count()).select_from(_LB).where(_LB.c.followed.is_(True))
            ).scalar()
            or 0
        )
        stale = (
            conn.execute(
                select(func.count())
                .select_from(_LB)
                .where(
                    _LB.c.followed.is_(True),
                    (_LB.c.change_hash.is_(None)) | (_LB.c.change_hash != _LB.c.listed_hash),
                )
            ).scalar()
            or 0
        )
    return {"known": int(known), "followed": int(followed), "changed_not_fetched": int(stale)}


# --- disagreements ----------------------------------------------------------------------------


def disagreements(
    engine: Engine, *, include_resolved: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """Open disagreements, newest first, with the bill's state, session and identifier."""
    q = (
        select(_D, _B.c.state, _B.c.session, _B.c.identifier, _B.c.title)
        .select_from(_D.join(_B, _B.c.id == _D.c.bill_id))
        .order_by(_D.c.last_seen.desc(), _D.c.id.desc())
        .limit(limit)
    )
    if not include_resolved:
        q = q.where(_D.c.resolved_at.is_(None))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _source_kind(source: str) -> str:
    return "scrape" if source.startswith("scrape") else source.removeprefix("import:")


def preference_from(order: list[str]) -> Callable[[str], int]:
    """A sort key for source names: the configured order first, then the usual ranking."""
    from tracker.ingest import source_rank

    def rank(source: str) -> int:
        kind = _source_kind(source)
        if kind in order:
            return order.index(kind)
        return len(order) + source_rank(source)

    return rank


def flag_disagreements(
    engine: Engine,
    bill_ids: Iterable[int],
    *,
    preference: Callable[[str], int] | None = None,
    now: datetime | None = None,
) -> int:
    """Compare every pair of sources of each bill; returns how many disagreements are open."""
    from tracker.ingest import source_rank

    rank = preference or source_rank
    now = now or datetime.now(UTC)
    ids = sorted(set(bill_ids))
    open_count = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with engine.begin() as conn:
            found = _compare(conn, chunk, rank)
            open_count += len(found)
            _store(conn, chunk, found, now)
    return open_count


def _compare(
    conn: Any, bill_ids: list[int], rank: Callable[[str], int]
) -> dict[tuple[int, str, str, str], dict[str, Any]]:
    stages: dict[int, dict[str, str | None]] = defaultdict(dict)
    for bill_id, source, stage in conn.execute(
        select(_BS.c.bill_id, _BS.c.source, _BS.c.stage).where(_BS.c.bill_id.in_(bill_ids))
    ):
        stages[bill_id][source] = stage
    actions: dict[tuple[int, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for bill_id, source, date, description in conn.execute(
        select(_A.c.bill_id, _A.c.source, _A.c.date, _A.c.description).where(
            and_(_A.c.bill_id.in_(bill_ids), _A.c.removed_at.is_(None))
        )
    ):
        actions[(bill_id, source)][date[:10]].append(description)
    found: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for bill_id, by_source in stages.items():
        for a, b in combinations(sorted(by_source, key=lambda s: (rank(s), s)), 2):
            sa, sb = by_source[a], by_source[b]
            if sa and sb and sa != sb:
                found[(bill_id, "stage", a, b)] = {"stage": {a: sa, b: sb}}
            missing = _missing_actions(
                actions.get((bill_id, a), {}), actions.get((bill_id, b), {}), a, b
            )
            if missing:
                found[(bill_id, "missing-action", a, b)] = missing
    return found


def _missing_actions(
    da: dict[str, list[str]], db: dict[str, list[str]], a: str, b: str
) -> dict[str, Any] | None:
    """Days on which one source has more actions than the other, up to the day both reached.

    Sources word actions differently, so actions are counted per day, not matched by text; a
    source that is merely behind (its latest action is older) does not lack the newer ones.
    """
    if not da or not db:
        return None
    horizon = min(max(da), max(db))
    days = sorted(d for d in da.keys() | db.keys() if d <= horizon)
    lacks_b = [d for d in days if len(da.get(d, ())) > len(db.get(d, ()))]
    lacks_a = [d for d in days if len(db.get(d, ())) > len(da.get(d, ()))]
    if not lacks_a and not lacks_b:
        return None

    def listing(
        days: list[str], have: dict[str, list[str]], other: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        return [
            {
                "date": d,
                "count": len(have[d]) - len(other.get(d, ())),
                "actions": have[d][:MAX_EXAMPLES],
            }
            for d in days[:MAX_EXAMPLES]
        ]

    return {
        "missing_in": {b: listing(lacks_b, da, db), a: listing(lacks_a, db, da)},
        "counts": {b: len(lacks_b), a: len(lacks_a)},
    }


def _store(
    conn: Any,
    bill_ids: list[int],
    found: dict[tuple[int, str, str, str], dict[str, Any]],
    now: datetime,
) -> None:
    existing = {
        (r.bill_id, r.kind, r.source_a, r.source_b): r
        for r in conn.execute(select(_D).where(_D.c.bill_id.in_(bill_ids)))
    }
    for key, detail in found.items():
        row = existing.get(key)
        if row is None:
            conn.execute(
                insert(_D),
                {
                    "bill_id": key[0],
                    "kind": key[1],
                    "source_a": key[2],
                    "source_b": key[3],
                    "detail": detail,
                    "first_seen": now,
                    "last_seen": now,
                    "resolved_at": None,
                },
            )
        else:
            conn.execute(
                update(_D)
                .where(_D.c.id == row.id)
                .values(detail=detail, last_seen=now, resolved_at=None)
            )
    for key, row in existing.items():
        if key not in found and row.resolved_at is None:
            conn.execute(update(_D).where(_D.c.id == row.id).values(resolved_at=now))
