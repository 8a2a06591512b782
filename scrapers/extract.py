"""Per-format documents: one small interface over HTML, XML, JSON and delimited text.

The engine asks a document to ``select`` nodes under a node, read a node's ``text`` or ``attr``,
and step to a node's parent or siblings. Each format implements that with the fastest tool that
keeps selectors readable for volunteers:

- HTML: BeautifulSoup on the lxml tree builder, CSS via soupsieve (compiled once per selector);
- XML: lxml with namespaces stripped (SOAP replies read like plain XML), CSS via cssselect
  compiled to XPath once per selector;
- JSON: dotted paths (``result.actions.items[*].date``; ``*`` also walks a mapping's values);
- delimited: rows as mappings, read by ``column``.

Regex items (``items_regex``) are :class:`RegexItem` values whose ``group`` fields read groups.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

import soupsieve
from bs4 import BeautifulSoup, CData, NavigableString, SoupStrainer, Tag
from cssselect import GenericTranslator, SelectorError
from lxml import etree

from scrapers import fastselect

if TYPE_CHECKING:  # only for annotations: config imports check_selector from here
    from scrapers.config import PageSpec

_WS = re.compile(r"\s+")


class SelectorSyntaxError(ValueError):
    """A selector or path in a config cannot be compiled."""


def squash(text: str) -> str:
    """Collapse runs of whitespace (including no-break spaces) into one space and trim."""
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class TextItem:
    """One element of a list extracted earlier (``items_from``); read it with ``selector: "."``."""

    text: str


@dataclass(frozen=True)
class RegexItem:
    """One match of an ``items_regex``; fields read its groups with ``group:``."""

    match: re.Match[str]

    def group(self, key: str | int) -> str | None:
        try:
            return self.match.group(key)
        except IndexError as exc:  # re raises IndexError for unknown numbers and names alike
            raise SelectorSyntaxError(f"the items_regex has no group {key!r}") from exc

    @property
    def text(self) -> str:
        return self.match.group(0)


class Document:
    """Base class: the node operations the engine needs."""

    format = ""

    def __init__(self, root: Any, url: str | None) -> None:
        self.root = root
        self.url = url or ""  # base for relative links (a page's <base href> changes it)
        self.page_url = url or ""  # where the page came from, for messages and sources
        self._order: dict[int, int] | None = None
        self._root_cache: dict[str, list[Any]] = {}

    def find(self, node: Any, selector: str) -> list[Any]:
        """`select`, remembered for the document root: list items often look up page-wide
        values (``scope: document``), which would otherwise walk the whole page per item."""
        if node is not self.root:
            return self.select(node, selector)
        hit = self._root_cache.get(selector)
        if hit is None:
            hit = self._root_cache[selector] = self.select(node, selector)
        return hit

    # subclasses implement these
    def select(self, node: Any, selector: str) -> list[Any]:
        raise NotImplementedError

    def text(self, node: Any, raw: bool = False) -> str:
        raise NotImplementedError

    def attr(self, node: Any, name: str) -> str | None:
        raise NotImplementedError

    def parent(self, node: Any) -> Any:
        return None

    def next(self, node: Any) -> Any:
        return None

    def previous(self, node: Any) -> Any:
        return None

    def walk(self) -> Iterable[Any]:
        return ()

    # shared
    def position(self, node: Any) -> int:
        """Document order of a node, for ``after:``/``before:`` windows (built once, on demand)."""
        if self._order is None:
            self._order = {id(n): i for i, n in enumerate(self.walk())}
        return self._order.get(id(node), -1)

    def absolute(self, link: str) -> str:
        return urljoin(self.url, link.strip()) if self.url else link.strip()


# --------------------------------------------------------------------------------- HTML


@lru_cache(maxsize=4096)
def _css(selector: str) -> soupsieve.SoupSieve:
    try:
        # NOSTRICT: soupsieve 4 refuses standard relative selectors such as tr:has(> td > a)
        return soupsieve.compile(selector, flags=soupsieve.NOSTRICT)
    except Exception as exc:  # soupsieve raises its own SelectorSyntaxError subclasses
        raise SelectorSyntaxError(f"CSS selector {selector!r} is invalid: {exc}") from exc


def check_selector(selector: str, page_format: str) -> None:
    """Compile ``selector`` as a page of ``page_format`` would use it (CSS with soupsieve for
    HTML, CSS to XPath for XML, a path for JSON); SelectorSyntaxError when it cannot be.
    Config validation calls this, so a bad selector fails there, not in a scrape."""
    if selector.strip() in ("", "."):
        return
    if page_format == "html":
        _css(selector)
    elif page_format == "xml":
        _xpath(selector)
    elif page_format == "json":
        parse_path(selector)


# Elements that break a line when rendered: their text is kept apart; inline elements
# (a, b, span, font) join their neighbours, so "(<a>Senate Journal</a>)" reads "(Senate Journal)".
_BLOCK = frozenset(
    "address article aside blockquote br center dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol option p pre section table tbody td tfoot th thead "
    "tr ul".split()
)
_TEXT_TYPES = (NavigableString, CData)


def visible_text(tag: Tag) -> str:
    """The text of `tag` as a reader sees it: comments and scripts left out, blocks apart."""
    parts: list[str] = []
    for node in tag.descendants:
        if type(node) in _TEXT_TYPES:  # exact type: comments are strings too
            parts.append(node)  # type: ignore[arg-type]  # mypy cannot narrow on type() in a set
        elif isinstance(node, Tag) and node.name in _BLOCK:
            parts.append(" ")
    return "".join(parts)


class HtmlDocument(Document):
    format = "html"

    def __init__(
        self,
        body: bytes | str,
        url: str | None,
        *,
        encoding: str | None = None,
        strainer: SoupStrainer | None = None,
    ) -> None:
        text = decode(body, encoding) if isinstance(body, bytes) else body
        soup = BeautifulSoup(text, "lxml", parse_only=strainer)
        super().__init__(soup, url)
        head = soup.head if strainer is None else None
        base = head.find("base", href=True, recursive=False) if head is not None else None
        self._by_name: dict[str, list[Tag]] | None = None
        if isinstance(base, Tag) and url:
            self.url = urljoin(url, str(base["href"]))
        elif isinstance(base, Tag):
            self.url = str(base["href"])

    def select(self, node: Any, selector: str) -> list[Any]:
        if not isinstance(node, Tag):
            return []
        compiled = fastselect.compile_selector(selector)
        if compiled is None:  # CSS beyond the fast subset
            return _css(selector).select(node)
        names = fastselect.key_tags(compiled) if node is self.root else None
        candidates = self._named(names) if names else None
        return fastselect.select(node, compiled, candidates)

    def _named(self, names: set[str]) -> list[Tag]:
        """Every element with one of `names`, in document order (an index built once)."""
        if self._by_name is None:
            index: dict[str, list[Tag]] = {}
            for el in self.root.descendants:
                if isinstance(el, Tag):
                    index.setdefault(el.name, []).append(el)
            self._by_name = index
        if len(names) == 1:
            return self._by_name.get(next(iter(names)), [])
        merged = [el for n in names for el in self._by_name.get(n, [])]
        return sorted(merged, key=self.position)

    def text(self, node: Any, raw: bool = False) -> str:
        if isinstance(node, Tag):
            return node.get_text() if raw else squash(visible_text(node))
        return str(node) if raw else squash(str(node))

    def attr(self, node: Any, name: str) -> str | None:
        if not isinstance(node, Tag):
            return None
        if name == "html":
            return str(node)
        if name == "own_text":
            return squash(" ".join(node.find_all(string=True, recursive=False)))
        if name in ("previous_text", "next_text"):
            # bare text beside an element, as in 'Enrolled ( <a>html</a> | <a>pdf</a> )'
            sibling = node.previous_sibling if name == "previous_text" else node.next_sibling
            return squash(str(sibling)) if isinstance(sibling, NavigableString) else None
        value = node.get(name)
        if isinstance(value, list):
            return " ".join(value)
        return value

    def parent(self, node: Any) -> Any:
        return node.parent if isinstance(node, Tag) else None

    def next(self, node: Any) -> Any:
        return node.find_next_sibling() if isinstance(node, Tag) else None

    def previous(self, node: Any) -> Any:
        return node.find_previous_sibling() if isinstance(node, Tag) else None

    def walk(self) -> Iterable[Any]:
        return (n for n in self.root.descendants if isinstance(n, Tag))


# --------------------------------------------------------------------------------- XML

_TRANSLATOR = GenericTranslator()


@lru_cache(maxsize=4096)
def _xpath(selector: str) -> etree.XPath:
    try:
        return etree.XPath(_TRANSLATOR.css_to_xpath(selector, prefix="descendant::"))
    except (SelectorError, etree.XPathSyntaxError) as exc:
        raise SelectorSyntaxError(f"CSS selector {selector!r} is invalid for XML: {exc}") from exc


def _strip_namespaces(root: etree._Element) -> None:
    """SOAP replies put every element in a namespace; volunteers should write ``Caption``."""
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
        for key in list(el.attrib):
            if "}" in key:
                el.attrib[key.split("}", 1)[1]] = el.attrib.pop(key)
    etree.cleanup_namespaces(root)


class XmlDocument(Document):
    format = "xml"

    def __init__(self, body: bytes | str, url: str | None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        parser = etree.XMLParser(
            recover=True, resolve_entities=False, no_network=True, huge_tree=True
        )
        root = etree.fromstring(data.lstrip(), parser)
        if root is None:
            raise ValueError("the XML document is empty or unreadable")
        _strip_namespaces(root)
        super().__init__(root, url)

    def select(self, node: Any, selector: str) -> list[Any]:
        if not isinstance(node, etree._Element):
            return []
        return _xpath(selector)(node)

    def text(self, node: Any, raw: bool = False) -> str:
        if not isinstance(node, etree._Element):
            return str(node) if raw else squash(str(node))
        if raw:
            return "".join(node.itertext())
        # data XML: an element's children are separate values, so keep them apart
        return squash(" ".join(node.itertext()))

    def attr(self, node: Any, name: str) -> str | None:
        if not isinstance(node, etree._Element):
            return None
        if name == "html":
            return etree.tostring(node, encoding="unicode")
        return node.get(name)

    def parent(self, node: Any) -> Any:
        return node.getparent()

    def next(self, node: Any) -> Any:
        return node.getnext()

    def previous(self, node: Any) -> Any:
        return node.getprevious()

    def walk(self) -> Iterable[Any]:
        return self.root.iter()


# --------------------------------------------------------------------------------- JSON

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0].c[*]`` -> ``("a", "b", 0, "c", "*")``."""
    parts: list[str | int] = []
    pos = 0
    path = path.strip()
    if path in ("", ".", "$"):
        return ()
    path = path.removeprefix("$.")
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _PATH_PART.match(path, pos)
        if not m:
            raise SelectorSyntaxError(f"JSON path {path!r} is invalid at position {pos}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        else:
            idx = m.group(2)
            parts.append("*" if idx == "*" else int(idx))
        pos = m.end()
    return tuple(parts)


def walk_path(value: Any, parts: tuple[str | int, ...]) -> list[Any]:
    current = [value]
    for part in parts:
        nxt: list[Any] = []
        for v in current:
            if part == "*":
                if isinstance(v, list):
                    nxt.extend(v)
                elif isinstance(v, dict):
                    nxt.extend(v.values())
            elif isinstance(part, int):
                if isinstance(v, list) and -len(v) <= part < len(v):
                    nxt.append(v[part])
            elif isinstance(v, dict) and part in v:
                nxt.append(v[part])
        current = nxt
    return [v for v in current if v is not None]


class JsonDocument(Document):
    format = "json"

    def __init__(self, body: bytes | str, url: str | None) -> None:
        try:
            root = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        super().__init__(root, url)

    def select(self, node: Any, selector: str) -> list[Any]:
        found = walk_path(node, parse_path(selector))
        if len(found) == 1 and isinstance(found[0], list) and not selector.rstrip().endswith("]"):
            return list(found[0])
        return found

    def text(self, node: Any, raw: bool = False) -> str:
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, dict | list):
            return json.dumps(node, sort_keys=True)
        value = "" if node is None else str(node)
        return value if raw else squash(value)

    def attr(self, node: Any, name: str) -> str | None:
        if isinstance(node, dict):
            v = node.get(name)
            return None if v is None else self.text(v)
        return None


