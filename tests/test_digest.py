"""Digest contents: what goes in a week, per-subscriber filtering, order, escaping, quiet weeks,
the render cache, and the ledger's exactly-once delivery (with an in-memory transport)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from synthetic_digest_data import (
    EVIL_SPONSOR,
    PERIOD,
    add_synthetic_subscribers,
    load_synthetic_week,
)

from tracker import delivery, digest, digest_render, mail, subscriptions
from tracker.subscription_models import DigestLedger, Subscriber


def prefs(**kw):  # type: ignore[no-untyped-def]
    return subscriptions.make_preferences(**kw)


LINKS = {
    "email": "ann@example.org",
    "manage_url": "https://t.example/manage/M",
    "unsubscribe_url": "https://t.example/unsubscribe/U",
}


@pytest.fixture
def week(engine):  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    with engine.connect() as conn:
        return digest.load_week(conn, period=PERIOD)


def test_periods() -> None:
    assert digest.parse_period("2025-W10") == (date(2025, 3, 3), date(2025, 3, 10))
    assert digest.format_period(date(2025, 3, 9)) == "2025-W10"
    assert digest.last_complete_period(datetime(2025, 3, 10, 7, tzinfo=UTC)) == "2025-W10"
    for bad in ("2025-10", "2025-W54", "W10", ""):
        with pytest.raises(digest.PeriodError, match="ISO week"):
            digest.parse_period(bad)


def test_week_holds_news_only(week: digest.Week) -> None:
    by_id = {b.identifier: b for b in week.bills.values() if b.events}
    assert set(by_id) == {"S 1234", "AB 1", "SF 2", "H 3", "HB 9"}  # A 5: only stale/future news
    ny = by_id["S 1234"]
    kinds = [e.kind for e in ny.events]
    # the favourable report folds into the stage line; the later same-day action stays
    assert kinds == ["stage_changed", "action_new", "version_new", "sponsor_added"]
    stage = ny.events[0]
    assert (stage.stage, stage.old_stage, stage.date) == (
        "passed_committee",
        "in_committee",
        "2025-03-05",
    )
    assert stage.text == "Reported favorably by Health Committee"
    assert ny.events[3].names == [EVIL_SPONSOR, "Carol Diaz"]
    assert ny.status_url.endswith("/bills/ny/2025-2026/S1234/")
    assert ny.official_url == "https://www.nysenate.gov/legislation/bills/2025/S1234"
    assert by_id["H 3"].enacted and by_id["SF 2"].died and by_id["AB 1"].is_new
    assert "Hearing postponed" not in " ".join(e.text for e in by_id["AB 1"].events)


def test_hearings_window_and_snapshot(week: digest.Week) -> None:
    hearings = [(h.bill.identifier, h.date) for h in week.hearings]
    assert hearings == [("S 1234", "2025-03-12T10:00:00"), ("H 7", "2025-03-15")]
    snap = week.snapshot
    assert snap["total"] == 5
    assert {s["stage"]: s["count"] for s in snap["by_stage"]} == {
        "in_committee": 3,
        "passed_committee": 1,
        "dead": 1,
    }
    assert snap["active_states"] == ["California", "Minnesota", "New York"]


def test_filter_by_state_topic_and_query(week: digest.Week) -> None:
    ids = lambda p: sorted(b.identifier for b in week.select(p)[0])  # noqa: E731
    assert ids(prefs()) == ["AB 1", "S 1234", "SF 2"]
    assert ids(prefs(states=["ny"])) == ["S 1234"]
    assert ids(prefs(topics=["public-option", "none"])) == ["H 3", "HB 9"]
    assert ids(prefs(query="guaranteed health")) == ["AB 1"]
    assert ids(prefs(query="s1234")) == ["S 1234"]
    assert ids(prefs(query="carol")) == ["S 1234"]  # cosponsor names are searchable
    bills, hearings = week.select(prefs(states=["ma"]))
    assert bills == [] and [h.bill.identifier for h in hearings] == ["H 7"]


def test_most_important_first(week: digest.Week) -> None:
    everything = prefs(topics=["single-payer", "single-payer-study", "public-option", "none"])
    ctx = week.context_for(everything, dict(LINKS))
    assert [g["code"] for g in ctx["groups"]] == ["vt", "ny", "mn", "ca", "ma", "wa"]
    assert ctx["counts"] == {"bills": 5, "hearings": 2, "new": 1, "enacted": 1, "died": 1}


def test_rendered_digest_escapes_scraped_text(week: digest.Week) -> None:
    out = digest_render.DigestRenderer(week).render(prefs(states=["ny"]), **LINKS)
    assert "<script>alert" not in out.html and "&lt;script&gt;alert(&#34;x&#34;)" in out.html
    assert "<img src=x" not in out.html and "O&#39;Neil &lt;img" in out.html
    assert "Room 124 &lt;b&gt;LOB&lt;/b&gt;" in out.html
    assert 'href="https://www.nysenate.gov/legislation/bills/2025/S1234"' in out.html
    assert "https://t.example/unsubscribe/U" in out.html and "ann@example.org" in out.html
    assert "PO Box" in out.html and "PO Box" in out.text
    # the plain text part is not HTML: no entities, the words as written
    assert 'New York Health Act <script>alert("x")</script>' in out.text
    assert (
        'Passed committee (was In committee): "Reported favorably by Health Committee"' in out.text
    )
    assert (
        "Tue Mar 11" not in out.text and "Wed Mar 12, 10:00 AM: S 1234, Senate Health" in out.text
    )
    assert out.subject.startswith("1 bill moved, 1 hearing ahead: New York")


def test_brief_detail_shows_one_line_per_bill(week: digest.Week) -> None:
    full = digest_render.DigestRenderer(week).render(prefs(states=["ny"]), **LINKS)
    brief = digest_render.DigestRenderer(week).render(prefs(states=["ny"], detail="brief"), **LINKS)
    assert "Carol Diaz" in full.text and "Amended version A" in full.text
    assert "Passed committee (was In committee)" in brief.text  # the most important change
    assert "Carol Diaz" not in brief.text and "Amended version A" not in brief.text
    assert "(3 more changes this week)" in brief.text


def test_quiet_week(week: digest.Week) -> None:
    out = digest_render.DigestRenderer(week).render(prefs(states=["tx"]), **LINKS)
    assert out.quiet and out.subject.startswith("Quiet week")
    assert "A quiet week: nothing moved" in out.text


def test_render_cache_is_bounded_and_personalises(week: digest.Week) -> None:
    renderer = digest_render.DigestRenderer(week, cache_size=2)
    a = renderer.render(
        prefs(states=["ny"]),
        email="a@example.org",
        manage_url="https://m/A",
        unsubscribe_url="https://u/A",
    )
    b = renderer.render(
        prefs(states=["ny"]),
        email="b@example.org",
        manage_url="https://m/B",
        unsubscribe_url="https://u/B",
    )
    assert "https://u/A" in a.html and "https://u/B" in b.html and "https://u/A" not in b.html
    assert "b@example.org" in b.text and "a@example.org" not in b.text
    for code in ("ca", "mn", "vt"):
        renderer.template(prefs(states=[code]))
    assert len(renderer._cache) == 2


class ListTransport:
    """Collects messages; raises `fail` for the addresses in `refuse`."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.refuse = refuse or {}

    def send(
        self, msg: EmailMessage, *, to: str, meanwhile: Callable[[], object] | None = None
    ) -> None:
        if to in self.refuse:
            raise self.refuse[to]
        raw = mail.as_bytes(msg)
        self.sent.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        if meanwhile is not None:
            meanwhile()


