"""Delivery against a real SMTP server on loopback (aiosmtpd, started here on a free port).

Covers connection reuse, retries with backoff on 4xx, 5xx bounces, reconnecting after the
server drops, and the whole journey: subscribe on the web, confirm from the mail, receive the
digest, leave by RFC 8058 one-click; plus a crash mid-run and a rerun sending each once.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select
from synthetic_digest_data import PERIOD, add_synthetic_subscribers, load_synthetic_week

from tracker import delivery, digest_preview, mail
from tracker.settings import get_settings, reset_settings
from tracker.subscription_models import DigestLedger, Subscriber
from tracker.web import subscribe as web_subscribe
from tracker.web.security import SecurityHeadersMiddleware


class Collector:
    """An aiosmtpd handler that keeps every message and can refuse recipients on cue; with
    `pipelining` its server offers PIPELINING (aiosmtpd does not by default; Postfix, Exim and
    the big providers do), and it notes how each transaction's commands arrived."""

    def __init__(self, pipelining: bool = False) -> None:
        self.pipelining = pipelining
        self.commands: list[str] = []  # MAIL, RCPT, DATA as they were handled
        self.mail_replies: list[str] = []  # replies to MAIL FROM to give, in order
        self.envelopes: list[tuple[str, list[str], list[str]]] = []  # from, to, MAIL options
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # the bytes as they arrived
        self.peers: list[tuple[str, int]] = []
        self.rcpt_replies: dict[str, list[str]] = {}  # address -> replies to give, in order
        self.always: dict[str, str] = {}  # address -> reply on every attempt
        self.data_replies: list[str] = []  # replies to a whole message to give, in order
        self.hold: threading.Event | None = None  # a message's answer waits for it (5 s at most)
        self.held: list[bool] = []  # whether each held answer got the event in time

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        self.commands.append("MAIL")
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.commands.append("RCPT")
        if address in self.always:
            return self.always[address]
        queue = self.rcpt_replies.get(address)
        if queue:
            return queue.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.commands.append("DATA")
        if self.hold is not None:
            loop = asyncio.get_running_loop()
            self.held.append(await loop.run_in_executor(None, self.hold.wait, 5))
        if self.data_replies:
            return self.data_replies.pop(0)
        options = [o.upper() for o in envelope.mail_options]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), options))
        self.raw.append(envelope.original_content or envelope.content)
        msg = email.message_from_bytes(self.raw[-1], policy=default_policy)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.peers.append(session.peer)
        return "250 Message accepted"

    def to(self) -> Counter[str]:
        return Counter(str(m["To"]) for m in self.messages)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["plain", "pipelining"])
