"""Legislative sessions: dates when a source does not give them."""

from __future__ import annotations

import re

_YEARS = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:\s*-\s*((?:19|20)\d{2}))?")
_ORDINAL_LEGISLATURE = {  # identifiers that are legislature numbers rather than years
    ("ma", "194th"): ("2025-01-01", "2026-12-31"),
}


def guess_session_dates(identifier: str, state: str | None = None) -> tuple[str | None, str | None]:
    """Start and end dates implied by a session identifier such as ``2025-2026`` or ``2025S1``.

    The end is the last day of the session's last year: late enough never to call a live bill
    dead; a state config can give exact dates.
    """
    if state and (state, identifier) in _ORDINAL_LEGISLATURE:
        return _ORDINAL_LEGISLATURE[(state, identifier)]
    m = _YEARS.search(identifier)
    if not m:
        return None, None
    first = m.group(1)
    last = m.group(2) or first
    return f"{first}-01-01", f"{last}-12-31"
