"""A live scrape of one state: list pages -> bill pages -> augment pages -> ScrapedBill.

Everything is fetched through :class:`scrapers.http.HttpClient` (rate limit, robots, retries).
A run is a health check as much as a harvest; :class:`ScrapeStats` records pages fetched, pages
the server answered 304, pages whose content had not changed (their earlier parse is reused, so a
second run over an unchanged site re-parses nothing), bills, errors with URL and selector, and
sessions the site lists that the config does not know.

A bill whose page or augment page fails is not yielded at all: a half-read bill would look to
ingest like a bill that lost its actions. An empty list is an error unless the page allows it.

    # the tracker's client, archive and registry, from tracker.scraping:
    with http_client(archive=page_archive()) as client:
        scraper = Scraper(load_state_config("nm"), client)
        for bill in scraper.run():
            ...
        print(scraper.stats.summary())
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import urlsplit

from scrapers.config import PageSpec, SessionSpec, StateConfig, fold_name
from scrapers.engine import (
    BillPages,
    ExtractionError,
    PageResult,
    assemble_bill,
    context_names,
    merge_index,
    parse_page,
)
from scrapers.fetch_types import FetchError, Page
from scrapers.http import HttpClient
from scrapers.transforms import TemplateError, TransformError, fill
from tracker.identifiers import normalize_identifier
from tracker.scraped import ScrapedBill

log = logging.getLogger("scrapers.scrape")
ENGINE_VERSION = "1"  # bump when the engine's output changes, to drop cached parses


@dataclass
class ScrapeError:
    kind: str
    url: str | None
    message: str
    selector: str | None = None
    count: int | None = None

    def __str__(self) -> str:
        sel = f" [selector {self.selector!r} matched {self.count}]" if self.selector else ""
        return f"{self.kind} {self.url or '-'}: {self.message}{sel}"


@dataclass
class ScrapeStats:
    state: str
    sessions: list[str] = field(default_factory=list)
    pages_fetched: int = 0
    not_modified: int = 0
    unchanged: int = 0
    parsed: int = 0
    reused: int = 0
    bytes: int = 0
    list_items: int = 0
    bills: int = 0
    bills_skipped: int = 0
    index_unmatched: int = 0
    unknown_sessions: list[str] = field(default_factory=list)
    errors: list[ScrapeError] = field(default_factory=list)
    parsed_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [str(e) for e in self.errors]
        return data


class ParseCache:
    """Parsed page results by (state config, page kind, content hash), optionally on disk.

    A page the server answers with 304, or whose body hashes as before, is not parsed again.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS parsed (key TEXT PRIMARY KEY, data TEXT NOT NULL)"
            )

    def get(self, key: str) -> PageResult | None:
        with self._lock:
            raw = self._memory.get(key)
            if raw is None and self._db is not None:
                row = self._db.execute("SELECT data FROM parsed WHERE key = ?", (key,)).fetchone()
                raw = row[0] if row else None
        return None if raw is None else PageResult(**json.loads(raw))

    def put(self, key: str, result: PageResult) -> None:
        raw = json.dumps(asdict(result), default=str)
        with self._lock:
            self._memory[key] = raw
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO parsed (key, data) VALUES (?, ?)", (key, raw)
                )
                self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_BILL_PARTS = re.compile(r"^([A-Z]+)\s*0*(\d+)([A-Z]?)$")


def bill_names(identifier: str) -> dict[str, str]:
    """Template names of one bill, for bill pages fetched by URL without a list page:
    "S 609" -> identifier "S 609", prefix "S", number "609", print_no "S609"."""
    text = normalize_identifier(identifier)
    m = _BILL_PARTS.match(text.replace(" ", ""))
    if not m:
        return {"identifier": text}
    prefix, number, suffix = m.groups()
    return {
        "identifier": text,
        "prefix": prefix,
        "number": number,
        "print_no": f"{prefix}{number}{suffix}",
    }


