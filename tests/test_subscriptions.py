"""The subscriber lifecycle, its signed links, the web pages and the `tracker subscribers` CLI."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import itsdangerous.timed
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from tracker import subscriptions as subs
from tracker.subscription_models import DigestLedger, Subscriber
from tracker.web import subscribe as web_subscribe

NY = subs.make_preferences(states=["ny"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann.Lee+digest@Example.ORG ", "ann.lee+digest@example.org"),
        ("x@sub.example.co.uk", "x@sub.example.co.uk"),
        ("o'brien@example.org", "o'brien@example.org"),
        ("ünï@bücher.example", "ünï@bücher.example"),
    ],
)
def test_valid_addresses(raw: str, expected: str) -> None:
    if "ü" in raw:  # non-ASCII local parts are refused with a clear reason
        with pytest.raises(subs.InvalidEmail, match="before '@'"):
            subs.normalize_email(raw)
        assert subs.normalize_email("u@bücher.example") == "u@bücher.example"
        return
    assert subs.normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "enter an e-mail"),
        ("ann", "exactly one '@'"),
        ("a@@b.org", "exactly one '@'"),
        ("a b@example.org", "spaces"),
        ("a@localhost", "domain name like"),
        (".a@example.org", "dot"),
        ("a..b@example.org", "dot"),
        ("a@exa_mple.org", "domain"),
        ("a@1.2.3.4", "not a number"),
        ("x" * 65 + "@example.org", "too long"),
        ("a@" + "b" * 250 + ".org", "too long"),
        ("<script>@example.org", "characters not allowed"),
    ],
)
def test_invalid_addresses_say_why(raw: str, message: str) -> None:
    with pytest.raises(subs.InvalidEmail, match=message):
        subs.normalize_email(raw)


def test_preferences_are_checked() -> None:
    p = subs.make_preferences(states=["NY", "ca", "ny"], query="  health   security ")
    assert p.states == ("ca", "ny") and p.topics == ("single-payer", "single-payer-study")
    assert p.query == "health security"
    for kw, msg in (
        ({"states": ["zz"]}, "Unknown state"),
        ({"topics": ["cats"]}, "Unknown topic"),
        ({"detail": "loud"}, "Detail"),
        ({"quiet_week": "x"}, "Quiet week"),
        ({"query": "a" * 300}, "too long"),
    ):
        with pytest.raises(subs.InvalidPreferences, match=msg):
            subs.make_preferences(**kw)


def test_lifecycle(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        first = subs.subscribe(s, email="Ann@example.org", preferences=NY)
        s.commit()
        sub = first.subscriber
        assert (sub.status, sub.states, first.mail) == ("pending", ["ny"], "confirm")

        # a duplicate sign-up (maybe a stranger) changes nothing, and re-sends the confirmation
        again = subs.subscribe(
            s, email="ann@EXAMPLE.org", preferences=subs.make_preferences(states=["ca"])
        )
        assert (
            again.mail == "confirm"
            and again.subscriber.id == sub.id
            and again.subscriber.states == ["ny"]
        )

        confirmed = subs.confirm(s, token=subs.make_token(sub, "confirm"))
        assert confirmed.status == "confirmed" and confirmed.confirmed_at is not None
        assert (
            subs.confirm(s, token=subs.make_token(sub, "confirm")).status == "confirmed"
        )  # idempotent
        after = subs.subscribe(
            s, email="ann@example.org", preferences=subs.make_preferences(states=["ca"])
        )
        assert after.mail == "already" and after.subscriber.states == ["ny"]

        manage = subs.make_token(sub, "manage")
        updated = subs.update_preferences(
            s,
            token=manage,
            preferences=subs.make_preferences(
                states=["ca", "ny"], detail="brief", quiet_week="skip", query="CalCare"
            ),
        )
        assert (updated.states, updated.detail, updated.quiet_week, updated.query) == (
            ["ca", "ny"],
            "brief",
            "skip",
            "CalCare",
        )

        unsub = subs.make_token(sub, "unsubscribe")
        assert subs.unsubscribe(s, token=unsub).status == "unsubscribed"
        assert subs.unsubscribe(s, token=unsub).status == "unsubscribed"
        with pytest.raises(subs.BadToken, match="unsubscribed"):
            subs.confirm(s, token=subs.make_token(sub, "confirm"))
        assert subs.resubscribe(s, token=unsub).status == "confirmed"

        # signing up again after leaving starts a fresh opt-in with the new choices
        subs.unsubscribe(s, token=unsub)
        back = subs.subscribe(
            s, email="ann@example.org", preferences=subs.make_preferences(states=["vt"])
        )
        assert (back.mail, back.subscriber.status, back.subscriber.states) == (
            "confirm",
            "pending",
            ["vt"],
        )
        s.commit()


def test_forged_expired_and_misused_tokens(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        sub = subs.subscribe(s, email="bo@example.org", preferences=NY).subscriber
        s.commit()
        good = subs.make_token(sub, "confirm")
        for token in (good[:-2] + "xx", "nonsense", subs.make_token(sub, "manage")):
            with pytest.raises(subs.BadToken, match="not valid"):
                subs.confirm(s, token=token)
        # a token naming this id but another address (e.g. a deleted and re-used row)
        other = Subscriber(id=sub.id, email="someone-else@example.org")
        with pytest.raises(subs.BadToken, match="not valid any more"):
            subs.confirm(s, token=subs.make_token(other, "confirm"))
        # a confirmation link older than 7 days
        real_time = itsdangerous.timed.time.time
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() - 8 * 86400)
        old = subs.make_token(sub, "confirm")
        monkeypatch.setattr(itsdangerous.timed.time, "time", real_time)
        with pytest.raises(subs.BadToken, match="expired"):
            subs.confirm(s, token=old)
        assert s.get(Subscriber, sub.id).status == "pending"  # type: ignore[union-attr]


def test_bounces_and_removal(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        sub, created = subs.add(s, email="cy@example.org", preferences=NY, confirmed=True)
        assert created and sub.status == "confirmed"
        s.add(DigestLedger(subscriber_id=sub.id, period="2025-W10", status="sent"))
        for expected in ("confirmed", "confirmed", "bouncing"):
            assert subs.mark_bounce(s, subscriber_id=sub.id, threshold=3).status == expected  # type: ignore[union-attr]
        subs.mark_delivered(s, subscriber_id=sub.id)
        assert sub.bounce_count == 0
        assert subs.remove(s, email="CY@example.org") and not subs.remove(s, email="cy@example.org")
        s.commit()
        assert s.exec(select(DigestLedger)).all() == []


# ----------------------------------------------------------------------------- web


@pytest.fixture
def client(engine, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from tracker.web.app import create_app

    mails: list[tuple[int, str]] = []
    monkeypatch.setattr(
        web_subscribe,
        "send_subscription_mail",
        lambda _engine, sub_id, kind: mails.append((sub_id, kind)),
    )
    web_subscribe.reset_limits()
    c = TestClient(create_app(engine))
    c.mails = mails  # type: ignore[attr-defined]
    return c


def _csrf(client: TestClient, path: str = "/subscribe/") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def _count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return len(s.exec(select(Subscriber)).all())


def test_subscribe_form_answers_the_same_for_new_and_known_addresses(client, engine) -> None:  # type: ignore[no-untyped-def]
    token = _csrf(client)
    form = {
        "csrf_token": token,
        "email": "dee@example.org",
        "states": ["ny"],
        "topics": ["single-payer"],
    }
    first = client.post("/subscribe/", data=form)
    second = client.post("/subscribe/", data=form)
    strip = lambda html: re.sub(r'value="[^"]+"', "", html)  # noqa: E731 - CSRF tokens differ
    assert first.status_code == second.status_code == 200
    assert strip(first.text) == strip(second.text) and "Check your inbox" in first.text
    assert [k for _, k in client.mails] == ["confirm", "confirm"] and _count(engine) == 1
    # the small box on other pages posts `state`/`topic`
    client.post(
        "/subscribe/",
        data={
            "csrf_token": token,
            "email": "eve@example.org",
            "state": "ca",
            "topic": "single-payer",
        },
    )
    with Session(engine) as s:
        eve = subs.find(s, email="eve@example.org")
        assert eve is not None and eve.states == ["ca"] and eve.topics == ["single-payer"]


def test_subscribe_refuses_bad_input_without_changing_anything(client, engine) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/subscribe/", data={"email": "x@example.org"}).status_code == 403  # no CSRF
    token = _csrf(client)
    bad = client.post("/subscribe/", data={"csrf_token": token, "email": "not-an-address"})
    assert bad.status_code == 400 and "exactly one &#39;@&#39;" in bad.text
    evil = client.post("/subscribe/", data={"csrf_token": token, "email": '"><script>x</script>'})
    assert evil.status_code == 400 and "<script>x" not in evil.text
    bot = client.post(
        "/subscribe/",
        data={"csrf_token": token, "email": "bot@example.org", "website": "http://spam.example"},
    )
    assert bot.status_code == 200 and "Check your inbox" in bot.text
    assert _count(engine) == 0 and client.mails == []


def test_rate_limits_per_address_and_per_client(client) -> None:  # type: ignore[no-untyped-def]
    token = _csrf(client)
    codes = [
        client.post(
            "/subscribe/", data={"csrf_token": token, "email": "flood@example.org"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    codes = [
        client.post(
            "/subscribe/", data={"csrf_token": token, "email": f"p{i}@example.org"}
        ).status_code
        for i in range(8)
    ]
    assert codes.count(429) == 2  # 10 per client per hour, 4 used above


def test_confirm_manage_unsubscribe_pages(client, engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        sub = subs.subscribe(s, email="fay@example.org", preferences=NY).subscriber
        s.commit()
    confirm = f"/confirm/{subs.make_token(sub, 'confirm')}"
    assert "Yes, send me" in client.get(confirm).text
    with Session(engine) as s:
        assert s.get(Subscriber, sub.id).status == "pending"  # type: ignore[union-attr]  # GET changes nothing
    assert "You are subscribed" in client.post(confirm).text
    assert client.get("/confirm/forged.token").status_code == 400
    assert client.post("/confirm/forged.token").status_code == 400

    manage = f"/manage/{subs.make_token(sub, 'manage')}"
    page = client.get(manage)
    assert (
        page.status_code == 200
        and 'value="ny" checked' in page.text
        and "fay@example.org" in page.text
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post(manage, data={"states": ["ca"]}).status_code == 403
    saved = client.post(
        manage,
        data={"csrf_token": token, "states": ["ca", "vt"], "detail": "brief", "quiet_week": "skip"},
    )
    assert saved.status_code == 200 and "Saved" in saved.text
    bad = client.post(manage, data={"csrf_token": token, "states": ["zz"]})
    assert bad.status_code == 400 and "Unknown state" in bad.text
    with Session(engine) as s:
        row = s.get(Subscriber, sub.id)
        assert (row.states, row.detail, row.quiet_week) == (["ca", "vt"], "brief", "skip")  # type: ignore[union-attr]

    unsub = f"/unsubscribe/{subs.make_token(sub, 'unsubscribe')}"
    assert "Unsubscribe from the weekly digest?" in client.get(unsub).text
    with Session(engine) as s:
        assert s.get(Subscriber, sub.id).status == "confirmed"  # type: ignore[union-attr]
    done = client.post(unsub)
    assert "You are unsubscribed" in done.text
    resub = re.search(r'action="(/resubscribe/[^"]+)"', done.text).group(1)  # type: ignore[union-attr]
    token = re.search(r'name="csrf_token" value="([^"]+)"', done.text).group(1)  # type: ignore[union-attr]
    assert "Welcome back" in client.post(resub, data={"csrf_token": token}).text
    with Session(engine) as s:
        assert s.get(Subscriber, sub.id).status == "confirmed"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- CLI


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_subscribers_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.cli.subscribers import app as subscribers_cli
    from tracker.settings import reset_settings

    monkeypatch.setenv("TRACKER_SMTP_PORT", str(_closed_port()))
    reset_settings()
    run = CliRunner().invoke
    r = run(
        subscribers_cli, ["add", "Gil@Example.org", "--state", "ny", "--state", "ca", "--confirmed"]
    )
    assert r.exit_code == 0 and "added gil@example.org (confirmed)" in r.output
    r = run(subscribers_cli, ["add", "hal@example.org"])  # pending: tries the opt-in mail, warns
    assert r.exit_code == 0 and "added hal@example.org (pending)" in r.output
    assert "hal@example.org stays pending" in r.output
    assert "TRACKER_SMTP_HOST" in r.output and "TRACKER_SMTP_PORT" in r.output  # what to set
    r = run(subscribers_cli, ["add", "bad-address", "--confirmed"])
    assert r.exit_code == 1 and "exactly one '@'" in r.output

    r = run(subscribers_cli, ["list", "--status", "confirmed", "--format", "csv"])
    assert (
        r.exit_code == 0
        and "gil@example.org,confirmed,ca ny" in r.output
        and "hal@" not in r.output
    )

    out = tmp_path / "subs.csv"
    assert run(subscribers_cli, ["export", "--output", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[0].startswith("email,status,states,topics")

    source = tmp_path / "members.csv"
    source.write_text(
        "email,states,topics\nivy@example.org,vt|mn,single-payer\nnope,ny,\nhal@example.org,ca,\n"
    )
    r = run(subscribers_cli, ["import", str(source), "--confirmed"])
    assert r.exit_code == 1 and f"{source}:3: 'nope'" in r.output
    assert "imported 1 new, 1 updated, 1 rejected" in r.output
    r = run(subscribers_cli, ["list", "--format", "json"])
    assert '"email": "ivy@example.org"' in r.output and '"states": "mn vt"' in r.output

    assert run(subscribers_cli, ["remove", "ivy@example.org"]).exit_code == 0
    r = run(subscribers_cli, ["remove", "ivy@example.org"])
    assert r.exit_code == 1 and "no subscriber" in r.output
