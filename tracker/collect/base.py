"""What every source shares: the Source protocol, quotas, cursors and the API caller.

A source turns one state (or a national search) into :class:`~tracker.scraped.ScrapedBill`
objects and hands them to :func:`tracker.ingest.ingest_bills`; its result is a
:class:`tracker.runs.RunResult`. Every request goes through the
one :class:`~scrapers.http.HttpClient` (rate limit, retries, Retry-After, robots); API calls
are also counted against the source's quota in the ``api_usage`` table *before* they are made,
so a spent quota stops a source cleanly (:class:`QuotaExhausted`) and the runner moves on to
the next source instead of crashing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, insert, select, update

from scrapers.fetch_types import FetchError
from scrapers.http import HttpClient, host_key
from tracker.collect.options import ApiOptions, SourcesConfig
from tracker.runs import RunResult
from tracker.source_models import ApiUsage, SourceCursor

log = logging.getLogger("tracker.collect")
api_usage = ApiUsage.__table__
source_cursor = SourceCursor.__table__


class SourceError(Exception):
    """A source cannot go on (network failure, malformed response); the message names the URL."""


class QuotaExhausted(SourceError):
    """The source's configured (or the server's) quota is spent for now."""


class Source(Protocol):
    """A way to get a state's bills. ``missing()`` says why it cannot run here, or None."""

    name: str

    def missing(self, state: str | None) -> str | None: ...

    def run_state(self, engine: Engine, state: str) -> RunResult: ...


# --- the one message for a missing key ---------------------------------------------------------

_warned: set[str] = set()


def skipped(source: str, state: str | None, reason: str, *, short: str | None = None) -> RunResult:
    """A skipped result. The full reason is logged once per process; each result carries only
    the `short` form, so a run over fifty states does not repeat the explanation fifty times."""
    if reason not in _warned:
        _warned.add(reason)
        log.warning("%s", reason)
    return RunResult(source=source, state=state, status="skipped", message=short or reason)


def missing_key_message(source: str, variable: str, where: str) -> str:
    return f"{source}: no API key ({variable} is not set), so this source is skipped; get a free key at {where}"


# --- quotas ---------------------------------------------------------------------------------------


def _today() -> datetime:
    return datetime.now(UTC)


class Quota:
    """Calls to one API per day and per month, stored in ``api_usage`` and checked before a call."""

    def __init__(
        self, engine: Engine, source: str, options: ApiOptions, *, now: datetime | None = None
    ) -> None:
        self.engine = engine
        self.source = source
        self.daily_cap = options.daily_cap
        self.monthly_cap = options.monthly_cap
        self._now = now

    def _when(self) -> tuple[str, str]:
        now = self._now or _today()
        return now.strftime("%Y-%m"), now.strftime("%Y-%m-%d")

    def used(self) -> tuple[int, int]:
        """(calls today, calls this month)."""
        month, day = self._when()
        with self.engine.connect() as conn:
            today = conn.execute(
                select(api_usage.c.calls).where(
                    api_usage.c.source == self.source, api_usage.c.day == day
                )
            ).scalar()
            total = conn.execute(
                select(func.coalesce(func.sum(api_usage.c.calls), 0)).where(
                    api_usage.c.source == self.source, api_usage.c.month == month
                )
            ).scalar()
        return int(today or 0), int(total or 0)

    def remaining(self) -> int | None:
        today, month = self.used()
        left = [
            cap - used
            for cap, used in ((self.daily_cap, today), (self.monthly_cap, month))
            if cap is not None
        ]
        return max(0, min(left)) if left else None

    def spend(self, n: int = 1) -> None:
        """Record `n` calls, or raise :class:`QuotaExhausted` if that would pass a cap."""
        today, month = self.used()
        if self.daily_cap is not None and today + n > self.daily_cap:
            raise QuotaExhausted(
                f"{self.source}: daily quota of {self.daily_cap} calls is spent ({today} used today)"
            )
        if self.monthly_cap is not None and month + n > self.monthly_cap:
            raise QuotaExhausted(
                f"{self.source}: monthly quota of {self.monthly_cap} calls is spent "
                f"({month} used this month)"
            )
        self._record(n)

    def _record(self, n: int) -> None:
        month, day = self._when()
        now = _today()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(api_usage)
                .where(api_usage.c.source == self.source, api_usage.c.day == day)
                .values(calls=api_usage.c.calls + n, updated_at=now)
            ).rowcount
            if not done:
                conn.execute(
                    insert(api_usage),
                    {
                        "source": self.source,
                        "month": month,
                        "day": day,
                        "calls": n,
                        "updated_at": now,
                    },
                )


# --- cursors --------------------------------------------------------------------------------------


def get_cursor(engine: Engine, source: str, scope: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(source_cursor.c.value).where(
                source_cursor.c.source == source, source_cursor.c.scope == scope
            )
        ).scalar()


def set_cursor(engine: Engine, source: str, scope: str, value: str) -> None:
    now = _today()
    with engine.begin() as conn:
        done = conn.execute(
            update(source_cursor)
            .where(source_cursor.c.source == source, source_cursor.c.scope == scope)
            .values(value=value, updated_at=now)
        ).rowcount
        if not done:
            conn.execute(
                insert(source_cursor),
                {"source": source, "scope": scope, "value": value, "updated_at": now},
            )


# --- calling an API -------------------------------------------------------------------------------


class ApiCaller:
    """GET JSON from one API through the shared client, counting each call against the quota.

    Secrets (an API key in the query string) are masked in every error message.
    """

    def __init__(
        self,
        client: HttpClient,
        quota: Quota,
        *,
        base_url: str,
        requests_per_second: float,
        secrets: list[str] | None = None,
    ) -> None:
        self.client = client
        self.quota = quota
        self.base_url = base_url
        self.secrets = [s for s in (secrets or []) if s]
        self.calls = 0
        client.set_host_delay(host_key(base_url), 1.0 / requests_per_second)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"([?&](?:key|apikey)=)[^&\s]+", r"\1***", text)

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, str]:
        """(decoded JSON, the masked URL) of one call; raises SourceError / QuotaExhausted."""
        self.quota.spend()
        self.calls += 1
        try:
            page = self.client.get(url, params=params, headers=headers, conditional=False)
        except FetchError as exc:
            if exc.status == 429:
                raise QuotaExhausted(
                    self.mask(f"{exc.url}: the server still answers 429 Too Many Requests ({exc})")
                ) from None
            raise SourceError(self.mask(str(exc))) from None
        where = self.mask(page.url)
        try:
            return json.loads(page.text), where
        except ValueError as exc:
            raise SourceError(f"{where}: malformed response, not JSON ({exc})") from None


def api_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceError(
            f"API address {url!r} is not an http(s) URL (check the TRACKER_*_API_URL setting)"
        )
    return url


def configured(config: SourcesConfig | None) -> SourcesConfig:
    if config is not None:
        return config
    from tracker.collect.options import load_sources_config

    return load_sources_config()
