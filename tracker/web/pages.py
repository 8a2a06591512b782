"""HTML pages: overview, state, bill, search and about, and the wave's CSV. Data comes from
tracker.web.data and tracker.wave."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection

from tracker.search import SearchQuery, SearchResult, count_later, search
from tracker.urls import bill_path_of, search_path
from tracker.vocab import ALL_STAGES, STATE_NAMES, TOPIC_LABELS, TOPICS, stage_text, state_name
from tracker.wave import wave
from tracker.web import data
from tracker.web.deps import connection
from tracker.web.pagecache import serve
from tracker.web.render import render
from tracker.web.wave_chart import chart

CSV = "text/csv; charset=utf-8"

router = APIRouter(include_in_schema=False)


# ----------------------------------------------------------------------------- renderers
# Each takes a connection and returns HTML, so the static build renders the very same pages.


def render_overview(conn: Connection, *, request: Any = None, static: bool = False) -> str:
    return render(
        "index.html",
        request=request,
        static=static,
        path="/",
        wave=chart(wave(conn)),
        wave_csv=wave_csv_path(),
        wave_scope="in every state on file",
        **data.overview(conn),
    )


def render_state(
    conn: Connection, code: str, *, request: Any = None, static: bool = False
) -> str | None:
    ctx = data.state_page(conn, code)
    if ctx is None:
        return None
    ctx["runs"] = [{**r, "count_items": count_items(r["counts"])} for r in ctx["runs"]]
    return render(
        "state.html",
        request=request,
        static=static,
        path=f"/states/{code}/",
        wave=chart(wave(conn, state=code)),
        wave_csv=wave_csv_path(code),
        wave_scope=f"in {state_name(code)}",
        **ctx,
    )


# Run counts as a reader names them; other keys are shown with their underscores as spaces.
COUNT_LABELS = {
    "total": "Bills read",
    "bills": "Bills read",
    "new": "New bills",
    "updated": "Bills updated",
    "unchanged": "Bills unchanged",
    "changes": "Changes recorded",
    "actions": "Actions read",
    "errors": "Errors",
    "pages_fetched": "Pages fetched",
    "index_unmatched": "Index entries not matched",
    "unknown_sessions": "Sessions the config does not know",
}

ALWAYS_SHOWN = ("total", "bills", "new", "updated", "unchanged")


def count_items(counts: dict[str, Any]) -> list[tuple[str, str]]:
    """A run's counts as (label, value) pairs, known names first; zeros and empty lists are
    left out, except the bill totals (a quiet run shows those only)."""
    keys = [k for k in COUNT_LABELS if k in counts] + sorted(set(counts) - set(COUNT_LABELS))
    out = []
    for key in keys:
        value = counts[key]
        if value in (0, None, "", [], {}) and key not in ALWAYS_SHOWN:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        label = COUNT_LABELS.get(key) or key.replace("_", " ").capitalize()
        number = isinstance(value, int) and not isinstance(value, bool)
        out.append((label, f"{value:,}" if number else str(value)))
    return out


def wave_csv_path(state: str | None = None) -> str:
    return f"/states/{state}/wave.csv" if state else "/wave.csv"


def wave_csv(conn: Connection, state: str | None = None) -> str:
    return wave(conn, state=state).to_csv()


def render_bill(
    conn: Connection, bill_id: int, *, request: Any = None, static: bool = False
) -> str | None:
    ctx = data.bill_page(conn, bill_id)
    if ctx is None:
        return None
    return render("bill.html", request=request, static=static, path=ctx["bill"]["path"], **ctx)


def render_about(*, request: Any = None, static: bool = False) -> str:
    return render("about.html", request=request, static=static, path="/about/")


# The search form's choices, by name (the order of the state list).
STATE_CHOICES = tuple(sorted(STATE_NAMES.items(), key=lambda x: x[1]))
_CHOICES = {
    "state": STATE_CHOICES,
    "stage": tuple((s, stage_text(s, None)) for s in ALL_STAGES),  # as the stage_label filter
    "topic": tuple((t, TOPIC_LABELS.get(t, t)) for t in TOPICS),  # as the topic_label filter
}
_OPTION = Markup('<option value="{}"{}>{}</option>')


@lru_cache(maxsize=128)  # bounded: a few KB per selection
def filter_options(name: str, selected: tuple[str, ...]) -> tuple[Markup, ...]:
    """The ``<option>`` elements of the search form's `name` select, `selected` marked; escaped
    once per selection (the 80 options cost a quarter of a search page's rendering)."""
    return tuple(
        _OPTION.format(value, Markup(" selected") if value in selected else "", label)
        for value, label in _CHOICES[name]
    )


def search_context(result: SearchResult) -> dict[str, Any]:
    """Links for facets, pages and exports of one result set (all stable URLs)."""
    q = result.query
    facet_links = {
        name: {f.value: search_path(q.toggled(name, f.value).to_pairs()) for f in values}
        for name, values in result.facets.items()
    }
    pairs = q.to_pairs(page=False)
    return {
        "query": q,
        "result": result,
        "facet_links": facet_links,
        "self_url": search_path(q.to_pairs()),
        "csv_url": search_path(pairs, base="/api/bills.csv"),
        "json_url": search_path(pairs, base="/api/bills"),
        "feed_url": search_path(pairs, base="/feeds/search.atom"),
        "prev_url": search_path(q.at_page(q.page - 1).to_pairs()) if q.page > 1 else None,
        "next_url": (
            search_path(q.at_page(q.page + 1).to_pairs()) if q.page < result.pages else None
        ),
        "state_choices": STATE_CHOICES,  # for a template of one's own (TRACKER_TEMPLATES_DIR)
        "filter_options": filter_options,
    }


def provisional(request: Request, result: SearchResult) -> dict[str, str] | None:
    """A search answered with lower bounds for its counts: count it exactly in the
    background, and keep this answer out of caches (the next one has the exact counts)."""
    if result.total_exact:
        return None
    count_later(request.app.state.engine, result.query)
    return {"Cache-Control": "no-store"}


# ----------------------------------------------------------------------------- routes


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    return await serve(request, lambda conn: HTMLResponse(render_overview(conn, request=request)))


@router.get("/states/{code}/", response_class=HTMLResponse)
async def state_page(code: str, request: Request) -> Response:
    def build(conn: Connection) -> Response:
        html = render_state(conn, code.lower()[:2], request=request) if len(code) == 2 else None
        if html is None:
            raise HTTPException(404, f"No state with the code {code[:20]!r}.")
        return HTMLResponse(html)

    return await serve(request, build)


@router.get("/wave.csv")
def wave_csv_all(conn: Connection = Depends(connection)) -> Response:
    return _csv(wave_csv(conn), "wave.csv")


@router.get("/states/{code}/wave.csv")
def wave_csv_state(code: str, conn: Connection = Depends(connection)) -> Response:
    code = code.lower()
    if code not in STATE_NAMES:
        raise HTTPException(404, f"No state with the code {code[:20]!r}.")
    return _csv(wave_csv(conn, code), f"wave-{code}.csv")


def _csv(body: str, filename: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return Response(body, media_type=CSV, headers={"Content-Disposition": disposition})


@router.get("/bills/{state}/{session}/{identifier}/", response_class=HTMLResponse)
async def bill_page(state: str, session: str, identifier: str, request: Request) -> Response:
    def build(conn: Connection) -> Response:
        bill_id = data.find_bill_id(conn, state, session, identifier)
        html = render_bill(conn, bill_id, request=request) if bill_id else None
        if html is None:
            raise HTTPException(
                404, f"No bill {identifier[:40]} in {state_name(state[:2])} session {session[:40]}."
            )
        return HTMLResponse(html)

    return await serve(request, build)


@router.get("/search/", response_class=HTMLResponse)
async def search_page(request: Request) -> Response:
    def build(conn: Connection) -> Response:
        query, warnings = SearchQuery.from_pairs(request.query_params.multi_items())
        result = search(conn, query, warnings)
        if result.resolved is not None:
            return RedirectResponse(bill_path_of(result.resolved), status_code=303)
        ctx = search_context(result)
        html = render("search.html", request=request, path="/search/", **ctx)
        return HTMLResponse(html, headers=provisional(request, result))

    return await serve(request, build)


@router.get("/about/", response_class=HTMLResponse)
def about_page(request: Request) -> HTMLResponse:
    return HTMLResponse(render_about(request=request))
