"""Rendering a week's digests: one rendering per preference set, per-subscriber values after.

Each bill's block (its section, HTML and text) is rendered once per detail level and
quoted-printable encoded once (:class:`tracker.mail.Block`), and reused in every digest that
shows it. The digest templates run once per set of choices (once for both detail levels when
they do not read it) with each bill and each per-subscriber value left as a marker; a set's
body is then those pieces joined, for sending already encoded (:class:`tracker.mail.EncodedBody`:
only the text around the blocks is encoded per set). A subscriber's message is the encoded
pieces joined with their own encoded links and address, so 10,000 subscribers cost a few
hundred template runs plus joins. The bytes are those of rendering and encoding each digest
whole (``tests/test_digest_blocks.py``; ``bench/digest_identity.py`` compares two commits'
messages for a real week).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, meta
from markupsafe import Markup, escape

from tracker import mail, subscriptions
from tracker.digest import MAX_EVENTS, BillItem, Week
from tracker.templating import get_env

# Per-subscriber values are rendered as markers and substituted afterwards, so one rendering
# serves every subscriber with the same preferences. Each renderer's markers hold a random word,
# so no scraped or typed text (a title, a saved search) can pass for one.
PERSONAL = ("manage_url", "unsubscribe_url", "email")

# A rendered body cut at its markers: (literal pieces, marker names between them). Filling it
# is one join over the pieces, instead of one scan and one copy of the whole body per marker.
Split = tuple[tuple[str, ...], tuple[str, ...]]


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


@dataclass(frozen=True, slots=True)
class _Skeleton:
    """One set of choices rendered: subject, counts, and each part cut at its markers."""

    subject: str
    html: tuple[str, ...]
    text: tuple[str, ...]
    quiet: bool
    bills: int

    @property
    def size(self) -> int:
        return sum(map(len, self.html)) + sum(map(len, self.text))


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
    it; for sending it is also quoted-printable encoded once (:class:`tracker.mail.Block`). A
    set of choices renders the digest templates once, with each bill's block and the
    per-subscriber values left as markers (its skeleton); the rendered digest (:meth:`render`)
    and the encoded one (:meth:`encoded`) are made from it and cached (LRU) per set of choices.
    Memory is bounded by the week's size and the caches' sizes, not by subscribers.

    The templates call ``bill_html(b)`` and ``bill_text(b)`` for a bill's block: they give a
    marker that stands for the block (markup, never escaped), so a template writes it as it is.
    """

    def __init__(
        self, week: Week, *, cache_size: int = 4096, cache_bytes: int = 32 * 2**20
    ) -> None:
        self.week = week
        self.cache_size = cache_size
        self.renderings = 0  # how many times the digest templates ran (see _skeleton)
        self.encodings = 0  # how many sets of choices were encoded for sending
        # rendered bodies (render(), previews) and encoded ones (sending): each at most
        # cache_size preference sets and about cache_bytes characters
        self._cache = _LRU(cache_size, cache_bytes)
        self._encoded = _LRU(cache_size, cache_bytes)
        self._skeletons = _LRU(cache_size, cache_bytes // 4)  # see _skeleton
        self._fragments: dict[tuple[int, str, str], str] = {}
        self._blocks: dict[tuple[int, str, str], mail.Block] = {}
        # markers for the personal values and for each bill's block (see PERSONAL)
        word = secrets.token_hex(8)
        self.markers = {name: f"@@SPT-{word}-{name}@@" for name in PERSONAL}
        self._name_of = {marker: name for name, marker in self.markers.items()}
        self._bill_marker = f"@@SPT-{word}-bill-{{}}@@"
        self._bill_of: dict[str, int] = {}  # marker -> bill id
        self._cut = re.compile(f"(@@SPT-{word}-[a-z_]+(?:-[0-9]+)?@@)")
        env = _no_reload(get_env())
        self._subject, self._html, self._text = map(env.get_template, _DIGEST_TEMPLATES)
        self._bill = {
            "html": env.get_template("email/_bill.html"),
            "text": env.get_template("email/_bill.txt"),
        }
        self._by_detail = _reads(env, _DIGEST_TEMPLATES, "detail")

    def _fragment(self, bill_id: int, detail: str, kind: str) -> str:
        key = (bill_id, detail, kind)
        hit = self._fragments.get(key)
        if hit is None:
            bill = self.week.bills[bill_id]
            hit = self._bill[kind].render(b=bill, detail=detail, max_events=MAX_EVENTS)
            hit = Markup(hit) if kind == "html" else hit  # already escaped by its template
            self._fragments[key] = hit
        return hit

    def _block(self, bill_id: int, detail: str, kind: str) -> mail.Block:
        key = (bill_id, detail, kind)
        hit = self._blocks.get(key)
        if hit is None:
            hit = self._blocks[key] = mail.Block(str(self._fragment(bill_id, detail, kind)))
        return hit

    def _marker(self, bill: BillItem) -> Markup:
        marker = self._bill_marker.format(bill.id)
        self._bill_of[marker] = bill.id
        return Markup(marker)

    def template(self, prefs: subscriptions.Preferences) -> RenderedDigest:
        return self._entry(prefs).digest

    def _entry(self, prefs: subscriptions.Preferences) -> _Entry:
        key = _key(prefs)
        hit = self._cache.hit(key)
        if hit is None:
            skeleton = self._skeleton(prefs)
            html = self._joined(skeleton.html, prefs.detail, "html")
            text = self._joined(skeleton.text, prefs.detail, "text")
            marked = self.markers
            rendered = RenderedDigest(
                skeleton.subject,
                _fill(html, marked),
                _fill(text, marked),
                skeleton.quiet,
                skeleton.bills,
            )
            hit = _Entry(rendered, html, text)
            self._cache.add(key, hit)
        return hit

    def _skeleton(self, prefs: subscriptions.Preferences) -> _Skeleton:
        """The digest of these choices rendered once, bills and personal values as markers, cut
        at the markers: (literal, marker, literal, ..., literal) per part. The same for both
        detail levels when the digest templates do not read `detail` (only the bills' blocks
        differ, and they are markers here)."""
        key = _key(prefs) if self._by_detail else _key(prefs)[:-1]
        hit = self._skeletons.hit(key)
        if hit is not None:
            return hit
        self.renderings += 1
        ctx = self.week.context_for(prefs, dict(self.markers))
        ctx["bill_html"] = ctx["bill_text"] = self._marker
        hit = _Skeleton(
            subject=" ".join(self._subject.render(ctx).split()),
            html=tuple(self._cut.split(self._html.render(ctx))),
            text=tuple(self._cut.split(self._text.render(ctx))),
            quiet=ctx["quiet"],
            bills=ctx["counts"]["bills"],
        )
        self._skeletons.add(key, hit)
        return hit

    def _cut_personal(
        self, parts: tuple[str, ...], block: Callable[[int], Any]
    ) -> tuple[list[list[Any]], list[str]]:
        """A skeleton's part with each bill's marker replaced by `block(bill id)`, cut at the
        personal values only: (runs of pieces, the personal value's name after each run but
        the last)."""
        runs: list[list[Any]] = []
        names: list[str] = []
        run: list[Any] = [parts[0]]
        for marker, literal in zip(parts[1::2], parts[2::2], strict=True):
            name = self._name_of.get(marker)
            if name is None:
                run.append(block(self._bill_of[marker]))
            else:
                runs.append(run)
                names.append(name)
                run = []
            run.append(literal)
        runs.append(run)
        return runs, names

    def _joined(self, parts: tuple[str, ...], detail: str, kind: str) -> Split:
        """A skeleton's part with the bills' blocks in: cut at the personal values only."""
        runs, names = self._cut_personal(parts, lambda b: self._fragment(b, detail, kind))
        return tuple("".join(run) for run in runs), tuple(names)

    def _encoded_body(self, parts: tuple[str, ...], detail: str, kind: str) -> mail.EncodedBody:
        """A skeleton's part as the message carries it: each bill's block encoded once per
        week (:class:`tracker.mail.Block`), only the text around it encoded here."""
        runs, names = self._cut_personal(parts, lambda b: self._block(b, detail, kind))
        return mail.EncodedBody(tuple(tuple(run) for run in runs), tuple(names))

    def _encoded_entry(self, prefs: subscriptions.Preferences) -> _Encoded:
        key = _key(prefs)
        hit = self._encoded.hit(key)
        if hit is None:
            self.encodings += 1
            skeleton = self._skeleton(prefs)
            html = self._encoded_body(skeleton.html, prefs.detail, "html")
            text = self._encoded_body(skeleton.text, prefs.detail, "text")
            # any boundary starting "=_" is safe (no quoted-printable line holds "=_"); this
            # one is the same for the same week and choices, so a resent copy is the same bytes
            digest = hashlib.sha256(repr((self.week.period, key)).encode("utf-8"))
            hit = _Encoded(
                skeleton.subject,
                skeleton.quiet,
                skeleton.bills,
                html,
                text,
                "=_spt_" + digest.hexdigest()[:24],
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
        is encoded once per preference set (each bill's block once per week), and only the
        subscriber's links and address are encoded per message (HTML-escaped in the HTML part,
        as :meth:`render` does)."""
        e = self._encoded_entry(prefs)
        values = {"manage_url": manage_url, "unsubscribe_url": unsubscribe_url, "email": email}
        text = {name: mail.encode_value(value) for name, value in values.items()}
        html = {}
        for name, value in values.items():  # a link is the same escaped: encoded once
            escaped = str(escape(value))
            html[name] = text[name] if escaped == value else mail.encode_value(escaped)
        return EncodedDigest(
            e.subject,
            e.text.fill_encoded(text),
            e.html.fill_encoded(html),
            e.boundary,
            e.quiet,
            e.bills,
        )


_DIGEST_TEMPLATES = ("email/digest_subject.txt", "email/digest.html", "email/digest.txt")


@lru_cache(maxsize=16)
def _reads(env: Environment, names: tuple[str, ...], variable: str) -> bool:
    """Whether one of the templates `names`, or one they extend, include or import, reads
    `variable` from the context; True when that cannot be known (a template named by an
    expression)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert env.loader is not None
        tree = env.parse(env.loader.get_source(env, name)[0])
        if variable in meta.find_undeclared_variables(tree):
            return True
        for referenced in meta.find_referenced_templates(tree):
            if referenced is None:
                return True
            todo.append(referenced)
    return False


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
