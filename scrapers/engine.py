"""The config-driven engine: one page of a known kind in, extracted data out; pages to a bill.

Lifecycle of a page (spatula's, without a class per page): open the document in its format,
refuse error pages (``error_if``), then either run the page's declarative ``fields`` or, for an
odd site, the state's ``parse`` hook; a ``post`` hook may adjust the result. List, index and
sessions pages give one record per ``items`` match; bill and augment pages give one record.

Selectors are strict. A required field whose selector matches nothing, a group with fewer items
than ``min_items``, a list page with no items that does not say it is empty: each raises
:class:`ExtractionError` naming the state, page kind, URL, field, selector and count.

:func:`assemble_bill` merges the records of a bill's pages (bill page first), computes the
``derive`` fields and validates the result as a :class:`~tracker.scraped.ScrapedBill`. What the
bill *means* (action classifications the site did not give, the stage) is not the engine's
business: ``tracker.understand`` decides it once, in ingest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ValidationError

from scrapers import transforms
from scrapers.config import FieldSpec, GroupSpec, PageSpec, StateConfig
from scrapers.extract import (
    Document,
    RegexItem,
    SelectorSyntaxError,
    TextItem,
    open_document,
    squash,
)
from tracker.identifiers import display_identifier, normalize_identifier
from tracker.scraped import ScrapedBill

HOOK_PACKAGE = "scrapers.hooks"


class ExtractionError(ValueError):
    """A page did not yield what its config promises. The message says where and why."""

    def __init__(
        self,
        message: str,
        *,
        state: str,
        kind: str,
        url: str | None,
        field: str | None = None,
        selector: str | None = None,
        count: int | None = None,
    ) -> None:
        self.state, self.kind, self.url = state, kind, url
        self.field, self.selector, self.count = field, selector, count
        self.reason = message
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.state}: {self.kind} page {self.url or '(no URL)'}"
        what = f" field {self.field!r}" if self.field else ""
        sel = f" selector {self.selector!r}" if self.selector else ""
        count = f" matched {self.count}" if self.count is not None else ""
        return f"{where}:{what}{sel}{count}: {self.reason}"


class PageError(ExtractionError):
    """The site answered with an error page (``error_if``) or an unreadable body."""


class BillError(ExtractionError):
    """The merged pages do not make a valid bill."""


@dataclass
class PageResult:
    """What one page gave: a record (bill/augment) or records (list/index/sessions)."""

    kind: str
    url: str | None
    record: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    next_url: str | None = None
    follow_urls: list[str] = field(default_factory=list)
    empty: bool = False


@dataclass
class Ctx:
    """Everything extraction needs besides the node: the document and template names."""

    config: StateConfig
    kind: str
    page: PageSpec
    doc: Document
    names: dict[str, Any]

    def fail(self, message: str, **kw: Any) -> ExtractionError:
        return ExtractionError(
            message, state=self.config.state, kind=self.kind, url=self.doc.page_url or None, **kw
        )


def context_names(
    config: StateConfig,
    *,
    url: str | None,
    session: str | None,
    extra: Mapping[str, Any] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Names templates and ``from:`` can use: state, session and its vars, base_url, url, query."""
    names: dict[str, Any] = {"state": config.state, "base_url": base_url or config.base_url}
    if session:
        spec = config.session(session)
        names.update(spec.vars)
        names["session"] = spec.identifier
        names["session_name"] = spec.name
    if url:
        names["url"] = url
        names["query"] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if extra:
        names.update(extra)
    return names


# --------------------------------------------------------------------------------- pages


