"""Building and delivering mail: one context -> HTML + plain text parts, then SMTP.

Messages carry the headers bulk mail needs to be trusted and easy to leave: Message-ID, Date,
Reply-To, List-Unsubscribe with an https link (and a mailto) and RFC 8058
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.

:class:`SmtpTransport` keeps ONE connection for a whole run, paces itself to a rate limit,
retries temporary (4xx) failures with exponential backoff, reconnects when the server drops
the connection, and reports permanent (5xx) refusals as :class:`PermanentFailure` so the caller
can count a bounce.
"""

from __future__ import annotations

import binascii
import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache
from typing import Any

import idna

from tracker import subscriptions
from tracker.settings import Settings, get_settings
from tracker.subscription_models import Subscriber
from tracker.templating import get_env

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class DeliveryError(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code or 'no code'}: {message}")
        self.code = code


class PermanentFailure(DeliveryError):
    """The server refused the message for good (5xx)."""


class TemporaryFailure(DeliveryError):
    """Still failing after every retry (4xx, dropped connections, timeouts)."""


# ----------------------------------------------------------------------------- building


def ascii_address(address: str) -> str:
    """The address with an internationalised domain in its ASCII (punycode) form."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    settings: Settings | None = None,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message with the list headers when `unsubscribe_url` is given."""
    settings = settings or get_settings()
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = Address(addr_spec=ascii_address(to))
    msg["Reply-To"] = settings.mail_reply_to or settings.contact_email
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring="spt", domain=_domain(settings))
    if unsubscribe_url:
        reply = settings.mail_reply_to or settings.contact_email
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{reply}?subject=unsubscribe>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = f"Single-Payer Tracker digest <digest.{_domain(settings)}>"
        msg["Precedence"] = "bulk"
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


MAX_LINE = 998  # RFC 5321: longer lines must be encoded


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A digest message assembled without the ``email`` package (the fast path).

    Parts are sent as 8bit when the server offers 8BITMIME and no line is too long (fewer,
    natural lines: much less work for the receiving server), else as quoted-printable
    (``binascii``, in C).
    """

    headers: str
    boundary: str
    text: str
    html: str
    message_id: str
    to: str

    def __getitem__(self, name: str) -> str | None:  # msg["Message-ID"], like EmailMessage
        return self.message_id if name.lower() == "message-id" else None

    def as_bytes(self, *, eight_bit: bool = False) -> tuple[bytes, bool]:
        """The message, and whether it needs ``BODY=8BITMIME``."""
        chunks, used_8bit = [self.headers.encode("ascii"), b"\r\n\r\n"], False
        for subtype, body in (("plain", self.text), ("html", self.html)):
            data = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
            as_8bit = eight_bit and max(map(len, data.split(b"\n"))) <= MAX_LINE
            used_8bit |= as_8bit and not data.isascii()
            chunks += [
                f'--{self.boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                f"Content-Transfer-Encoding: {_cte(as_8bit, data)}"
                "\r\n\r\n".encode("ascii"),
                (data if as_8bit else binascii.b2a_qp(data, istext=True)).replace(b"\n", b"\r\n"),
                b"\r\n",
            ]
        chunks.append(f"--{self.boundary}--\r\n".encode("ascii"))
        return b"".join(chunks), used_8bit

    @property
    def data(self) -> bytes:
        return self.as_bytes()[0]


def _cte(as_8bit: bool, data: bytes) -> str:
    if not as_8bit:
        return "quoted-printable"
    return "7bit" if data.isascii() else "8bit"


@lru_cache(maxsize=64)
def _encoded_header(value: str) -> str:
    """RFC 2047-encode a header value only when it is not plain ASCII."""
    if any(c in value for c in "\r\n"):
        raise ValueError(f"line break in a mail header: {value!r}")
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=76)


@lru_cache(maxsize=8)
def _encoded_address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def build_raw_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    unsubscribe_url: str,
    settings: Settings | None = None,
) -> RawMessage | EmailMessage:
    """The same message as :func:`build_message` (list headers included), assembled directly.

    The standard library's ``email`` package spends most of a digest run folding headers and
    encoding parts; here headers are ASCII or encoded once and cached. Addresses that need
    SMTPUTF8 take the general path.
    """
    settings = settings or get_settings()
    to = ascii_address(to)
    if not to.isascii() or any(c in to + unsubscribe_url for c in "\r\n<>"):
        return build_message(
            to=to,
            subject=subject,
            text=text,
            html=html,
            settings=settings,
            unsubscribe_url=unsubscribe_url,
        )
    domain = _domain(settings)
    reply = settings.mail_reply_to or settings.contact_email
    message_id = make_msgid(idstring="spt", domain=domain)
    boundary = "=_spt_" + secrets.token_hex(12)
    headers = "\r\n".join(
        (
            f"Subject: {_encoded_header(subject)}",
            f"From: {_encoded_address(settings.mail_from)}",
            f"To: {to}",
            f"Reply-To: {_encoded_address(reply)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {message_id}",
            f"List-Unsubscribe: <{unsubscribe_url}>,\r\n <mailto:{reply}?subject=unsubscribe>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            f"List-Id: Single-Payer Tracker digest <digest.{domain}>",
            "Precedence: bulk",
            "Auto-Submitted: auto-generated",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        )
    )
    return RawMessage(headers, boundary, text, html, message_id, to)


def render_pair(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render ``email/<name>.html`` and ``email/<name>.txt`` from one context."""
    env = get_env()
    return (
        env.get_template(f"email/{name}.html").render(context),
        env.get_template(f"email/{name}.txt").render(context),
    )


