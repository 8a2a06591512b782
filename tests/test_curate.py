"""Curator reviews: pins a running site can write (the data folder) seen by every reader, the
web review page behind an emailed sign-in link, the "possibly single-payer" label on pages,
search and digests, and the change row when ingest moves only the decision.

The bills are made up (synthetic) in ScrapedBill shape: what matters is the decision the shipped
rules give their titles (asserted below), not any state's real bill.
"""

from __future__ import annotations

import csv
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from tracker.ingest import ingest_bills
from tracker.models import Bill, Change
from tracker.paths import config_dir
from tracker.settings import get_settings, reset_settings
from tracker.topics import clear_cache, curator_pins_path, load_pins
from tracker.web import curate

CURATOR = "curator@example.org"
POSSIBLE_TITLE = "Colorado Health Care Cooperative"  # rules: possible (a name, no system words)
TODAY = datetime.now(UTC).date().isoformat()


def _bill(identifier: str, title: str, **extra: object) -> dict:
    return {
        "state": "co",
        "legislative_session": "2011",
        "identifier": identifier,
        "title": title,
        "chamber": "upper",
        "actions": [{"date": TODAY, "description": "Introduced", "chamber": "upper"}],
        "sources": [{"url": f"https://example.org/{identifier.replace(' ', '')}"}],
        **extra,
    }


@pytest.fixture
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/ (so nothing writes into the repo) with one shipped pin."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    with (config / "overrides.yaml").open("a", encoding="utf-8") as fh:
        fh.write(
            "  - {state: co, session: '2011', identifier: SB 7, topic: single-payer, "
            "reason: shipped pin}\n"
        )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(config))
    reset_settings()
    clear_cache()
    yield config
    clear_cache()


def _bill_row(engine, identifier: str) -> Bill:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.exec(select(Bill).where(Bill.identifier == identifier)).one()


def _changes(engine, identifier: str) -> list[Change]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        bill = session.exec(select(Bill).where(Bill.identifier == identifier)).one()
        return list(session.exec(select(Change).where(Change.bill_id == bill.id)))


# ----------------------------------------------------------------------------- pins


def test_pins_live_in_the_data_folder_and_every_reader_sees_them(
    engine, db_url, own_config, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from tracker.cli.topics import app

    monkeypatch.setenv("TRACKER_DATABASE_URL", db_url)
    reset_settings()
    shipped = (own_config / "overrides.yaml").read_bytes()
    ingest_bills(
        engine, [_bill("SB 1", POSSIBLE_TITLE), _bill("SB 7", "Concerning fens")], source="t"
    )
    assert _bill_row(engine, "SB 1").topic_decision == "possible"
    assert _bill_row(engine, "SB 7").topic_decision == "yes"  # the shipped pin is read

    runner = CliRunner()
    done = runner.invoke(
        app, ["review", "accept", "co", "2011", "SB1", "--reason", "covers every resident"]
    )
    assert done.exit_code == 0, done.output
    assert (own_config / "overrides.yaml").read_bytes() == shipped  # config/ is never written
    assert curator_pins_path() == Path(get_settings().data_dir) / "curator_pins.yaml"
    assert [(p.identifier, p.topic) for p in load_pins(curator_pins_path())] == [
        ("SB 1", "single-payer")
    ]
    # classify and explain see the review
    bills_csv = tmp_path / "in.csv"
    bills_csv.write_text(f"state,session,bill,title\nco,2011,SB 1,{POSSIBLE_TITLE}\n")
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["classify", "-i", str(bills_csv), "-o", str(out)]).exit_code == 0
    row = next(csv.DictReader(out.open()))
    assert (row["topic"], row["decision"], row["relevant"]) == ("single-payer", "yes", "true")
    assert "covers every resident" in row["evidence"]
    explained = runner.invoke(
        app,
        [
            "explain",
            "--title",
            POSSIBLE_TITLE,
            "--state",
            "co",
            "--session",
            "2011",
            "--bill",
            "SB 1",
        ],
    )
    assert "decision: yes" in explained.output and "covers every resident" in explained.output
    # a re-ingest (a new title from the source) keeps the review
    ingest_bills(engine, [_bill("SB 1", POSSIBLE_TITLE + " Act")], source="t")
    again = _bill_row(engine, "SB 1")
    assert (again.topic, again.topic_decision, again.topic_pinned) == ("single-payer", "yes", True)
    # the queue no longer lists it
    listed = runner.invoke(app, ["review", "--state", "co"])
    assert "SB 1" not in listed.output


