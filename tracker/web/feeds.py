"""Feed routes: Atom per state, per topic and per search; iCal of upcoming hearings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from tracker.feeds import atom_feed, change_entries, hearings_ics
from tracker.search import MAX_PER_PAGE, SearchQuery, search
from tracker.settings import get_settings
from tracker.urls import search_path, state_feed_path, state_path, topic_feed_path
from tracker.vocab import STATE_NAMES, TOPIC_LABELS, TOPICS, state_name
from tracker.web import data
from tracker.web.deps import connection

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM = "application/atom+xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"
FEED_SIZE = 50


def _base() -> str:
    return get_settings().base_url


def state_feed(conn: Connection, code: str) -> bytes:
    changes = data.recent_changes(conn, state=code, limit=FEED_SIZE)
    return atom_feed(
        title=f"{state_name(code)}: single-payer bill changes",
        feed_path=state_feed_path(code),
        page_path=state_path(code),
        base_url=_base(),
        entries=change_entries(changes),
    )


def topic_feed(conn: Connection, topic: str) -> bytes:
    changes = data.recent_changes(conn, topic=topic, relevant_only=False, limit=FEED_SIZE)
    return atom_feed(
        title=f"{TOPIC_LABELS.get(topic, topic)}: bill changes",
        feed_path=topic_feed_path(topic),
        page_path=search_path([("topic", topic)]),
        base_url=_base(),
        entries=change_entries(changes),
    )


def hearings_calendar(conn: Connection, state: str | None = None, everything: bool = False) -> str:
    hearings = data.upcoming_hearings(conn, state=state, relevant_only=not everything)
    name = "Single-payer bill hearings" + (f" in {state_name(state)}" if state else "")
    return hearings_ics(hearings, base_url=_base(), name=name)


@router.get("/states/{code}.atom", summary="Atom feed of changes to a state's tracked bills")
def state_atom(code: str, conn: Connection = Depends(connection)) -> Response:
    code = code.lower()
    if code not in STATE_NAMES:
        raise HTTPException(404, "unknown state")
    return Response(state_feed(conn, code), media_type=ATOM)


@router.get("/topics/{topic}.atom", summary="Atom feed of changes to bills of one topic")
def topic_atom(topic: str, conn: Connection = Depends(connection)) -> Response:
    if topic not in TOPICS:
        raise HTTPException(404, "unknown topic")
    return Response(topic_feed(conn, topic), media_type=ATOM)


@router.get("/search.atom", summary="Atom feed of changes to the bills a search finds")
def search_atom(request: Request, conn: Connection = Depends(connection)) -> Response:
    query, warnings = SearchQuery.from_pairs(request.query_params.multi_items())
    wide = SearchQuery(**{**query.__dict__, "page": 1, "per_page": MAX_PER_PAGE})
    result = search(conn, wide, warnings)
    ids = [h["id"] for h in result.hits]
    changes = data.recent_changes(conn, bill_ids=ids, limit=FEED_SIZE)
    pairs = query.to_pairs(page=False)
    title = "Bill changes" + (f" for “{query.q}”" if query.q else "") + " — saved search"
    body = atom_feed(
        title=title,
        feed_path=search_path(pairs, base="/feeds/search.atom"),
        page_path=search_path(pairs),
        base_url=_base(),
        entries=change_entries(changes),
    )
    return Response(body, media_type=ATOM)


@router.get("/hearings.ics", summary="iCalendar of upcoming hearings on tracked bills")
def hearings(
    state: str | None = None, all: bool = False, conn: Connection = Depends(connection)
) -> Response:
    code = state.lower() if state and state.lower() in STATE_NAMES else None
    return Response(
        hearings_calendar(conn, code, all),
        media_type=ICS,
        headers={"Content-Disposition": 'inline; filename="hearings.ics"'},
    )