def site_context(settings: Settings) -> dict[str, str]:
    return {
        "base_url": settings.base_url.rstrip("/"),
        "postal_address": settings.org_postal_address,
        "reply_to": settings.mail_reply_to or settings.contact_email,
    }


def subscription_message(
    subscriber: Subscriber, *, kind: str, settings: Settings | None = None
) -> EmailMessage:
    """The mail answering a sign-up: ``confirm`` (opt-in link) or ``already`` (manage link)."""
    settings = settings or get_settings()
    links = {
        "confirm_url": subscriptions.link(subscriber, "confirm", settings=settings),
        "manage_url": subscriptions.link(subscriber, "manage", settings=settings),
        "unsubscribe_url": subscriptions.link(subscriber, "unsubscribe", settings=settings),
    }
    context = {
        "kind": kind,
        "links": links,
        "site": site_context(settings),
        "email": subscriber.email,
    }
    html, text = render_pair("confirm", context)
    subject = (
        "Please confirm your Single-Payer Tracker digest"
        if kind == "confirm"
        else "Your Single-Payer Tracker digest subscription"
    )
    return build_message(
        to=subscriber.email, subject=subject, text=text, html=html, settings=settings
    )


# ----------------------------------------------------------------------------- delivery


class SmtpTransport:
    """One SMTP connection reused for many messages, with pacing, retries and reconnects."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str = "none",
        user: str | None = None,
        password: str | None = None,
        envelope_from: str,
        rate_per_second: float = 0.0,
        max_attempts: int = 4,
        backoff_seconds: float = 2.0,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(
                f"TRACKER_SMTP_SECURITY must be none, starttls or ssl, not {security!r}"
            )
        if user and security == "none" and host not in LOOPBACK:
            raise ValueError(
                f"refusing to send SMTP credentials in clear text to {host}; "
                "set TRACKER_SMTP_SECURITY=starttls or ssl"
            )
        self.host, self.port, self.security = host, port, security
        self.user, self.password = user, password
        self.envelope_from = envelope_from
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.max_attempts, self.backoff, self.timeout = max_attempts, backoff_seconds, timeout
        self.ssl_context = ssl_context
        self.sleep = sleep
        self._smtp: smtplib.SMTP | None = None
        self._next_at = 0.0
        self.connections = 0  # how many times we connected (tests check reuse)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> SmtpTransport:
        settings = settings or get_settings()
        options: dict[str, Any] = {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "security": settings.smtp_security,
            "user": settings.smtp_user,
            "password": settings.smtp_password.get_secret_value()
            if settings.smtp_password
            else None,
            "envelope_from": parseaddr(settings.mail_from)[1],
            "rate_per_second": settings.smtp_rate_per_second,
        }
        options.update(overrides)
        return cls(**options)

    def __enter__(self) -> SmtpTransport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self._smtp is not None:
            return
        context = self.ssl_context or ssl.create_default_context()
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo()
        if self.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if self.user:
            smtp.login(self.user, self.password or "")
        self._smtp = smtp
        self.connections += 1

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _pace(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self._next_at:
            self.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval

    def send(self, msg: EmailMessage | RawMessage, *, to: str) -> None:
        """Deliver `msg` to `to`; raises PermanentFailure or TemporaryFailure."""
        self._pace()
        to = ascii_address(to)
        last: DeliveryError | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                self.open()
                assert self._smtp is not None
                if isinstance(msg, RawMessage):
                    data, needs_8bit = msg.as_bytes(eight_bit=self._smtp.has_extn("8bitmime"))
                    options = ["BODY=8BITMIME"] if needs_8bit else []
                    self._smtp.sendmail(self.envelope_from, [to], data, mail_options=options)
                else:
                    self._smtp.send_message(msg, from_addr=self.envelope_from, to_addrs=[to])
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                last = self._classify(code, reply)
            except smtplib.SMTPResponseException as exc:
                last = self._classify(exc.smtp_code, exc.smtp_error)
            except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()  # the next attempt reconnects
                last = TemporaryFailure(None, f"connection to {self.host}:{self.port}: {exc}")
            except (smtplib.SMTPException, UnicodeError) as exc:  # e.g. SMTPUTF8 not offered
                raise PermanentFailure(None, f"cannot send to {to!r}: {exc}") from exc
            log.info(
                "temporary SMTP failure for message %s (attempt %d): %s",
                msg["Message-ID"],
                attempt + 1,
                last,
            )
        assert last is not None
        raise TemporaryFailure(last.code, f"gave up after {self.max_attempts} attempts: {last}")

    def _classify(self, code: int, reply: bytes | str) -> DeliveryError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        if 500 <= code < 600:
            raise PermanentFailure(code, text)
        if code == 421:  # the server is closing the connection
            self._drop()
        return TemporaryFailure(code, text)
