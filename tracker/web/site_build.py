"""`tracker site build OUT`: the public site as static files, rebuilt incrementally.

Pages are rendered by the same functions the app uses (``static=True`` leaves out what needs a
server: search and forms). ``OUT/.tracker-manifest.json`` remembers, per page, a fingerprint of
the data it shows and the hash of what was written. Bill pages, the bulk of the site, are only
rendered again when their fingerprint changes (the bill's own change times, stage and topic, its
sources, its lineage links and the bills they point to); the few overview, state and feed pages
are always rendered and written only when their bytes differ. A change to the templates, the
package version or the base URL invalidates the whole manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, func, or_, select

from tracker import __version__
from tracker.models import Bill, BillLink, BillSource, Hearing
from tracker.paths import templates_dir
from tracker.settings import get_settings
from tracker.urls import (
    HEARINGS_ICS,
    bill_path_of,
    state_feed_path,
    state_path,
    topic_feed_path,
)
from tracker.vocab import TOPICS
from tracker.web import data, feeds, pages
from tracker.web.render import render

MANIFEST = ".tracker-manifest.json"
_B, _L, _BS, _H = Bill.__table__, BillLink.__table__, BillSource.__table__, Hearing.__table__


@dataclass
class BuildReport:
    rendered: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0
    invalid: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"site build: {self.rendered} rendered, {self.written} written, "
            f"{self.unchanged} unchanged, {self.skipped} skipped (data unchanged), "
            f"{self.removed} removed, {self.invalid} invalid paths, {self.seconds:.1f}s"
        )


@dataclass
class Page:
    path: str
    render: Callable[[], bytes | str | None]
    fingerprint: str | None = None  # None: always render, write only if the bytes changed


def site_version() -> str:
    """Hash of everything that changes every page: templates, version, base URL."""
    h = hashlib.sha256(f"{__version__}|{get_settings().base_url}".encode())
    root = templates_dir() / "site"
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def file_for(out: Path, path: str) -> Path | None:
    """The file a URL path is served from; None if a segment would escape `out`."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if any(p in (".", "..") or "/" in p or "\\" in p or "\x00" in p for p in parts):
        return None
    target = out.joinpath(*parts) if parts else out
    return target / "index.html" if path.endswith("/") else target


def build_site(
    engine: Engine, out: Path, *, full: bool = False, bills: str = "linked"
) -> BuildReport:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    version = site_version()
    old = _load_manifest(out)
    old_pages: dict[str, Any] = old.get("pages", {}) if old.get("version") == version else {}
    new_pages: dict[str, Any] = {}
    report = BuildReport()
    with engine.connect() as conn:
        for page in _pages(conn, bills=bills):
            _build_page(out, page, old_pages.get(page.path), new_pages, report, full=full)
    for path in set(old.get("pages", {})) - set(new_pages):
        target = file_for(out, path)
        if target and target.is_file():
            target.unlink()
            report.removed += 1
    _write(
        out / MANIFEST,
        json.dumps({"version": version, "pages": new_pages}, sort_keys=True).encode(),
    )
    report.seconds = time.perf_counter() - started
    return report


def _build_page(
    out: Path,
    page: Page,
    before: dict[str, Any] | None,
    manifest: dict[str, Any],
    report: BuildReport,
    *,
    full: bool,
) -> None:
    target = file_for(out, page.path)
    if target is None:
        report.invalid += 1
        return
    if (
        not full
        and before
        and page.fingerprint is not None
        and before.get("fingerprint") == page.fingerprint
        and target.is_file()
    ):
        manifest[page.path] = before
        report.skipped += 1
        return
    body = page.render()
    if body is None:
        return
    raw = body.encode("utf-8") if isinstance(body, str) else body
    report.rendered += 1
    digest = hashlib.sha256(raw).hexdigest()
    manifest[page.path] = {"fingerprint": page.fingerprint, "sha256": digest}
    if before and before.get("sha256") == digest and target.is_file():
        report.unchanged += 1
        return
    _write(target, raw)
    report.written += 1


def _write(target: Path, raw: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, target)


