"""Which failures the HTTP client retries, and how long a server asks it to wait.

Pure rules over statuses, exceptions and headers, apart from the client that acts on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
PERMANENT_5XX = frozenset({501, 505})
RETRY_AFTER_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def retryable_exception(exc: requests.RequestException) -> bool:
    # A bad certificate or a malformed URL will fail the same way every time.
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return False
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    )


def retryable_status(status: int) -> bool:
    return status == 429 or (500 <= status <= 599 and status not in PERMANENT_5XX)
