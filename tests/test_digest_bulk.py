"""Digests in bulk: one rendered (and quoted-printable encoded) body per set of choices with only
the personal links and address filled in per subscriber, the bulk message writer against the
general message builder, and the ledger written in groups."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from sqlalchemy import event, select
from synthetic_digest_data import (
    EVIL_SPONSOR,
    PERIOD,
    add_synthetic_subscribers,
    load_synthetic_week,
)

from tracker import delivery, digest, digest_render, mail, subscriptions
from tracker.settings import get_settings
from tracker.subscription_models import DigestLedger

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@pytest.fixture
def week(engine):  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    with engine.connect() as conn:
        return digest.load_week(conn, period=PERIOD)


def _parts(raw: bytes) -> tuple[EmailMessage, str, str]:
    assert BARE.search(raw) is None and raw.isascii()
    assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    msg: EmailMessage = email.message_from_bytes(raw, policy=email.policy.strict)  # type: ignore[assignment]
    assert all(not part.defects for part in msg.walk())
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    return msg, text, html


class Row:
    def __init__(self, id: int, email: str) -> None:  # noqa: A002
        self.id, self.email = id, email


def test_same_choices_share_one_body_with_their_own_links(week: digest.Week) -> None:
    settings = get_settings()
    renderer = digest_render.DigestRenderer(week)
    prefs = subscriptions.make_preferences(states=["ny"])
    a_row, b_row = Row(1, "ann@example.org"), Row(2, "o'neil+x@example.org")
    # the links carry the second they were signed: made once here, so a slow run cannot differ
    a_links = delivery.digest_links(a_row, settings)
    b_links = delivery.digest_links(b_row, settings)
    _, a = delivery.digest_message(
        a_row, prefs=prefs, renderer=renderer, settings=settings, links=a_links
    )
    _, b = delivery.digest_message(
        b_row, prefs=prefs, renderer=renderer, settings=settings, links=b_links
    )
    assert renderer.renderings == 1  # one rendering served both
    a_msg, a_text, a_html = _parts(mail.as_bytes(a))
    b_msg, b_text, b_html = _parts(mail.as_bytes(b))
    assert a_links["unsubscribe_url"] != b_links["unsubscribe_url"]
    # each has its own links and address, and not the other's
    assert a_links["unsubscribe_url"] in a_html and b_links["unsubscribe_url"] not in a_html
    assert b_links["manage_url"] in b_text and "o'neil+x@example.org" in b_text
    assert "o&#39;neil+x@example.org" in b_html  # the address escaped in the HTML part
    assert a_links["unsubscribe_url"] in str(a_msg["List-Unsubscribe"])
    # apart from those, the same body
    personal = [*a_links.values(), *b_links.values()]

    def generic(body: str) -> str:
        for value in personal:
            body = body.replace(value, "LINK")
        for address in ("ann@example.org", "o&#39;neil+x@example.org", "o'neil+x@example.org"):
            body = body.replace(address, "ADDRESS")
        return body

    assert generic(a_html) == generic(b_html) and generic(a_text) == generic(b_text)
    # the decoded message is exactly what render() gives (CRLF aside)
    rendered = renderer.render(prefs, email=b_row.email, **b_links)
    assert b_html.replace("\r\n", "\n").rstrip("\n") == rendered.html.rstrip("\n")
    assert a_msg["Message-ID"] != b_msg["Message-ID"]


def test_shared_body_keeps_scraped_text_escaped(week: digest.Week) -> None:
    renderer = digest_render.DigestRenderer(week)
    _, msg = delivery.digest_message(
        Row(7, "ann@example.org"),
        prefs=subscriptions.make_preferences(states=["ny"]),
        renderer=renderer,
        settings=get_settings(),
    )
    _, text, html = _parts(mail.as_bytes(msg))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert "<img src=x" not in html and "O&#39;Neil &lt;img" in html
    assert 'New York Health Act <script>alert("x")</script>' in text  # plain text: as written
    assert EVIL_SPONSOR.split("<")[0].strip() in text


def test_encoded_body_decodes_to_the_pieces_and_values() -> None:
    long_line = "é" * 60 + " word " * 30 + " "
    body = mail.EncodedBody((long_line, "\nmiddle =_ dots\n.\n", "end"), ("url", "email"))
    filled = body.fill({"url": "https://t.example/" + "x" * 120 + "?a=b&c=d", "email": "a@b.c "})
    assert all(len(line) <= 76 for line in filled.split(b"\r\n"))
    assert b"=_" not in filled.replace(b"=\r\n", b"")
    decoded = email.message_from_bytes(
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + filled,
        policy=email.policy.default,
    ).get_content()  # type: ignore[attr-defined]
    decoded = decoded.replace("\r\n", "\n")
    expected = long_line + "https://t.example/" + "x" * 120 + "?a=b&c=d" + "\nmiddle =_ dots\n.\n"
    assert decoded == expected + "a@b.c end"


@pytest.mark.parametrize(
    "to, subject",
    [
        ("ann@example.org", "2 bills moved: New York"),
        ("u@bücher.example", "Quiet week — nothing moved in Nueva España " + "long " * 20),
        ("first.last+tag@sub.example.org", "x" * 200),
    ],
)
def test_bulk_message_has_the_headers_build_message_writes(to: str, subject: str) -> None:
    settings = get_settings()
    unsubscribe = "https://tracker.example/unsubscribe/" + "T" * 90
    message_id = delivery.digest_message_id(42, PERIOD, settings)
    general = mail.build_message(
        to=to,
        subject=subject,
        text="hello",
        html="<p>hello</p>",
        unsubscribe_url=unsubscribe,
        settings=settings,
        message_id=message_id,
    )
    text, html = mail.EncodedBody(("hello",), ()), mail.EncodedBody(("<p>hello</p>",), ())
    bulk = mail.build_bulk_message(
        to=to,
        subject=subject,
        text=text.fill({}),
        html=html.fill({}),
        boundary="=_spt_test",
        unsubscribe_url=unsubscribe,
        message_id=message_id,
        settings=settings,
    )
    g_raw, b_raw = mail.as_bytes(general), mail.as_bytes(bulk)
    g_head, b_head = (raw.split(b"\r\n\r\n", 1)[0] for raw in (g_raw, b_raw))
    strip = re.compile(rb"(?m)^(Date: [^\r]*|Content-Type: .*(\r\n .*)*)\r\n")
    assert strip.sub(b"", g_head + b"\r\n") == strip.sub(b"", b_head + b"\r\n")
    _, b_text, b_html = _parts(b_raw)
    g_msg: EmailMessage = email.message_from_bytes(g_raw, policy=email.policy.default)  # type: ignore[assignment]
    assert g_msg.get_body(preferencelist=("plain",)).get_content() == b_text  # type: ignore[union-attr]
    assert g_msg.get_body(preferencelist=("html",)).get_content() == b_html  # type: ignore[union-attr]
    assert bulk["Message-ID"] == message_id and str(g_msg["Message-ID"]) == message_id


def test_bulk_message_refuses_what_build_message_refuses() -> None:
    settings = get_settings()
    with pytest.raises(Exception) as general:  # noqa: PT011 - the same error, whatever it is
        mail.build_message(to="josé@example.org", subject="x", text="a", html="b")
    with pytest.raises(type(general.value)):
        mail.build_bulk_message(
            to="josé@example.org",
            subject="x",
            text=b"a",
            html=b"b",
            boundary="=_spt_x",
            unsubscribe_url="https://tracker.example/u",
            message_id="<a@example.org>",
            settings=settings,
        )


def test_message_id_is_one_per_subscriber_and_week() -> None:
    settings = get_settings()
    ids = {delivery.digest_message_id(s, p, settings) for s in (1, 2) for p in (PERIOD, "2025-W12")}
    assert len(ids) == 4 and delivery.digest_message_id(1, PERIOD, settings) in ids
    assert delivery.digest_message_id(1, PERIOD, settings, preview=True) not in ids
    assert all(re.fullmatch(r"<[\w.+-]+@[\w.-]+>", i) for i in ids)


class ListTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, msg: object, *, to: str, meanwhile: Callable[[], object] | None = None) -> None:
        self.sent.append(mail.as_bytes(msg))  # type: ignore[arg-type]
        if meanwhile is not None:
            meanwhile()


def test_ledger_is_written_in_groups(engine) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    ids = add_synthetic_subscribers(
        engine, [{"email": f"g{i}@example.org", "states": ["ny"]} for i in range(40)]
    )
    commits: list[int] = []

    def count(conn: object) -> None:
        commits.append(1)

    event.listen(engine, "commit", count)
    try:
        report = delivery.send_digests(
            engine, period=PERIOD, transport=ListTransport(), ledger_group=16
        )
        grouped = len(commits)
        commits.clear()
        with engine.begin() as conn:
            conn.execute(DigestLedger.__table__.delete())
        delivery.send_digests(engine, period=PERIOD, transport=ListTransport(), ledger_group=1)
        one_by_one = len(commits)
    finally:
        event.remove(engine, "commit", count)
    assert report.sent == 40
    assert grouped < 12 and one_by_one >= 40  # 40 messages: a few group commits vs one each
    with engine.connect() as conn:
        rows = conn.execute(
            select(DigestLedger.subscriber_id, DigestLedger.status, DigestLedger.message_id)
        ).all()
    settings = get_settings()
    assert sorted(r.subscriber_id for r in rows) == sorted(ids)
    assert all(r.status == "sent" for r in rows)
    assert all(
        r.message_id == delivery.digest_message_id(r.subscriber_id, PERIOD, settings) for r in rows
    )


class OrderTransport:
    """Notes when each message is written and when its answer comes, calling `meanwhile` in
    between as the SMTP transport does."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events

    def send(self, msg: object, *, to: str, meanwhile: Callable[[], object] | None = None) -> None:
        self.events.append(("write", to))
        if meanwhile is not None:
            meanwhile()
        self.events.append(("answer", to))