def parse_page(
    config: StateConfig,
    kind: str,
    body: bytes | str,
    *,
    url: str | None = None,
    session: str | None = None,
    names: Mapping[str, Any] | None = None,
    base_url: str | None = None,
) -> PageResult:
    """Run page kind `kind` of `config` over `body` (the page as fetched from `url`)."""
    page = config.pages.get(kind)
    if page is None:
        raise KeyError(f"{config.state}: no page kind {kind!r}; known: {', '.join(config.pages)}")
    try:
        doc = open_document(page, body, url)
    except ValueError as exc:
        raise PageError(
            f"cannot read the page as {page.format}: {exc}", state=config.state, kind=kind, url=url
        ) from exc
    ctx = Ctx(
        config,
        kind,
        page,
        doc,
        context_names(
            config, url=doc.page_url or url, session=session, extra=names, base_url=base_url
        ),
    )
    _check_error_page(ctx)
    hook = _hook(config, page, "parse")
    if hook is not None:
        data = hook(doc, ctx)
        result = _result_from_hook(ctx, data)
    elif page.role in ("bill", "augment"):
        result = PageResult(
            kind, url, record=extract_fields(page.fields, doc.root, ctx, {}, index=0)
        )
    else:
        result = _parse_items(ctx)
    post = _hook(config, page, "post")
    if post is not None:
        if result.record is not None:
            result.record = post(result.record, ctx)
        else:
            result.items = post(result.items, ctx)
    return result


def _check_error_page(ctx: Ctx) -> None:
    for marker in ctx.page.error_if:
        found = _select(ctx, ctx.doc.root, marker.selector, field_name="error_if")
        said = squash(" ".join(ctx.doc.text(n) for n in found))
        if marker.matches is not None:
            if not any(
                transforms._compile(marker.matches, "i").search(ctx.doc.text(n)) for n in found
            ):
                continue
        elif not found:
            continue
        raise PageError(
            f"{marker.message} (page says: {said[:200]!r})",
            state=ctx.config.state,
            kind=ctx.kind,
            url=ctx.doc.page_url or None,
            selector=marker.selector,
        )


def _result_from_hook(ctx: Ctx, data: Any) -> PageResult:
    if isinstance(data, PageResult):
        return data
    if isinstance(data, list):
        return PageResult(ctx.kind, ctx.doc.page_url or None, items=data, empty=not data)
    return PageResult(ctx.kind, ctx.doc.page_url or None, record=data)


def _parse_items(ctx: Ctx) -> PageResult:
    page, doc = ctx.page, ctx.doc
    selector = page.items or "*"
    only_follows = page.items is None and page.follow is not None
    nodes = [] if only_follows else _select(ctx, doc.root, selector, field_name="items")
    result = PageResult(ctx.kind, doc.page_url or None)
    if not nodes and not only_follows:
        if page.empty_if and _select(ctx, doc.root, page.empty_if, field_name="empty_if"):
            result.empty = True
        elif page.allow_empty:
            result.empty = True
        else:
            raise ctx.fail(
                "no items on a list page that does not say it is empty "
                "(set empty_if: to the 'no results' marker, or allow_empty: true)",
                field="items",
                selector=selector,
                count=0,
            )
    elif len(nodes) < page.min_items:
        raise ctx.fail(
            f"expected at least {page.min_items} items",
            field="items",
            selector=selector,
            count=len(nodes),
        )
    for i, node in enumerate(nodes):
        record = extract_fields(page.fields, node, ctx, {}, index=i)
        assert record is not None  # without a group nothing is dropped
        if page.role == "list" and page.yields == "urls" and page.bill_url is not None:
            record["url"] = _value(page.bill_url, node, ctx, record, i, "bill_url")
        if page.role == "index":
            assert page.key is not None
            key = _value(page.key, node, ctx, record, i, "key")
            record["key"] = normalize_identifier(str(key))
        result.items.append(record)
    if page.next_page is not None:
        result.next_url = _value(page.next_page, doc.root, ctx, {}, 0, "next_page")
    if page.follow is not None:
        links = _value(page.follow.link, doc.root, ctx, {}, 0, "follow")
        result.follow_urls = [u for u in (links if isinstance(links, list) else [links]) if u]
    return result


def _hook(config: StateConfig, page: PageSpec, step: str) -> Callable[..., Any] | None:
    name = getattr(page.hooks, step) if page.hooks else None
    if not name:
        return None
    return load_hook(config.state, name)


def load_hook(state: str, name: str) -> Callable[..., Any]:
    module_name = f"{HOOK_PACKAGE}.{state}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LookupError(
            f"{state}: the config names hook {name!r} but {module_name} does not exist"
        ) from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise LookupError(f"{state}: {module_name} has no function {name!r}")
    return fn


# --------------------------------------------------------------------------------- fields