def smtp(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback; every test runs against one without and one with
    PIPELINING (the transport sends both ways)."""
    handler = Collector(pipelining=request.param == "pipelining")
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("TRACKER_SMTP_RATE_PER_SECOND", "0")
    monkeypatch.setenv("TRACKER_BASE_URL", "https://tracker.example")
    reset_settings()
    handler.controller = controller  # type: ignore[attr-defined]
    yield handler
    handler.controller.stop()  # type: ignore[attr-defined]


def _transport(**kw) -> mail.SmtpTransport:  # type: ignore[no-untyped-def]
    kw.setdefault("sleep", lambda s: None)
    return mail.SmtpTransport.from_settings(**kw)


def _msg(to: str) -> EmailMessage:
    return mail.build_message(
        to=to,
        subject="Test",
        text="hello",
        html="<p>hello</p>",
        unsubscribe_url="https://tracker.example/unsubscribe/X",
    )


def test_one_connection_for_many_messages(smtp: Collector) -> None:
    with _transport() as t:
        for i in range(5):
            t.send(_msg(f"r{i}@example.org"), to=f"r{i}@example.org")
    assert t.connections == 1 and len(set(smtp.peers)) == 1 and len(smtp.messages) == 5
    m = smtp.messages[0]
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["List-Unsubscribe"].startswith("<https://tracker.example/unsubscribe/X>")
    assert m["Message-ID"] and m["Date"] and m["Reply-To"] == "tracker@example.org"
    assert m.is_multipart() and [p.get_content_type() for p in m.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


def test_temporary_failures_retry_with_backoff(smtp: Collector) -> None:
    smtp.rcpt_replies["slow@example.org"] = ["451 4.7.1 greylisted", "452 4.2.2 mailbox full"]
    waits: list[float] = []
    with _transport(sleep=waits.append, backoff_seconds=0.5) as t:
        t.send(_msg("slow@example.org"), to="slow@example.org")
    assert waits == [0.5, 1.0] and smtp.to() == {"slow@example.org": 1}

    smtp.always["never@example.org"] = "451 4.3.0 try later"
    with _transport(max_attempts=3) as t, pytest.raises(mail.TemporaryFailure, match="451"):
        t.send(_msg("never@example.org"), to="never@example.org")


def test_permanent_failure_is_not_retried(smtp: Collector) -> None:
    smtp.always["gone@example.org"] = "550 5.1.1 no such user"
    waits: list[float] = []
    with _transport(sleep=waits.append) as t:
        with pytest.raises(mail.PermanentFailure, match="550"):
            t.send(_msg("gone@example.org"), to="gone@example.org")
        t.send(_msg("ok@example.org"), to="ok@example.org")  # the connection is still usable
    assert waits == [] and smtp.to() == {"ok@example.org": 1} and t.connections == 1


def test_reconnects_when_the_server_drops(smtp: Collector) -> None:
    old = smtp.controller  # type: ignore[attr-defined]
    with _transport() as t:
        t.send(_msg("a@example.org"), to="a@example.org")
        old.stop()  # the server goes away and comes back on the same port
        smtp.controller = Controller(smtp, hostname="127.0.0.1", port=old.port)  # type: ignore[attr-defined]
        smtp.controller.start()  # type: ignore[attr-defined]
        t.send(_msg("b@example.org"), to="b@example.org")
    assert t.connections == 2 and smtp.to() == {"a@example.org": 1, "b@example.org": 1}


def test_pipelining_sends_a_message_in_two_writes_when_the_server_offers_it(
    smtp: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAIL, RCPT and DATA go out in one write where the server offers PIPELINING (then the
    message): two round trips instead of four; elsewhere one command at a time. The server
    gets the same transactions and the same bytes either way."""
    import smtplib

    writes: list[bytes] = []
    real_send = smtplib.SMTP.send

    def send(self: smtplib.SMTP, s: bytes | str) -> None:
        writes.append(s.encode() if isinstance(s, str) else s)
        real_send(self, s)

    monkeypatch.setattr(smtplib.SMTP, "send", send)
    body = b"Subject: dots\r\nMessage-ID: <dots@example.org>\r\n\r\nfirst\r\n.a dot\r\n..two\r\n.\r\nend\r\n"
    with _transport() as t:
        writes.clear()  # EHLO
        for i in range(3):
            t.send(mail.RawMessage(body, {"Message-ID": "<dots@example.org>"}), to=f"r{i}@x.org")
        per_message = len(writes) / 3
    assert smtp.commands == ["MAIL", "RCPT", "DATA"] * 3
    assert smtp.raw == [body] * 3  # dots stuffed on the way, unstuffed by the server
    assert smtp.envelopes == [
        (t.envelope_from, [f"r{i}@x.org"], [f"SIZE={len(body)}"]) for i in range(3)
    ]
    if smtp.pipelining:
        assert (
            per_message == 2
            and writes[0].startswith(b"MAIL FROM:<")
            and writes[0].endswith(b"DATA\r\n")
        )
        assert b"\r\n..a dot\r\n...two\r\n..\r\n" in writes[1] and writes[1].endswith(b"\r\n.\r\n")
    else:
        assert per_message == 4


def test_meanwhile_runs_once_while_the_server_takes_the_message(smtp: Collector) -> None:
    """`meanwhile` is called after the message is written and before the server's answer is
    read (the server holds its answer until `meanwhile` lets it go: the other order would
    wait out the hold), once whatever the attempts, and not at all when the server refuses
    before the message is written. What it raises comes out of `send` once the answer is
    read, never taken for a delivery failure: not retried, and the connection goes on."""
    calls: list[str] = []
    smtp.hold = threading.Event()

    def release() -> None:
        calls.append("a")
        smtp.hold.set()  # type: ignore[union-attr]

    with _transport() as t:
        started = time.monotonic()
        t.send(_msg("a@example.org"), to="a@example.org", meanwhile=release)
        assert smtp.held == [True] and time.monotonic() - started < 4
        smtp.hold = None
        t.send(_msg("b@example.org"), to="b@example.org", meanwhile=lambda: calls.append("b"))
        smtp.data_replies = ["452 4.3.1 insufficient storage"]  # refused after the message
        t.send(_msg("c@example.org"), to="c@example.org", meanwhile=lambda: calls.append("c"))
        smtp.always["gone@example.org"] = "550 5.1.1 no such user"  # before it
        with pytest.raises(mail.PermanentFailure):
            t.send(_msg("gone@example.org"), to="gone@example.org", meanwhile=lambda: 1 / 0)

        def boom() -> None:
            raise RuntimeError("the caller's own failure")

        with pytest.raises(RuntimeError, match="the caller's own failure"):
            t.send(_msg("d@example.org"), to="d@example.org", meanwhile=boom)
        t.send(_msg("e@example.org"), to="e@example.org")
    assert calls == ["a", "b", "c"]
    assert smtp.to() == {f"{x}@example.org": 1 for x in "abcde"}  # d too: delivered, then raised
    assert t.connections == 1


def test_a_message_refused_after_it_is_written_is_classified_and_the_connection_reset(
    smtp: Collector,
) -> None:
    """The answer to the message itself: 5xx is permanent, 4xx retried; either way the
    transaction is reset and the next message goes out on the same connection."""
    smtp.data_replies = ["554 5.6.0 message refused"]
    with _transport() as t:
        with pytest.raises(mail.PermanentFailure, match="554"):
            t.send(_msg("x@example.org"), to="x@example.org")
        t.send(_msg("y@example.org"), to="y@example.org")
    assert smtp.to() == {"y@example.org": 1} and t.connections == 1


@pytest.mark.parametrize("seed", range(4))
def test_dots_are_stuffed_as_smtplib_stuffs_them(seed: int) -> None:
    """:func:`mail.stuff_dots` gives what smtplib's regex gives, on lines of dots, CRs and
    LFs in any order (the edges: a dot first, a bare LF, a CR before the dot)."""
    import random

    rng = random.Random(seed)
    smtplib_regex = re.compile(rb"(?m)^\.")
    for _ in range(5000):
        data = bytes(rng.choice(b".\r\na") for _ in range(rng.randint(0, 14)))
        assert mail.stuff_dots(data) == smtplib_regex.sub(b"..", data), data


def test_a_refused_sender_is_retried_and_the_connection_reset(smtp: Collector) -> None:
    """A temporary refusal of MAIL FROM (pipelined, RCPT and DATA then fail too) is retried on
    the same connection, which was reset; a permanent one bounces and the next message goes."""
    smtp.mail_replies = ["451 4.3.0 try again later"]
    waits: list[float] = []
    with _transport(sleep=waits.append, backoff_seconds=0.5) as t:
        t.send(_msg("a@example.org"), to="a@example.org")
        smtp.mail_replies = ["550 5.7.1 sender refused"]
        with pytest.raises(mail.PermanentFailure, match="550"):
            t.send(_msg("b@example.org"), to="b@example.org")
        t.send(_msg("c@example.org"), to="c@example.org")
    assert waits == [0.5] and t.connections == 1
    assert smtp.to() == {"a@example.org": 1, "c@example.org": 1}


def test_a_closing_server_is_left_and_the_message_sent_on_a_new_connection(
    smtp: Collector,
) -> None:
    """421 (the server is closing the connection) to MAIL FROM: the transport drops the
    connection and the retry goes out on a new one, once."""
    smtp.mail_replies = ["421 4.3.2 shutting down"]
    with _transport() as t:
        t.send(_msg("a@example.org"), to="a@example.org")
    assert t.connections == 2 and smtp.to() == {"a@example.org": 1}
    assert smtp.commands.count("MAIL") == 2


def test_rate_limit_paces_messages(smtp: Collector) -> None:
    started = time.monotonic()
    with mail.SmtpTransport.from_settings(rate_per_second=40) as t:
        for i in range(5):
            t.send(_msg(f"r{i}@example.org"), to=f"r{i}@example.org")
    assert time.monotonic() - started >= 4 / 40 - 0.01


def test_credentials_are_not_sent_in_clear_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="clear text"):
        mail.SmtpTransport(
            host="smtp.example.org", port=25, user="u", password="p", envelope_from="d@example.org"
        )


