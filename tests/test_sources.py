"""API and bulk sources against local fakes of Open States v3 and LegiScan serving REAL shared data.

The fakes (tests/fake_apis.py) re-shape the real Windy Civi Open States bills and the real
LegiScan getBill records into each API's documented responses; no bill here is invented.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_apis import (
    KEY,
    FakeLegiscan,
    FakeOpenStates,
    getbill_from_scrape,
    real_getbill_records,
    scrape_bills_from,
)
from httpserver import LocalSite, Reply, Request
from sqlalchemy import func, select
from typer.testing import CliRunner

from scrapers.http import HttpClient
from tracker.collect.options import SourcesConfig, load_sources_config, plain_phrases
from tracker.collect.runner import run_discovery, run_state_sources
from tracker.models import Action, Bill, BillSource, Run
from tracker.settings import reset_settings
from tracker.source_models import ApiUsage, LegiscanBill, SourceDisagreement
from tracker.sources_health import disagreements, legiscan_tracking, quota_usage

TERMS = ["single payer", "universal health care", "medicare for all"]


def _config(**overrides: Any) -> SourcesConfig:
    data: dict[str, Any] = {
        "default": ["scrape", "openstates-api", "legiscan-api"],
        "sources": {
            "openstates-api": {
                "requests_per_second": 1000,
                "daily_cap": None,
                "per_page": 2,
                "first_run_days": 3650,
            },
            "legiscan-api": {"requests_per_second": 1000, "monthly_cap": None},
        },
        "discovery": {"search_terms": TERMS, "terms_from_topics": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            for k, v in value.items():
                if isinstance(v, dict) and isinstance(data[key].get(k), dict):
                    data[key][k] = {**data[key][k], **v}
                else:
                    data[key][k] = v
        else:
            data[key] = value
    return SourcesConfig.model_validate(data)


@pytest.fixture
def samples(shared_data: Path) -> list[tuple[str, dict[str, Any]]]:
    return list(scrape_bills_from([shared_data / "openstates/windy_civi_2025/samples"]))


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(
        user_agent="SinglePayerTracker-test", default_delay=0, backoff_base=0.01, max_retries=2
    ) as c:
        yield c


@pytest.fixture
def openstates(
    samples, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalSite, FakeOpenStates]]:
    fake = FakeOpenStates.from_scrape(samples)
    with LocalSite() as site:
        site.add("/bills", handler=fake.handle, any_query=True)
        monkeypatch.setenv("TRACKER_OPENSTATES_API_URL", site.url("/").rstrip("/"))
        monkeypatch.setenv("TRACKER_OPENSTATES_API_KEY", KEY)
        reset_settings()
        yield site, fake


@pytest.fixture
def legiscan(
    samples, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalSite, FakeLegiscan]]:
    records = real_getbill_records(shared_data / "legiscan/api_json/bill")
    records += [getbill_from_scrape(s, b) for s, b in samples]
    fake = FakeLegiscan(records)
    with LocalSite() as site:
        site.add("/", handler=fake.handle, any_query=True)
        monkeypatch.setenv("TRACKER_LEGISCAN_API_URL", site.url("/"))
        monkeypatch.setenv("TRACKER_LEGISCAN_API_KEY", KEY)
        reset_settings()
        yield site, fake


def _count(engine, table, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _bills(engine) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(state, normalised identifier) of every stored bill."""
    with engine.connect() as conn:
        return {(s, i) for s, i in conn.execute(select(Bill.state, Bill.identifier_norm))}


# --- Open States API ------------------------------------------------------------------------------