def _ledger(engine) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return dict(conn.execute(select(DigestLedger.subscriber_id, DigestLedger.status)).all())


def test_send_writes_ledger_and_never_twice(engine) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    ids = add_synthetic_subscribers(
        engine,
        [
            {"states": ["ny"]},
            {"states": ["tx"], "quiet_week": "skip"},
            {"states": ["tx"], "quiet_week": "send"},
            {"states": ["ca"], "status": "pending"},
        ],
    )
    dry = delivery.send_digests(engine, period=PERIOD, transport=None, dry_run=True)
    assert (dry.would_send, dry.skipped, dry.sent) == (2, 1, 0) and _ledger(engine) == {}

    transport = ListTransport()
    report = delivery.send_digests(engine, period=PERIOD, transport=transport)
    assert (report.sent, report.skipped) == (2, 1)
    assert sorted(m["To"] for m in transport.sent) == ["reader0@example.org", "reader2@example.org"]
    assert _ledger(engine) == {ids[0]: "sent", ids[1]: "skipped", ids[2]: "sent"}
    msg = transport.sent[0]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with engine.connect() as conn:
        stored = conn.execute(
            select(DigestLedger.message_id).where(DigestLedger.subscriber_id == ids[0])
        ).scalar()
    assert stored == msg["Message-ID"]

    again = delivery.send_digests(engine, period=PERIOD, transport=transport)
    assert (again.sent, again.already) == (0, 3) and len(transport.sent) == 2