def extract_fields(
    fields: Mapping[str, Any],
    node: Any,
    ctx: Ctx,
    outer: Mapping[str, Any],
    *,
    index: int,
    group: GroupSpec | None = None,
) -> dict[str, Any] | None:
    """Run a field map on one node. Scratch (``_name``) values stay in the result until assembly.

    In a group with ``only_if``/``skip_if`` the item is dropped (None) as soon as the condition's
    field is known, so later fields are not required of items the group does not want.
    """
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        scope = _Scope(out, outer)
        if isinstance(spec, FieldSpec):
            value = _value(spec, node, ctx, scope, index, name)
        elif isinstance(spec, GroupSpec):
            value = _group(spec, node, ctx, scope, name)
        else:
            value = [obj for g in spec for obj in _group(g, node, ctx, scope, name)]
        _store(out, name, value)
        if name == "legislative_session" and value and "session" not in ctx.names:
            _learn_session(ctx, str(value))
        if group is not None and not _keep(group, name, value):
            return None
    return out


class _Scope(Mapping[str, Any]):
    """Values extracted so far: this item's, then the enclosing ones (read-only, no copying)."""

    __slots__ = ("inner", "outer")

    def __init__(self, inner: Mapping[str, Any], outer: Mapping[str, Any]) -> None:
        self.inner, self.outer = inner, outer

    def __getitem__(self, key: str) -> Any:
        if key in self.inner:
            return self.inner[key]
        return self.outer[key]

    def __contains__(self, key: object) -> bool:
        return key in self.inner or key in self.outer

    def __iter__(self) -> Iterator[str]:
        yield from self.inner
        yield from (k for k in self.outer if k not in self.inner)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _learn_session(ctx: Ctx, identifier: str) -> None:
    """A page that names its session makes that session's vars ({year}, ...) usable below."""
    spec = ctx.config.session_for(identifier)
    if spec is not None:
        ctx.names = {
            **spec.vars,
            **ctx.names,
            "session": spec.identifier,
            "session_name": spec.name,
        }


def _store(out: dict[str, Any], name: str, value: Any) -> None:
    if name.startswith("extras."):
        if value not in (None, "", []):
            out.setdefault("extras", {})[name.removeprefix("extras.")] = value
        return
    out[name] = value


def _scoped(ctx: Ctx, node: Any, scope: str, name: str) -> Any:
    if scope == "item":
        return node
    moved = {
        "document": lambda n: ctx.doc.root,
        "parent": ctx.doc.parent,
        "next": ctx.doc.next,
        "previous": ctx.doc.previous,
    }[scope](node)
    if moved is None:
        raise ctx.fail(f"the item has no {scope} element", field=name)
    return moved


def _select(
    ctx: Ctx,
    node: Any,
    selector: str,
    *,
    field_name: str,
    after: str | None = None,
    before: str | None = None,
) -> list[Any]:
    if selector.strip() == ".":
        return [node]
    try:
        found = ctx.doc.find(node, selector)
    except SelectorSyntaxError as exc:
        raise ctx.fail(str(exc), field=field_name, selector=selector) from exc
    if after or before:
        found = _window(ctx, node, found, after, before, field_name)
    return found


def _window(
    ctx: Ctx, node: Any, found: list[Any], after: str | None, before: str | None, name: str
) -> list[Any]:
    """Keep matches between the first ``after`` match and the next ``before`` match."""
    lo, hi = -1, None
    if after:
        marks = _select(ctx, node, after, field_name=name)
        if not marks:
            raise ctx.fail("the 'after' marker is missing", field=name, selector=after, count=0)
        lo = ctx.doc.position(marks[0])
    if before:
        later = [m for m in _select(ctx, node, before, field_name=name) if ctx.doc.position(m) > lo]
        hi = ctx.doc.position(later[0]) if later else None
    return [
        n for n in found if ctx.doc.position(n) > lo and (hi is None or ctx.doc.position(n) < hi)
    ]


