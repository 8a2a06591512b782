"""Open States API v3 as a source: ``GET /bills`` with ``jurisdiction``, ``q``, ``updated_since``.

Documented format (openstates/api-v3): ``/bills`` takes ``jurisdiction`` (name or ocd id),
``session``, ``q`` (full text, ``websearch_to_tsquery``; a bill-id-like query matches the
identifier), ``updated_since``, ``sort``, ``include=`` (repeatable: actions, sponsorships,
versions, sources, abstracts, other_identifiers, ...), ``page`` and ``per_page`` (at most 20).
It answers ``{"results": [...], "pagination": {"per_page", "page", "max_page",
"total_items"}}``; errors are ``{"detail": "..."}`` with 4xx. The key goes in the ``X-API-KEY``
header (never in the URL, so it cannot leak into logs).

A state run asks for bills of that jurisdiction matching the search terms, updated since the
last complete run (minus an overlap day), plus curator pins by identifier; results are
classified and only relevant or already tracked bills are ingested. Discovery is the same
search without a jurisdiction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from scrapers.http import HttpClient
from scrapers.importers.base import RecordError
from scrapers.importers.openstates_v3 import bill_from_v3
from tracker.collect import follow
from tracker.collect.base import (
    ApiCaller,
    Quota,
    QuotaExhausted,
    SourceError,
    api_base,
    get_cursor,
    missing_key_message,
    set_cursor,
    skipped,
)
from tracker.collect.options import SourcesConfig
from tracker.identifiers import normalize_identifier
from tracker.ingest import ingest_bills
from tracker.runs import RunResult, finish_result, start_run
from tracker.scraped import ScrapedBill
from tracker.settings import get_settings

NAME = "openstates-api"
KEY_HELP = "https://openstates.org/accounts/profile/"


def jurisdiction_id(state: str) -> str:
    return f"ocd-jurisdiction/country:us/state:{state.lower()}/government"


# --- the source ---------------------------------------------------------------------------------


class OpenStatesApi:
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
        self.options = config.sources.openstates_api
        key = settings.openstates_api_key
        self.key = key.get_secret_value() if key else ""
        self.base = api_base(settings.openstates_api_url).rstrip("/")
        self.now = now or datetime.now(UTC)
        self.cut: tuple[str, int] | None = None  # (day, page) where a cut-short listing stopped
        self.caller = ApiCaller(
            client,
            Quota(engine, NAME, self.options, now=now),
            base_url=self.base,
            requests_per_second=self.options.requests_per_second,
            secrets=[self.key],
        )

    def missing(self, state: str | None = None) -> str | None:
        if not self.key:
            return missing_key_message(NAME, "TRACKER_OPENSTATES_API_KEY", KEY_HELP)
        return None

    # listing ---------------------------------------------------------------------------------

    def pages(
        self, params: dict[str, Any], *, max_pages: int, first_page: int = 1
    ) -> Iterator[tuple[Any, str]]:
        """(raw bill, URL of its page) for every result of a paged /bills query.

        Reads at most `max_pages` pages from `first_page`; when more remain, ``self.cut``
        keeps (``updated_at`` day of the last bill read, last page read) so the next run
        resumes there instead of skipping the rest.
        """
        page, last = first_page, first_page
        while page <= last and page < first_page + max_pages:
            data, where = self.caller.get_json(
                f"{self.base}/bills",
                params={**params, "page": page},
                headers={"X-API-KEY": self.key},
            )
            results, last = _results_and_pages(data, where)
            for item in results:
                yield item, where
            if page == first_page + max_pages - 1 and last > page and results:
                stamp = results[-1].get("updated_at") if isinstance(results[-1], dict) else None
                self.cut = (str(stamp or "")[:10], page)
            page += 1

    def _params(self, *, state: str | None, since: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "include": list(self.options.include),
            "per_page": self.options.per_page,
            "sort": "updated_asc",
        }
        if state:
            params["jurisdiction"] = jurisdiction_id(state)
        if since:
            params["updated_since"] = since
        return params

    def fetch(
        self,
        queries: list[tuple[dict[str, Any], int]],
        result: RunResult,
        *,
        max_pages: int,
        into: dict[tuple[str, str, str], ScrapedBill],
    ) -> None:
        """Bills of (query, first page) pairs into `into` (deduplicated; kept on a spent quota)."""
        for params, first_page in queries:
            for raw, where in self.pages(params, max_pages=max_pages, first_page=first_page):
                bill = bill_from_v3(raw, where)
                if isinstance(bill, RecordError):
                    result.errors.append(str(bill))
                    continue
                into[(bill.state, bill.legislative_session, bill.identifier)] = bill

    # runs ------------------------------------------------------------------------------------

    def _since(self, scope: str) -> tuple[str, int]:
        """(updated_since day, first page) for a scope: ``2025-06-06`` or ``2025-06-06#3``."""
        cursor = get_cursor(self.engine, NAME, scope)
        if cursor:
            day, _, page = cursor.partition("#")
            return day, int(page or 1)
        first = self.now - timedelta(days=self.options.first_run_days)
        return first.strftime("%Y-%m-%d"), 1

    def _searches(self, state: str | None, scope: str) -> list[tuple[dict[str, Any], int]]:
        since, first_page = self._since(scope)
        return [
            ({**self._params(state=state, since=since), "q": q}, first_page)
            for q in follow.search_queries(self.config.discovery)
        ]

    def run_state(self, engine: Engine, state: str) -> RunResult:
        if reason := self.missing(state):
            return skipped(NAME, state, reason, short="no API key (TRACKER_OPENSTATES_API_KEY)")
        queries = self._searches(state, state)
        since, _page = self._since(state)
        have = follow.sourced_keys(self.engine, NAME, state)
        for pin in follow.pins(state):
            # A pinned bill we already have from this source is asked for only if updated.
            known = (pin.session, normalize_identifier(pin.identifier)) in have
            params = {**self._params(state=state, since=since if known else None)}
            queries.append(({**params, "session": pin.session, "q": pin.identifier}, 1))
        return self._run(state, state, queries, max_pages=self.options.max_pages)

    def discover(self, engine: Engine) -> RunResult:
        if reason := self.missing(None):
            return skipped(NAME, None, reason, short="no API key (TRACKER_OPENSTATES_API_KEY)")
        queries = self._searches(None, "discovery")
        return self._run(None, "discovery", queries, max_pages=self.config.discovery.max_pages)

    def _run(
        self,
        state: str | None,
        scope: str,
        queries: list[tuple[dict[str, Any], int]],
        *,
        max_pages: int,
    ) -> RunResult:
        result = RunResult(source=NAME, state=state)
        run_id = start_run(self.engine, source=NAME, kind="api", state=state)
        result.run_id = run_id
        calls_before = self.caller.calls
        self.cut = None
        found: dict[tuple[str, str, str], ScrapedBill] = {}
        try:
            self.fetch(queries, result, max_pages=max_pages, into=found)
        except QuotaExhausted as exc:
            result.status, result.message = "quota", str(exc)
        except SourceError as exc:
            result.status, result.message = "failed", str(exc)
        bills = list(found.values())
        result.calls = self.caller.calls - calls_before
        result.fetched = len(bills)
        keep, ignored = follow.select_followed(self.engine, bills)
        if keep:
            report = ingest_bills(
                self.engine, keep, source=NAME, kind="api", state=state, run_id=run_id, finish=False
            )
            result.add_ingest(report)
        if result.status == "ok":  # the listing ran to its end (no spent quota, no failure)
            result.settle()
            self._advance(scope, result, max_pages)
        if ignored and not result.message:
            result.message = f"{ignored} search results not relevant, not followed"
        finish_result(self.engine, result)
        return result

    def _advance(self, scope: str, result: RunResult, max_pages: int) -> None:
        """Move the scope's cursor: to today minus the overlap after a complete listing; after
        one cut short, to the day of the last bill read, or (no day gained: every bill on the
        pages shares one day) to the same day at the page to go on from."""
        cursor = (self.now - timedelta(days=self.options.overlap_days)).strftime("%Y-%m-%d")
        if self.cut is not None:
            since, _page = self._since(scope)
            day, page = self.cut
            # Re-read the last page for overlap when that still leaves room to move on.
            cursor = (
                day if day and day > since else f"{since}#{page if max_pages > 1 else page + 1}"
            )
            result.message = f"listing cut at {max_pages} pages; resumes from {cursor}"
        set_cursor(self.engine, NAME, scope, cursor)


def _results_and_pages(data: Any, where: str) -> tuple[list[Any], int]:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SourceError(f"{where}: malformed Open States response: no 'results' list")
    pagination = data.get("pagination")
    if not isinstance(pagination, dict) or not isinstance(pagination.get("max_page"), int):
        raise SourceError(f"{where}: malformed Open States response: no 'pagination.max_page'")
    return data["results"], pagination["max_page"]
