"""Oregon hooks: the measure-history page names sponsors in one "By ..." sentence.

"By Representatives BARTON, J SMITH, Senator ROSENBAUM; Representatives KOMP, MATTHEWS,
Senators BATES (Presession filed.)  -- Relating to ..." lists the chief sponsors before the
semicolon and the regular sponsors after it; a "Representative(s)" or "Senator(s)" word switches
the chamber of the names that follow. A committee or requester line ("Printed pursuant to ...")
names no legislators and gives no sponsors.
"""

from __future__ import annotations

import re
from typing import Any

_BY = re.compile(r"^By (.*?)\s*(?:\([^)]*\)\s*)*--", re.S)
_TITLE_WORD = re.compile(r"^(Representatives?|Senators?)\s+")
_CHAMBER = {"representative": "lower", "senator": "upper"}


def _names(part: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    chamber: str | None = None
    for token in (t.strip() for t in part.split(",")):
        m = _TITLE_WORD.match(token)
        if m:
            chamber = _CHAMBER[m.group(1).lower().rstrip("s")]
            token = token[m.end() :].strip()
        if token:
            out.append((token, chamber))
    return out


def sponsors_from_by_line(data: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Turn the scratch ``_by_line`` into sponsorships (chief sponsors are primary)."""
    line = " ".join(str(data.get("_by_line") or "").split())
    m = _BY.match(line)
    if not m:
        return data  # "Printed pursuant to ..." and committee measures name no legislators
    chief, _, regular = m.group(1).partition(";")
    sponsors = [
        {"name": n, "primary": True, "classification": "primary", "chamber": c}
        for n, c in _names(chief)
    ]
    sponsors += [
        {"name": n, "primary": False, "classification": "cosponsor", "chamber": c}
        for n, c in _names(regular)
    ]
    data["sponsorships"] = sponsors + list(data.get("sponsorships") or [])
    return data
