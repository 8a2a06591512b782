"""Public URL paths of the site, shared by the app, the static build, feeds and digests.

Every page is a folder path ending in ``/`` so the static build can write ``.../index.html``
and any static host serves it at the same address as the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from tracker.identifiers import normalize_identifier


def _seg(value: str) -> str:
    return quote(value, safe="")


@lru_cache(maxsize=8192)  # a search page or API answer builds 25-50 of them; a bill has one
def bill_path(state: str, session: str, identifier: str) -> str:
    return f"/bills/{_seg(state.lower())}/{_seg(session)}/{_seg(normalize_identifier(identifier))}/"


def bill_path_of(row: Mapping[Any, Any]) -> str:
    """The path of a bill row or search hit (needs state, session and identifier)."""
    ident = row.get("identifier_norm") or row["identifier"]
    return bill_path(row["state"], row["session"], ident)


def state_path(state: str) -> str:
    return f"/states/{_seg(state.lower())}/"


def search_path(pairs: Iterable[tuple[str, str]] = (), base: str = "/search/") -> str:
    pairs = list(pairs)
    return base + ("?" + urlencode(pairs) if pairs else "")


def state_feed_path(state: str) -> str:
    return f"/feeds/states/{_seg(state.lower())}.atom"


def topic_feed_path(topic: str) -> str:
    return f"/feeds/topics/{_seg(topic)}.atom"


HEARINGS_ICS = "/feeds/hearings.ics"


def api_bill_path(row: Mapping[str, Any]) -> str:
    return "/api" + bill_path_of(row).rstrip("/")