def test_openstates_pages_and_then_asks_only_for_updates(engine, openstates, client) -> None:
    site, fake = openstates
    [first] = run_state_sources(
        engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert first.status == "ok", first.line()
    # MA's Medicare-for-all and single-payer bills match the terms; 2 a page means paging.
    assert first.fetched >= 3 and first.calls == -(-first.fetched // 2)
    assert {("ma", "S860"), ("ma", "H1405"), ("ma", "S889")} <= _bills(engine)
    assert first.new >= 3
    seen = site.requests_for("/bills")
    assert all(r.header("X-API-KEY") == KEY and "apikey" not in r.query for r in seen)
    assert {"actions", "sponsorships", "versions", "sources"} <= {
        v for r in seen for k, v in (p.split("=", 1) for p in r.query.split("&")) if k == "include"
    }

    fake.served = 0
    [second] = run_state_sources(
        engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert second.status in ("ok", "empty") and second.calls == 1
    assert fake.served == 0 and second.fetched == 0  # nothing changed upstream: nothing re-sent
    last = site.requests_for("/bills")[-1]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "updated_since=" in last.query and "updated_since=" + today[:4] in last.query
    assert (
        _count(engine, ApiUsage, ApiUsage.calls > 0) == 1
    )  # one row: today's usage of openstates-api


def test_openstates_change_upstream_is_fetched_and_recorded(
    sqlite_engine, openstates, client
) -> None:
    _site, fake = openstates
    run_state_sources(sqlite_engine, "ma", only="openstates-api", client=client, config=_config())
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    fake.touch("S 860", day=today, description="Reported favorably by committee")
    [again] = run_state_sources(
        sqlite_engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert again.fetched == 1 and again.updated == 1, again.line()
    assert (
        _count(sqlite_engine, Action, Action.description == "Reported favorably by committee") == 1
    )


def test_listing_cut_by_max_pages_resumes_where_it_stopped(
    sqlite_engine, openstates, client
) -> None:
    site, _fake = openstates
    config = _config(sources={"openstates-api": {"max_pages": 1}})  # 2 bills a run
    [first] = run_state_sources(
        sqlite_engine, "ma", only="openstates-api", client=client, config=config
    )
    assert first.calls == 1 and first.fetched == 2 and "listing cut at 1 pages" in first.message
    for _ in range(4):  # later runs pick up where the cut left off, never skipping a bill
        cursor = first.message.rsplit(" ", 1)[-1]
        day, _, page = cursor.partition("#")
        [first] = run_state_sources(
            sqlite_engine, "ma", only="openstates-api", client=client, config=config
        )
        query = site.requests_for("/bills")[-1].query
        assert f"updated_since={day}" in query and f"page={page or 1}" in query
        if "cut" not in first.message:
            break
    assert {("ma", "S860"), ("ma", "H1405"), ("ma", "S889")} <= _bills(sqlite_engine)


def test_curator_pin_is_fetched_once_then_only_when_updated(
    sqlite_engine, openstates, client, monkeypatch
) -> None:
    from tracker.collect import follow
    from tracker.topics import Pin

    pin = Pin(
        state="vt",
        session="2025-2026",
        identifier="H 433",
        topic="single-payer",
        reason="Green Mountain Care is Vermont's universal program (test pin)",
    )
    monkeypatch.setattr(follow, "pins", lambda state=None: [pin] if state in (None, "vt") else [])
    site, _fake = openstates
    [first] = run_state_sources(
        sqlite_engine, "vt", only="openstates-api", client=client, config=_config()
    )
    assert ("vt", "H433") in _bills(sqlite_engine)  # no search term matches it: the pin did
    pin_query = site.requests_for("/bills")[-1].query
    assert "q=H+433" in pin_query and "updated_since" not in pin_query
    [second] = run_state_sources(
        sqlite_engine, "vt", only="openstates-api", client=client, config=_config()
    )
    assert "updated_since=" in site.requests_for("/bills")[-1].query
    assert second.fetched == 0


def test_irrelevant_search_results_are_not_followed(sqlite_engine, openstates, client) -> None:
    # "health care" also finds WA's essential-worker program bills, which are not single payer.
    config = _config(discovery={"search_terms": ["health care"]})
    [result] = run_state_sources(
        sqlite_engine, "wa", only="openstates-api", client=client, config=config
    )
    assert result.fetched >= 2
    with sqlite_engine.connect() as conn:
        titles = list(conn.execute(select(Bill.title, Bill.relevant)))
    assert all(relevant for _t, relevant in titles), titles
    assert "not relevant" in result.message


def test_429_with_retry_after_is_waited_out(sqlite_engine, openstates, client) -> None:
    site, fake = openstates
    answers = iter([Reply(429, b'{"detail": "exceeded limit of 10/min"}', {"Retry-After": "1"})])

    def handler(request: Request) -> Reply:
        return next(answers, None) or fake.handle(request)

    site.add("/bills", handler=handler, any_query=True)
    [result] = run_state_sources(
        sqlite_engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert result.status == "ok", result.line()
    first, second = site.requests_for("/bills")[:2]
    assert second.at - first.at >= 0.9


def test_malformed_response_fails_naming_the_url(sqlite_engine, openstates, client) -> None:
    site, _fake = openstates
    site.add(
        "/bills",
        "<html>synthetic maintenance page</html>",
        any_query=True,
        content_type="text/html",
    )
    [result] = run_state_sources(
        sqlite_engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert result.status == "failed"
    assert f"127.0.0.1:{site.port}/bills" in result.message and "not JSON" in result.message
    site.add("/bills", '{"results": []}', any_query=True)
    [result] = run_state_sources(
        sqlite_engine, "ma", only="openstates-api", client=client, config=_config()
    )
    assert result.status == "failed" and "pagination.max_page" in result.message


# --- LegiScan API ---------------------------------------------------------------------------------


def test_legiscan_discovery_then_change_hash_skips_unchanged(engine, legiscan, client) -> None:
    _site, fake = legiscan
    [found] = run_discovery(engine, only="legiscan-api", client=client, config=_config())
    assert found.status == "ok", found.line()
    assert fake.ops["getSearch"] == 1  # one OR-query, one page
    hits = _count(engine, LegiscanBill)
    followed = _count(engine, LegiscanBill, LegiscanBill.followed.is_(True))
    # Every hit is fetched once to be judged on its full record; only relevant ones are followed.
    assert fake.ops["getBill"] == hits == found.fetched and 3 <= followed < hits
    assert {("ma", "S860"), ("ma", "H1405")} <= _bills(engine)
    with engine.connect() as conn:
        memorial = conn.execute(
            select(LegiscanBill.followed).where(LegiscanBill.number == "SJM8004")
        ).scalar_one()
    assert memorial is False  # WA's memorial on universal health care: a resolution, not followed

    fake.ops.clear()
    [again] = run_discovery(engine, only="legiscan-api", client=client, config=_config())
    assert fake.ops == {"getSearch": 1} and again.fetched == 0  # judged once, not re-fetched

    fake.ops.clear()
    [state_run] = run_state_sources(
        engine, "ma", only="legiscan-api", client=client, config=_config()
    )
    assert fake.ops == {"getMasterListRaw": 1}  # every followed MA bill is unchanged
    assert state_run.calls == 1 and state_run.fetched == 0 and state_run.skipped_unchanged >= 3

    ma_id = next(
        r["bill_id"]
        for r in fake.records.values()
        if r["state"] == "MA" and r["bill_number"] == "S860"
    )
    fake.touch(ma_id, day="2025-11-01", action="Reporting date extended")
    fake.ops.clear()
    [changed] = run_state_sources(
        engine, "ma", only="legiscan-api", client=client, config=_config()
    )
    assert fake.ops == {"getMasterListRaw": 1, "getBill": 1} and changed.updated == 1


def test_legiscan_follow_all_reads_the_real_getbill_records(
    sqlite_engine, legiscan, client
) -> None:
    _site, fake = legiscan
    config = _config(sources={"legiscan-api": {"follow": "all"}})
    [first] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-api", client=client, config=config
    )
    assert first.status == "ok" and fake.ops == {"getMasterListRaw": 1, "getBill": 3}
    assert {("ak", "HB1"), ("ak", "HB2"), ("ak", "HB3")} == {
        b for b in _bills(sqlite_engine) if b[0] == "ak"
    }
    fake.ops.clear()
    [second] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-api", client=client, config=config
    )
    assert fake.ops == {"getMasterListRaw": 1} and second.skipped_unchanged == 3


def test_legiscan_error_message_masks_the_key(sqlite_engine, legiscan, client, monkeypatch) -> None:
    site, _fake = legiscan
    monkeypatch.setenv("TRACKER_LEGISCAN_API_KEY", "wrong-secret-key")
    reset_settings()
    [result] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-api", client=client, config=_config()
    )
    assert result.status == "failed" and "Invalid API key" in result.message
    assert "wrong-secret-key" not in result.message and "key=***" in result.message
    site.add("/", '{"status": "OK"}', any_query=True)
    monkeypatch.setenv("TRACKER_LEGISCAN_API_KEY", KEY)
    reset_settings()
    [result] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-api", client=client, config=_config()
    )
    assert result.status == "failed" and "no 'masterlist'" in result.message
    assert f"127.0.0.1:{site.port}/?" in result.message


# --- quotas, keys, fallbacks ---------------------------------------------------------------------


def test_spent_quota_degrades_to_the_next_source(engine, openstates, legiscan, client) -> None:
    config = _config(
        sources={"openstates-api": {"daily_cap": 1}, "legiscan-api": {"follow": "all"}}
    )
    results = run_state_sources(engine, "ma", client=client, config=config)
    by = {r.source: r for r in results}
    assert by["scrape"].status == "skipped"
    assert by["openstates-api"].status == "quota", by["openstates-api"].line()
    assert "daily quota of 1" in by["openstates-api"].message
    assert by["legiscan-api"].status == "ok"
    usage = {u.source: u for u in quota_usage(engine, caps={"openstates-api": (None, 1)})}
    assert usage["openstates-api"].calls_today == 1 and usage["openstates-api"].exhausted
    # What the first page brought in was ingested, not thrown away.
    with engine.connect() as conn:
        sources = set(conn.execute(select(BillSource.source)).scalars())
    assert {"openstates-api", "legiscan-api"} <= sources


def test_server_side_429_counts_as_spent_quota(sqlite_engine, openstates, legiscan, client) -> None:
    _site, fake = openstates
    fake.daily_limit = 0
    results = run_state_sources(sqlite_engine, "ma", client=client, config=_config())
    # LegiScan follows no MA bill yet (no discovery ran): it works, and finds nothing to fetch.
    assert [r.status for r in results] == ["skipped", "quota", "empty"], [r.line() for r in results]
    assert "429" in results[1].message and results[2].succeeded


def test_monthly_cap_stops_legiscan_before_the_call(sqlite_engine, legiscan, client) -> None:
    _site, fake = legiscan
    config = _config(sources={"legiscan-api": {"monthly_cap": 0}})
    [result] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-api", client=client, config=config
    )
    assert result.status == "quota" and fake.calls == 0
    assert "monthly quota of 0" in result.message


def test_missing_keys_skip_with_one_message(sqlite_engine, client, caplog, monkeypatch) -> None:
    import tracker.collect.base as base

    monkeypatch.setattr(base, "_warned", set())
    caplog.set_level(logging.WARNING, logger="tracker.collect")
    for state in ("ca", "nj", "pa"):
        results = run_state_sources(sqlite_engine, state, client=client, config=_config())
        assert [r.status for r in results] == ["skipped", "skipped", "skipped"]
        assert results[2].message == "no API key (TRACKER_LEGISCAN_API_KEY)"
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2, logged  # one per source, not one per state
    assert "TRACKER_OPENSTATES_API_KEY is not set" in logged[0]
    assert "TRACKER_LEGISCAN_API_KEY is not set" in logged[1] and "legiscan.com" in logged[1]
    assert client.stats()["requests"] == 0
    assert _count(sqlite_engine, Run) == 0


# --- two sources, one bill ------------------------------------------------------------------------


def test_disagreement_between_sources_is_flagged(engine, openstates, legiscan, client) -> None:
    _os, _fake_os = openstates
    _ls, fake_ls = legiscan
    record = next(
        r for r in fake_ls.records.values() if r["state"] == "MA" and r["bill_number"] == "H1405"
    )
    assert len(record["history"]) >= 3
    del record["history"][1]  # LegiScan misses one of the real actions Open States has
    config = _config(strategy="all", sources={"legiscan-api": {"follow": "all"}})
    results = run_state_sources(engine, "ma", client=client, config=config)
    assert [r.status for r in results] == ["skipped", "ok", "ok"], [r.line() for r in results]
    rows = [r for r in disagreements(engine) if r["identifier"].replace(" ", "") == "H1405"]
    assert [(r["kind"], r["source_a"], r["source_b"]) for r in rows] == [
        ("missing-action", "openstates-api", "legiscan-api")
    ]
    missing = rows[0]["detail"]["missing_in"]["legiscan-api"]
    assert len(missing) == 1 and missing[0]["date"]
    # Both observations are kept.
    with engine.connect() as conn:
        per_source = dict(
            conn.execute(
                select(Action.source, func.count())
                .join(Bill, Bill.id == Action.bill_id)
                .where(Bill.identifier_norm == "H1405")
                .group_by(Action.source)
            ).all()
        )
    assert per_source["openstates-api"] == per_source["legiscan-api"] + 1
    assert _count(engine, SourceDisagreement, SourceDisagreement.resolved_at.is_(None)) >= 1


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk_sources_read_configured_files(sqlite_engine, shared_data: Path, client) -> None:
    config = _config(
        sources={
            "openstates-bulk": {
                "files": {"wa": [str(shared_data / "openstates/windy_civi_2025/samples/wa")]}
            },
            "legiscan-dataset": {"files": {"ak": ["{shared}/data/legiscan/api_json/bill"]}},
        }
    )
    [wa] = run_state_sources(
        sqlite_engine, "wa", only="openstates-bulk", client=client, config=config
    )
    assert wa.status == "ok" and wa.new == 5
    [ak] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-dataset", client=client, config=config
    )
    assert ak.status == "ok" and ak.new == 3  # the AR records in the same folder are left out
    [again] = run_state_sources(
        sqlite_engine, "ak", only="legiscan-dataset", client=client, config=config
    )
    assert again.new == 0 and again.skipped_unchanged == 3
    [none] = run_state_sources(
        sqlite_engine, "ca", only="legiscan-dataset", client=client, config=config
    )
    assert none.status == "skipped"