def _raw_values(
    spec: FieldSpec, node: Any, ctx: Ctx, scope: Mapping[str, Any], index: int, name: str
) -> list[Any]:
    doc = ctx.doc
    if spec.selector is not None and spec.scope == "preceding":
        found = _select(ctx, doc.root, spec.selector, field_name=name)
        here = doc.position(node)
        before = [n for n in found if doc.position(n) < here]
        return [_read(doc, before[-1], spec)] if before else []
    if spec.selector is not None:
        base = _scoped(ctx, node, spec.scope, name)
        if isinstance(base, RegexItem | TextItem):
            if spec.selector.strip() != ".":
                raise ctx.fail(
                    "regex items have no elements: use 'group:' or 'selector: \".\"'",
                    field=name,
                    selector=spec.selector,
                )
            return [base.text]
        found = _select(
            ctx, base, spec.selector, field_name=name, after=spec.after, before=spec.before
        )
        return [_read(doc, n, spec) for n in found]
    if spec.path is not None:
        base = _scoped(ctx, node, spec.scope, name)
        try:
            found = doc.find(base, spec.path)
        except SelectorSyntaxError as exc:
            raise ctx.fail(str(exc), field=name, selector=spec.path) from exc
        return [
            doc.attr(n, spec.attr)
            if spec.attr
            else (n if isinstance(n, dict | list) else doc.text(n, spec.raw))
            for n in found
        ]
    if spec.column is not None:
        cell = getattr(doc, "cell", None)
        if cell is None:
            raise ctx.fail("'column:' only works on delimited pages", field=name)
        try:
            value = cell(node, spec.column)
        except SelectorSyntaxError as exc:
            raise ctx.fail(str(exc), field=name, selector=f"column {spec.column}") from exc
        return [] if value is None else [value if spec.raw else squash(value)]
    if spec.group is not None:
        if not isinstance(node, RegexItem):
            raise ctx.fail("'group:' only works inside a group with items_regex", field=name)
        try:
            value = node.group(spec.group)
        except SelectorSyntaxError as exc:
            raise ctx.fail(str(exc), field=name) from exc
        return [] if value is None else [value if spec.raw else squash(value)]
    if spec.from_ is not None:
        return _lookup(spec.from_, scope, ctx, name)
    if spec.index:
        return [index]
    value = spec.value
    if isinstance(value, str) and "{" in value:
        value = _fill(value, ctx, scope, name)
    return [] if value is None else [value]


def _read(doc: Document, n: Any, spec: FieldSpec) -> Any:
    if not spec.attr:
        return doc.text(n, spec.raw)
    value = doc.attr(n, spec.attr)
    if value is not None and spec.attr in ("href", "src", "action") and doc.format == "html":
        value = (
            doc.absolute(value) if not value.startswith(("javascript:", "mailto:", "#")) else value
        )
    return value


def _lookup(ref: str, scope: Mapping[str, Any], ctx: Ctx, name: str) -> list[Any]:
    head, _, rest = ref.partition(".")
    if head in scope:
        value = scope[head]
    elif head in ctx.names:
        value = ctx.names[head]
    else:
        known = sorted({*scope, *ctx.names})
        raise ctx.fail(
            f"'from: {ref}' names nothing extracted so far (known: {', '.join(known)})", field=name
        )
    if rest:
        value = value.get(rest) if isinstance(value, Mapping) else None
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _fill(template: str, ctx: Ctx, scope: Mapping[str, Any], name: str) -> str:
    try:
        return transforms.fill(template, {**ctx.names, **dict(scope)})
    except (transforms.TemplateError, transforms.TransformError) as exc:
        raise ctx.fail(str(exc), field=name) from exc


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _value(
    spec: FieldSpec, node: Any, ctx: Ctx, scope: Mapping[str, Any], index: int, name: str
) -> Any:
    if spec.first_of is not None:
        return _first_of(spec, node, ctx, scope, index, name)
    values = _raw_values(spec, node, ctx, scope, index, name)
    count = len(values)
    minimum = spec.min_items if spec.min_items is not None else (1 if spec.required else 0)
    if count < minimum:
        raise ctx.fail(
            f"expected at least {minimum}" + ("" if spec.required else " (min_items)"),
            field=name,
            selector=spec.source_name,
            count=count,
        )
    if spec.max_items is not None and count > spec.max_items:
        raise ctx.fail(
            f"expected at most {spec.max_items}", field=name, selector=spec.source_name, count=count
        )
    value: Any = values if spec.many else (values[0] if values else None)
    steps = spec.transforms
    if not values:  # an optional field the page does not show: only a default applies
        steps = [t for t in steps if t.op == "default"]
    if steps:
        env = transforms.Env(url=ctx.doc.url, layers=(ctx.names, scope), config=ctx.config)
        try:
            value = transforms.apply(steps, value, env)
        except (transforms.TransformError, transforms.TemplateError) as exc:
            raise ctx.fail(str(exc), field=name, selector=spec.source_name, count=count) from exc
    if spec.required and not spec.many and _empty(value):
        raise ctx.fail("the match is empty", field=name, selector=spec.source_name, count=count)
    return value


