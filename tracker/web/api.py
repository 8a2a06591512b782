"""The JSON API: the search at /api/bills (also CSV), one bill, the states; docs at /docs.

What each answer holds is documented by the models in :mod:`tracker.web.schemas`.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Connection

from tracker.search import (
    SearchQuery,
    export_query,
    export_rows,
    result_json,
    search,
    write_csv,
)
from tracker.settings import get_settings
from tracker.web import data, schemas
from tracker.web.pagecache import serve
from tracker.web.pages import provisional
from tracker.web.render import render

router = APIRouter(tags=["api"])


class FastJSON(JSONResponse):
    """A JSON response encoded by orjson: the same compact UTF-8 JSON as Starlette's, in a
    tenth of the time (json.dumps was 10% of a search answer's CPU)."""

    def render(self, content: Any) -> bytes:
        # keys as json.dumps writes them: row keys read through the Core tables are
        # SQLAlchemy's `quoted_name`, a str subclass orjson refuses without this option
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class PageJSON(FastJSON):
    """A page's data as JSON: values JSON has a type for are written by orjson as they are;
    only others (dates, sets, models…) go through FastAPI's ``jsonable_encoder``, which
    walked the whole page in Python before (0.3 ms of a bill's answer)."""

    OPTIONS = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_jsonable, option=self.OPTIONS)


Multi = Annotated[list[str] | None, Query()]


def _query(request: Request) -> tuple[SearchQuery, list[str]]:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "format"]
    return SearchQuery.from_pairs(pairs)


def _csv_response(conn: Connection, query: SearchQuery, warnings: list[str]) -> Response:
    result = search(conn, export_query(query), warnings)
    out = io.StringIO()
    write_csv(export_rows(result.hits, get_settings().base_url), out)
    headers = {"Content-Disposition": 'attachment; filename="bills.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/api/bills",
    summary="Search bills (the same search as the site)",
    response_model=schemas.BillListPublic,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},  # with format=csv
        **schemas.INVALID,
    },
)
async def api_bills(
    request: Request,
    q: Annotated[
        str,
        Query(
            description='words, "phrases", prefix*, -exclude, OR; or a bill number such as HB 2795'
        ),
    ] = "",
    state: Multi = None,
    session: str | None = None,
    stage: Multi = None,
    topic: Multi = None,
    sponsor: str | None = None,
    since: Annotated[str | None, Query(description="last action on or after YYYY-MM-DD")] = None,
    until: Annotated[str | None, Query(description="last action on or before YYYY-MM-DD")] = None,
    relevant: bool = False,
    sort: Literal["relevance", "recency"] = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 25,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Results with facets and paging; `format=csv` (or /api/bills.csv) exports every row."""
    query, warnings = _query(request)
    if format == "csv":
        return await serve(request, lambda conn: _csv_response(conn, query, warnings))
    base_url = get_settings().base_url

    def build(conn: Connection) -> Response:
        result = search(conn, query, warnings)
        return FastJSON(result_json(result, base_url), headers=provisional(request, result))

    return await serve(request, build)


@router.get(
    "/api/bills.csv",
    summary="Search bills as CSV (all rows, no paging)",
    response_class=Response,
    responses=schemas.CSV,
)
async def api_bills_csv(request: Request) -> Response:
    query, warnings = _query(request)
    return await serve(request, lambda conn: _csv_response(conn, query, warnings))


@router.get(
    "/api/bills/{state}/{session}/{identifier}",
    summary="One bill with everything its page shows",
    response_model=schemas.BillDetailPublic,
    responses={**schemas.NOT_FOUND, **schemas.INVALID},
)
async def api_bill(state: str, session: str, identifier: str, request: Request) -> Any:
    def build(conn: Connection) -> Response:
        bill_id = data.find_bill_id(conn, state, session, identifier)
        page = data.bill_page(conn, bill_id) if bill_id else None
        if page is None:
            raise HTTPException(404, f"no bill {identifier[:40]} in {state[:2]} {session[:40]}")
        base = get_settings().base_url.rstrip("/")
        page["bill"]["url"] = base + page["bill"]["path"]
        return PageJSON(page)

    return await serve(request, build)


@router.get(
    "/api/states",
    summary="Every state with bills: counts, furthest stage, freshness",
    response_model=schemas.StatesPublic,
)
async def api_states(request: Request) -> Any:
    return await serve(request, lambda conn: FastJSON({"states": data.states_summary(conn)}))


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """A server-rendered reference built from the OpenAPI schema (no CDN assets)."""
    schema = request.app.openapi()
    endpoints = []
    for path, methods in sorted(schema.get("paths", {}).items()):
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "in": p["in"],
                    "required": p.get("required", False),
                    "description": p.get("description", ""),
                    "type": _type_name(p.get("schema", {})),
                }
                for p in op.get("parameters", [])
            ]
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": params,
                }
            )
    html = render(
        "api_docs.html",
        request=request,
        path="/docs",
        endpoints=endpoints,
        info=schema.get("info", {}),
    )
    return HTMLResponse(html)


def _type_name(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type_name(s) for s in schema["anyOf"] if s.get("type") != "null")
    if schema.get("type") == "array":
        return f"list of {_type_name(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    return str(schema.get("type", "string"))


def _jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)
