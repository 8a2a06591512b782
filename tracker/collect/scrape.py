"""A state's live scrape, run: the scraper reads the site, ingest writes, the run is recorded.

:class:`scrapers.scrape.Scraper` only fetches and parses (bytes in, ``ScrapedBill`` out); this
module composes it with :func:`tracker.ingest.ingest_bills` the way Open States' ``update``
composes ``do_scrape`` and ``do_import``, and records one ``run`` row carrying the scrape's
page counts and errors as well as ingest's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scrapers.http import HttpClient
from scrapers.scrape import ParseCache, Scraper, ScrapeStats
from tracker.ingest import ingest_bills
from tracker.runs import RunResult, finish_run, run_status, start_run
from tracker.scraping import http_client, load_state_config, page_archive
from tracker.settings import get_settings


def scrape_state(
    engine: Any,
    state: str,
    *,
    client: HttpClient | None = None,
    source: str | None = None,
    sessions: list[str] | None = None,
    base_url: str | None = None,
    progress: Callable[[int], None] | None = None,
    cache: ParseCache | None = None,
    bills: list[str] | None = None,
) -> RunResult:
    """Scrape `state` live and ingest what it yields; the result says how it went.

    Used by ``tracker scrapers scrape`` and the scheduler's jobs. The run row written here
    carries the scrape's counts and errors as well as ingest's.
    """
    config = load_state_config(state)
    settings = get_settings()
    own_client = client is None
    if client is None:
        client = http_client(archive=page_archive())
    if cache is None:
        cache = ParseCache(settings.data_dir / "parse-cache" / f"{config.state}.sqlite")
    scraper = Scraper(config, client, cache=cache, base_url=base_url)
    if bills is None and not any(p.role == "list" and p.live for p in config.pages.values()):
        # no list page on this site: the bills the imports (Open States, LegiScan) know are
        # the index, each fetched by its bill page's URL
        bills = known_bills(engine, config.state, sessions or scraper.default_sessions())
    name = f"scrape:{config.state}" + (f":{source}" if source else "")
    run_id = start_run(engine, source=name, kind="scrape", state=config.state)
    try:
        report = ingest_bills(
            engine,
            scraper.run(sessions=sessions, source=source, bills=bills),
            source=name,
            kind="scrape",
            state=config.state,
            run_id=run_id,
            progress=progress,
            finish=False,
        )
    except BaseException as exc:
        finish_run(
            engine,
            run_id,
            status="failed",
            counts=scraper.stats.summary() | {"bills": 0},
            errors=_scrape_errors(scraper.stats),
            message=f"{type(exc).__name__}: {exc}",
        )
        raise
    finally:
        if own_client:
            client.close()
    stats = scraper.stats
    errors = [str(e) for e in stats.errors] + [str(e) for e in report.errors]
    status = run_status(errors=len(errors), done=report.total)
    counts = {
        **report.summary(),
        "changes": report.changes,
        "actions": report.actions,
        **{k: v for k, v in stats.summary().items() if isinstance(v, int)},
        "unknown_sessions": stats.unknown_sessions,
    }
    finish_run(
        engine,
        run_id,
        status=status,
        counts=counts,
        errors=_scrape_errors(stats)
        + [{"where": e.where, "message": e.message} for e in report.errors],
        message=report.line() + f"; {stats.pages_fetched} pages, {len(stats.errors)} scrape errors",
    )
    return RunResult(
        source="scrape",
        state=config.state,
        status=status,
        run_id=run_id,
        calls=stats.pages_fetched,
        fetched=stats.pages_fetched - stats.not_modified,
        new=report.new,
        updated=report.updated,
        unchanged=report.unchanged,
        skipped_unchanged=report.unchanged,
        errors=errors,
        message=report.line(),
        bill_ids=set(report.bill_ids),
        stats=stats,
    )


def known_bills(engine: Any, state: str, sessions: list[str]) -> list[str]:
    """Identifiers of the state's bills of `sessions` in the database (from any source)."""
    from sqlalchemy import select

    from tracker.ingest_rows import bill_table

    c = bill_table.c
    q = select(c.identifier).where(c.state == state, c.session.in_(sessions))
    with engine.connect() as conn:
        return sorted({str(r) for r in conn.execute(q).scalars()})


def _scrape_errors(stats: ScrapeStats) -> list[dict[str, Any]]:
    return [{"where": e.url or e.kind, "message": e.message} for e in stats.errors]
