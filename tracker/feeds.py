"""Atom feeds of bill changes and an iCalendar feed of hearings, written by hand.

Both formats are small; writing them here keeps escaping under our control: XML text goes
through ElementTree (which escapes markup) after characters XML 1.0 forbids are removed, and
iCalendar text is escaped (RFC 5545 3.3.11) and folded at 75 octets without splitting UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """Text safe to put in XML 1.0: forbidden control characters and lone surrogates removed."""
    return _XML_BAD.sub("", "" if value is None else str(value))


def _tag_authority(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return host


def _rfc3339(value: Any) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(value: Any) -> datetime:
    """A datetime, ISO text or date as an aware UTC datetime; missing or unreadable: now."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif value:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            dt = datetime.now(UTC)
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    else:
        dt = datetime.now(UTC)
    return dt.astimezone(UTC)


def feed_updated(entries: Iterable[Mapping[str, Any]], *, fallback: Any = None) -> datetime:
    """When a feed last changed: its newest entry; an empty feed, the newest data it could
    have shown (`fallback`), else now. Whole seconds, as Atom and HTTP dates carry them."""
    dates = [as_utc(e["updated"]) for e in entries if e.get("updated")]
    newest = max(dates) if dates else as_utc(fallback)
    return newest.replace(microsecond=0)


def atom_feed(
    *,
    title: str,
    feed_path: str,
    page_path: str,
    base_url: str,
    entries: Iterable[Mapping[str, Any]],
    subtitle: str = "",
    updated: datetime | None = None,
) -> bytes:
    """An Atom 1.0 document. Entries need: id, title, path, updated, summary; `updated` is the
    feed's own date (default: :func:`feed_updated` of the entries)."""
    base = base_url.rstrip("/")
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")

    def sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(
            parent, f"{{{ATOM_NS}}}{tag}", {k: xml_text(v) for k, v in attrs.items()}
        )
        if text is not None:
            el.text = xml_text(text)
        return el

    entries = list(entries)
    sub(feed, "title", title)
    if subtitle:
        sub(feed, "subtitle", subtitle)
    sub(feed, "id", base + feed_path)
    sub(feed, "link", rel="self", type="application/atom+xml", href=base + feed_path)
    sub(feed, "link", rel="alternate", type="text/html", href=base + page_path)
    sub(feed, "updated", _rfc3339(updated or feed_updated(entries)))
    author = sub(feed, "author")
    sub(author, "name", "Single-Payer Tracker")
    sub(feed, "generator", "Single-Payer Tracker")
    authority = _tag_authority(base_url)
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "title", e["title"])
        sub(entry, "id", f"tag:{authority},2025:{e['id']}")
        sub(entry, "link", rel="alternate", type="text/html", href=base + e["path"])
        sub(entry, "updated", _rfc3339(e.get("updated")))
        sub(entry, "summary", e.get("summary") or e["title"])
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


def change_entries(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Atom entries for change rows from :func:`tracker.web.data.recent_changes`, newest first,
    each dated by what it reports (see :func:`change_date`)."""
    out = []
    for c in changes:
        label = f"{c['state'].upper()} {c['identifier']}"
        out.append(
            {
                "id": f"change:{c['id']}",
                "title": f"{label}: {c['summary']}"[:300],
                "path": c["path"],
                "updated": change_date(c),
                "summary": f"{label} ({c['session']}), {c['title']}: {c['summary']}",
            }
        )
    out.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    return out


def change_date(change: Mapping[str, Any]) -> str:
    """The date an entry reports: the action's (or stage's) own date, not when an import saw it.
    A date after the sighting (a hearing scheduled for next month) is not yet news; the sighting
    dates it then. Without a date of its own, the sighting."""
    seen = _rfc3339(change.get("seen_at"))
    own = str(change.get("effective_date") or "")[:10]
    try:
        date.fromisoformat(own)
    except ValueError:
        return seen
    return min(f"{own}T00:00:00Z", seen)


# --------------------------------------------------------------------------- iCalendar


def ics_escape(value: Any) -> str:
    text = xml_text(value).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _ics_when(value: str) -> tuple[str, str]:
    """(DTSTART, DTEND) property lines for a hearing date or date-time."""
    if len(value) <= 10:
        day = date.fromisoformat(value[:10])
        return (
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
        )
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    end = dt + timedelta(hours=1)
    if dt.tzinfo is not None:
        dt, end = dt.astimezone(UTC), end.astimezone(UTC)
        return f"DTSTART:{dt:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}"
    return f"DTSTART:{dt:%Y%m%dT%H%M%S}", f"DTEND:{end:%Y%m%dT%H%M%S}"


def _ics_stamp(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def hearings_ics(
    hearings: Iterable[Mapping[str, Any]],
    *,
    base_url: str,
    name: str = "Single-payer bill hearings",
    now: datetime | None = None,
) -> str:
    """An iCalendar document of hearings from :func:`tracker.web.data.upcoming_hearings`."""
    base = base_url.rstrip("/")
    fallback = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = _tag_authority(base_url)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Single-Payer Tracker//Hearings//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape(name)}",
    ]
    for h in hearings:
        try:
            start, end = _ics_when(str(h["date"]))
        except ValueError:
            continue  # ingest validates dates; an odd one is skipped rather than breaking the feed
        label = f"{h['state'].upper()} {h['identifier']}"
        # DTSTAMP: when we learned of it, so an unchanged calendar stays byte-identical
        stamp = _ics_stamp(h.get("first_seen")) or fallback
        summary = f"Hearing: {label}" + (f", {h['committee']}" if h.get("committee") else "")
        description = f"{label} ({h['session']}): {h['title']}"
        if h.get("description"):
            description += f"\n{h['description']}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:hearing-{h['id']}@{host}",
            f"DTSTAMP:{stamp}",
            start,
            end,
            f"SUMMARY:{ics_escape(summary)}",
            f"DESCRIPTION:{ics_escape(description)}",
            f"URL:{xml_text(base + h['path'])}",
        ]
        if h.get("location"):
            lines.append(f"LOCATION:{ics_escape(h['location'])}")
        if h.get("status") == "cancelled":
            lines.append("STATUS:CANCELLED")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(ics_fold(line) for line in lines) + "\r\n"