def _first_of(
    spec: FieldSpec, node: Any, ctx: Ctx, scope: Mapping[str, Any], index: int, name: str
) -> Any:
    problems = []
    for alt in spec.first_of or []:
        try:
            value = _value(alt, node, ctx, scope, index, name)
        except ExtractionError as exc:
            problems.append(exc.reason if exc.selector is None else f"{exc.selector}: {exc.reason}")
            continue
        if not _empty(value):
            env = transforms.Env(url=ctx.doc.url, layers=(ctx.names, scope), config=ctx.config)
            try:
                return transforms.apply(spec.transforms, value, env)
            except (transforms.TransformError, transforms.TemplateError) as exc:
                raise ctx.fail(str(exc), field=name) from exc
    if spec.required:
        raise ctx.fail(
            "no alternative of first_of gave a value: " + "; ".join(problems), field=name
        )
    return [] if spec.many else None


def _group(
    spec: GroupSpec, node: Any, ctx: Ctx, outer: Mapping[str, Any], name: str
) -> list[dict[str, Any]]:
    base = _scoped(ctx, node, spec.scope, name)
    if spec.items_from is not None:
        items: list[Any] = [TextItem(str(v)) for v in _lookup(spec.items_from, outer, ctx, name)]
        label = f"items_from {spec.items_from}"
    elif spec.items_regex is not None:
        items = _regex_items(spec, base, ctx, name)
        label = spec.items_regex
    elif spec.items is not None:
        items = _select(
            ctx, base, spec.items, field_name=name, after=spec.after, before=spec.before
        )
        label = spec.items
    else:
        items, label = [base], "."
    if len(items) < spec.min_items:
        raise ctx.fail(
            f"expected at least {spec.min_items} items",
            field=name,
            selector=label,
            count=len(items),
        )
    if spec.max_items is not None and len(items) > spec.max_items:
        raise ctx.fail(
            f"expected at most {spec.max_items} items", field=name, selector=label, count=len(items)
        )
    for cond in (spec.only_if, spec.skip_if):
        if cond is not None and cond.field not in spec.fields:
            raise ctx.fail(
                f"only_if/skip_if names {cond.field!r}, which the group does not extract",
                field=name,
            )
    objects = []
    for i, item in enumerate(items):
        values = extract_fields(spec.fields, item, ctx, outer, index=i, group=spec)
        if values is None:
            continue
        obj = {k: v for k, v in values.items() if not k.startswith("_")}
        if (
            spec.items is None
            and spec.items_regex is None
            and spec.items_from is None
            and all(_empty(v) for v in obj.values())
        ):
            continue  # a single optional object the page does not show
        objects.append(obj)
    return objects[::-1] if spec.reverse else objects


def _regex_items(spec: GroupSpec, base: Any, ctx: Ctx, name: str) -> list[RegexItem]:
    if spec.text_selector:
        found = _select(ctx, base, spec.text_selector, field_name=name)
        if not found:
            raise ctx.fail(
                "the text to search is missing", field=name, selector=spec.text_selector, count=0
            )
        text = "\n".join(ctx.doc.text(n, raw=True) for n in found)
    elif isinstance(base, RegexItem):
        text = base.text
    else:
        text = ctx.doc.text(base, raw=True)
    pattern = transforms._compile(spec.items_regex or "", "m")
    return [RegexItem(m) for m in pattern.finditer(text)]


