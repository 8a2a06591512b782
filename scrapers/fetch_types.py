"""What a fetch gives back: the :class:`Page` and the :class:`FetchError` family.

Kept apart from :class:`scrapers.http.HttpClient` so code that only reads pages or catches fetch
errors (parsers, sources, the CLI) does not need the client's machinery to name them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from requests.structures import CaseInsensitiveDict

from scrapers.encoding import sniff_encoding
from scrapers.redact import redact_url


class FetchError(Exception):
    """A fetch failed; ``url``, ``reason`` and (when a response came) ``status`` say why."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        url, reason = redact_url(url), redact_url(reason)
        self.url = url
        self.reason = reason
        self.status = status
        message = reason if url in reason else f"{reason}: {url}"
        super().__init__(message)


class RobotsDisallowed(FetchError):
    """robots.txt of the host forbids this URL for our User-Agent."""


class TooLarge(FetchError):
    """The body is larger than the client's ``max_bytes``."""


class HTTPStatusError(FetchError):
    """The server answered with a status that is not retried (4xx other than 429, 501, ...)."""


class RetriesExhausted(FetchError):
    """Every attempt failed with a transient error (connection, timeout, 5xx, 429)."""


class Cancelled(FetchError):
    """The fetch gave up before its next request or during a wait: the process is stopping."""


@dataclass
class Page:
    """One fetched document. ``body`` is always the full content, also when answered by a 304."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    content_hash: str
    fetched_at: datetime
    from_cache: bool = False
    not_modified: bool = False
    unchanged: bool = False
    elapsed: float = 0.0
    requested_url: str = ""
    method: str = "GET"
    request_digest: str = ""

    def __post_init__(self) -> None:
        if not self.requested_url:
            self.requested_url = self.url

    def header(self, name: str, default: str | None = None) -> str | None:
        """A response header, looked up case-insensitively."""
        return CaseInsensitiveDict(self.headers).get(name, default)

    @cached_property
    def encoding(self) -> str:
        """BOM, then the Content-Type charset, then a <meta>/XML declaration, then UTF-8."""
        return sniff_encoding(self.body, self.header("Content-Type"))

    @cached_property
    def text(self) -> str:
        codec = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        return self.body.decode(codec, errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise FetchError(self.url, f"response is not valid JSON ({exc})") from exc