# ----------------------------------------------------------------------------- journeys


def _app(engine) -> FastAPI:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(web_subscribe.router)
    app.state.engine = engine
    web_subscribe.reset_limits()
    return app


def _link(msg: EmailMessage, purpose: str) -> str:
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"https://tracker\.example(/{purpose}/[\w.\-]+)", text)
    assert found, f"no {purpose} link in:\n{text}"
    return found.group(1)


def test_subscribe_confirm_digest_one_click_unsubscribe(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    client = TestClient(_app(engine), base_url="https://testserver")
    form = client.get("/subscribe/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/subscribe/",
        data={
            "csrf_token": token,
            "email": "Ann@Example.org",
            "states": ["ny", "ma"],
            "detail": "full",
        },
    )
    assert r.status_code == 200 and "Check your inbox" in r.text
    (confirm_mail,) = smtp.messages
    assert confirm_mail["To"] == "ann@example.org" and "List-Unsubscribe" not in confirm_mail

    path = _link(confirm_mail, "confirm")
    assert "Yes, send me" in client.get(path).text  # GET only shows a button
    assert client.post(path).status_code == 200

    with _transport() as t:
        report = delivery.send_digests(engine, period=PERIOD, transport=t)
    assert report.sent == 1
    digest_mail = smtp.messages[-1]
    assert "S 1234" in digest_mail["Subject"] or "New York" in digest_mail["Subject"]
    header = digest_mail["List-Unsubscribe"]
    one_click = re.search(r"<https://tracker\.example(/unsubscribe/[^>]+)>", header).group(1)  # type: ignore[union-attr]
    assert one_click == _link(digest_mail, "unsubscribe")

    # RFC 8058: a mail client POSTs this body, with no cookie and no CSRF token
    fresh = TestClient(_app(engine), base_url="https://testserver")
    r = fresh.post(
        one_click,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "unsubscribed" in r.text
    with engine.connect() as conn:
        assert conn.execute(select(Subscriber.status)).scalar() == "unsubscribed"
    with _transport() as t:
        assert delivery.send_digests(engine, period="2025-W11", transport=t).sent == 0


def test_bounces_mark_the_address_after_the_threshold(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"email": "gone@example.org"}, {"email": "ok@example.org"}])
    smtp.always["gone@example.org"] = "550 5.1.1 user unknown"
    for period, expected in (("2025-W10", "confirmed"), ("2025-W11", "bouncing")):
        with _transport() as t:
            report = delivery.send_digests(engine, period=period, transport=t, bounce_threshold=2)
        assert report.bounced == 1 and report.sent == 1
        with engine.connect() as conn:
            row = conn.execute(
                select(Subscriber.status, Subscriber.bounce_count).where(
                    Subscriber.email == "gone@example.org"
                )
            ).one()
        assert row.status == expected
    assert row.bounce_count == 2
    with _transport() as t:  # a bouncing address gets nothing more
        assert delivery.send_digests(engine, period="2025-W12", transport=t).bounced == 0
    assert smtp.to() == {"ok@example.org": 3}