def test_permanent_failures_bounce_and_temporary_ones_retry(engine) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    ids = add_synthetic_subscribers(
        engine, [{"email": "gone@example.org"}, {"email": "busy@example.org"}]
    )
    transport = ListTransport(
        {
            "gone@example.org": mail.PermanentFailure(550, "no such user"),
            "busy@example.org": mail.TemporaryFailure(451, "try later"),
        }
    )
    report = delivery.send_digests(engine, period=PERIOD, transport=transport, bounce_threshold=1)
    assert (report.bounced, report.failed, report.sent) == (1, 1, 0)
    assert _ledger(engine) == {ids[0]: "bounced", ids[1]: "failed"}
    with engine.connect() as conn:
        status = dict(conn.execute(select(Subscriber.email, Subscriber.status)).all())
    assert status == {"gone@example.org": "bouncing", "busy@example.org": "confirmed"}

    transport.refuse.clear()
    rerun = delivery.send_digests(engine, period=PERIOD, transport=transport)
    assert rerun.sent == 1 and [m["To"] for m in transport.sent] == ["busy@example.org"]
    assert _ledger(engine)[ids[1]] == "sent"


def test_ingested_changes_reach_the_digest(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The real path: two ingests of one bill -> change rows -> this week's digest."""
    import tracker.understand as understand
    from tracker.ingest import ingest_bills
    from tracker.scraped import ScrapedBill
    from tracker.topics import TopicResult

    # The topic rules are another module's business; pin the answer so this test is about changes.
    monkeypatch.setattr(
        understand, "classify_topic", lambda **kw: TopicResult("single-payer", True, 9.0, [])
    )
    today = datetime.now(UTC).date()
    day = lambda n: date.fromordinal(today.toordinal() - n).isoformat()  # noqa: E731

    def bill(actions: list[str], sponsors: list[str]) -> ScrapedBill:
        return ScrapedBill(
            state="or",
            legislative_session="2025R1",
            identifier="HB 2795",
            title="Universal Health Plan",
            actions=[
                {"date": day(len(actions) - i), "description": d, "chamber": "lower"}
                for i, d in enumerate(actions)
            ],
            sponsorships=[{"name": s, "primary": i == 0} for i, s in enumerate(sponsors)],
            sources=[
                {"url": "https://olis.oregonlegislature.gov/liz/2025R1/Measures/Overview/HB2795"}
            ],
        )

    ingest_bills(
        engine,
        [bill(["Introduction and first reading."], ["Rep. Nosse"])],
        source="scrape:or",
        kind="scrape",
    )
    ingest_bills(
        engine,
        [
            bill(
                ["Introduction and first reading.", "Referred to Health Care."],
                ["Rep. Nosse", "Rep. Reynolds"],
            )
        ],
        source="scrape:or",
        kind="scrape",
    )
    with engine.connect() as conn:
        week = digest.load_week(conn, period=digest.format_period(today))
    out = digest_render.DigestRenderer(week).render(prefs(states=["or"]), **LINKS)
    assert "HB 2795" in out.text and "Referred to Health Care." in out.text
    assert "New cosponsor: Rep. Reynolds" in out.text
    assert "https://olis.oregonlegislature.gov/liz/2025R1/Measures/Overview/HB2795" in out.text


def test_digest_cli_preview_and_dry_run(db_url: str, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tracker.cli import app

    load_synthetic_week(engine)
    add_synthetic_subscribers(
        engine, [{"email": "ann@example.org", "states": ["ny"], "detail": "brief"}]
    )
    run = CliRunner().invoke
    out = tmp_path / "preview"
    r = run(
        app,
        ["digest", "preview", "--email", "Ann@example.org", "--period", PERIOD, "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    eml = email.message_from_bytes(
        (out / f"digest-{PERIOD}.eml").read_bytes(), policy=email.policy.default
    )
    assert (
        eml["To"] == "ann@example.org"
        and eml["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )
    assert "S 1234" in (out / f"digest-{PERIOD}.txt").read_text()
    assert "&lt;script&gt;" in (out / f"digest-{PERIOD}.html").read_text()

    r = run(
        app,
        [
            "digest",
            "preview",
            "--email",
            "stranger@example.org",
            "--period",
            PERIOD,
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0 and "not a subscriber" in r.output

    r = run(app, ["digest", "send", "--period", PERIOD, "--dry-run"])
    assert r.exit_code == 0 and "would send 1" in r.output and _ledger(engine) == {}
    r = run(app, ["digest", "send", "--period", "2025-13"])
    assert r.exit_code == 2 and "ISO week" in r.output
