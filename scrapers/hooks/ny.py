"""New York hooks: the LBDC bill status page keeps its sponsor memo as bare text between rules.

Between the first two ``<hr>`` of the page body sit, separated by ``<br>``: the sponsor list
("CLEARE, WEBB"), the law citation ("Amd §§1-104, 7-104 & 7-106, El L"; sometimes empty), the
summary, and for chaptered bills "EFF. DATE 10/23/2017". No selector reaches bare text nodes, so
this ``post`` hook reads that block and adds sponsors, the summary and the citation.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import NavigableString, Tag

from scrapers.extract import squash

_EFFECTIVE = re.compile(r"^EFF\. DATE\s+(\S+)")


def _memo_lines(root: Tag) -> list[str]:
    body = root.select_one("#nv_bot_contents")
    first_rule = body.find("hr") if body else None
    if first_rule is None:
        return []
    lines: list[str] = []
    current: list[str] = []
    for node in first_rule.next_siblings:
        if isinstance(node, Tag) and node.name == "hr":
            break
        if isinstance(node, Tag) and node.name == "br":
            lines.append(squash(" ".join(current)))
            current = []
        elif isinstance(node, NavigableString):
            current.append(str(node))
        elif isinstance(node, Tag):
            current.append(node.get_text(" "))
    lines.append(squash(" ".join(current)))
    return lines


def lbdc_memo(data: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Add sponsors, summary, law citation and effective date from the memo block."""
    lines = _memo_lines(ctx.doc.root)
    if not lines or not lines[0]:
        raise ctx.fail(
            "the sponsor memo block after the actions is missing",
            field="sponsorships",
            selector="#nv_bot_contents hr",
        )
    names = [n.strip() for n in lines[0].split(",") if n.strip()]
    data["sponsorships"] = [
        {"name": n, "primary": i == 0, "classification": "primary" if i == 0 else "cosponsor"}
        for i, n in enumerate(names)
    ] + list(data.get("sponsorships") or [])
    rest = lines[1:]
    if rest and rest[0]:
        data.setdefault("extras", {})["law_citation"] = rest[0]
    summary = [line for line in rest[1:] if line and not _EFFECTIVE.match(line)]
    if summary:
        data["abstracts"] = [{"abstract": " ".join(summary), "note": "summary"}]
    for line in rest:
        if m := _EFFECTIVE.match(line):
            data.setdefault("extras", {})["effective_date"] = m.group(1)
    return data
