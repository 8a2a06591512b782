"""Which text encoding a fetched body is in: BOM, Content-Type charset, XML or <meta> declaration.

Shared by :class:`scrapers.fetch_types.Page` and the saved-page readers in :mod:`scrapers.extract`.
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,100}?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([^;"'\s]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _codec(name: str | bytes | None) -> str | None:
    if not name:
        return None
    if isinstance(name, bytes):
        name = name.decode("ascii", "ignore")
    try:
        canonical = codecs.lookup(name.strip()).name
    except LookupError:
        return None
    # As browsers do (WHATWG Encoding): pages labelled Latin-1 or ASCII are really windows-1252.
    return "cp1252" if canonical in {"iso8859-1", "ascii"} else canonical


def sniff_encoding(body: bytes, content_type: str | None) -> str:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    declared = _HEADER_CHARSET.search(content_type or "")
    head = body[:4096]
    for candidate in (
        declared.group(1) if declared else None,
        (m.group(1) if (m := _XML_ENCODING.search(head)) else None),
        (m.group(1) if (m := _META_CHARSET.search(head)) else None),
    ):
        if codec := _codec(candidate):
            return codec
    return "utf-8"