class Scraper:
    """Runs one state's config against the live site (or a local copy via `base_url`)."""

    def __init__(
        self,
        config: StateConfig,
        client: HttpClient,
        *,
        cache: ParseCache | None = None,
        base_url: str | None = None,
        today: date | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.cache = cache or ParseCache()
        self.today = today
        self.max_pages = max_pages or config.politeness.max_pages
        self.stats = ScrapeStats(config.state)
        self.only: set[str] | None = None
        self.discovered: dict[str, dict[str, Any]] = {}  # session -> vars read from the site
        self.rewrite = self._rewrites(base_url)
        self.digest = hashlib.sha256(
            (ENGINE_VERSION + config.model_dump_json()).encode()
        ).hexdigest()[:16]
        for origin in {_origin(config.base_url_for(s)) for s in config.source_names()} | set(
            self.rewrite.values()
        ):
            self.client.set_host_delay(urlsplit(origin).netloc, config.politeness.delay)

    def _rewrites(self, base_url: str | None) -> dict[str, str]:
        """Origins of the configured site(s) -> the override (a mirror or a local test server)."""
        if not base_url:
            return {}
        target = base_url.rstrip("/")
        out = {}
        for source in self.config.source_names():
            host = urlsplit(self.config.base_url_for(source)).netloc
            for scheme in ("http", "https"):
                out[f"{scheme}://{host}"] = target
                if not host.startswith("www."):
                    out[f"{scheme}://www.{host}"] = target
                else:
                    out[f"{scheme}://{host[4:]}"] = target
        return out

    def _local(self, url: str) -> str:
        for origin, target in self.rewrite.items():
            if url == origin or url.startswith(origin + "/"):
                return target + url[len(origin) :]
        return url

    # ------------------------------------------------------------------ sessions

    def default_sessions(self) -> list[str]:
        """Today's session: the config's ``current_session`` rule, else its listed sessions."""
        return [self.config.current(self.today).identifier]

    # ------------------------------------------------------------------ run

    def run(
        self,
        *,
        sessions: list[str] | None = None,
        source: str | None = None,
        bills: list[str] | None = None,
    ) -> Iterator[ScrapedBill]:
        """Scrape the sessions (default: the current one) of every enabled source (or one).

        `bills` (numbers such as "SB 11") limits the run to those bills of the lists.
        """
        self.only = {normalize_identifier(b) for b in bills} if bills else None
        for session in sessions or self.default_sessions():
            spec = self.config.session(session, today=self.today)  # a clear KeyError if unknown
            self.stats.sessions.append(session)
            for src in self._sources(source):
                if not self._discover_vars(spec, src):
                    continue
                yield from self._run_source(session, src)

    def _discover_vars(self, spec: SessionSpec, source: str) -> bool:
        """Fill the vars a ``current_session`` rule reads from the site (``site_vars``): the
        sessions page's item named like `spec` gives them. False (and an error) if none does."""
        rule = self.config.current_session
        wanted = dict(rule.site_vars) if rule else {}
        if not wanted or all(v in spec.vars for v in wanted):
            return True
        names_of_spec = {fold_name(n) for n in (spec.identifier, spec.name, *spec.aliases) if n}
        for kind, page in self._pages("sessions", source, spec.identifier).items():
            names = self._names(spec.identifier, source)
            for url in page.urls:
                result = self._get(kind, fill(url, names), spec.identifier, names)
                for item in result.items if result else []:
                    if fold_name(str(item.get("name", ""))) in names_of_spec:
                        found = {var: item.get(field) for var, field in wanted.items()}
                        if all(v not in (None, "") for v in found.values()):
                            self.discovered.setdefault(spec.identifier, {}).update(found)
                            return True
        self._error(
            "sessions",
            None,
            f"session {spec.identifier} ({spec.name or 'no name'}) is not on the site's sessions "
            f"page, so {', '.join(wanted)} cannot be read: has it begun? (current_session.site_vars)",
        )
        return False

    def _sources(self, only: str | None) -> list[str]:
        names = self.config.source_names()
        if only:
            if only not in names:
                raise KeyError(
                    f"{self.config.state}: no source {only!r} (sources: {', '.join(names)})"
                )
            return [only]
        return [
            n for n in names if self.config.sources.get(n) is None or self.config.sources[n].enabled
        ]

    def _pages(self, role: str, source: str, session: str) -> dict[str, PageSpec]:
        return {
            k: p
            for k, p in self.config.pages_of(role, source=source, session=session).items()
            if p.live
        }

    def _names(
        self, session: str, source: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return context_names(
            self.config,
            url=None,
            session=session,
            extra={**self.discovered.get(session, {}), **(extra or {})},
            base_url=self.config.base_url_for(source),
        )

    def _run_source(self, session: str, source: str) -> Iterator[ScrapedBill]:
        lists = self._pages("list", source, session)
        if not lists or (self.only and self._bill_url_kind(source, session)):
            # no list page, or only some bills wanted and their pages have URL templates
            yield from self._run_by_index(session, source)
            return
        self._check_sessions(source, session)
        index_items = self._index_items(source, session)
        items = list(self._list_items(lists, source, session))
        if not items:
            if not any(p.allow_empty for p in lists.values()):
                self._error(
                    "list",
                    None,
                    f"no bills found for session {session} (an empty result is an "
                    "error; set allow_empty: true on the list page if that is expected)",
                )
            return
        by_url: dict[str, tuple[str, dict[str, Any]]] = {}
        if self.only is not None:
            items = [
                (k, i)
                for k, i in items
                if not i.get("identifier")
                or normalize_identifier(str(i["identifier"])) in self.only
            ]
        for kind, item in items:
            key = (
                item.get("url")
                or f"{kind}:{normalize_identifier(str(item.get('identifier', '')))}:{len(by_url)}"
            )
            by_url.setdefault(key, (kind, item))
        if index_items:
            merged, unmatched = merge_index([i for _, i in by_url.values()], index_items)
            self.stats.index_unmatched += unmatched
            by_url = {k: (v[0], m) for (k, v), m in zip(by_url.items(), merged, strict=True)}
        for kind, item in by_url.values():
            if self._budget_spent():
                return
            bill = self._bill(kind, item, source, session)
            if bill is not None:
                self.stats.bills += 1
                yield bill

    def _run_by_index(self, session: str, source: str) -> Iterator[ScrapedBill]:
        """A source without a list page: its bill page's URL template, filled for each bill
        of the index the caller gives (`bills`: the Open States / LegiScan list)."""
        kind = self._bill_url_kind(source, session)
        if kind is None or not self.only:
            why = (
                "no bill page whose url a bill number fills"
                if kind is None
                else ("no bill index was given")
            )
            self._error(
                "list",
                None,
                f"source {source!r} has no list page for session {session} and {why}: "
                "nothing to start a live scrape from",
            )
            return
        for identifier in sorted(self.only):
            if self._budget_spent():
                return
            bill = self._bill_by_url(kind, bill_names(identifier), source, session)
            if bill is not None:
                self.stats.bills += 1
                yield bill

    # ------------------------------------------------------------------ pages

    def _budget_spent(self) -> bool:
        if self.stats.pages_fetched < self.max_pages:
            return False
        if not any("max_pages" in e.message for e in self.stats.errors):
            self._error("run", None, f"stopped after {self.max_pages} pages (politeness.max_pages)")
        return True

    def _error(
        self, kind: str, url: str | None, message: str, exc: ExtractionError | None = None
    ) -> None:
        err = ScrapeError(
            kind, url, message, getattr(exc, "selector", None), getattr(exc, "count", None)
        )
        log.warning("%s: %s", self.config.state, err)
        self.stats.errors.append(err)

    def fetch(self, page: PageSpec, url: str, names: Mapping[str, Any]) -> Page:
        target = self._local(url)
        headers = {k: fill(v, names) for k, v in page.headers.items()}
        if page.method == "POST":
            body = fill(page.body or "", names)
            result = self.client.post(target, data=body.encode("utf-8"), headers=headers)
        else:
            result = self.client.get(target, headers=headers or None)
        self.stats.pages_fetched += 1
        if result.not_modified:
            self.stats.not_modified += 1
        else:
            self.stats.bytes += len(result.body)
        if result.unchanged:
            self.stats.unchanged += 1
        return result

    def parse(
        self, kind: str, fetched: Page, url: str, session: str, names: Mapping[str, Any]
    ) -> PageResult:
        """Parse a fetched page, or reuse the earlier parse of the same bytes by the same config
        (whether the server answered 304 or sent the same page again)."""
        key = f"{self.config.state}:{self.digest}:{kind}:{fetched.content_hash}:{url}"
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.reused += 1
            return cached
        result = parse_page(
            self.config,
            kind,
            fetched.body,
            url=url,
            session=session,
            names=names,
            base_url=names.get("base_url"),
        )
        self.stats.parsed += 1
        self.stats.parsed_kinds[kind] = self.stats.parsed_kinds.get(kind, 0) + 1
        self.cache.put(key, result)
        return result

    def _get(
        self, kind: str, url: str, session: str, names: Mapping[str, Any]
    ) -> PageResult | None:
        """Fetch and parse one page; failures are recorded and give None."""
        page = self.config.pages[kind]
        try:
            fetched = self.fetch(page, url, names)
            return self.parse(kind, fetched, url, session, names)
        except FetchError as exc:
            self._error(kind, url, f"{type(exc).__name__}: {exc}")
        except ExtractionError as exc:
            self._error(kind, url, exc.reason, exc)
        except (TemplateError, TransformError) as exc:
            self._error(kind, url, str(exc))
        return None

    def _check_sessions(self, source: str, session: str) -> None:
        for kind, page in self._pages("sessions", source, session).items():
            for template in page.urls:
                names = self._names(session, source)
                url = fill(template, names)
                result = self._get(kind, url, session, names)
                for item in result.items if result else []:
                    name = str(item.get("name") or "").strip()
                    if (
                        name
                        and not self.config.session_for(name)
                        and not self.config.is_ignored_session(name)
                    ):
                        if name not in self.stats.unknown_sessions:
                            self.stats.unknown_sessions.append(name)
                            self._error(
                                kind,
                                url,
                                f"the site lists session {name!r}, which the config does "
                                "not know: add it to sessions: (or to ignored_sessions:)",
                            )

    def _index_items(self, source: str, session: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, page in self._pages("index", source, session).items():
            names = self._names(session, source)
            for url in page.urls:
                result = self._get(kind, fill(url, names), session, names)
                out += result.items if result else []
        return out

    def _list_items(
        self, lists: dict[str, PageSpec], source: str, session: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(list kind, item) for every item of every list page, following pagination and links."""
        names = self._names(session, source)
        queue = [(kind, fill(u, names)) for kind, page in lists.items() for u in page.urls]
        seen: set[str] = set()
        while queue:
            kind, url = queue.pop(0)
            if url in seen or self._budget_spent():
                continue
            seen.add(url)
            result = self._get(kind, url, session, names)
            if result is None:
                continue
            self.stats.list_items += len(result.items)
            for item in result.items:
                yield kind, item
            if result.next_url:
                queue.append((kind, result.next_url))
            follow = self.config.pages[kind].follow
            if follow:
                queue += [(follow.kind, u) for u in result.follow_urls]

    # ------------------------------------------------------------------ bills

    def _bill_kind(self, list_kind: str, source: str, session: str) -> str | None:
        wanted = self.config.pages[list_kind].bill_kind
        if wanted:
            return wanted
        bills = self._pages("bill", source, session)
        return next(iter(bills), None)

    def _bill(
        self, list_kind: str, item: dict[str, Any], source: str, session: str
    ) -> ScrapedBill | None:
        pages = BillPages()
        list_page = self.config.pages[list_kind]
        record = {k: v for k, v in item.items() if k != "url"}
        if list_page.yields == "bills":
            pages.add(record, url=None, kind=list_kind)
        else:
            kind = self._bill_kind(list_kind, source, session)
            if kind is None:
                self._error(
                    list_kind, None, "the list yields bill URLs but the source has no bill page"
                )
                return None
            names = self._names(session, source, record)
            url = item.get("url") or self._template(kind, self.config.pages[kind].url, names)
            if url is None:
                self._skip()
                return None
            result = self._get(kind, url, session, names)
            if result is None:
                self._skip()
                return None
            pages.add(result)
            pages.add(record, kind=list_kind)  # the list's values fill what the bill page lacks
            record = {**record, **(result.record or {})}
        return self._finish_bill(pages, record, source, session)

    def _bill_url_kind(self, source: str, session: str) -> str | None:
        """The first bill page whose URL template a session and a bill number fill."""
        names = self._names(session, source, bill_names("HB 1"))
        for kind, page in self._pages("bill", source, session).items():
            if len(page.urls) == 1:
                try:
                    for template in (page.urls[0], page.body or "", *page.headers.values()):
                        fill(template, names)
                except (TemplateError, KeyError):
                    continue
                return kind
        return None

    def _bill_by_url(
        self, kind: str, names: dict[str, Any], source: str, session: str
    ) -> ScrapedBill | None:
        """One bill fetched by its bill page's URL template (no list page), then augmented."""
        filled = self._names(session, source, names)
        url = self._template(kind, self.config.pages[kind].url, filled)
        result = self._get(kind, url, session, filled) if url else None
        if result is None:
            self._skip()
            return None
        pages = BillPages()
        pages.add(result)
        return self._finish_bill(pages, dict(result.record or {}), source, session)

    def _finish_bill(
        self, pages: BillPages, record: dict[str, Any], source: str, session: str
    ) -> ScrapedBill | None:
        for kind, page in self._pages("augment", source, session).items():
            names = self._names(
                session, source, {k: v for k, v in record.items() if not isinstance(v, list | dict)}
            )
            url = self._template(kind, page.url, names)
            if url is None:
                continue  # the bill has no such page (its link was absent)
            result = self._get(kind, url, session, names)
            if result is None:
                self._skip()
                return None
            pages.add(result)
        try:
            return assemble_bill(self.config, pages, session=session)
        except ExtractionError as exc:
            self._error(exc.kind, exc.url, exc.reason, exc)
            self._skip()
            return None

    def _template(
        self, kind: str, template: str | list[str] | None, names: Mapping[str, Any]
    ) -> str | None:
        if not template:
            return None
        text = template if isinstance(template, str) else template[0]
        for _, field_name, _, _ in Formatter().parse(text):
            root = re.split(r"[.\[]", field_name or "", maxsplit=1)[0]
            if root.startswith("_") and names.get(root) in (None, ""):
                return None  # an optional link the bill page did not show
        try:
            value = fill(text, names)
        except TemplateError as exc:
            if exc.name.startswith("_"):
                return None  # an optional link the bill page did not show
            self._error(kind, None, str(exc))
            return None
        return value or None

    def _skip(self) -> None:
        self.stats.bills_skipped += 1
