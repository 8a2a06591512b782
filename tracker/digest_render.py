"""Rendering a week's digests: one rendering per preference set, per-subscriber values after.

Each bill's block is rendered once per detail level and reused in every digest that shows it;
whole digests are cached per preference set with the subscriber's address and links left as
markers, so 10,000 subscribers cost a few renderings plus string substitution.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from tracker import subscriptions
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


class DigestRenderer:
    """Render digests for one week.

    Each bill's block is rendered once per detail level and reused in every digest that shows
    it; whole digests are cached (LRU) per preference set, with per-subscriber values left as
    markers. Memory is bounded by the week's size and the cache size, not by subscribers.
    """

    def __init__(self, week: Week, *, cache_size: int = 128) -> None:
        self.week = week
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], tuple[RenderedDigest, Split, Split]] = (
            OrderedDict()
        )
        self._fragments: dict[tuple[int, str, str], str] = {}
        env = get_env()
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
        return self._entry(prefs)[0]

    def _entry(self, prefs: subscriptions.Preferences) -> tuple[RenderedDigest, Split, Split]:
        key = (prefs.states, prefs.topics, prefs.query, prefs.detail)  # quiet_week: same text
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
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
        entry = (rendered, _split(rendered.html), _split(rendered.text))
        if self.cache_size:
            self._cache[key] = entry
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    def render(
        self, prefs: subscriptions.Preferences, *, email: str, manage_url: str, unsubscribe_url: str
    ) -> RenderedDigest:
        t, html, text = self._entry(prefs)
        values = {"manage_url": manage_url, "unsubscribe_url": unsubscribe_url, "email": email}
        escaped = {name: str(escape(value)) for name, value in values.items()}
        return RenderedDigest(
            t.subject, _fill(html, escaped), _fill(text, values), t.quiet, t.bills
        )


def prefs_of(row: Any) -> subscriptions.Preferences:
    return subscriptions.Preferences(
        tuple(row.states or ()), tuple(row.topics or ()), row.query, row.detail, row.quiet_week
    )
