"""`/health`: per-state scraper health for people; `/healthz`: a machine check.

``/healthz`` answers 200 when the database is reachable and 503 when it is not. It also says
whether some process is scheduling (a recent heartbeat) and this process's role; a scheduler
that is down is reported, not turned into a 503, so a load balancer keeps sending readers to
web-only processes while another process schedules.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from tracker import health
from tracker.web.schemas import HealthPublic

router = APIRouter()


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _role(request: Request) -> str:
    service = getattr(request.app.state, "scheduler_service", None)
    return service.role if service is not None else "disabled"


@router.get(
    "/healthz",
    summary="Machine health check: 200 when the database answers, else 503",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "the database does not answer"}},
)
async def healthz(request: Request) -> JSONResponse:
    data = await asyncio.to_thread(health.system_health, _engine(request))
    data["this_process"] = _role(request)
    data["time"] = datetime.now(UTC).isoformat()
    data["status"] = "ok" if data["database"] else "error"
    return JSONResponse(data, status_code=200 if data["database"] else 503)


def _page_data(engine: Any) -> dict[str, Any]:
    return {"states": health.all_health(engine), "system": health.system_health(engine)}


@router.get("/health", response_class=HTMLResponse, include_in_schema=False)
@router.get("/health/", response_class=HTMLResponse, include_in_schema=False)
async def health_page(request: Request) -> HTMLResponse:
    from tracker.web.render import render

    data = await asyncio.to_thread(_page_data, _engine(request))
    failing = sum(1 for s in data["states"] if not s.ok)
    html = render(
        "health.html",
        request=request,
        path="/health/",
        failing=failing,
        this_process=_role(request),
        **data,
    )
    return HTMLResponse(html)
