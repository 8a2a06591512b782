"""LegiScan API as a source: ``getMasterListRaw`` + stored ``change_hash``, ``getBill``, ``getSearch``.

Documented format (LegiScan API manual): ``GET {base}?key=KEY&op=OPERATION&...`` answers
``{"status": "OK", ...}`` or ``{"status": "ERROR", "alert": {"message": "..."}}``.

- ``op=getMasterListRaw&state=XX`` (or ``&id=SESSION_ID``): ``{"masterlist": {"session": {...},
  "0": {"bill_id", "number", "change_hash"}, "1": ...}}`` for the state's current session;
- ``op=getBill&id=BILL_ID``: ``{"bill": {...}}`` (the records in ../shared/data/legiscan/api_json);
- ``op=getSearch&state=ALL&query=Q&page=N&year=Y``: ``{"searchresult": {"summary": {"page_total",
  ...}, "0": {"bill_id", "state", "bill_number", "change_hash", "title", ...}, ...}}``, 50 a page.

Every call counts against the free tier's 30,000 queries a month, so: a state run lists the
session once (one call) and calls ``getBill`` only for *followed* bills whose ``change_hash``
differs from the one stored in ``legiscan_bill`` when we last ingested them. Bills are followed
when discovery found them relevant, a curator pinned them, or the config says ``follow: all``.
A second run with no changes therefore fetches no bill at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, insert, select, update

from scrapers.http import HttpClient
from scrapers.importers.legiscan import bill_from_api
from tracker.collect import follow
from tracker.collect.base import (
    ApiCaller,
    Quota,
    QuotaExhausted,
    SourceError,
    api_base,
    missing_key_message,
    skipped,
)
from tracker.collect.options import SourcesConfig
from tracker.identifiers import normalize_identifier
from tracker.ingest import ingest_bills
from tracker.runs import RunResult, finish_result, start_run
from tracker.scraped import ScrapedBill
from tracker.settings import get_settings
from tracker.source_models import LegiscanBill

NAME = "legiscan-api"
KEY_HELP = "https://legiscan.com/legiscan"
legiscan_bill = LegiscanBill.__table__
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass
class Listed:
    """One bill as a list or search names it."""

    bill_id: int
    state: str
    number: str
    change_hash: str
    title: str = ""


class LegiscanApi:
    name = NAME

    def __init__(
        self,
        engine: Engine,
        *,
        client: HttpClient,
        config: SourcesConfig,
        now: datetime | None = None,
    ) -> None:
        settings = get_settings()
        self.engine = engine
        self.config = config
        self.options = config.sources.legiscan_api
        key = settings.legiscan_api_key
        self.key = key.get_secret_value() if key else ""
        self.base = api_base(settings.legiscan_api_url)
        self.now = now
        self.quota = Quota(engine, NAME, self.options, now=now)
        self.caller = ApiCaller(
            client,
            self.quota,
            base_url=self.base,
            requests_per_second=self.options.requests_per_second,
            secrets=[self.key],
        )

    def missing(self, state: str | None = None) -> str | None:
        if not self.key:
            return missing_key_message(NAME, "TRACKER_LEGISCAN_API_KEY", KEY_HELP)
        return None

    # the operations ----------------------------------------------------------------------------

    def call(self, op: str, **params: Any) -> tuple[dict[str, Any], str]:
        data, where = self.caller.get_json(self.base, params={"key": self.key, "op": op, **params})
        if not isinstance(data, dict) or "status" not in data:
            raise SourceError(f"{where}: malformed LegiScan response: no 'status'")
        if data["status"] != "OK":
            alert = data.get("alert")
            message = str(
                (alert.get("message") if isinstance(alert, dict) else None) or "no message"
            )
            if re.search(r"limit|quota|exceed", message, re.I):
                raise QuotaExhausted(f"{where}: LegiScan says: {message}")
            raise SourceError(f"{where}: LegiScan error: {message}")
        return data, where

    def master_list(self, state: str) -> tuple[list[Listed], dict[str, Any]]:
        """(bills of the state's current session, the session record)."""
        data, where = self.call("getMasterListRaw", state=state.upper())
        masterlist = data.get("masterlist")
        if not isinstance(masterlist, dict):
            raise SourceError(f"{where}: malformed getMasterListRaw response: no 'masterlist'")
        session = masterlist.get("session")
        session = session if isinstance(session, dict) else {}
        out = [_listed(item, state, where) for key, item in masterlist.items() if key != "session"]
        return out, session

    def get_bill(self, bill_id: int) -> tuple[dict[str, Any], str]:
        data, where = self.call("getBill", id=bill_id)
        if not isinstance(data.get("bill"), dict):
            raise SourceError(f"{where}: malformed getBill response: no 'bill' object")
        return data, where

    def search(self, query: str, page: int) -> tuple[list[Listed], int]:
        """(results of one getSearch page, page_total)."""
        year = self.config.discovery.legiscan_year
        data, where = self.call("getSearch", state="ALL", query=query, page=page, year=year)
        found = data.get("searchresult")
        summary = found.get("summary") if isinstance(found, dict) else None
        if (
            not isinstance(found, dict)
            or not isinstance(summary, dict)
            or not isinstance(summary.get("page_total"), int)
        ):
            raise SourceError(f"{where}: malformed getSearch response: no 'summary.page_total'")
        results = [_listed(item, None, where) for key, item in found.items() if key != "summary"]
        return results, summary["page_total"]

    # state run ---------------------------------------------------------------------------------

    def run_state(self, engine: Engine, state: str) -> RunResult:
        if reason := self.missing(state):
            return skipped(NAME, state, reason, short="no API key (TRACKER_LEGISCAN_API_KEY)")
        result, run_id, before = self._start(state)
        try:
            listed, session = self.master_list(state)
            self._remember(
                listed, follow_all=self.options.follow == "all", pinned=_pinned(state, session)
            )
            self._fetch_changed([b.bill_id for b in listed], result)
        except QuotaExhausted as exc:
            result.status, result.message = "quota", str(exc)
        except SourceError as exc:
            result.status, result.message = "failed", str(exc)
        return self._end(result, before)

    # discovery ---------------------------------------------------------------------------------

    def discover(self, engine: Engine) -> RunResult:
        """getSearch across all states; relevant results are followed and fetched when changed."""
        if reason := self.missing(None):
            return skipped(NAME, None, reason, short="no API key (TRACKER_LEGISCAN_API_KEY)")
        result, run_id, before = self._start(None)
        try:
            found: dict[int, Listed] = {}
            for query in follow.search_queries(self.config.discovery):
                for item in self._search_all(query):
                    found[item.bill_id] = item
            # A search result has only a title; one clear enough is followed at once. Every
            # other hit is fetched once (full record: description, subjects) and followed only
            # if the full record is relevant; it is not fetched again unless it becomes so.
            relevant = {
                b.bill_id
                for b in found.values()
                if follow.is_relevant(title=b.title, state=b.state, identifier=b.number)
            }
            self._remember(list(found.values()), follow_all=False, pinned=set(), relevant=relevant)
            self._fetch_changed(list(found), result, evaluate_new=True)
            dropped = len(found) - self._followed_count(list(found))
            if dropped:
                result.message = f"{dropped} search results not relevant, not followed"
        except QuotaExhausted as exc:
            result.status, result.message = "quota", str(exc)
        except SourceError as exc:
            result.status, result.message = "failed", str(exc)
        return self._end(result, before)

    def _search_all(self, query: str) -> list[Listed]:
        out: list[Listed] = []
        page, total = 1, 1
        while page <= min(total, self.config.discovery.max_pages):
            items, total = self.search(query, page)
            out.extend(items)
            page += 1
        return out

    # shared steps ------------------------------------------------------------------------------

    def _start(self, state: str | None) -> tuple[RunResult, int, int]:
        result = RunResult(source=NAME, state=state)
        result.run_id = start_run(self.engine, source=NAME, kind="api", state=state)
        return result, result.run_id, self.caller.calls

    def _end(self, result: RunResult, calls_before: int) -> RunResult:
        result.calls = self.caller.calls - calls_before
        result.settle()
        finish_result(self.engine, result)
        return result

    def _remember(
        self,
        listed: list[Listed],
        *,
        follow_all: bool,
        pinned: set[str],
        relevant: set[int] | None = None,
    ) -> None:
        """Store each listed bill's hash; mark newly followed ones (never unfollow).

        A bill whose hash and follow state did not move costs no write: a big state's list
        (thousands of bills) is mostly that, every week.
        """
        now = datetime.now(UTC)
        for chunk in _chunks(listed):
            with self.engine.begin() as conn:
                ids = [b.bill_id for b in chunk]
                known = {
                    r.bill_id: r
                    for r in conn.execute(
                        select(
                            legiscan_bill.c.bill_id,
                            legiscan_bill.c.listed_hash,
                            legiscan_bill.c.followed,
                        ).where(legiscan_bill.c.bill_id.in_(ids))
                    )
                }
                new_rows = []
                for b in chunk:
                    reason = (
                        "pin"
                        if normalize_identifier(b.number) in pinned
                        else "discovery"
                        if relevant and b.bill_id in relevant
                        else "state-all"
                        if follow_all
                        else ""
                    )
                    row = known.get(b.bill_id)
                    if row is None:
                        new_rows.append(
                            {
                                "bill_id": b.bill_id,
                                "state": b.state,
                                "number": b.number,
                                "title": b.title,
                                "listed_hash": b.change_hash,
                                "change_hash": None,
                                "followed": bool(reason),
                                "reason": reason,
                                "last_listed": now,
                            }
                        )
                        continue
                    values: dict[str, Any] = {}
                    if row.listed_hash != b.change_hash:
                        values.update(listed_hash=b.change_hash, last_listed=now)
                    if reason and not row.followed:
                        values.update(followed=True, reason=reason)
                    if values:
                        conn.execute(
                            update(legiscan_bill)
                            .where(legiscan_bill.c.bill_id == b.bill_id)
                            .values(**values)
                        )
                if new_rows:
                    conn.execute(insert(legiscan_bill), new_rows)

    def _followed_count(self, bill_ids: list[int]) -> int:
        with self.engine.connect() as conn:
            return sum(
                conn.execute(
                    select(func.count())
                    .select_from(legiscan_bill)
                    .where(legiscan_bill.c.bill_id.in_(chunk), legiscan_bill.c.followed.is_(True))
                ).scalar_one()
                for chunk in _chunks(bill_ids)
            )

    def _fetch_changed(
        self, bill_ids: list[int], result: RunResult, *, evaluate_new: bool = False
    ) -> None:
        """getBill for each followed bill whose listed hash differs from the ingested one (and,
        with `evaluate_new`, once for each bill never fetched, to judge it on its full record)."""
        wanted: ColumnElement[bool] = legiscan_bill.c.followed.is_(True)
        if evaluate_new:
            wanted = wanted | legiscan_bill.c.change_hash.is_(None)
        rows = []
        with self.engine.connect() as conn:
            for chunk in _chunks(bill_ids):
                rows += list(
                    conn.execute(
                        select(
                            legiscan_bill.c.bill_id,
                            legiscan_bill.c.change_hash,
                            legiscan_bill.c.listed_hash,
                        ).where(legiscan_bill.c.bill_id.in_(chunk), wanted)
                    )
                )
        todo = [r.bill_id for r in rows if r.change_hash is None or r.change_hash != r.listed_hash]
        result.skipped_unchanged += len(rows) - len(todo)
        bills: list[tuple[int, str, ScrapedBill]] = []
        try:
            for bill_id in sorted(todo):
                data, where = self.get_bill(bill_id)
                result.fetched += 1
                bill = bill_from_api(data, where)
                if not isinstance(bill, ScrapedBill):  # a RecordError (or None: no bill)
                    result.errors.append(str(bill))
                    continue
                bills.append((bill_id, str(data["bill"].get("change_hash") or ""), bill))
        finally:
            # What was fetched before a spent quota is ingested, not wasted.
            self._ingest(bills, result)

    def _ingest(self, bills: list[tuple[int, str, ScrapedBill]], result: RunResult) -> None:
        if not bills:
            return
        report = ingest_bills(
            self.engine,
            [b for _, _, b in bills],
            source=NAME,
            kind="api",
            state=result.state,
            run_id=result.run_id,
            finish=False,
        )
        # fetched bills are not "skipped", even if unchanged
        result.add_ingest(report, unchanged_is_skipped=False)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            for bill_id, change_hash, bill in bills:
                values: dict[str, Any] = {
                    "change_hash": change_hash,
                    "listed_hash": change_hash,
                    "last_fetched": now,
                }
                if follow.bill_is_relevant(bill):
                    values.update(followed=True, reason="discovery")
                conn.execute(
                    update(legiscan_bill).where(legiscan_bill.c.bill_id == bill_id).values(**values)
                )


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    """Slices small enough for an IN (...) list on every backend."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _listed(item: Any, state: str | None, where: str) -> Listed:
    try:
        return Listed(
            bill_id=int(item["bill_id"]),
            state=str(state or item["state"]).lower(),
            number=str(item.get("number") or item.get("bill_number") or ""),
            change_hash=str(item["change_hash"]),
            title=str(item.get("title") or ""),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SourceError(
            f"{where}: malformed LegiScan bill entry {item!r:.120} ({exc!r})"
        ) from None


def _pinned(state: str, session: dict[str, Any]) -> set[str]:
    """Normalised identifiers of this state's pins whose session years fall in the listed session."""
    start = session.get("year_start")
    end = session.get("year_end") or start
    out: set[str] = set()
    for pin in follow.pins(state):
        years = [int(y) for y in _YEAR.findall(pin.session)]
        if start and end and years and not any(int(start) <= y <= int(end) for y in years):
            continue
        out.add(normalize_identifier(pin.identifier))
    return out
