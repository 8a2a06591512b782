"""Every way bills come in, run in the configured order of preference per state.

``run_state_sources(engine, "ca")`` runs California's sources as ``config/sources.yaml`` orders
them (default ``scrape, openstates-api, legiscan-api``; ``scrape`` counts only where
``config/states/ca.yaml`` exists). With the ``first-success`` strategy the first source that
works is enough and the rest are fallbacks: a missing key, a spent quota or a failure moves on
to the next, never to a crash. With ``all`` every source runs and their disagreements are
flagged. ``run_discovery(engine)`` runs the national keyword search of the discovery sources.

Example::

    from scrapers.sources import run_state_sources
    from tracker.db import make_engine

    for result in run_state_sources(make_engine(), "wa"):
        print(result.line())
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from sqlalchemy import Engine

from scrapers.http import HttpClient
from scrapers.sources.base import STATUSES, QuotaExhausted, Source, SourceError, SourceResult
from scrapers.sources.options import SOURCE_NAMES, SourcesConfig, load_sources_config

__all__ = [
    "STATUSES",
    "QuotaExhausted",
    "Source",
    "SourceError",
    "SourceResult",
    "build_source",
    "run_discovery",
    "run_state_sources",
]

log = logging.getLogger("scrapers.sources")


class ScrapeSource:
    """The state's own scraper (``config/states/<st>.yaml``), run by :mod:`scrapers.scrape`."""

    name = "scrape"

    def __init__(self, engine: Engine, *, client: HttpClient) -> None:
        self.engine = engine
        self.client = client

    def missing(self, state: str | None) -> str | None:
        from scrapers.registry import config_path

        if state is None or not config_path(state).is_file():
            return f"scrape: no config/states/{state}.yaml"
        return None

    def run_state(self, engine: Engine, state: str) -> SourceResult:
        if reason := self.missing(state):
            return SourceResult(source=self.name, state=state, status="skipped", message=reason)
        try:
            from scrapers.scrape import scrape_state
        except ImportError as exc:
            return SourceResult(
                source=self.name,
                state=state,
                status="failed",
                message=f"scrapers.scrape.scrape_state is not available ({exc})",
            )
        # The scraper shares our client (one rate limit per host) when it accepts one.
        accepts_client = "client" in inspect.signature(scrape_state).parameters
        try:
            if accepts_client:
                outcome = scrape_state(engine, state, client=self.client)
            else:
                outcome = scrape_state(engine, state)
        except Exception as exc:  # noqa: BLE001 - a broken scraper degrades to the next source
            log.exception("scrape of %s failed", state)
            return SourceResult(
                source=self.name,
                state=state,
                status="failed",
                message=f"{type(exc).__name__}: {exc}",
            )
        return _from_scrape(state, outcome)


def _from_scrape(state: str, outcome: Any) -> SourceResult:
    """A SourceResult from whatever the scraper returns (an IngestReport-like object)."""
    result = SourceResult(source="scrape", state=state)
    for name in ("new", "updated", "unchanged", "calls", "fetched", "run_id"):
        if isinstance(getattr(outcome, name, None), int):
            setattr(result, name, getattr(outcome, name))
    result.skipped_unchanged = result.unchanged
    result.errors = [str(e) for e in getattr(outcome, "errors", []) or []]
    result.bill_ids = set(getattr(outcome, "bill_ids", set()) or set())
    status = getattr(outcome, "status", None)
    result.status = status if status in STATUSES else ("partial" if result.errors else "ok")
    result.message = str(getattr(outcome, "message", "") or "")
    return result


def build_source(name: str, engine: Engine, *, client: HttpClient, config: SourcesConfig) -> Any:
    """The source object called `name` (one of SOURCE_NAMES)."""
    if name == "scrape":
        return ScrapeSource(engine, client=client)
    if name == "openstates-api":
        from scrapers.sources.openstates_api import OpenStatesApi

        return OpenStatesApi(engine, client=client, config=config)
    if name == "legiscan-api":
        from scrapers.sources.legiscan_api import LegiscanApi

        return LegiscanApi(engine, client=client, config=config)
    if name in ("openstates-bulk", "legiscan-dataset"):
        from scrapers.sources.bulk import BulkSource

        return BulkSource(name, engine, client=client, config=config)
    raise ValueError(f"unknown source {name!r}; use one of {', '.join(SOURCE_NAMES)}")


def run_state_sources(
    engine: Engine,
    state: str,
    *,
    only: str | None = None,
    client: HttpClient | None = None,
    config: SourcesConfig | None = None,
) -> list[SourceResult]:
    """Run `state`'s sources in order of preference (or just `only`); one result per source tried."""
    state = state.lower()
    config = config or load_sources_config()
    order = [only] if only else config.order_for(state)
    if only and only not in SOURCE_NAMES:
        raise ValueError(f"unknown source {only!r}; use one of {', '.join(SOURCE_NAMES)}")
    strategy = "all" if only else config.strategy_for(state)
    own = client is None
    client = client or HttpClient()
    results: list[SourceResult] = []
    try:
        for name in order:
            result = _run_one(name, engine, state, client, config)
            results.append(result)
            if result.succeeded and strategy == "first-success":
                break
    finally:
        if own:
            client.close()
    _flag(engine, results, config.order_for(state))
    return results


def _run_one(
    name: str, engine: Engine, state: str, client: HttpClient, config: SourcesConfig
) -> SourceResult:
    try:
        source = build_source(name, engine, client=client, config=config)
        result = source.run_state(engine, state)
    except (SourceError, OSError, ValueError) as exc:
        # e.g. a bad API URL setting: this source is out, the next one may still work.
        result = SourceResult(source=name, state=state, status="failed", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
        log.exception("%s for %s failed unexpectedly", name, state)
        result = SourceResult(
            source=name, state=state, status="failed", message=f"{type(exc).__name__}: {exc}"
        )
    log.info("%s", result.line())
    return result


def run_discovery(
    engine: Engine,
    *,
    only: str | None = None,
    client: HttpClient | None = None,
    config: SourcesConfig | None = None,
) -> list[SourceResult]:
    """National keyword discovery with each configured discovery source (or just `only`)."""
    config = config or load_sources_config()
    names = [only] if only else list(config.discovery.sources)
    own = client is None
    client = client or HttpClient()
    results: list[SourceResult] = []
    try:
        for name in names:
            source = build_source(name, engine, client=client, config=config)
            try:
                result = source.discover(engine)
            except SourceError as exc:
                result = SourceResult(source=name, state=None, status="failed", message=str(exc))
            log.info("%s", result.line())
            results.append(result)
    finally:
        if own:
            client.close()
    _flag(engine, results, config.default)
    return results


def _flag(engine: Engine, results: list[SourceResult], order: list[str]) -> None:
    from tracker.sources_health import flag_disagreements, preference_from

    touched = set().union(*(r.bill_ids for r in results)) if results else set()
    if touched:
        flag_disagreements(engine, touched, preference=preference_from(order))