def test_temporary_failure_is_retried_by_a_rerun(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"email": "busy@example.org"}])
    smtp.always["busy@example.org"] = "451 4.3.2 system busy"
    with _transport(max_attempts=2) as t:
        assert delivery.send_digests(engine, period=PERIOD, transport=t).failed == 1
    del smtp.always["busy@example.org"]
    with _transport() as t:
        assert delivery.send_digests(engine, period=PERIOD, transport=t).sent == 1
    assert smtp.to() == {"busy@example.org": 1}


class CrashAfter(mail.SmtpTransport):
    """Dies right after the n-th message was accepted, before the ledger hears of it: the
    worst moment for duplicates."""

    def __init__(self, n: int, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kw)
        self.n = n

    def send(self, msg: EmailMessage, *, to: str, **kw: Any) -> None:
        super().send(msg, to=to, **kw)
        self.n -= 1
        if self.n == 0:
            raise RuntimeError("simulated crash")


def _ids_by_address(smtp: Collector) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in smtp.messages:
        out.setdefault(str(m["To"]), []).append(str(m["Message-ID"]))
    return out


def test_crash_mid_run_then_rerun_sends_each_subscriber_once(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    """The sender dies right after the server accepted r2's digest, before the ledger heard of
    it. The rerun sends the rest once and resolves r2 (uncertain) by sending the SAME message
    again: same Message-ID, so a mail system or reader recognises the copy. Nobody gets a
    second, different message, and nobody is left out."""
    load_synthetic_week(engine)
    ids = add_synthetic_subscribers(engine, [{"email": f"r{i}@example.org"} for i in range(8)])
    settings = get_settings()
    base = dict(
        host=settings.smtp_host, port=settings.smtp_port, envelope_from="digest@example.org"
    )
    with CrashAfter(3, **base) as t, pytest.raises(RuntimeError, match="simulated crash"):
        delivery.send_digests(engine, period=PERIOD, transport=t)
    assert len(smtp.messages) == 3
    with engine.connect() as conn:  # known outcomes kept; the rest of the group released
        ledger = dict(conn.execute(select(DigestLedger.subscriber_id, DigestLedger.status)).all())
    assert ledger == {ids[0]: "sent", ids[1]: "sent", ids[2]: "sending"}

    with _transport() as t:
        report = delivery.send_digests(engine, period=PERIOD, transport=t)
    assert (report.sent, report.already, report.uncertain) == (
        6,
        2,
        1,
    )  # sent: 5 never tried + the uncertain one; already: r0, r1
    sent_ids = _ids_by_address(smtp)
    assert {a: len(v) for a, v in sent_ids.items()} == {
        f"r{i}@example.org": 2 if i == 2 else 1 for i in range(8)
    }
    first, again = sent_ids["r2@example.org"]
    assert first == again == delivery.digest_message_id(ids[2], PERIOD, settings)
    assert len({v[0] for v in sent_ids.values()}) == 8  # one Message-ID per subscriber
    with engine.connect() as conn:
        rows = {
            r.subscriber_id: r
            for r in conn.execute(select(DigestLedger)).all()  # type: ignore[call-overload]
        }
    assert all(r.status == "sent" for r in rows.values()) and len(rows) == 8
    assert rows[ids[2]].error == delivery.RESENT and rows[ids[2]].attempts == 2
    assert rows[ids[3]].error == "" and rows[ids[3]].attempts == 1

    with _transport() as t:  # a third run has nothing left to do
        assert delivery.send_digests(engine, period=PERIOD, transport=t).sent == 0
    assert len(smtp.messages) == 9


def test_hard_kill_resends_the_group_with_the_same_message_ids(
    engine, smtp: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A hard kill (no exception handling runs) in the middle of a ledger group leaves the
    group's rows `sending`. The next run resends each with its first Message-ID: the copies of
    the three the server had accepted are recognisable, and the five it had not get theirs."""
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"email": f"k{i}@example.org"} for i in range(8)])
    settings = get_settings()
    base = dict(
        host=settings.smtp_host, port=settings.smtp_port, envelope_from="digest@example.org"
    )
    # what a SIGKILL skips: writing the known outcomes and releasing the untried rows
    monkeypatch.setattr(delivery._Sender, "_write_outcomes", lambda self, conn: None)
    monkeypatch.setattr(delivery, "_release", lambda conn, period, items: None)
    with CrashAfter(3, **base) as t, pytest.raises(RuntimeError, match="simulated crash"):
        delivery.send_digests(engine, period=PERIOD, transport=t, ledger_group=16)
    monkeypatch.undo()
    with engine.connect() as conn:  # (the groups hold what was rendered when they formed)
        left = list(conn.execute(select(DigestLedger.status)).scalars())
    assert set(left) == {"sending"} and 3 <= len(left) <= 8
    dry = delivery.send_digests(engine, period=PERIOD, transport=None, dry_run=True)
    assert (dry.would_send, dry.already) == (8, 0)  # what the real rerun will send

    with _transport() as t:
        report = delivery.send_digests(engine, period=PERIOD, transport=t)
    assert (report.uncertain, report.sent, report.already) == (len(left), 8, 0)
    sent_ids = _ids_by_address(smtp)
    assert {a: len(v) for a, v in sent_ids.items()} == {
        f"k{i}@example.org": 2 if i < 3 else 1 for i in range(8)
    }
    assert all(len(set(v)) == 1 for v in sent_ids.values())  # a copy is the same message


def test_sent_urls_point_at_the_site(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"states": ["ny"]}])
    with _transport() as t:
        delivery.send_digests(engine, period=PERIOD, transport=t)
    html = smtp.messages[0].get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    hosts = {urlsplit(u).netloc for u in re.findall(r'href="(https?://[^"]+)"', html)}
    assert hosts == {"tracker.example", "www.nysenate.gov"}


def _parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")  # a CR or LF that is not part of a CRLF


def _strictly_parsed(raw: bytes) -> EmailMessage:
    """What a strict server checks: CRLF line ends only, short 7-bit lines, no defects."""
    assert BARE.search(raw) is None, BARE.search(raw)
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert all(not part.defects for part in msg.walk()), [p.defects for p in msg.walk()]
    return msg  # type: ignore[return-value]


def test_every_header_folds_with_crlf_and_list_unsubscribe_stays_readable() -> None:
    url = "https://t.example/unsubscribe/" + "eyJpZCI6MX0.Zxyz." + "a" * 60
    subject = "2 bills moved: New York, Massachusetts, Vermont and more (Mar 3 – Mar 9, 2025)"
    text = "Ünïcode – “quotes” and a line\n.leading dot\n" + "long " * 300 + "\n"
    msg = mail.build_message(
        to="ann@example.org",
        subject=subject,
        text=text,
        html="<p>Ünïcode – “quotes”</p>\n",
        unsubscribe_url=url,
    )
    raw = mail.as_bytes(msg)
    m = _strictly_parsed(raw)
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]  # the subject was encoded and folded
    assert m["Subject"] == subject and m["Message-ID"] == msg["Message-ID"]
    assert f"List-Unsubscribe: <{url}>,\r\n <mailto:".encode() in raw
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, rich = m.get_body(("plain",)), m.get_body(("html",))
    assert plain.get_content().replace("\r\n", "\n") == text  # type: ignore[union-attr]
    assert "Ünïcode – “quotes”" in rich.get_content()  # type: ignore[union-attr]
    assert {p["Content-Transfer-Encoding"] for p in m.iter_parts()} == {"quoted-printable"}
    with pytest.raises(ValueError, match="linefeed"):
        mail.build_message(
            to="a@example.org", subject="evil\r\nBcc: x@example.org", text="t", html="h"
        )
    idn = mail.build_message(to="u@bücher.example", subject="s", text="t", html="h")
    assert _strictly_parsed(mail.as_bytes(idn))["To"] == "u@xn--bcher-kva.example"


def test_a_sent_digest_passes_a_strict_parse(engine, smtp: Collector) -> None:  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"email": "ann@example.org"}])
    with _transport() as t:
        assert delivery.send_digests(engine, period=PERIOD, transport=t).sent == 1
    (raw,) = smtp.raw
    m = _strictly_parsed(raw)
    subject = m["Subject"]
    assert "–" in subject and len(subject) > 76  # long and non-ASCII: it had to fold
    header = m["List-Unsubscribe"]
    assert re.fullmatch(r"<https://tracker\.example/unsubscribe/[\w.\-]+>, <mailto:[^>]+>", header)
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert _link(m, "unsubscribe") in header


def _without_date_and_id(raw: bytes) -> bytes:
    return re.sub(rb"(?m)^(Date|Message-ID): [^\r]*\r\n", b"", raw)


def test_preview_is_byte_for_byte_what_send_sends(
    engine, smtp: Collector, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # signed links carry the second they were made: one clock for both
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_741_000_000)
    load_synthetic_week(engine)
    add_synthetic_subscribers(engine, [{"email": "ann@example.org", "states": ["ny", "ma"]}])
    preview = digest_preview.write_preview(
        engine, email="ann@example.org", period=PERIOD, out=tmp_path
    )
    with _transport() as t:
        assert delivery.send_digests(engine, period=PERIOD, transport=t).sent == 1
    (sent,) = smtp.raw
    written = preview.stem.with_suffix(".eml").read_bytes()
    assert _without_date_and_id(written) == _without_date_and_id(sent)
    assert written != sent  # only because Date/Message-ID differ; both really were removed
    assert _strictly_parsed(written)["Subject"] == preview.subject


def test_internationalised_domain_is_delivered_as_punycode(smtp: Collector) -> None:
    with _transport() as t:
        t.send(_msg("u@bücher.example"), to="u@bücher.example")
    assert smtp.to() == {"u@xn--bcher-kva.example": 1}


def test_non_ascii_digest_arrives_intact(smtp: Collector) -> None:
    msg = mail.build_message(
        to="ann@example.org",
        subject="Quiet week – Mar 3",
        text="Zoë’s bill\n",
        html="<p>Zoë’s bill</p>\n",
        unsubscribe_url="https://t.example/unsubscribe/T",
    )
    with _transport() as t:
        t.send(msg, to="ann@example.org")
    (m,) = smtp.messages
    assert m["Subject"] == "Quiet week – Mar 3"
    assert m.get_body(("plain",)).get_content().strip() == "Zoë’s bill"  # type: ignore[union-attr]
    assert smtp.raw == [mail.as_bytes(msg)]


# ----------------------------------------------------------------------------- tracker mail test


def test_mail_test_sends_one_message_through_the_configured_server(smtp: Collector) -> None:
    from typer.testing import CliRunner

    from tracker.cli import app

    result = CliRunner().invoke(app, ["mail", "test", "ann@example.org"])
    assert result.exit_code == 0, result.output
    assert f"127.0.0.1:{smtp.controller.port}" in result.stdout  # type: ignore[attr-defined]
    (msg,) = smtp.messages
    assert msg["To"] == "ann@example.org" and "test message" in msg["Subject"]
    assert "If you can read it" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_mail_test_without_a_server_names_the_settings_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from tracker.cli import app

    monkeypatch.setenv("TRACKER_SMTP_PORT", str(_free_port()))  # nobody listens there
    reset_settings()
    result = CliRunner().invoke(app, ["mail", "test", "ann@example.org"])
    assert result.exit_code == 1
    assert "TRACKER_SMTP_HOST" in result.output and "TRACKER_SMTP_PORT" in result.output
    assert "python -m aiosmtpd -n -l 127.0.0.1:8025" in result.output


def test_production_refuses_a_base_url_that_is_not_https(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.cli.errors import explain
    from tracker.settings import SettingsError
    from tracker.web.app import create_app

    monkeypatch.setenv("TRACKER_ENVIRONMENT", "production")
    monkeypatch.setenv("TRACKER_SECRET_KEY", "a-real-secret-for-this-test")
    monkeypatch.setenv("TRACKER_BASE_URL", "http://tracker.example")
    reset_settings()
    with pytest.raises(SettingsError, match="TRACKER_BASE_URL.*https://") as refused:
        _msg("ann@example.org")
    assert explain(refused.value) == (str(refused.value), 2)  # one paragraph, exit 2
    with pytest.raises(SettingsError, match="TRACKER_BASE_URL"):
        create_app()
    # mail without an unsubscribe link (an alert, the test mail) is not held up by it
    assert mail.build_message(to="ops@example.org", subject="s", text="t", html="h")["To"]

    monkeypatch.setenv("TRACKER_BASE_URL", "https://tracker.example")
    reset_settings()
    assert _msg("ann@example.org")["List-Unsubscribe"].startswith("<https://tracker.example/")


def test_ctrl_c_during_digest_send_says_what_is_left_and_a_rerun_sends_it(
    engine, smtp: Collector
) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while the server takes in the first digest: `tracker digest send` exits 130 at
    once (the connection dropped, not waiting for the server) with what the ledger holds and
    what to run; that message stays `sending` (it may have
    arrived), the others were never tried and are left to the rerun, which sends each one
    once, the uncertain one with its first Message-ID."""
    load_synthetic_week(engine)
    addresses = [f"c{i}@example.org" for i in range(3)]
    ids = dict(
        zip(
            addresses,
            add_synthetic_subscribers(engine, [{"email": a} for a in addresses]),
            strict=True,
        )
    )
    smtp.hold = threading.Event()  # the first message's answer waits
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "digest", "send", "--period", PERIOD],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a shell's background job ignores SIGINT; this is the terminal's foreground one
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while "DATA" not in smtp.commands and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "DATA" in smtp.commands, "the digest never reached the server"
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        out, _ = proc.communicate(timeout=10)
        # the connection is dropped, not QUIT politely: that would wait out the server's hold
        assert time.monotonic() - pressed < 3, "Ctrl-C waited for the server's answer"
    finally:
        smtp.hold.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert f"interrupted: {PERIOD} so far: nothing sent." in out
    assert "1 message may or may not have arrived: the next run resends it with the same" in out
    assert f"tracker digest send --period {PERIOD}` again" in out
    assert "Traceback" not in out
    with engine.connect() as conn:
        assert list(conn.execute(select(DigestLedger.status)).scalars()) == ["sending"]

    with _transport() as t:
        report = delivery.send_digests(engine, period=PERIOD, transport=t)
    assert (report.uncertain, report.sent) == (1, 3)
    # the server never answered the held message: a dropped connection ends its transaction
    # (aiosmtpd, like Postfix, keeps no message it did not answer), so each arrives once
    assert _ids_by_address(smtp) == {
        a: [delivery.digest_message_id(i, PERIOD, get_settings())] for a, i in ids.items()
    }
    with engine.connect() as conn:
        notes = dict(conn.execute(select(DigestLedger.subscriber_id, DigestLedger.error)).all())
    assert notes == {i: delivery.RESENT if a == "c0@example.org" else "" for a, i in ids.items()}
