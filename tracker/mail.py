"""Building and delivering mail: one context -> HTML + plain text parts, then SMTP.

Every mail the tracker sends (confirmations, alerts, the test mail) is built by
:func:`build_message` and serialized by :func:`as_bytes`. Digests and their previews use its bulk
form, :func:`build_bulk_message`: the same headers folded the same way, written straight to
bytes around a body quoted-printable encoded once per preference set (:class:`EncodedBody`),
so a preview is byte for byte what is sent (apart from Date and Message-ID). Every header line ends CRLF, even
folded ones (servers with SMTP-smuggling protection refuse a bare LF), and both parts are
quoted-printable, so the message is 7-bit clean for any server. Messages carry the headers bulk
mail needs to be trusted and easy to leave: Message-ID, Date, Reply-To, List-Unsubscribe with the
https link (and a mailto) written plainly, never RFC 2047-encoded, and RFC 8058
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.

:class:`SmtpTransport` keeps ONE connection for a whole run, pipelines where the server offers
it (:func:`smtp_transaction`), paces itself to a rate limit,
retries temporary (4xx) failures with exponential backoff, reconnects when the server drops
the connection, and reports permanent (5xx) refusals as :class:`PermanentFailure` so the caller
can count a bounce.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid, parseaddr
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


class _MailPolicy(EmailPolicy):
    """``email.policy.SMTP`` (every line ends CRLF), except for two headers. The list headers
    are folded between their URIs and never RFC 2047-encoded: clients must read
    ``<https://...>``. A non-ASCII Subject is encoded whole, in words that fold cleanly (the
    standard folder leaves a space before an encoded word that unfolds as two)."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in VERBATIM:
            return f"{name}: " + f",{self.linesep} ".join(_uris(str(value))) + self.linesep
        if name.lower() == "subject" and not str(value).isascii() and not self.utf8:
            return f"{name}: {_encoded_words(str(value), self.linesep)}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in VERBATIM or name.lower() == "subject":
            return self.fold(name, value).encode("ascii" if not self.utf8 else "utf-8")
        if name.lower() in SAME_IN_EVERY_MESSAGE:
            return _folded_once(self, name, str(value))
        return super().fold_binary(name, value)


@lru_cache(maxsize=64)
def _folded_once(policy: EmailPolicy, name: str, value: str) -> bytes:
    return EmailPolicy.fold_binary(policy, name, policy.header_factory(name, value))


@lru_cache(maxsize=256)  # a week's digests share a few subjects; encoding is slow
def _encoded_words(value: str, linesep: str) -> str:
    return Header(value, "utf-8", header_name="Subject").encode(maxlinelen=76, linesep=linesep)


class _ParsedOnce(HeaderRegistry):
    """Header values parsed once per run: From, Reply-To, List-Id and most subjects are the
    same in thousands of digests, and parsing is the costly part of setting a header."""

    @lru_cache(maxsize=4096)  # noqa: B019 - one registry per process, kept for its life
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


VERBATIM = frozenset({"list-unsubscribe", "list-unsubscribe-post", "list-id"})
SAME_IN_EVERY_MESSAGE = frozenset(
    {"from", "reply-to", "mime-version", "precedence", "auto-submitted"}
)
# email.policy.SMTP (CRLF everywhere), with the list headers verbatim and parsed headers reused
POLICY = _MailPolicy(linesep="\r\n", header_factory=_ParsedOnce())
POLICY_UTF8 = POLICY.clone(utf8=True)  # for an address that needs SMTPUTF8
MAX_LINE = 998  # RFC 5321: the longest line a server must accept


