"""Open States API v3 bill objects -> ScrapedBill (the parser only; the source that calls the
API, with its quota and cursors, is ``tracker.collect.openstates_api``).

Documented format (openstates/api-v3): a ``/bills`` result with ``include=`` actions,
sponsorships, versions, documents, sources, abstracts, other_identifiers ... Descriptive fields
share their mapping with the bulk importer (:func:`scrapers.importers.openstates.descriptive_fields`).
"""

from __future__ import annotations

import re
from typing import Any

from scrapers.importers.base import RecordError, validate_bill
from scrapers.importers.openstates import descriptive_fields
from tracker.scraped import ScrapedBill
from tracker.vocab import CHAMBERS

_STATE_RE = re.compile(r"state:([a-z]{2})\b")


def _org_chamber(org: Any) -> str | None:
    value = org.get("classification") if isinstance(org, dict) else None
    return value if value in CHAMBERS else None


def _committee(org: Any) -> str | None:
    if isinstance(org, dict) and org.get("classification") == "committee":
        return org.get("name") or None
    return None


def _docs(items: Any) -> list[dict[str, Any]]:
    return [
        {
            "note": d.get("note") or "",
            "date": d.get("date") or None,
            "classification": d.get("classification") or "",
            "links": [
                {"url": link["url"], "media_type": link.get("media_type") or ""}
                for link in d.get("links") or []
            ],
        }
        for d in items or []
    ]


def _sponsor(s: dict[str, Any]) -> dict[str, Any]:
    role = (s.get("person") or {}).get("current_role") or {}
    chamber = role.get("org_classification")
    return {
        "name": s["name"],
        "primary": bool(s.get("primary")),
        "classification": s.get("classification")
        or ("primary" if s.get("primary") else "cosponsor"),
        "entity_type": s.get("entity_type") or "person",
        "chamber": chamber if chamber in CHAMBERS else None,
    }


def v3_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The ScrapedBill fields of one API v3 bill object (not yet validated)."""
    jur = data.get("jurisdiction") or {}
    match = _STATE_RE.search(jur.get("id") or "") if isinstance(jur, dict) else None
    if match is None:
        raise ValueError(f"jurisdiction {jur!r} does not name a state")
    actions = sorted(data.get("actions") or [], key=lambda a: a.get("order", 0))
    extras = dict(data.get("extras") or {})
    if data.get("id"):
        extras["openstates_id"] = data["id"]
    return {
        "state": match.group(1),
        "legislative_session": data["session"],
        "identifier": data["identifier"],
        "chamber": _org_chamber(data.get("from_organization")),
        **descriptive_fields(data),
        "actions": [
            {
                "date": a["date"],
                "description": a["description"],
                "chamber": _org_chamber(a.get("organization")),
                "committee": _committee(a.get("organization")),
                "classification": a.get("classification") or [],
            }
            for a in actions
        ],
        "sponsorships": [_sponsor(s) for s in data.get("sponsorships") or []],
        "versions": _docs(data.get("versions")),
        "documents": _docs(data.get("documents")),
        "sources": [
            {"url": s["url"], "note": s.get("note") or ""} for s in data.get("sources") or []
        ],
        "extras": extras,
    }


def bill_from_v3(data: Any, where: str) -> ScrapedBill | RecordError:
    if not isinstance(data, dict):
        return RecordError(where, None, f"expected a bill object, got {type(data).__name__}")
    try:
        fields = v3_fields(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return RecordError(where, None, f"bill {data.get('identifier', '?')}: malformed ({exc!r})")
    return validate_bill(fields, where, None)