# --- config, terms, CLI ---------------------------------------------------------------------------


def test_repo_config_loads_and_keeps_legiscan_under_the_free_tier() -> None:
    config = load_sources_config()
    assert config.sources.legiscan_api.monthly_cap is not None
    assert config.sources.legiscan_api.monthly_cap < 30_000
    assert config.sources.openstates_api.daily_cap is not None
    assert config.sources.openstates_api.daily_cap <= 250
    assert config.order_for("ca")[0] == "scrape"


def test_bad_sources_config_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("default: [scrape, openstates-apii]\n")
    with pytest.raises(ValueError, match=r"sources\.yaml: default: .*openstates-apii"):
        load_sources_config(path)


def test_plain_phrases_from_topic_patterns() -> None:
    patterns = [
        ("single[- ]payer", 5.0),
        ("medicare for all", 4.0),
        ("health trust", 1.0),
        ("universal health care", 4.5),
    ]
    assert plain_phrases(patterns, min_weight=3.0) == ["universal health care", "medicare for all"]


def test_cli_sources_list_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.cli.sources import app

    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--state", "ca"])
    assert listed.exit_code == 0, listed.output
    assert "openstates-api (no key" in listed.output and "ca:" in listed.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "legiscan-api: 0/25000 calls" in status.output
    from tracker.db import make_engine

    assert legiscan_tracking(make_engine()) == {"known": 0, "followed": 0, "changed_not_fetched": 0}
