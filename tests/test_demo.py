"""`tracker demo`: saved real pages served locally under their original paths, one full cycle."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tracker.db import make_engine
from tracker.demo import host_key, original_urls, page_key, point_at, run_demo, serve_saved_pages
from tracker.models import Bill
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


@pytest.mark.slow
def test_demo_runs_one_cycle_end_to_end_offline(
    real_html: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_SHARED_DIR", str(real_html.parent.parent.parent))
    reset_settings()
    lines: list[str] = []
    # three states keep it short; each reads saved pages only (NM's bill pages, MT's full list,
    # GA's SOAP replies)
    result = run_demo(
        tmp_path / "demo", quick=True, serve=False, states=["nm", "mt", "ga"], say=lines.append
    )

    assert result.states == ["ga", "mt", "nm"]
    assert result.runs["mt"][0] == "ok" and result.runs["ga"][0] == "ok", result.runs
    status, message = result.runs["nm"]
    assert status in ("ok", "partial"), message
    assert result.fetched > 0  # the scrape read saved pages from the local server
    engine = make_engine(f"sqlite:///{result.database}")
    with engine.connect() as conn:
        nm = conn.execute(
            select(func.count()).select_from(Bill.__table__).where(Bill.__table__.c.state == "nm")
        ).scalar_one()
        staged = conn.execute(
            select(func.count())
            .select_from(Bill.__table__)
            .where(Bill.__table__.c.stage.is_not(None))
        ).scalar_one()
    engine.dispose()
    assert nm > 0 and staged > 0
    assert result.imported["openstates"] > 0 and result.imported["legiscan"] > 0
    previews = sorted(p.suffix for p in result.preview_dir.iterdir())  # type: ignore[union-attr]
    assert previews == [".eml", ".html", ".txt"]
    text = "\n".join(lines)
    assert "Serving" in text and "digest preview" in text and "tracker status" in text
