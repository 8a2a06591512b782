"""Masking API keys in URLs, shared by the HTTP client (logs, errors) and the page archive.

Its own module so that neither of those two imports the other for it.
"""

from __future__ import annotations

import re

_SECRET_PARAM = re.compile(r"(?i)([?&](?:key|apikey|api_key|access_token|token)=)[^&#\s]*")


def redact_url(text: str) -> str:
    """Mask API keys in query strings (``?key=...``) so logs, errors and the archive never hold them."""
    return _SECRET_PARAM.sub(r"\1***", text)
