"""Rendering site pages with the one Jinja2 environment, for the app and the static build."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from tracker import urls
from tracker.settings import get_settings
from tracker.templating import get_env
from tracker.vocab import ALL_STAGES, STAGE_LABELS, STAGES, TERMINAL_STAGES, TOPIC_LABELS, TOPICS

SITE_NAME = "Single-Payer Tracker"
NAV = (
    ("/", "Overview"),
    ("/search/", "Search bills"),
    ("/subscribe/", "Get the digest"),
    ("/health/", "Data health"),
    ("/about/", "About"),
)
STATIC_NAV = (("/", "Overview"), ("/about/", "About"))


def _register() -> None:
    env = get_env()
    if env.globals.get("_tracker_web"):
        return
    env.globals.update(
        _tracker_web=True,
        bill_url=urls.bill_path_of,
        api_bill_url=urls.api_bill_path,
        state_url=urls.state_path,
        search_url=urls.search_path,
        state_feed_url=urls.state_feed_path,
        topic_feed_url=urls.topic_feed_path,
        hearings_ics_url=urls.HEARINGS_ICS,
        STAGES=STAGES,
        TERMINAL_STAGES=TERMINAL_STAGES,
        ALL_STAGES=ALL_STAGES,
        STAGE_LABELS=STAGE_LABELS,
        TOPICS=TOPICS,
        TOPIC_LABELS=TOPIC_LABELS,
    )
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)


def render(
    template: str, /, *, request: Any = None, static: bool = False, path: str = "/", **context: Any
) -> str:
    """Render ``site/<name>`` with the shared layout context.

    `static` pages (the static build) leave out what needs the server: the search form, the
    CSRF-protected forms and links to server-only pages.
    """
    _register()

    def field() -> Markup:
        if request is None or static:
            return Markup("")
        from tracker.web.security import csrf_field

        return csrf_field(request)

    settings = get_settings()
    base = {
        "site_name": SITE_NAME,
        "static": static,
        "path": path,
        "request": request,
        "nav": STATIC_NAV if static else NAV,
        "csrf_field": field,
        "base_url": settings.base_url.rstrip("/"),
    }
    return get_env().get_template(f"site/{template}").render(**base, **context)
