"""Bill identifiers: one normal form so the same bill from two sources is one row.

``HB2795``, ``HB 2795``, ``H.B. 2795`` and ``HB02795`` all become ``HB2795`` (key) and
``HB 2795`` (display). New York's amendment letters (``S6169-B``, ``S6169B``) name versions of
one bill, so the key drops them; the display form keeps the bill, not the version.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ID_RE = re.compile(r"^([A-Z]+?)\s*0*(\d+)(?:\s*-?\s*([A-Z]))?$")
_SEP_RE = re.compile(r"[.\s_]+")


@lru_cache(maxsize=65536)
def _parts(identifier: str) -> tuple[str, str, str] | None:
    raw = _SEP_RE.sub(" ", identifier.strip().upper()).strip()
    compact = raw.replace(" ", "")
    m = _ID_RE.match(compact)
    if not m:
        return None
    prefix, number, suffix = m.group(1), m.group(2), m.group(3) or ""
    return prefix, str(int(number)), suffix


def normalize_identifier(identifier: str) -> str:
    """The natural-key form: letters then number, no spaces, dots, zero padding or version letter.

    >>> normalize_identifier("H.B. 0001"), normalize_identifier("S6169-B")
    ('HB1', 'S6169')
    """
    parts = _parts(identifier)
    if parts is None:
        return re.sub(r"[^A-Z0-9]", "", identifier.upper()) or identifier.strip().upper()
    return parts[0] + parts[1]


def display_identifier(identifier: str) -> str:
    """The display form Open States uses: ``HB 2795``."""
    parts = _parts(identifier)
    if parts is None:
        return " ".join(identifier.split())
    return f"{parts[0]} {parts[1]}"


def version_suffix(identifier: str) -> str:
    """The amendment letter of an identifier like ``S6169-B`` (``"B"``), or ``""``."""
    parts = _parts(identifier)
    return parts[2] if parts else ""
