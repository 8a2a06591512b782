"""Configs follow the current session: a rule on dates (``current_session``), ids read from the
site's session list (``site_vars``), and bills fetched by URL when a site has no list page."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scrapers.config import ConfigError, parse_config_text
from scrapers.http import offline
from scrapers.scrape import Scraper, bill_names
from tracker.demo import serve_saved_pages
from tracker.scheduler import StateScrapeTrigger
from tracker.scraping import http_client, list_states, load_state_config

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize("state", list_states())
def test_no_config_scrapes_an_old_session_today(state: str) -> None:
    cfg = load_state_config(state)
    current = cfg.current(TODAY)
    # the session running or the latest begun: never MO 2017, IL 101st, OR 2011R1, SC 2011-2012
    assert current.start_date is not None and current.start_date.year >= TODAY.year - 1, current
    assert Scraper(cfg, http_client(), today=TODAY).default_sessions() == [current.identifier]


def test_the_rule_numbers_sessions_as_the_legislatures_do() -> None:
    il = load_state_config("il").current(date(2025, 3, 1))
    assert (il.identifier, il.name, il.vars["ga"]) == ("104th", "104th General Assembly", "104")
    sc = load_state_config("sc").current(date(2026, 2, 1))
    assert (sc.identifier, sc.vars["session_no"]) == ("2025-2026", "126")
    tx = load_state_config("tx").current(date(2026, 6, 1))
    # Texas meets in odd years only, January to May
    assert (tx.identifier, tx.start_date, tx.end_date) == (
        "89",
        date(2025, 1, 8),
        date(2025, 5, 31),
    )
    mo = load_state_config("mo").current(date(2027, 2, 1))
    assert (mo.identifier, mo.vars["yy"], mo.vars["house_code"]) == ("2027", "27", "271")
    # a listed (saved) session keeps its exact vars; a page naming a rule session is understood
    cfg = load_state_config("il")
    assert cfg.session("100th").vars["session_id"] == 91
    assert cfg.session_for("104th General Assembly").identifier == "104th"  # type: ignore[union-attr]


def test_the_scheduler_knows_the_rule_sessions() -> None:
    trigger = StateScrapeTrigger.from_config(load_state_config("il"))
    assert trigger.in_session_on(date(2025, 3, 1))  # listed sessions end in 2021


def test_a_bad_rule_is_a_clear_config_error() -> None:
    text = """
state: zz
name: Z
timezone: America/Denver
base_url: https://example.org
current_session: {first_year: 2021, identifier: "{year}-{nope}"}
pages: {list: {role: list, url: "{base_url}/x", items: li, fields: {identifier: a}}}
"""
    with pytest.raises(ConfigError, match="nope"):
        parse_config_text(text, Path("zz.yaml"))
    with pytest.raises(ConfigError, match="current_session"):
        parse_config_text(text.replace("current_session:", "# "), Path("zz.yaml"))


def test_site_vars_come_from_the_sites_session_list(real_html: Path) -> None:
    """New Mexico's session id is not a date rule: the saved dropdown gives 58 for 2020."""
    cfg = load_state_config("nm")
    with serve_saved_pages(real_html) as sites, offline(sites.origin_map()):
        scraper = Scraper(
            cfg, http_client(respect_robots=False, max_retries=0), today=date(2020, 2, 1)
        )
        spec = cfg.current(date(2020, 2, 1))
        assert "session_id" not in spec.vars
        assert scraper._discover_vars(spec, cfg.source_names()[0])
    assert scraper.discovered["2020"]["session_id"] == "58"


def test_a_site_without_list_page_scrapes_bills_by_url_from_an_index(real_html: Path) -> None:
    cfg = load_state_config("ny")
    assert not any(p.role == "list" for p in cfg.pages.values())
    with serve_saved_pages(real_html) as sites, offline(sites.origin_map()):
        client = http_client(respect_robots=False, max_retries=0)
        scraper = Scraper(cfg, client)
        bills = list(scraper.run(sessions=["2017-2018"], bills=["S 609"]))
        assert [b.identifier for b in bills] == ["S 609"] and bills[0].actions
        lost = Scraper(cfg, client)
        assert list(lost.run(sessions=["2017-2018"])) == []
    assert "no bill index was given" in str(lost.stats.errors[0])
    assert bill_names("A 1646") == {
        "identifier": "A1646",
        "prefix": "A",
        "number": "1646",
        "print_no": "A1646",
    }