def _keep(spec: GroupSpec, name: str, value: Any) -> bool:
    """False when the just-extracted field `name` rules the item out."""
    for cond, want in ((spec.only_if, True), (spec.skip_if, False)):
        if cond is None or cond.field != name:
            continue
        hit = bool(transforms._compile(cond.matches).search("" if value is None else str(value)))
        if hit != want:
            return False
    return True


# --------------------------------------------------------------------------------- bills

_LIST_FIELDS = (
    "actions",
    "sponsorships",
    "versions",
    "documents",
    "hearings",
    "votes",
    "abstracts",
    "other_titles",
    "related_bills",
    "sources",
    "subject",
    "other_identifiers",
)


def merge_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge page records in order: the first non-empty scalar wins, lists are concatenated."""
    merged: dict[str, Any] = {}
    for record in records:
        for key, value in record.items():
            if key in ("url", "key"):
                continue
            if key == "extras":
                extras = merged.setdefault("extras", {})
                for k, v in value.items():
                    extras.setdefault(k, v)
            elif key in _LIST_FIELDS or (
                isinstance(value, list) and key not in ("classification",)
            ):
                merged.setdefault(key, [])
                merged[key] = merged[key] + (value if isinstance(value, list) else [value])
            elif _empty(merged.get(key)):
                merged[key] = value
    return merged


@dataclass
class BillPages:
    """The records of one bill's pages, and where they came from (for sources and errors)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def add(
        self, result: PageResult | dict[str, Any], url: str | None = None, kind: str = ""
    ) -> None:
        if isinstance(result, PageResult):
            url, kind = result.url, result.kind
            record = result.record or {}
        else:
            record = result
        self.records.append(record)
        self.kinds.append(kind)
        if url and url not in self.urls:
            self.urls.append(url)


def assemble_bill(
    config: StateConfig,
    pages: BillPages,
    *,
    session: str | None = None,
) -> ScrapedBill:
    """Merge a bill's page records into a validated ScrapedBill, as the source gave it: action
    classifications and the stage are understanding, done once by ingest (tracker.understand)."""
    merged = merge_records(pages.records)
    url = pages.urls[0] if pages.urls else None
    kind = pages.kinds[0] if pages.kinds else "bill"

    def fail(message: str, field_name: str | None = None) -> BillError:
        return BillError(message, state=config.state, kind=kind, url=url, field=field_name)

    merged = _derive(config, merged, session=session, url=url, kind=kind)
    merged = {k: v for k, v in merged.items() if not k.startswith("_")}
    found_session = merged.get("legislative_session")
    if session and found_session and found_session != session:
        raise fail(
            f"the page is from session {found_session!r}, the scrape is for {session!r}",
            "legislative_session",
        )
    merged["legislative_session"] = found_session or session
    if not merged.get("legislative_session"):
        raise fail(
            "no legislative_session: extract it from the page or URL (transform '- session')",
            "legislative_session",
        )
    if _empty(merged.get("identifier")):
        raise fail("the pages gave no bill identifier", "identifier")
    merged["state"] = config.state
    for key in [k for k, v in merged.items() if v is None]:
        del merged[key]
    for key in ("classification", "subject", "other_identifiers"):
        if isinstance(merged.get(key), str):
            merged[key] = [merged[key]]
    merged["sponsorships"] = _dedupe_sponsors(merged.get("sponsorships", []))
    for key in ("versions", "documents"):
        if key in merged:
            merged[key] = _merge_versions(merged[key])
    if "votes" in merged:  # a bill page and a vote page often list the same roll calls
        merged["votes"] = [v for i, v in enumerate(merged["votes"]) if v not in merged["votes"][:i]]
    existing = {s.get("url") for s in merged.get("sources", [])}
    merged["sources"] = list(merged.get("sources", [])) + [
        {"url": u} for u in pages.urls if u not in existing
    ]
    try:
        bill = ScrapedBill.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise fail(
            f"{first['msg']} (input {str(first.get('input'))[:80]!r}); "
            f"{exc.error_count()} problem(s) in all",
            loc,
        ) from exc
    return bill