# --------------------------------------------------------------------------------- delimited


class DelimitedDocument(Document):
    """Rows of a delimited export; the first row names the columns."""

    format = "delimited"

    def __init__(
        self, body: bytes | str, url: str | None, *, delimiter: str, encoding: str | None
    ) -> None:
        text = decode(body, encoding or "utf-8") if isinstance(body, bytes) else body
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=delimiter, quoting=csv.QUOTE_NONE
        )
        rows = list(reader)
        if not rows:
            raise ValueError("the delimited file is empty")
        self.columns = [c.strip() for c in rows[0]]
        width = len(self.columns)
        records = []
        for line_no, row in enumerate(rows[1:], 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise ValueError(f"line {line_no} has {len(row)} columns, the header has {width}")
            records.append(dict(zip(self.columns, row, strict=True)))
        super().__init__(records, url)

    def select(self, node: Any, selector: str) -> list[Any]:
        if node is self.root and selector in ("*", "rows", ""):
            return list(self.root)
        raise SelectorSyntaxError(
            "delimited files have no selectors: use 'column:' (items are the rows)"
        )

    def cell(self, row: Any, column: str | int) -> str | None:
        if not isinstance(row, dict):
            return None
        if isinstance(column, int):
            if not 0 <= column < len(self.columns):
                raise SelectorSyntaxError(
                    f"column {column} is out of range (0..{len(self.columns) - 1})"
                )
            column = self.columns[column]
        if column not in row:
            raise SelectorSyntaxError(
                f"no column {column!r}; the header has {', '.join(self.columns)}"
            )
        return row[column]

    def text(self, node: Any, raw: bool = False) -> str:
        value = "" if node is None else str(node)
        return value if raw else squash(value)

    def attr(self, node: Any, name: str) -> str | None:
        return self.cell(node, name)


# --------------------------------------------------------------------------------- factory


def decode(body: bytes, encoding: str | None = None) -> str:
    """Bytes to text: the given encoding, else the page's own declaration, else UTF-8/cp1252."""
    if encoding:
        return body.decode(encoding, errors="replace")
    from scrapers.encoding import sniff_encoding

    codec = sniff_encoding(body, None)
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        # undeclared legacy pages are almost always windows-1252
        return body.decode("cp1252" if codec == "utf-8" else codec, errors="replace")


def make_strainer(page: PageSpec) -> SoupStrainer | None:
    if page.strainer is None:
        return None
    return SoupStrainer(page.strainer.name, attrs=cast(dict[str, Any], page.strainer.attrs or {}))


def open_document(page: PageSpec, body: bytes | str, url: str | None) -> Document:
    """Parse `body` as the page's format; raises ValueError for an unreadable body."""
    if page.format == "html":
        return HtmlDocument(body, url, encoding=page.encoding, strainer=make_strainer(page))
    if page.format == "xml":
        return XmlDocument(body, url)
    if page.format == "json":
        return JsonDocument(body, url)
    delimiter = (
        page.delimiter.encode("latin-1").decode("unicode_escape")
        if "\\" in page.delimiter
        else page.delimiter
    )
    return DelimitedDocument(body, url, delimiter=delimiter, encoding=page.encoding)