def test_each_message_is_built_while_the_server_takes_the_one_before(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Every message but the first is built between the write of the message before it and
    that message's answer, across ledger groups too (the next group's first during the last
    of the group before); none is built twice, and a dry run still builds every one."""
    load_synthetic_week(engine)
    add_synthetic_subscribers(
        engine, [{"email": f"o{i:02d}@example.org", "states": ["ny"]} for i in range(40)]
    )
    events: list[tuple[str, str]] = []
    real = delivery.digest_message

    def logged(subscriber, **kw):  # type: ignore[no-untyped-def]
        events.append(("build", subscriber.email))
        return real(subscriber, **kw)

    monkeypatch.setattr(delivery, "digest_message", logged)
    report = delivery.send_digests(
        engine, period=PERIOD, transport=OrderTransport(events), ledger_group=16
    )
    assert report.sent == 40
    writes = [to for kind, to in events if kind == "write"]
    assert [to for kind, to in events if kind == "build"] == writes  # each once, in order
    for before, after in zip(writes, writes[1:], strict=False):
        built = events.index(("build", after))
        assert events.index(("write", before)) < built < events.index(("answer", before))

    events.clear()
    with engine.begin() as conn:
        conn.execute(DigestLedger.__table__.delete())
    dry = delivery.send_digests(engine, period=PERIOD, transport=None, dry_run=True)
    assert dry.would_send == 40 and len(events) == 40  # built (checked), nothing written
