"""Rendering a week's digests: one rendering per preference set, per-subscriber values after.

Each bill's block is rendered once per detail level and reused in every digest that shows it;
whole digests are cached per preference set with the subscriber's address and links left as
markers, so 10,000 subscribers cost a few renderings plus string substitution. For sending,
the cached body is also quoted-printable encoded once (:class:`tracker.mail.EncodedBody`):
a subscriber's message is the encoded pieces joined with their own encoded links.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from tracker import mail, subscriptions
from tracker.digest import MAX_EVENTS, BillItem, Week
from tracker.templating import get_env

# Per-subscriber values are rendered as these markers and substituted afterwards, so one
# rendering serves every subscriber with the same preferences.
_MARKERS = {
    "manage_url": "@@SPT-MANAGE@@",
    "unsubscribe_url": "@@SPT-UNSUB@@",
    "email": "@@SPT-EMAIL@@",
}
_MARKER_RE = re.compile("(" + "|".join(map(re.escape, _MARKERS.values())) + ")")
_NAME_OF = {marker: name for name, marker in _MARKERS.items()}

# A rendered body cut at its markers: (literal pieces, marker names between them). Filling it
# is one join over the pieces, instead of one scan and one copy of the whole body per marker.
Split = tuple[tuple[str, ...], tuple[str, ...]]


def _split(body: str) -> Split:
    pieces = _MARKER_RE.split(body)  # literal, marker, literal, ..., literal
    return tuple(pieces[0::2]), tuple(_NAME_OF[m] for m in pieces[1::2])


def _fill(split: Split, values: dict[str, str]) -> str:
    literals, names = split
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out += (values[name], literal)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    subject: str
    html: str
    text: str
    quiet: bool
    bills: int


@dataclass(frozen=True, slots=True)
class EncodedDigest:
    """One subscriber's digest as the message carries it: both parts quoted-printable, and the
    multipart boundary shared by every digest of the same choices."""

    subject: str
    text: bytes
    html: bytes
    boundary: str
    quiet: bool
    bills: int


@dataclass(slots=True)
class _Entry:
    """One rendering per preference set: the bodies cut at their markers (for :meth:`render`)."""

    digest: RenderedDigest
    html: Split
    text: Split

    @property
    def size(self) -> int:
        return len(self.digest.html) + len(self.digest.text)


@dataclass(slots=True)
class _Encoded:
    """The same, as the message carries it (for sending): the pieces quoted-printable encoded
    once, as bytes, and the boundary every digest of these choices shares."""

    subject: str
    quiet: bool
    bills: int
    html: mail.EncodedBody
    text: mail.EncodedBody
    boundary: str

    @property
    def size(self) -> int:
        return self.html.size + self.text.size


class _LRU(OrderedDict[tuple[Any, ...], Any]):
    """At most `entries` values whose `size` adds up to at most `limit`."""

    def __init__(self, entries: int, limit: int) -> None:
        super().__init__()
        self.entries, self.limit, self.total = entries, limit, 0

    def hit(self, key: tuple[Any, ...]) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def add(self, key: tuple[Any, ...], value: Any) -> None:
        if not self.entries:
            return
        self[key] = value
        self.total += value.size
        while self and (len(self) > self.entries or self.total > self.limit):
            _, old = self.popitem(last=False)
            self.total -= old.size


class DigestRenderer:
    """Render digests for one week.

    Each bill's block is rendered once per detail level and reused in every digest that shows
    it; whole digests are cached (LRU) per preference set, with per-subscriber values left as
    markers. Memory is bounded by the week's size and the caches' sizes, not by subscribers.
    """

    def __init__(
        self, week: Week, *, cache_size: int = 4096, cache_bytes: int = 32 * 2**20
    ) -> None:
        self.week = week
        self.cache_size = cache_size
        self.renderings = 0  # how many digests were rendered (the rest came from a cache)
        # rendered bodies (render(), previews) and encoded ones (sending): each at most
        # cache_size preference sets and about cache_bytes characters
        self._cache = _LRU(cache_size, cache_bytes)
        self._encoded = _LRU(cache_size, cache_bytes)
        self._fragments: dict[tuple[int, str, str], str] = {}
        env = _no_reload(get_env())
        self._html = env.get_template("email/digest.html")
        self._text = env.get_template("email/digest.txt")
        self._subject = env.get_template("email/digest_subject.txt")
        self._bill = {
            "html": env.get_template("email/_bill.html"),
            "text": env.get_template("email/_bill.txt"),
        }

    def _fragment(self, bill: BillItem, detail: str, kind: str) -> str:
        key = (bill.id, detail, kind)
        hit = self._fragments.get(key)
        if hit is None:
            hit = self._bill[kind].render(b=bill, detail=detail, max_events=MAX_EVENTS)
            hit = Markup(hit) if kind == "html" else hit  # already escaped by its template
            self._fragments[key] = hit
        return hit

    def template(self, prefs: subscriptions.Preferences) -> RenderedDigest:
        return self._entry(prefs).digest

    def _entry(self, prefs: subscriptions.Preferences) -> _Entry:
        key = _key(prefs)
        hit = self._cache.hit(key)
        if hit is None:
            hit = self._render(prefs)
            self._cache.add(key, hit)
        return hit

    def _render(self, prefs: subscriptions.Preferences) -> _Entry:
        self.renderings += 1
        ctx = self.week.context_for(prefs, dict(_MARKERS))
        ctx["bill_html"] = lambda b: self._fragment(b, prefs.detail, "html")
        ctx["bill_text"] = lambda b: self._fragment(b, prefs.detail, "text")
        rendered = RenderedDigest(
            subject=" ".join(self._subject.render(ctx).split()),
            html=self._html.render(ctx),
            text=self._text.render(ctx),
            quiet=ctx["quiet"],
            bills=ctx["counts"]["bills"],
        )
        return _Entry(rendered, _split(rendered.html), _split(rendered.text))

    def _encoded_entry(self, prefs: subscriptions.Preferences) -> _Encoded:
        key = _key(prefs)
        hit = self._encoded.hit(key)
        if hit is None:
            entry = self._cache.hit(key) or self._render(prefs)  # not kept: sending needs bytes
            html, text = mail.EncodedBody(*entry.html), mail.EncodedBody(*entry.text)
            # any boundary starting "=_" is safe (no quoted-printable line holds "=_"); this
            # one is the same for the same week and choices, so a resent copy is the same bytes
            digest = hashlib.sha256(repr((self.week.period, key)).encode("utf-8"))
            t = entry.digest
            hit = _Encoded(
                t.subject, t.quiet, t.bills, html, text, "=_spt_" + digest.hexdigest()[:24]
            )
            self._encoded.add(key, hit)
        return hit

    def quiet(self, prefs: subscriptions.Preferences) -> bool:
        """Whether these choices make a quiet week (for the sender, which skips or sends)."""
        return self._encoded_entry(prefs).quiet

    def render(
        self, prefs: subscriptions.Preferences, *, email: str, manage_url: str, unsubscribe_url: str
    ) -> RenderedDigest:
        entry = self._entry(prefs)
        t = entry.digest
        values = {"manage_url": manage_url, "unsubscribe_url": unsubscribe_url, "email": email}
        return RenderedDigest(
            t.subject,
            _fill(entry.html, _escaped(values)),
            _fill(entry.text, values),
            t.quiet,
            t.bills,
        )

    def encoded(
        self, prefs: subscriptions.Preferences, *, email: str, manage_url: str, unsubscribe_url: str
    ) -> EncodedDigest:
        """The digest :meth:`render` gives, quoted-printable for the message: the shared body
        is encoded once per preference set, and only the subscriber's links and address are
        encoded per message (HTML-escaped in the HTML part, as :meth:`render` does)."""
        e = self._encoded_entry(prefs)
        values = {"manage_url": manage_url, "unsubscribe_url": unsubscribe_url, "email": email}
        return EncodedDigest(
            e.subject,
            e.text.fill(values),
            e.html.fill(_escaped(values)),
            e.boundary,
            e.quiet,
            e.bills,
        )


@lru_cache(maxsize=4)
def _no_reload(env: Environment) -> Environment:
    """The environment without a file check per include: a week's digests render with the
    templates as they were when the run started."""
    return env.overlay(auto_reload=False)


def _key(prefs: subscriptions.Preferences) -> tuple[Any, ...]:
    return (prefs.states, prefs.topics, prefs.query, prefs.detail)  # quiet_week: same text


def _escaped(values: dict[str, str]) -> dict[str, str]:
    return {name: str(escape(value)) for name, value in values.items()}


def prefs_of(row: Any) -> subscriptions.Preferences:
    return subscriptions.Preferences(
        tuple(row.states or ()), tuple(row.topics or ()), row.query, row.detail, row.quiet_week
    )
