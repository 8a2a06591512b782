"""`tracker demo`: saved real pages served locally under their original paths, one full cycle."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scrapers.http import Offline, offline
from tracker.cli import app as cli_app
from tracker.demo import (
    DemoError,
    busiest_period,
    host_key,
    import_sets,
    original_urls,
    page_key,
    parse_ports,
    point_at,
    replay_history,
    run_demo,
    run_import,
    serve_saved_pages,
)
from tracker.scraping import http_client, list_states
from tracker.settings import reset_settings


def test_saved_pages_are_served_under_their_original_paths(real_html: Path) -> None:
    urls = original_urls(real_html)
    assert urls["nm/2019_SB11_legislation_detail.html"].startswith(
        "https://www.nmlegis.gov/Legislation/"
    )
    assert not any("not recorded" in u or "..." in u for u in urls.values())
    with serve_saved_pages(real_html) as sites:
        origin = sites.origin_map()[host_key("www.nmlegis.gov")]
        # query order and letter case do not matter (IIS); unknown pages are a 404
        ok = httpx.get(f"{origin}/legislation/Legislation?year=19&legno=11&legtype=B&chamber=S")
        assert ok.status_code == 200
        assert ok.content == (real_html / "nm/2019_SB11_legislation_detail.html").read_bytes()
        assert (
            httpx.get(
                f"{origin}/Legislation/Legislation?chamber=S&legtype=B&legno=999&year=19"
            ).status_code
            == 404
        )
        assert httpx.get(f"{origin}/robots.txt").status_code == 200

        # SOAP: one URL, the reply picked by the operation the request names
        ga = sites.origin_map()["webservices.legis.ga.gov"] + "/GGAServices/Votes/Service.svc"
        for op, name in (
            ("GetVote", "2012_HB397_house_vote_829_GetVote_soap.xml"),
            ("GetVotesForLegislation", "2012_HB397_GetVotesForLegislation_soap.xml"),
        ):
            reply = httpx.post(
                ga,
                headers={"SOAPAction": f"http://www.legis.ga.gov/2009/01/01/services/{op}"},
                content=f"<s:Envelope><s:Body><{op} xmlns='x'/></s:Body></s:Envelope>",
            )
            assert reply.content == (real_html / "ga" / name).read_bytes()


def test_config_urls_are_pointed_at_the_local_servers() -> None:
    origins = {"nmlegis.gov": "http://127.0.0.1:5555"}
    data = {
        "base_url": "https://www.nmlegis.gov",
        "pages": {"list": {"url": "{base_url}/x"}},
        "sources": {"api": {"base_url": "https://nmlegis.gov/api"}},
        "other": "https://example.org/a",
    }
    assert point_at(data, origins) == {
        "base_url": "http://127.0.0.1:5555",
        "pages": {"list": {"url": "{base_url}/x"}},
        "sources": {"api": {"base_url": "http://127.0.0.1:5555/api"}},
        "other": "https://example.org/a",
    }
    assert page_key("/Sessions/19%20Regular/bills/house/", "") == (
        "/sessions/19 regular/bills/house/",
        (),
    )


def test_offline_mode_refuses_every_host_it_does_not_serve(real_html: Path) -> None:
    with serve_saved_pages(real_html) as sites, offline(sites.origin_map()):
        client = http_client(respect_robots=False, max_retries=0)
        # a served site answers from the local server under its original address
        page = client.get("https://www.nmlegis.gov/Legislation/Legislation_List?Session=57")
        assert page.status == 200 and b"MainContent" in page.body
        with pytest.raises(Offline, match="not served locally"):
            client.get("https://example.org/")
    # outside the block the map is gone
    with pytest.raises(Offline):
        with offline({}):
            http_client(respect_robots=False, max_retries=0).get("https://www.nmlegis.gov/")


def test_port_range_is_used_and_checked(real_html: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    ports = range(base, base + 40)
    with serve_saved_pages(real_html, ports=ports) as sites:
        used = sorted(int(s.origin.rsplit(":", 1)[1]) for s in sites.servers.values())
    assert all(p in ports for p in used) and len(set(used)) == len(used)
    assert parse_ports("9100-9120") == range(9100, 9121)
    for bad in ("9100", "9120-9100", "0-5", "x-y"):
        with pytest.raises(DemoError, match="--site-ports"):
            parse_ports(bad)


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every socket connection; fail on any that is not to this machine."""
    seen: list[str] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])  # type: ignore[index]
            seen.append(host)
            if not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(f"the demo connected to {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.mark.slow
def test_demo_leaves_every_state_ok_and_a_busy_digest(
    real_html: Path, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done when: ``tracker demo --quick --no-serve`` with TRACKER_DATABASE_URL set leaves every
    configured state ok in ``tracker status --json`` (exit 0), its preview digest has a new bill
    and a stage change, and no request left the machine."""
    monkeypatch.setenv("TRACKER_SHARED_DIR", str(real_html.parent.parent.parent))
    reset_settings()
    connections = _loopback_only(monkeypatch)
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", quick=True, serve=False, say=lines.append)

    assert result.database == db_url  # TRACKER_DATABASE_URL is honoured
    assert sorted(result.states) == sorted(list_states())  # all nine, from the saved pages
    for st, (status, message) in result.runs.items():
        assert status in ("ok", "partial"), (st, message)
        assert not message.startswith("scrape ok: 0 bills"), (st, message)
    assert connections and result.fetched > 0

    status = CliRunner().invoke(cli_app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert {s["state"] for s in report["states"] if s["ok"]} >= set(list_states())

    text = next(result.preview_dir.glob("*.txt")).read_text()  # type: ignore[union-attr]
    assert re.search(r"\d+ new\.", text), text[:400]  # at least one new bill
    assert "(was " in text, text[:600]  # a stage change: "In committee (was Introduced)"
    assert "127.0.0.1:8000/manage/" in text  # links use the served port; a real subscriber
    assert "export TRACKER_DATABASE_URL=" in "\n".join(lines)
    env = (tmp_path / "demo" / ".env").read_text()
    assert f"TRACKER_DATABASE_URL={db_url}" in env


def test_some_week_of_the_demo_data_has_news_for_ma_and_mn(
    real_html: Path, engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The imported Open States samples, replayed: an MA+MN subscriber gets a digest."""
    from tracker import digest, digest_render, subscriptions

    shared = real_html.parent.parent.parent
    for kind, paths in import_sets(shared, quick=True):
        run_import(engine, kind, paths)
    replay_history(engine)
    period = busiest_period(engine, states=["ma", "mn"])
    assert period is not None
    prefs = subscriptions.make_preferences(states=["ma", "mn"])
    with engine.connect() as conn:
        week = digest.load_week(conn, period=period)
    out = digest_render.DigestRenderer(week).render(
        prefs, email="x@example.org", manage_url="m", unsubscribe_url="u"
    )
    assert "quiet week" not in out.text.lower(), out.text[:300]
    assert "MASSACHUSETTS" in out.text or "MINNESOTA" in out.text
