"""Feed routes: Atom per state, per topic and per search; iCal of upcoming hearings.

Feed readers poll, so every feed answers with an ETag (a hash of its bytes) and a Last-Modified
(its newest entry), and a conditional request for an unchanged feed gets an empty 304. Links in a
feed use ``TRACKER_BASE_URL`` when it is set, else the address the request came to, so a server
on another port still hands out links that work.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import Connection, func, select

from tracker.feeds import atom_feed, change_entries, feed_updated, hearings_ics
from tracker.models import Change
from tracker.search import MAX_PER_PAGE, SearchQuery, search
from tracker.settings import get_settings
from tracker.urls import search_path, state_feed_path, state_path, topic_feed_path
from tracker.vocab import STATE_NAMES, TOPIC_LABELS, TOPICS, state_name
from tracker.web import data, schemas
from tracker.web.deps import connection

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM = "application/atom+xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"
FEED_SIZE = 50


def _documented(
    media_type: str, what: str, *, not_found: bool = False, typed: bool = False
) -> dict[str, Any]:
    """`responses=` for a feed route: its real media type, and the 304 of a conditional GET."""
    out: dict[int | str, Any] = {
        200: {"content": {media_type: {"schema": {"type": "string"}}}, "description": what},
        304: {"description": "not modified since the client's copy (ETag / Last-Modified)"},
    }
    if not_found:
        out.update(schemas.NOT_FOUND)
    if typed:  # a parameter that is not text can be wrong: 422
        out.update(schemas.INVALID)
    return {"response_class": Response, "responses": out}


ATOM_FEED = "application/atom+xml"


def base_url(request: Request | None = None) -> str:
    """The configured public address; unconfigured, the one this request was served at."""
    settings = get_settings()
    if request is None or "base_url" in settings.model_fields_set:
        return settings.base_url
    return str(request.base_url).rstrip("/")


def newest_data(conn: Connection) -> datetime | None:
    """When the database last recorded a change: the date an empty feed carries."""
    return conn.execute(select(func.max(Change.__table__.c.seen_at))).scalar()


def _atom(
    conn: Connection, *, changes: list[dict[str, Any]], base: str | None, **kw: str
) -> tuple[bytes, datetime]:
    entries = change_entries(changes)
    updated = feed_updated(entries, fallback=newest_data(conn))
    body = atom_feed(base_url=base or base_url(), entries=entries, updated=updated, **kw)
    return body, updated


def state_feed(conn: Connection, code: str, *, base: str | None = None) -> bytes:
    return _state_feed(conn, code, base=base)[0]


def _state_feed(conn: Connection, code: str, *, base: str | None) -> tuple[bytes, datetime]:
    return _atom(
        conn,
        changes=data.recent_changes(conn, state=code, limit=FEED_SIZE),
        base=base,
        title=f"{state_name(code)}: single-payer bill changes",
        feed_path=state_feed_path(code),
        page_path=state_path(code),
    )


def topic_feed(conn: Connection, topic: str, *, base: str | None = None) -> bytes:
    return _topic_feed(conn, topic, base=base)[0]


def _topic_feed(conn: Connection, topic: str, *, base: str | None) -> tuple[bytes, datetime]:
    return _atom(
        conn,
        changes=data.recent_changes(conn, topic=topic, relevant_only=False, limit=FEED_SIZE),
        base=base,
        title=f"{TOPIC_LABELS.get(topic, topic)}: bill changes",
        feed_path=topic_feed_path(topic),
        page_path=search_path([("topic", topic)]),
    )


def hearings_calendar(
    conn: Connection, state: str | None = None, everything: bool = False, *, base: str | None = None
) -> str:
    hearings = data.upcoming_hearings(conn, state=state, relevant_only=not everything)
    name = "Single-payer bill hearings" + (f" in {state_name(state)}" if state else "")
    return hearings_ics(hearings, base_url=base or base_url(), name=name)


def conditional(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    updated: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """`body` with ETag and Last-Modified, or 304 when the client's copy is current."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    out = {"ETag": etag, "Cache-Control": "public, max-age=300", **(headers or {})}
    if updated is not None:
        out["Last-Modified"] = format_datetime(updated, usegmt=True)
    if _not_modified(request, etag=etag, updated=updated):
        return Response(status_code=304, headers=out)
    return Response(body, media_type=media_type, headers=out)


def _not_modified(request: Request, *, etag: str, updated: datetime | None) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:  # RFC 9110 13.1.3: If-None-Match wins over If-Modified-Since
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since and updated is not None:
        try:
            return updated <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


@router.get(
    "/states/{code}.atom",
    summary="Atom feed of changes to a state's tracked bills",
    **_documented(ATOM_FEED, "an Atom feed", not_found=True),
)
def state_atom(code: str, request: Request, conn: Connection = Depends(connection)) -> Response:
    code = code.lower()
    if code not in STATE_NAMES:
        raise HTTPException(404, "unknown state")
    body, updated = _state_feed(conn, code, base=base_url(request))
    return conditional(request, body, media_type=ATOM, updated=updated)


@router.get(
    "/topics/{topic}.atom",
    summary="Atom feed of changes to bills of one topic",
    **_documented(ATOM_FEED, "an Atom feed", not_found=True),
)
def topic_atom(topic: str, request: Request, conn: Connection = Depends(connection)) -> Response:
    if topic not in TOPICS:
        raise HTTPException(404, "unknown topic")
    body, updated = _topic_feed(conn, topic, base=base_url(request))
    return conditional(request, body, media_type=ATOM, updated=updated)


@router.get(
    "/search.atom",
    summary="Atom feed of changes to the bills a search finds",
    **_documented(ATOM_FEED, "an Atom feed"),
)
def search_atom(request: Request, conn: Connection = Depends(connection)) -> Response:
    query, warnings = SearchQuery.from_pairs(request.query_params.multi_items())
    wide = SearchQuery(**{**query.__dict__, "page": 1, "per_page": MAX_PER_PAGE})
    result = search(conn, wide, warnings)
    ids = [h["id"] for h in result.hits]
    pairs = query.to_pairs(page=False)
    title = "Bill changes" + (f" for “{query.q}”" if query.q else "") + " — saved search"
    body, updated = _atom(
        conn,
        changes=data.recent_changes(conn, bill_ids=ids, limit=FEED_SIZE),
        base=base_url(request),
        title=title,
        feed_path=search_path(pairs, base="/feeds/search.atom"),
        page_path=search_path(pairs),
    )
    return conditional(request, body, media_type=ATOM, updated=updated)


@router.get(
    "/hearings.ics",
    summary="iCalendar of upcoming hearings on tracked bills",
    **_documented("text/calendar", "an iCalendar file", typed=True),
)
def hearings(
    request: Request,
    state: str | None = None,
    all: bool = False,
    conn: Connection = Depends(connection),
) -> Response:
    code = state.lower() if state and state.lower() in STATE_NAMES else None
    body = hearings_calendar(conn, code, all, base=base_url(request)).encode("utf-8")
    return conditional(
        request,
        body,
        media_type=ICS,
        headers={"Content-Disposition": 'inline; filename="hearings.ics"'},
    )