def _uris(value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")] if value.startswith("<") else [value]
    for part in parts:
        if not part.isascii() or len(part) > MAX_LINE - 20 or any(c in part for c in "\r\n"):
            raise ValueError(f"a list header must be short printable ASCII: {value[:80]!r}")
    return parts


def ascii_address(address: str) -> str:
    """The address with an internationalised domain in its ASCII (punycode) form."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def _domain(settings: Settings) -> str:
    return _domain_of(settings.mail_from)


@lru_cache(maxsize=16)
def _domain_of(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    settings: Settings | None = None,
    unsubscribe_url: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """THE message builder (digests, previews, confirmations, alerts, test mail): a
    multipart/alternative message, both parts quoted-printable (7-bit clean for any server),
    with the list headers when `unsubscribe_url` is given. Serialize it with :func:`as_bytes`.
    """
    settings = settings or get_settings()
    if unsubscribe_url:
        settings.check_base_url()  # RFC 8058: the one-click link must be https in production
    to = ascii_address(to)
    reply = settings.mail_reply_to or settings.contact_email
    msg = EmailMessage(policy=POLICY if to.isascii() else POLICY_UTF8)
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = str(Address(addr_spec=to))  # one plain address, or ValueError
    msg["Reply-To"] = reply
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(idstring="spt", domain=_domain(settings))
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{reply}?subject=unsubscribe>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = f"Single-Payer Tracker digest <digest.{_domain(settings)}>"
        msg["Precedence"] = "bulk"
        msg["Auto-Submitted"] = "auto-generated"
    msg["MIME-Version"] = "1.0"
    # A boundary from the content, so a preview and the sent message are the same bytes; no
    # quoted-printable line can hold "=_" (an "=" is always written "=3D").
    parts = [("plain", _quoted_printable(text)), ("html", _quoted_printable(html))]
    boundary = "=_spt_" + hashlib.sha256(b"\0".join(p for _, p in parts)).hexdigest()[:24]
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    msg.set_payload(_multipart_body(boundary, parts))
    return msg


def _quoted_printable(body: str) -> bytes:
    """`body` quoted-printable with CRLF line ends, by ``binascii`` (in C: the email package's
    encoder and line writer would be most of a digest run's time)."""
    data = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _multipart_body(boundary: str, parts: list[tuple[str, bytes]]) -> str:
    """The multipart body, written once: the generator writes a multipart's text payload as
    it is (the headers above it are still folded by the policy)."""
    chunks = []
    for subtype, encoded in parts:
        chunks += [
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            encoded.decode("ascii"),
            "\r\n",
        ]
    return "".join([*chunks, f"--{boundary}--\r\n"])


def as_bytes(msg: EmailMessage | RawMessage) -> bytes:
    """The message as it goes on the wire and into a preview ``.eml``: CRLF line ends only."""
    if isinstance(msg, RawMessage):
        return msg.data
    return msg.as_bytes(policy=msg.policy)


# ----------------------------------------------------------------------------- bulk (digests)


class RawMessage:
    """A message already serialized (:func:`build_bulk_message`): its bytes, and the values of
    the headers the sender and the tests read (``msg["Message-ID"]``)."""

    __slots__ = ("data", "headers")

    def __init__(self, data: bytes, headers: dict[str, str]) -> None:
        self.data = data
        self.headers = {k.lower(): v for k, v in headers.items()}

    def __getitem__(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def as_bytes(self) -> bytes:
        return self.data


class EncodedBody:
    """A body with per-recipient values (links, the address) at known places, encoded
    quoted-printable ONCE: filling it in joins the encoded pieces with the encoded values.

    Each piece is encoded on its own and ends with a soft line break (``=`` CRLF), which a
    reader removes when decoding, so the decoded text is exactly the pieces and values joined,
    and no line is longer than 76 characters (``binascii.b2a_qp`` writes at most 75 before its
    own soft break)."""

    __slots__ = ("literals", "names", "size")

    def __init__(
        self, literals: tuple[str | tuple[str | Block, ...], ...], names: tuple[str, ...]
    ) -> None:
        """`literals`: the text between the values, each a string or a sequence of strings
        and :class:`Block` s (text shared by many bodies, encoded once), read as one string."""
        last = len(literals) - 1
        self.literals = tuple(
            _qp_piece(p, soft_break=i < last)
            if isinstance(p, str)
            else _qp_segments(p, soft_break=i < last)
            for i, p in enumerate(literals)
        )
        self.names = names
        self.size = sum(map(len, self.literals))

    def fill(self, values: dict[str, str]) -> bytes:
        return self.fill_encoded({name: encode_value(value) for name, value in values.items()})

    def fill_encoded(self, values: dict[str, bytes]) -> bytes:
        """:meth:`fill` with the values already encoded (:func:`encode_value`)."""
        literals = self.literals
        out = [literals[0]]
        for name, literal in zip(self.names, literals[1:], strict=True):
            out += (values[name], literal)
        return b"".join(out)


def encode_value(value: str) -> bytes:
    """A value for :meth:`EncodedBody.fill_encoded`: quoted-printable, with a soft line break
    after it, so the text after it goes on as the same line."""
    return _qp_piece(value, soft_break=True)


def _qp_piece(piece: str, *, soft_break: bool) -> bytes:
    encoded = _quoted_printable(piece)
    return _soft_break(encoded) if soft_break else encoded


def _soft_break(encoded: bytes) -> bytes:
    """A soft line break after an encoded piece not ending a line, so the text after it goes
    on as the same line."""
    return encoded + b"=\r\n" if encoded and not encoded.endswith(b"\r\n") else encoded


class Block:
    """Text that many bodies contain (a bill's section in a week's digests), its whole lines
    quoted-printable encoded ONCE.

    Quoted-printable works line by line: a line's encoding depends on that line alone, apart
    from the very end of the data (trailing white space and a lone "." are encoded there). So
    the lines of the block from its first line end to its last one (`middle`) are encoded
    the same wherever the block stands; only its first partial line (`head`, up to and including
    its first newline) and its last (`tail`, after its last newline) are encoded with the text
    around them, in the body's own pass (:func:`_qp_segments`). A block holding a carriage
    return (whose line ends the encoder changes, together with the text next to it) has no
    middle: it is encoded with its surroundings, as any text."""

    __slots__ = ("head", "middle", "tail", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        first, last = text.find("\n"), text.rfind("\n")
        if "\r" in text or first == last:  # no whole line between two line ends
            self.head, self.middle, self.tail = text, b"", ""
        else:
            self.head, self.tail = text[: first + 1], text[last + 1 :]
            self.middle = _quoted_printable(text[first + 1 : last + 1])


def _glue(text: str) -> bytes:
    """The text between two blocks, encoded: mostly the same few lines (the end of one bill's
    section and the start of the next), so short ones are kept."""
    return _quoted_printable_short(text) if len(text) <= 512 else _quoted_printable(text)


@lru_cache(maxsize=1024)
def _quoted_printable_short(text: str) -> bytes:
    return _quoted_printable(text)


def _qp_segments(segments: tuple[str | Block, ...], *, soft_break: bool) -> bytes:
    """``_qp_piece("".join(segments))`` (a :class:`Block` standing for its text), with each
    block's middle taken as encoded: the text between two middles (the tail of one block, the
    strings, the head of the next) starts and ends at a line end, so its encoding, on its own,
    is the same bytes as within the whole."""
    out: list[bytes] = []
    glue: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            glue.append(segment)
        elif not segment.middle:
            glue.append(segment.text)
        else:
            glue.append(segment.head)
            out += (_glue("".join(glue)), segment.middle)
            glue = [segment.tail]
    out.append(_glue("".join(glue)))
    encoded = b"".join(out)
    return _soft_break(encoded) if soft_break else encoded


# A plain address To: can carry as written (anything else goes through the email package).
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


@lru_cache(maxsize=512)
def _header_line(policy: EmailPolicy, name: str, value: str) -> bytes:
    """One header as the message builder writes it (``EmailMessage`` then the generator)."""
    return policy.fold_binary(name, policy.header_factory(name, value))


def _to_line(policy: EmailPolicy, to: str) -> bytes:
    if len(to) < 70 and _PLAIN_ADDRESS.fullmatch(to):
        return f"To: {to}\r\n".encode("ascii")
    return policy.fold_binary("To", policy.header_factory("To", str(Address(addr_spec=to))))


_PLAIN_ID = re.compile(r"<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>")


def _id_line(policy: EmailPolicy, message_id: str) -> bytes:
    if len(message_id) < 60 and _PLAIN_ID.fullmatch(message_id):
        return f"Message-ID: {message_id}\r\n".encode("ascii")
    return policy.fold_binary("Message-ID", policy.header_factory("Message-ID", message_id))


# A boundary the Content-Type line carries as written, quoted (each set of choices has its own:
# parsing the header for each would cost more than the rest of the message)
_PLAIN_BOUNDARY = re.compile(r"=_[A-Za-z0-9_]+")


def _content_type_line(policy: EmailPolicy, boundary: str) -> bytes:
    line = f'Content-Type: multipart/alternative; boundary="{boundary}"'
    if len(line) <= 78 and _PLAIN_BOUNDARY.fullmatch(boundary):
        return f"{line}\r\n".encode("ascii")
    return _header_line(policy, "Content-Type", line.split(": ", 1)[1])


def message_id_for(*, kind: str, key: str, settings: Settings) -> str:
    """A deterministic Message-ID: the same message (e.g. one subscriber's digest of one week)
    always has the same one, so a copy sent again is recognisable as the same message (mail
    systems and clients that drop duplicates do it by Message-ID). The hash of the site's
    address keeps two installations with the same sending domain apart."""
    return f"<spt.{kind}.{key}.{_site_hash(settings.base_url)}@{_domain(settings)}>"


@lru_cache(maxsize=16)
def _site_hash(base_url: str) -> str:
    return hashlib.sha256(base_url.rstrip("/").encode("utf-8")).hexdigest()[:12]


def build_bulk_message(
    *,
    to: str,
    subject: str,
    text: bytes,
    html: bytes,
    boundary: str,
    unsubscribe_url: str,
    message_id: str,
    settings: Settings,
) -> RawMessage:
    """A digest: the message :func:`build_message` builds, written straight to bytes.

    `text` and `html` are already quoted-printable (:class:`EncodedBody`), and `boundary`
    (which must start ``=_``, a sequence no quoted-printable line holds) is shared by every
    message of one body. Headers shared by a run's messages are folded once; the per-recipient
    ones (To, Date, Message-ID, List-Unsubscribe) are plain ASCII lines folded as
    :data:`POLICY` folds them. ``tests/test_mail_bulk.py`` checks it against
    :func:`build_message`, header by header and part by part."""
    if not boundary.startswith("=_"):
        raise ValueError("a bulk message boundary must start with '=_'")
    settings.check_base_url()
    to = ascii_address(to)
    policy = POLICY if to.isascii() else POLICY_UTF8
    reply = settings.mail_reply_to or settings.contact_email
    domain = _domain(settings)
    date = formatdate(usegmt=True)
    unsubscribe = f"<{unsubscribe_url}>, <mailto:{reply}?subject=unsubscribe>"
    head = [
        _header_line(policy, "Subject", subject),
        _header_line(policy, "From", settings.mail_from),
        _to_line(policy, to),
        _header_line(policy, "Reply-To", reply),
        f"Date: {date}\r\n".encode("ascii"),
        _id_line(policy, message_id),
        policy.fold("List-Unsubscribe", unsubscribe).encode("ascii"),
        _header_line(policy, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        _header_line(policy, "List-Id", f"Single-Payer Tracker digest <digest.{domain}>"),
        _header_line(policy, "Precedence", "bulk"),
        _header_line(policy, "Auto-Submitted", "auto-generated"),
        _header_line(policy, "MIME-Version", "1.0"),
        _content_type_line(policy, boundary),
        b"\r\n",
    ]
    part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    body = [
        f"--{boundary}\r\n{part.format('plain')}".encode("ascii"),
        text,
        f"\r\n--{boundary}\r\n{part.format('html')}".encode("ascii"),
        html,
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    headers = {"To": to, "Subject": subject, "Message-ID": message_id, "Date": date}
    return RawMessage(b"".join(head + body), headers)


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

    def send(
        self,
        msg: EmailMessage | RawMessage,
        *,
        to: str,
        meanwhile: Callable[[], object] | None = None,
    ) -> None:
        """Deliver `msg` (from :func:`build_message`) to `to` as the bytes :func:`as_bytes`
        gives; raises PermanentFailure or TemporaryFailure.

        `meanwhile`, if given, is called at most once: after the message is written, while the
        server takes it in (see :func:`smtp_transaction`). It is not called if the server
        refuses the message before it is written. What it raises is raised here once the
        server's answer is read, never taken for a delivery failure."""
        self._pace()
        to = ascii_address(to)
        options = [] if to.isascii() else ["SMTPUTF8"]
        data = as_bytes(msg)  # once, whatever the attempts
        raised: list[BaseException] = []

        def then() -> None:
            nonlocal meanwhile
            work, meanwhile = meanwhile, None  # at most once, whatever the attempts
            if work is not None:
                try:
                    work()
                except BaseException as exc:  # noqa: BLE001 - raised below, after the reply
                    raised.append(exc)

        try:
            self._deliver(msg, to, data, options, then)
        finally:
            if raised:
                raise raised[0]

    def _deliver(
        self,
        msg: EmailMessage | RawMessage,
        to: str,
        data: bytes,
        options: list[str],
        then: Callable[[], None],
    ) -> None:
        last: DeliveryError | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                self.open()
                assert self._smtp is not None
                if options and not self._smtp.has_extn("smtputf8"):
                    raise PermanentFailure(
                        None, f"{self.host} cannot deliver to {to!r}: no SMTPUTF8"
                    )
                smtp_transaction(self._smtp, self.envelope_from, to, data, options, then)
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
            except DeliveryError:
                raise
            except BaseException:
                # stopped mid-transaction (Ctrl-C, a bug): the connection is out of step with
                # the server, and a polite QUIT would wait for its answer first: dropped
                self._drop()
                raise
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


def smtp_transaction(
    smtp: smtplib.SMTP,
    sender: str,
    to: str,
    data: bytes,
    options: list[str],
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """One message to one recipient over an open connection. Where the server offers
    PIPELINING (RFC 2920), MAIL, RCPT and DATA go out together and their replies are read in
    order: two round trips instead of four, which is most of a message's time against a
    remote server; elsewhere one command at a time, as ``smtplib.SMTP.sendmail`` does.

    `meanwhile` is called once the message is written and before the server's answer is read:
    the server is then busy taking the message in, the longest wait of the transaction, so
    what the caller does in it (building the next message) costs no time. It is not called
    if the server refuses before the message is written.

    Raises what ``sendmail`` raises for the same replies, and leaves the connection as it
    does (reset after a refusal, closed after a 421)."""
    if any(c in sender + to for c in "\r\n"):
        raise ValueError(f"an address holds a line break: {sender!r} -> {to!r}")
    params = ([f"SIZE={len(data)}"] if smtp.has_extn("size") else []) + options
    if any(o.lower() == "smtputf8" for o in options):
        smtp.command_encoding = "utf-8"  # as smtplib.SMTP.mail does
    extra = "".join(" " + p for p in params)
    commands = (
        f"MAIL FROM:{_quoted_sender(sender)}{extra}\r\n",
        f"RCPT TO:{smtplib.quoteaddr(to)}\r\n",
        "DATA\r\n",
    )
    replies: list[tuple[int, bytes]] = []
    if smtp.has_extn("pipelining"):
        smtp.send("".join(commands))
        replies = [smtp.getreply() for _ in commands]
    else:
        for command, expected in zip(commands, _EXPECTED, strict=True):
            smtp.send(command)
            replies.append(smtp.getreply())
            if replies[-1][0] not in expected:
                break  # the next command would be refused too
    failure = _refusal(replies, sender, to)
    if failure is None:
        body = stuff_dots(data)
        smtp.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        if meanwhile is not None:
            meanwhile()
        code, reply = smtp.getreply()
        if code == 250:
            return
        failure = smtplib.SMTPDataError(code, reply)
        replies.append((code, reply))
    elif len(replies) == 3 and replies[2][0] == 354:  # the server opened a message anyway
        smtp.send(b".\r\n")  # end it, empty
        replies.append(smtp.getreply())
    if any(code == 421 for code, _ in replies):
        smtp.close()
    else:
        try:
            smtp.rset()
        except smtplib.SMTPServerDisconnected:
            pass
    raise failure


_EXPECTED = ((250,), (250, 251), (354,))  # the good replies to MAIL, RCPT and DATA


def _refusal(
    replies: list[tuple[int, bytes]], sender: str, to: str
) -> smtplib.SMTPException | None:
    """The exception ``sendmail`` raises for the first refused command, or None."""
    for i, (code, reply) in enumerate(replies):
        if code in _EXPECTED[i]:
            continue
        if i == 0:
            return smtplib.SMTPSenderRefused(code, reply, sender)
        if i == 1:
            return smtplib.SMTPRecipientsRefused({to: (code, reply)})
        return smtplib.SMTPDataError(code, reply)
    return None


def stuff_dots(data: bytes) -> bytes:
    """A second dot at the start of every line that starts with one (RFC 5321 4.5.2), as
    ``smtplib`` does with the regex ``(?m)^\\.``: a line starts at the beginning and after each
    LF. Two byte searches instead of a regex tried at every position of the message."""
    stuffed = data.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


_quoted_sender = lru_cache(maxsize=16)(smtplib.quoteaddr)  # the same envelope sender each time