def _load_manifest(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- the pages


def _pages(conn: Connection, *, bills: str) -> Iterator[Page]:
    static = templates_dir() / "site" / "static"
    for name in ("site.css", "favicon.svg"):
        yield Page(f"/static/{name}", (static / name).read_bytes)
    yield Page("/favicon.ico", (static / "favicon.ico").read_bytes)
    yield Page("/", lambda: pages.render_overview(conn, static=True))
    yield Page(pages.wave_csv_path(), lambda: pages.wave_csv(conn))
    yield Page("/about/", lambda: pages.render_about(static=True))
    yield Page(
        "/404.html",
        lambda: render(
            "error.html",
            static=True,
            status=404,
            heading="Page not found",
            message="There is no page at this address.",
        ),
    )
    states = list(conn.execute(select(_B.c.state).distinct()).scalars())
    for code in sorted(states):
        yield Page(state_path(code), partial(pages.render_state, conn, code, static=True))
        yield Page(state_feed_path(code), partial(feeds.state_feed, conn, code))
        yield Page(pages.wave_csv_path(code), partial(pages.wave_csv, conn, code))
    for topic in TOPICS:
        if topic != "none":
            yield Page(topic_feed_path(topic), partial(feeds.topic_feed, conn, topic))
    yield Page(HEARINGS_ICS, lambda: feeds.hearings_calendar(conn))
    yield Page(
        "/api/states.json",
        lambda: json.dumps({"states": data.states_summary(conn)}, default=str, indent=1),
    )
    for bill_id, path, fingerprint in bill_fingerprints(conn, bills=bills):
        yield Page(path, partial(pages.render_bill, conn, bill_id, static=True), fingerprint)


def bill_fingerprints(conn: Connection, *, bills: str = "linked") -> Iterator[tuple[int, str, str]]:
    """(bill id, page path, fingerprint of what its page shows), in id order; `bills` is
    ``linked`` (only bills a static page links to) or ``all``."""
    links = _link_stamps(conn)
    sources = {
        r[0]: f"{r[1]}|{r[2]}"
        for r in conn.execute(
            select(_BS.c.bill_id, func.count(), func.max(_BS.c.last_seen)).group_by(_BS.c.bill_id)
        )
    }
    with_hearings = set(conn.execute(select(_H.c.bill_id).distinct()).scalars())
    today = date.today().isoformat()
    cols = [
        _B.c.id,
        _B.c.state,
        _B.c.session,
        _B.c.identifier,
        _B.c.identifier_norm,
        _B.c.last_changed,
        _B.c.last_checked,
        _B.c.stage,
        _B.c.stage_date,
        _B.c.topic,
        _B.c.relevant,
        _B.c.topic_pinned,
        _B.c.latest_action_date,
    ]
    stmt = select(*cols).order_by(_B.c.id)
    if bills == "linked":
        stmt = stmt.where(_linked_condition())
    for row in conn.execute(stmt):
        m = row._mapping
        checked = str(m["last_checked"])[:10]  # the page shows the day it was last checked
        parts = [
            str(m[c])
            for c in (
                "last_changed",
                "stage",
                "stage_date",
                "topic",
                "relevant",
                "topic_pinned",
                "latest_action_date",
            )
        ]
        parts += [checked, links.get(m["id"], ""), sources.get(m["id"], "")]
        if m["id"] in with_hearings:
            parts.append(today)  # "upcoming" badges move with the date
        digest = hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]
        yield m["id"], bill_path_of(m), digest


def _linked_condition() -> Any:
    """Bills some static page links to: tracked or related-topic bills and their lineage."""
    shown = or_(_B.c.relevant.is_(True), _B.c.topic.not_in(("none",)))
    o = _B.alias("shown")
    from_shown = (
        select(_L.c.other_bill_id)
        .join(o, o.c.id == _L.c.bill_id)
        .where(or_(o.c.relevant.is_(True), o.c.topic.not_in(("none",))))
    )
    to_shown = (
        select(_L.c.bill_id)
        .join(o, o.c.id == _L.c.other_bill_id)
        .where(or_(o.c.relevant.is_(True), o.c.topic.not_in(("none",))))
    )
    return or_(shown, _B.c.id.in_(from_shown), _B.c.id.in_(to_shown))


def _link_stamps(conn: Connection) -> dict[int, str]:
    """Per bill: its lineage links and when the bills they point to last changed."""
    other = _B.alias("o")
    stamps: dict[int, list[str]] = {}
    for mine, theirs in ((_L.c.bill_id, _L.c.other_bill_id), (_L.c.other_bill_id, _L.c.bill_id)):
        q = (
            select(
                mine,
                func.count(),
                func.max(_L.c.created_at),
                func.max(other.c.last_changed),
                func.sum(_L.c.id),
            )
            .select_from(_L.join(other, other.c.id == theirs))
            .group_by(mine)
        )
        for bill_id, n, created, changed, ids in conn.execute(q):
            stamps.setdefault(bill_id, []).append(f"{n},{created},{changed},{ids}")
    return {k: ";".join(v) for k, v in stamps.items()}