def test_a_site_pin_wins_over_a_shipped_one_and_a_new_file_is_seen(own_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tracker import topics
    from tracker.topic_review import save_pin

    monkeypatch.setattr(topics, "PINS_RECHECK_SECONDS", 0.0)
    before = topics.classify_topic(
        title="Concerning fens", state="co", session="2011", identifier="SB7"
    )
    assert before.decision == "yes"
    # another process (the web app) saves a review: this one sees it without a restart
    save_pin(
        topics.Pin(
            state="co", session="2011", identifier="SB 7", topic="none", reason="a fen bill"
        ),
        curator_pins_path(),
    )
    time.sleep(0.01)
    after = topics.classify_topic(
        title="Concerning fens", state="co", session="2011", identifier="SB7"
    )
    assert (after.topic, after.decision) == ("none", "no")


# ----------------------------------------------------------------------------- ingest


def test_ingest_records_a_change_when_only_the_decision_moves(engine, own_config) -> None:  # type: ignore[no-untyped-def]
    ingest_bills(engine, [_bill("SB 2", "Concerning eligibility")], source="t")
    first = _bill_row(engine, "SB 2")
    assert (first.topic, first.topic_decision) == ("none", "no")
    ingest_bills(engine, [_bill("SB 2", "Healthy Colorado plan; eligibility")], source="t")
    second = _bill_row(engine, "SB 2")
    assert (second.topic, second.topic_decision) == ("none", "possible")
    moved = [c for c in _changes(engine, "SB 2") if c.field == "topic_decision"]
    assert [(c.kind, c.old, c.new, c.source) for c in moved] == [
        ("topic_changed", "no", "possible", "t")
    ]


# ----------------------------------------------------------------------------- web


@pytest.fixture
def site(engine, own_config, monkeypatch):  # type: ignore[no-untyped-def]
    """The app with one curator, https links, and the sign-in mails kept in a list."""
    from tracker.web.app import create_app

    monkeypatch.setenv("TRACKER_CURATOR_EMAILS", f'["{CURATOR}"]')
    monkeypatch.setenv("TRACKER_BASE_URL", "https://tracker.example")
    reset_settings()
    curate.reset_limits()
    mails: list[str] = []
    monkeypatch.setattr(curate, "send_signin_mail", mails.append)
    ingest_bills(engine, [_bill("SB 1", POSSIBLE_TITLE)], source="t")
    client = TestClient(create_app(engine), base_url="https://tracker.example")
    client.mails = mails  # type: ignore[attr-defined]
    return client


def _csrf(client: TestClient, path: str = "/curate/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def _review_form(token: str | None) -> dict[str, str]:
    form = {
        "state": "co",
        "session": "2011",
        "identifier": "SB 1",
        "verdict": "accept",
        "reason": "a takeover",
    }
    return form | ({"csrf_token": token} if token else {})


def _unchanged(engine) -> None:  # type: ignore[no-untyped-def]
    bill = _bill_row(engine, "SB 1")
    assert (bill.topic_decision, bill.topic_pinned) == ("possible", False)
    assert not [c for c in _changes(engine, "SB 1") if c.source == "curator"]
    assert not curator_pins_path().exists()


def _sign_in(client: TestClient, email: str = CURATOR) -> None:
    client.post("/curate/signin", data={"csrf_token": _csrf(client), "email": email})
    token = curate.signin_token(email)
    page = client.get(f"/curate/signin/{token}")
    assert "Sign in as a curator" in page.text
    done = client.post(
        f"/curate/signin/{token}", data={"csrf_token": _csrf(client)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text


def test_anonymous_visitors_cannot_see_or_change_a_decision(site, engine) -> None:  # type: ignore[no-untyped-def]
    page = site.get("/curate/")
    assert page.status_code == 200 and "Mail me a sign-in link" in page.text
    assert "SB 1" not in page.text and POSSIBLE_TITLE not in page.text
    without = site.post("/curate/review", data=_review_form(None))
    assert without.status_code == 403
    with_token = site.post("/curate/review", data=_review_form(_csrf(site)))
    assert with_token.status_code == 403 and "signed-in curators" in with_token.text
    # a cookie not signed with the site's key, and a well-signed one for a non-curator
    site.cookies.set(
        curate.SESSION_COOKIE, "forged.value.here", domain="tracker.example", path="/curate"
    )
    assert site.post("/curate/review", data=_review_form(_csrf(site))).status_code == 403
    stranger = curate._signer(get_settings(), "session").dumps("someone@example.org")
    site.cookies.set(curate.SESSION_COOKIE, stranger, domain="tracker.example", path="/curate")
    assert site.post("/curate/review", data=_review_form(_csrf(site))).status_code == 403
    _unchanged(engine)


def test_non_curators_get_the_same_answer_and_no_mail(site, engine) -> None:  # type: ignore[no-untyped-def]
    answers = [
        site.post("/curate/signin", data={"csrf_token": _csrf(site), "email": email}).text
        for email in ("someone@example.org", CURATOR)
    ]
    assert "Check your inbox" in answers[0]
    assert answers[0] == answers[1]
    assert site.mails == [CURATOR]
    # a link for a non-curator does not work even when signed with the right key
    forged = curate._signer(get_settings(), "link").dumps({"e": "someone@example.org", "n": "x"})
    assert site.get(f"/curate/signin/{forged}").status_code == 400
    assert (
        site.post(f"/curate/signin/{forged}", data={"csrf_token": _csrf(site)}).status_code == 400
    )
    _unchanged(engine)


def test_sign_in_review_and_sign_out(site, engine) -> None:  # type: ignore[no-untyped-def]
    site.post("/curate/signin", data={"csrf_token": _csrf(site), "email": CURATOR.upper()})
    assert site.mails == [CURATOR]
    token = curate.signin_token(CURATOR)
    opened = site.get(f"/curate/signin/{token}")
    assert curate.SESSION_COOKIE not in opened.headers.get("set-cookie", "")  # GET signs no one in
    done = site.post(
        f"/curate/signin/{token}", data={"csrf_token": _csrf(site)}, follow_redirects=False
    )
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(f"{curate.SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/curate", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower(), cookie
    reused = site.post(f"/curate/signin/{token}", data={"csrf_token": _csrf(site)})
    assert reused.status_code == 400 and "already used" in reused.text

    queue = site.get("/curate/")
    assert f"Signed in as {CURATOR}" in queue.text
    assert "SB 1" in queue.text and POSSIBLE_TITLE in queue.text and "Cooperative" in queue.text
    no_reason = site.post("/curate/review", data=_review_form(_csrf(site)) | {"reason": " "})
    assert no_reason.status_code == 400
    bad_topic = site.post("/curate/review", data=_review_form(_csrf(site)) | {"topic": "none"})
    assert bad_topic.status_code == 400 and "cannot accept" in bad_topic.text
    accepted = site.post(
        "/curate/review",
        data=_review_form(_csrf(site)) | {"reason": "<b>a statewide plan</b>"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    bill = _bill_row(engine, "SB 1")
    assert (bill.topic, bill.topic_decision, bill.relevant) == ("single-payer", "yes", True)
    rows = [c for c in _changes(engine, "SB 1") if c.source == "curator"]
    assert {(c.field, c.old, c.new) for c in rows} == {
        ("topic", "none", "single-payer"),
        ("topic_decision", "possible", "yes"),
    }
    assert [p.reviewer for p in load_pins(curator_pins_path())] == [CURATOR]
    page = site.get("/bills/co/2011/SB1/")
    assert "A curator reviewed this bill" in page.text
    assert "&lt;b&gt;a statewide plan&lt;/b&gt;" in page.text  # the reason is escaped
    assert "under review" not in page.text
    assert "No bill is waiting" in site.get("/curate/").text

    out = site.post("/curate/signout", data={"csrf_token": _csrf(site)})
    assert "Signed out" in out.text
    assert "Mail me a sign-in link" in site.get("/curate/").text


def test_sessions_and_links_expire(site, engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from itsdangerous.timed import TimestampSigner

    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 13 * 3600)
    old_session = curate._signer(get_settings(), "session").dumps(CURATOR)
    old_link = curate.signin_token(CURATOR)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    site.cookies.set(curate.SESSION_COOKIE, old_session, domain="tracker.example", path="/curate")
    assert "Mail me a sign-in link" in site.get("/curate/").text
    assert site.post("/curate/review", data=_review_form(_csrf(site))).status_code == 403
    assert "expired" in site.get(f"/curate/signin/{old_link}").text
    _unchanged(engine)


def test_removing_an_address_ends_its_session(site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _sign_in(site)
    assert "Signed in as" in site.get("/curate/").text
    monkeypatch.setenv("TRACKER_CURATOR_EMAILS", "[]")
    reset_settings()
    assert "Mail me a sign-in link" in site.get("/curate/").text


# ----------------------------------------------------------------------------- labels


def test_possible_bills_are_labelled_on_pages_search_and_digests(site, engine) -> None:  # type: ignore[no-untyped-def]
    from tracker import digest, digest_render, subscriptions
    from tracker.search import reindex_bills

    ingest_bills(engine, [_bill("SB 3", "Colorado Health Security Act")], source="t")
    assert _bill_row(engine, "SB 3").topic_decision == "yes"
    with engine.begin() as conn:
        reindex_bills(conn, {_bill_row(engine, i).id for i in ("SB 1", "SB 3")})
    label = "possibly single-payer — under review"
    assert label in site.get("/bills/co/2011/SB1/").text
    assert label not in site.get("/bills/co/2011/SB3/").text
    found = site.get("/search/?q=colorado").text
    assert found.count(label) == 1
    with engine.connect() as conn:
        week = digest.load_week(conn, period=digest.format_period(datetime.now(UTC).date()))
    renderer = digest_render.DigestRenderer(week)
    links = {"email": "a@example.org", "manage_url": "https://m", "unsubscribe_url": "https://u"}
    single = renderer.render(subscriptions.make_preferences(topics=["single-payer"]), **links)
    assert (
        "SB 1" in single.text
        and f"(possibly single-payer — under review): {POSSIBLE_TITLE}" in single.text
    )
    assert label in single.html and "SB 3" in single.text
    assert single.text.count("under review") == 1
    other = renderer.render(subscriptions.make_preferences(topics=["public-option"]), **links)
    assert "SB 1" not in other.text
