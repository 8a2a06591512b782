"""Bulk files as sources: ``openstates-bulk`` (Open States scrape JSON, folders, archives) and
``legiscan-dataset`` (LegiScan CSV zips or getBill JSON), from paths or URLs in config/sources.yaml.

A URL is downloaded through the shared HTTP client into ``<data_dir>/bulk/`` (conditional
requests through the page archive are the client's business; an unchanged download is still
re-read, and ingest's content hash makes an unchanged bill cost nothing). Files are read by the
importers, so bulk data, API data and scrapes all meet in the same ingest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from scrapers.fetch_types import FetchError
from scrapers.http import HttpClient
from tracker.collect.options import SourcesConfig, SourcesConfigError, expand_location
from tracker.ingest import ingest_bills
from tracker.runs import RunResult, finish_result, start_run
from tracker.settings import get_settings

Importer = Callable[[Iterable[Path | str]], Iterator[Any]]


def _importer(name: str) -> Importer:
    if name == "openstates-bulk":
        from scrapers.importers.openstates import iter_openstates

        return iter_openstates
    from scrapers.importers.legiscan import iter_legiscan

    return iter_legiscan


class BulkSource:
    """One of ``openstates-bulk`` / ``legiscan-dataset`` for the states its ``files`` name."""

    def __init__(
        self, name: str, engine: Engine, *, client: HttpClient, config: SourcesConfig
    ) -> None:
        self.name = name
        self.engine = engine
        self.client = client
        self.files = config.sources.bulk(name).files

    def missing(self, state: str | None) -> str | None:
        if state is None or not self.files.get(state):
            return (
                f"{self.name}: no files configured for {state or 'this run'} in config/sources.yaml"
            )
        return None

    def run_state(self, engine: Engine, state: str) -> RunResult:
        if reason := self.missing(state):
            return RunResult(source=self.name, state=state, status="skipped", message=reason)
        result = RunResult(source=self.name, state=state)
        result.run_id = start_run(self.engine, source=self.name, kind="bulk", state=state)
        try:
            paths = [self._local(loc, result) for loc in self.files[state]]
        except (FetchError, SourcesConfigError, OSError) as exc:
            result.status, result.message = "failed", str(exc)
            finish_result(self.engine, result)
            return result
        bills = (b for b in _importer(self.name)(paths) if _wanted(b, state))
        report = ingest_bills(
            self.engine,
            bills,
            source=self.name,
            kind="bulk",
            state=state,
            run_id=result.run_id,
            finish=False,
        )
        result.add_ingest(report)
        result.fetched = report.total
        result.settle()
        finish_result(self.engine, result)
        return result

    def _local(self, location: str, result: RunResult) -> Path:
        location = expand_location(location)
        if urlsplit(location).scheme not in ("http", "https"):
            path = Path(location)
            if not path.exists():
                raise FileNotFoundError(f"{self.name}: {path} does not exist (config/sources.yaml)")
            return path
        page = self.client.get(location)
        result.calls += 1
        name = Path(urlsplit(location).path).name or "download"
        digest = hashlib.sha1(location.encode(), usedforsecurity=False).hexdigest()[:10]
        target = Path(get_settings().data_dir) / "bulk" / f"{digest}-{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
        return target


def _wanted(item: Any, state: str) -> bool:
    """Bills of other states in a multi-state file are left out; error records pass through."""
    item_state = getattr(item, "state", None)
    return item_state is None or item_state == state
