"""The jobs: what a scrape run records from its sources, and daily maintenance."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select, update

from tracker import jobs
from tracker.ingest import ingest_bills
from tracker.models import Bill, Change, LegislativeSession, Run
from tracker.scraped import ScrapedBill


def result(
    source: str, status: str, new: int = 0, message: str = "", errors: list[str] | None = None
):  # type: ignore[no-untyped-def]
    return SimpleNamespace(
        source=source,
        status=status,
        new=new,
        updated=0,
        unchanged=0,
        fetched=new,
        skipped_unchanged=0,
        errors=errors or [],
        message=message,
    )


def test_scrape_outcome_from_source_results() -> None:
    ok = jobs.summarize_results([result("scrape", "ok", new=12)])
    assert ok[:2] == (
        "ok",
        {"bills": 12, "new": 12, "updated": 0, "unchanged": 0, "errors": 0, "sources": 1},
    )

    # the scraper broke but Open States filled in: data arrived, the breakage stays visible
    status, counts, errors, message = jobs.summarize_results(
        [
            result("scrape", "failed", message="PageError: 0 rows at https://x/list"),
            result("openstates-api", "ok", new=7),
        ]
    )
    assert (status, counts["bills"]) == ("partial", 7)
    assert errors == [{"where": "scrape", "message": "PageError: 0 rows at https://x/list"}]
    assert "scrape failed" in message and "openstates-api ok: 7 bills" in message

    assert jobs.summarize_results([result("scrape", "empty")])[0] == "empty"
    assert (
        jobs.summarize_results(
            [
                result("scrape", "skipped", message="no config"),
                result("openstates-api", "skipped", message="no key"),
            ]
        )[0]
        == "failed"
    )


def bill(session: str) -> ScrapedBill:
    return ScrapedBill.model_validate(
        {
            "state": "zz",
            "legislative_session": session,
            "identifier": "HB 7",
            "title": "Synthetic health act",
            "actions": [
                {
                    "date": "2025-02-01",
                    "description": "Introduced",
                    "chamber": "lower",
                    "classification": ["introduction"],
                },
                {
                    "date": "2025-02-03",
                    "description": "Referred to Health",
                    "chamber": "lower",
                    "classification": ["referral-committee"],
                },
            ],
            "sources": [{"url": "https://example.org/hb7"}],
        }
    )


def test_maintenance_marks_bills_of_ended_sessions_dead_once(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(jobs, "job_engine", lambda: engine)
    ingest_bills(engine, [bill("2099")], source="import:synthetic")
    b, ls = Bill.__table__, LegislativeSession.__table__
    with engine.begin() as conn:
        assert conn.execute(select(b.c.stage)).scalar_one() == "in_committee"
        conn.execute(update(ls).where(ls.c.identifier == "2099").values(end_date="2026-01-31"))

    run_id = jobs.maintenance(today="2026-06-01")
    with engine.connect() as conn:
        assert conn.execute(select(b.c.stage)).scalar_one() == "dead"
        change = (
            conn.execute(
                select(Change.__table__)
                .where(Change.__table__.c.kind == "stage_changed")
                .where(Change.__table__.c.source == "maintenance")
            )
            .mappings()
            .one()
        )
        run = (
            conn.execute(select(Run.__table__).where(Run.__table__.c.id == run_id)).mappings().one()
        )
    assert (change["old"], change["new"], change["run_id"]) == ("in_committee", "dead", run_id)
    assert run["status"] == "ok" and run["kind"] == "job"
    assert run["counts"]["stage_changed"] == 1 and run["counts"]["bills"] == 1
    assert run["counts"]["bills_without_actions"] == 0

    again = jobs.maintenance(today="2026-06-02")
    with engine.connect() as conn:
        counts = conn.execute(
            select(Run.__table__.c.counts).where(Run.__table__.c.id == again)
        ).scalar_one()
    assert counts["stage_changed"] == 0


def test_runs_left_running_by_a_dead_process_are_closed(engine) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from tracker.runs import start_run

    old = start_run(engine, source="job:scrape:zz", kind="job", state="zz")
    fresh = start_run(engine, source="job:scrape:yy", kind="job", state="yy")
    r = Run.__table__
    with engine.begin() as conn:
        conn.execute(
            update(r).where(r.c.id == old).values(started_at=datetime.now(UTC) - timedelta(days=1))
        )
    assert jobs.close_stuck_runs(engine) == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(r.c.id, r.c.status)).all())
    assert statuses == {old: "interrupted", fresh: "running"}


def test_jobs_run_runs_one_job_now_and_refuses_unknown_ids(engine) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tracker.cli import app

    runner = CliRunner()
    done = runner.invoke(app, ["jobs", "run", "maintenance:daily"])
    assert done.exit_code == 0, done.output
    assert "ok" in done.output and "bills=0" in done.output
    with engine.connect() as conn:
        assert conn.execute(select(Run.__table__.c.source)).scalars().all() == ["job:maintenance"]
    unknown = runner.invoke(app, ["jobs", "run", "nope:1"])
    assert unknown.exit_code == 2 and "no job 'nope:1'" in unknown.output