def _derive(
    config: StateConfig, merged: dict[str, Any], *, session: str | None, url: str | None, kind: str
) -> dict[str, Any]:
    if not config.derive:
        return merged
    from scrapers.extract import Document as _Doc

    page = next(iter(config.pages.values()))
    ctx = Ctx(
        config,
        f"{kind} (derive)",
        page,
        _Doc(None, url),
        context_names(config, url=url, session=session),
    )
    for name, spec in config.derive.items():
        if not _empty(merged.get(name)):
            continue
        if isinstance(spec, FieldSpec):
            value = _value(spec, None, ctx, merged, 0, name)
        else:
            groups = spec if isinstance(spec, list) else [spec]
            value = [obj for g in groups for obj in _group(g, None, ctx, merged, name)]
        _store(merged, name, value)
    return merged


def _surname(name: str) -> str | None:
    """'Hoskins, Denny' and 'HOSKINS' name one person on two pages; 'Ann Smith' is left alone."""
    name = name.strip().lower()
    if "," in name:
        return name.split(",", 1)[0].strip()
    return name if name and " " not in name else None


def _same_person(a: str, b: str) -> bool:
    if a.lower() == b.lower():
        return True
    bare = ("," not in a and " " not in a.strip()) or ("," not in b and " " not in b.strip())
    return bare and _surname(a) is not None and _surname(a) == _surname(b)


def _dedupe_sponsors(sponsors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per person (pages often repeat sponsors); a primary listing wins, the fuller
    name is kept, and a later listing may add the chamber or type."""
    kept: list[dict[str, Any]] = []
    for s in sponsors:
        name = squash(str(s.get("name") or ""))
        twin = next(
            (k for k in kept if name and _same_person(name, str(k.get("name") or ""))), None
        )
        if twin is None:
            kept.append(dict(s))
            continue
        if s.get("primary") and not twin.get("primary"):
            twin.update(primary=True, classification=s.get("classification", "primary"))
        if len(name) > len(str(twin.get("name") or "")):
            twin["name"] = name
        for k, v in s.items():
            if _empty(twin.get(k)):
                twin[k] = v
    return kept


def _merge_versions(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Versions with the same note and date are one version with several links (HTML, PDF)."""
    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    for v in versions:
        key = (v.get("note"), v.get("date"))
        if key not in merged:
            merged[key] = {**v, "links": list(v.get("links") or [])}
            continue
        have = {link.get("url") for link in merged[key]["links"]}
        merged[key]["links"] += [
            link for link in v.get("links") or [] if link.get("url") not in have
        ]
    return list(merged.values())


def bill_from_pages(
    config: StateConfig,
    pages: Mapping[str, tuple[bytes | str, str | None]],
    *,
    session: str | None = None,
) -> ScrapedBill:
    """Parse the pages of one bill (kind -> (body, url)), bill page first, and assemble it.

    Augment pages see the bill page's values (scratch included) as template names.
    """
    ordered = sorted(pages.items(), key=lambda kv: config.pages[kv[0]].role != "bill")
    collected = BillPages()
    names: dict[str, Any] = {}
    for kind, (body, url) in ordered:
        result = parse_page(config, kind, body, url=url, session=session, names=names)
        collected.add(result)
        if result.record:
            names.update({k: v for k, v in result.record.items() if not isinstance(v, list | dict)})
    return assemble_bill(config, collected, session=session)


def merge_index(
    bills: Iterable[dict[str, Any]], index_items: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Add index records (keyed by bill number) to matching bill records; count the unmatched."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for item in index_items:
        by_key.setdefault(item["key"], []).append(item)
    out = []
    used: set[str] = set()
    for bill in bills:
        key = normalize_identifier(str(bill.get("identifier") or ""))
        extra = by_key.get(key, [])
        if extra:
            used.add(key)
        merged = merge_records([bill, *extra])
        if bill.get("url"):
            merged["url"] = bill["url"]
        out.append(merged)
    return out, len(set(by_key) - used)


def group_index(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Index records merged per bill number, for printing an index page on its own."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_key.setdefault(item["key"], []).append(item)
    out = []
    for key, records in by_key.items():
        merged = {k: v for k, v in merge_records(records).items() if not k.startswith("_")}
        for name in ("versions", "documents"):
            if name in merged:
                merged[name] = _merge_versions(merged[name])
        out.append({"identifier": display_identifier(key), **merged})
    return out
