"""Every way bills come in, run in the configured order of preference per state.

``run_state_sources(engine, "ca")`` runs California's sources as ``config/sources.yaml`` orders
them (default ``scrape, openstates-api, legiscan-api``; ``scrape`` counts only where
``config/states/ca.yaml`` exists). With the ``first-success`` strategy the first source that
works is enough and the rest are fallbacks: a missing key, a spent quota or a failure moves on
to the next, never to a crash. With ``all`` every source runs and their disagreements are
flagged. ``run_discovery(engine)`` runs the national keyword search of the discovery sources.

Example::

    from tracker.collect.runner import run_state_sources
    from tracker.db import make_engine

    for result in run_state_sources(make_engine(), "wa"):
        print(result.line())
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from scrapers.http import HttpClient
from tracker.collect.base import QuotaExhausted, Source, SourceError
from tracker.collect.bulk import BulkSource
from tracker.collect.legiscan_api import LegiscanApi
from tracker.collect.openstates_api import OpenStatesApi
from tracker.collect.options import SOURCE_NAMES, SourcesConfig, load_sources_config
from tracker.collect.scrape import scrape_state
from tracker.runs import RunResult
from tracker.scraping import config_path, http_client
from tracker.sources_health import flag_disagreements, preference_from

__all__ = [
    "QuotaExhausted",
    "RunResult",
    "Source",
    "SourceError",
    "build_source",
    "run_discovery",
    "run_state_sources",
    "scrape_state",
]

log = logging.getLogger("tracker.collect")


class ScrapeSource:
    """The state's own scraper (``config/states/<st>.yaml``), run by :mod:`tracker.collect.scrape`."""

    name = "scrape"

    def __init__(self, engine: Engine, *, client: HttpClient) -> None:
        self.engine = engine
        self.client = client

    def missing(self, state: str | None) -> str | None:
        if state is None or not config_path(state).is_file():
            return f"scrape: no config/states/{state}.yaml"
        return None

    def run_state(self, engine: Engine, state: str) -> RunResult:
        if reason := self.missing(state):
            return RunResult(source=self.name, state=state, status="skipped", message=reason)
        try:
            # The scraper shares our client (one rate limit per host).
            return scrape_state(engine, state, client=self.client)
        except Exception as exc:  # noqa: BLE001 - a broken scraper degrades to the next source
            log.exception("scrape of %s failed", state)
            return RunResult(
                source=self.name,
                state=state,
                status="failed",
                message=f"{type(exc).__name__}: {exc}",
            )


def build_source(name: str, engine: Engine, *, client: HttpClient, config: SourcesConfig) -> Any:
    """The source object called `name` (one of SOURCE_NAMES)."""
    if name == "scrape":
        return ScrapeSource(engine, client=client)
    if name == "openstates-api":
        return OpenStatesApi(engine, client=client, config=config)
    if name == "legiscan-api":
        return LegiscanApi(engine, client=client, config=config)
    if name in ("openstates-bulk", "legiscan-dataset"):
        return BulkSource(name, engine, client=client, config=config)
    raise ValueError(f"unknown source {name!r}; use one of {', '.join(SOURCE_NAMES)}")


def run_state_sources(
    engine: Engine,
    state: str,
    *,
    only: str | None = None,
    client: HttpClient | None = None,
    config: SourcesConfig | None = None,
) -> list[RunResult]:
    """Run `state`'s sources in order of preference (or just `only`); one result per source tried."""
    state = state.lower()
    config = config or load_sources_config()
    order = [only] if only else config.order_for(state)
    if only and only not in SOURCE_NAMES:
        raise ValueError(f"unknown source {only!r}; use one of {', '.join(SOURCE_NAMES)}")
    strategy = "all" if only else config.strategy_for(state)
    own = client is None
    client = client or http_client()
    results: list[RunResult] = []
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
) -> RunResult:
    try:
        source = build_source(name, engine, client=client, config=config)
        result = source.run_state(engine, state)
    except (SourceError, OSError, ValueError) as exc:
        # e.g. a bad API URL setting: this source is out, the next one may still work.
        result = RunResult(source=name, state=state, status="failed", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
        log.exception("%s for %s failed unexpectedly", name, state)
        result = RunResult(
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
) -> list[RunResult]:
    """National keyword discovery with each configured discovery source (or just `only`)."""
    config = config or load_sources_config()
    names = [only] if only else list(config.discovery.sources)
    own = client is None
    client = client or http_client()
    results: list[RunResult] = []
    try:
        for name in names:
            source = build_source(name, engine, client=client, config=config)
            try:
                result = source.discover(engine)
            except SourceError as exc:
                result = RunResult(source=name, state=None, status="failed", message=str(exc))
            log.info("%s", result.line())
            results.append(result)
    finally:
        if own:
            client.close()
    _flag(engine, results, config.default)
    return results


def _flag(engine: Engine, results: list[RunResult], order: list[str]) -> None:
    touched = set().union(*(r.bill_ids for r in results)) if results else set()
    if touched:
        flag_disagreements(engine, touched, preference=preference_from(order))
