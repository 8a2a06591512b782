"""`tracker demo`: the whole system working with no internet, on saved real pages.

1. Serve ``fixtures/real/html`` from ../shared (or ``TRACKER_SHARED_DIR``) with one local HTTP
   server per original site, each page under its original path and query (from PROVENANCE.md).
2. Copy ``config/`` into the demo folder with every state's addresses pointed at those servers
   (and no politeness delay: the server is ours).
3. Run one scheduled cycle with the real jobs: scrape each state whose site is served (ingest,
   classify actions, stages and topics), daily maintenance, then a digest preview to a folder.
4. Import the shared Open States and LegiScan data (``--quick``: the small samples only).
5. Serve the site on the demo database.

Everything lives in the demo folder (database, config copy, previews): the operator's own
database and config are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

Say = Callable[[str], None]

_ENTRY = re.compile(r"^### `([^`]+)`\s*$")
_URL_LINE = re.compile(r"^- \*\*URL\*\*:\s*(\S+)(.*)$")
_SOAP_OP = re.compile(r"\bSOAP\s+(\w+)")
_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "text/xml",
    ".json": "application/json",
    ".txt": "text/plain",
}
DEMO_EMAIL = "demo@example.org"


class DemoError(RuntimeError):
    """The demo cannot run (e.g. ../shared is missing); the message says what to do."""


# --------------------------------------------------------------------------------- saved pages


def original_urls(html_dir: Path) -> dict[str, str]:
    """{"nm/file.html": original URL} for every saved page whose provenance gives a full URL.

    SOAP replies share one URL; their operation (``SOAP GetVote`` after the URL) is kept as a
    ``#GetVote`` fragment so the server can answer by operation.
    """
    provenance = html_dir / "PROVENANCE.md"
    if not provenance.is_file():
        raise DemoError(f"{provenance} is missing: cannot tell which page was served at which URL")
    urls: dict[str, str] = {}
    current: str | None = None
    for line in provenance.read_text(encoding="utf-8").splitlines():
        if m := _ENTRY.match(line):
            current = m.group(1)
        elif current and (m := _URL_LINE.match(line)):
            url, rest = m.group(1), m.group(2)
            # elided queries and prose guesses are not fetchable; "request parameters not
            # recorded" (SOAP) still names the URL
            if (
                url.startswith(("http://", "https://"))
                and "..." not in url
                and "URL not recorded" not in rest
            ):
                op = _SOAP_OP.search(rest)
                # "!": the request's parameters were not recorded, so they must match the reply
                strict = "!" if "parameters not recorded" in rest else ""
                urls[current] = f"{url}#{op.group(1)}{strict}" if op else url
            current = None
    return urls


def host_key(host: str) -> str:
    host = host.lower().split(":")[0]
    return host[4:] if host.startswith("www.") else host


def page_key(path: str, query: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Legislature sites run on IIS: paths and query names are case-insensitive, order is free,
    and a blank parameter (``SpecSess=``) is the same as none."""
    pairs = sorted((k.lower(), v.lower()) for k, v in parse_qsl(query))
    return unquote(path).lower(), tuple(pairs)


class _Handler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if parts.path == "/robots.txt":
            return self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
        self._reply(parts.path, parts.query, "")

    def do_POST(self) -> None:  # noqa: N802
        """SOAP services: one URL, the reply chosen by the operation named in the request."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        parts = urlsplit(self.path)
        self._reply(parts.path, parts.query, f"{self.headers.get('SOAPAction', '')} {body}")

    def _reply(self, path: str, query: str, request: str) -> None:
        choices = self.server.lookup(path, query) or {}
        file = _choose(choices, request)
        if file is None:
            self.server.misses += 1
            return self._send(404, b"not among the saved pages", "text/plain")
        self.server.hits += 1
        self._send(
            200, file.read_bytes(), _TYPES.get(file.suffix.lower(), "application/octet-stream")
        )

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # quiet: the demo reports totals instead
        pass


_XML_LEAF = re.compile(r"<(?:\w+:)?\w+>([^<>]+)</")


def _choose(choices: dict[str, Path], request: str) -> Path | None:
    """The page for a request: by SOAP operation when several share a URL, else the only one.

    A SOAP reply saved without its request (``op!``) answers only requests whose parameter
    values all appear in it (GetLegislationDetail of bill 33209 is not every bill's detail).
    """
    for op, file in choices.items():
        name = op.rstrip("!")
        if name and re.search(rf"[<:/\"]{re.escape(name)}[\s>/\"]", f"{request} "):
            if op.endswith("!"):
                body = file.read_bytes()
                wanted = _XML_LEAF.findall(request.split(name, 1)[-1])
                if not all(f">{v.strip()}<".encode() in body for v in wanted):
                    return None
            return file
    return choices.get("") or (next(iter(choices.values())) if len(choices) == 1 else None)


_BILL_IN_NAME = re.compile(r"_([A-Z]{1,4})0*(\d{1,5})[A-Z]?(?=_)")


def saved_bills(rel_paths: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """{state: {year: {"SB 11": pages}}}: the bills whose own pages were saved, from the file
    names, by the year they start with ("" when none: Illinois names its files "100GA_")."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    for rel in rel_paths:
        state, name = rel.split("/", 1)
        if m := _BILL_IN_NAME.search("_" + Path(name).stem + "_"):
            year = m2.group(1) if (m2 := _YEAR_PREFIX.match(Path(name).stem)) else ""
            bills = found.setdefault(state, {}).setdefault(year, {})
            bill = f"{m.group(1)} {m.group(2)}"
            bills[bill] = bills.get(bill, 0) + 1
    return found


_YEAR_PREFIX = re.compile(r"^(\d{4})_")


class PageServer(ThreadingHTTPServer):
    """Serves one original site's saved pages on 127.0.0.1 and a free port."""

    daemon_threads = True

    def __init__(self, host: str, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.host = host
        # (path, query) -> {SOAP operation or "": saved file}
        self.pages: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Path]] = {}
        self.hits = 0
        self.misses = 0
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"demo-{host}",
            daemon=True,
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def lookup(self, path: str, query: str) -> dict[str, Path] | None:
        """The saved replies for a request: the exact URL, else the one saved page of that path
        whose query has every parameter the request has and more (Illinois' links add a
        ``LegID`` its pages do not need)."""
        key = page_key(path, query)
        if key in self.pages:
            return self.pages[key]
        asked = set(key[1])
        near = [v for (p, q), v in self.pages.items() if p == key[0] and asked and asked < set(q)]
        return near[0] if len(near) == 1 else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class SavedSites:
    html_dir: Path
    servers: dict[str, PageServer] = field(default_factory=dict)  # host key -> server
    states: dict[str, set[str]] = field(default_factory=dict)  # state -> host keys
    # state -> year -> bill -> pages saved
    bills: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(len(files) for s in self.servers.values() for files in s.pages.values())

    def origin_map(self) -> dict[str, str]:
        return {host: s.origin for host, s in self.servers.items()}


def parse_ports(text: str) -> range:
    """``9100-9120`` -> the ports the local page servers may use (one per saved site)."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", text or "")
    if not m or not (0 < int(m.group(1)) <= int(m.group(2)) <= 65535):
        raise DemoError(f"--site-ports {text!r}: give a range like 9100-9120")
    return range(int(m.group(1)), int(m.group(2)) + 1)


def example_urls(configs: list[Any]) -> dict[str, str]:
    """{"il/file.html": URL} from the state configs' examples, for saved pages whose provenance
    does not record the URL: the example's own ``url`` (one page), or the page's URL template
    filled with the example's session (``or/2011_measures.txt`` is ``.../11reg/measures/...``)."""
    from scrapers.scrape import bill_names
    from scrapers.transforms import TemplateError, fill

    out: dict[str, str] = {}
    for cfg in configs:
        for ex in cfg.examples:
            for kind, rel in ex.pages.items():
                page = cfg.pages.get(kind)
                if page is None or page.method != "GET" or ex.error:
                    continue
                session = ex.session or (
                    cfg.sessions[0].identifier if len(cfg.sessions) == 1 else None
                )
                if len(ex.pages) == 1 and ex.url:
                    out.setdefault(rel, ex.url)
                elif session and len(page.urls) == 1:
                    # a bill page's template also takes the bill named in the file name
                    bill = _BILL_IN_NAME.search("_" + Path(rel).stem + "_")
                    try:
                        names = {
                            "base_url": cfg.base_url_for(page.source),
                            **cfg.session(session).vars,
                            **(bill_names(f"{bill.group(1)} {bill.group(2)}") if bill else {}),
                        }
                        out.setdefault(rel, fill(page.urls[0], names))
                    except (KeyError, TemplateError):
                        continue
    return out


@contextmanager
def serve_saved_pages(
    html_dir: Path, *, ports: range | None = None, extra: dict[str, str] | None = None
) -> Iterator[SavedSites]:
    """Start one server per original host (on `ports` in order, else free ports chosen by the
    system); captures of the same URL: the last by name wins. `extra` adds URLs for pages
    whose provenance has none (see :func:`example_urls`)."""
    sites = SavedSites(html_dir)
    free = iter(ports) if ports is not None else None
    urls = {**(extra or {}), **original_urls(html_dir)}
    for rel, url in sorted(urls.items()):
        parts = urlsplit(url)
        key = host_key(parts.hostname or "")
        server = sites.servers.get(key)
        if server is None:
            server = sites.servers[key] = _new_server(key, free, ports)
        server.pages.setdefault(page_key(parts.path, parts.query), {})[parts.fragment] = (
            html_dir / rel
        )
        sites.states.setdefault(rel.split("/", 1)[0], set()).add(key)
    sites.bills = saved_bills(list(urls))
    for server in sites.servers.values():
        server.start()
    try:
        yield sites
    finally:  # at once: each waits for its server's next poll
        stopping = [threading.Thread(target=s.stop) for s in sites.servers.values()]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


def _new_server(key: str, free: Iterator[int] | None, ports: range | None) -> PageServer:
    if free is None:
        return PageServer(key)
    for port in free:
        try:
            return PageServer(key, port)
        except OSError:
            continue  # taken: the next one
    raise DemoError(f"--site-ports {ports.start}-{ports.stop - 1}: no free port left for {key}")  # type: ignore[union-attr]


# --------------------------------------------------------------------------------- configs


_URL_IN_TEXT = re.compile(r"https?://([A-Za-z0-9.-]+)(:\d+)?")


def point_at(value: Any, origins: dict[str, str]) -> Any:
    """Every http(s) URL in a config value whose host we serve now points at the local server."""
    if isinstance(value, str):

        def swap(m: re.Match[str]) -> str:
            return origins.get(host_key(m.group(1)), m.group(0))

        return _URL_IN_TEXT.sub(swap, value)
    if isinstance(value, dict):
        return {k: point_at(v, origins) for k, v in value.items()}
    if isinstance(value, list):
        return [point_at(v, origins) for v in value]
    return value


_POLITENESS_DELAY = re.compile(
    r"(?m)^(politeness:[^\n]*\n(?:[ \t]+[^\n]*\n|[ \t]*\n)*?[ \t]+delay:[ \t]*)[0-9.]+"
)


def demo_config_dir(source: Path, target: Path, origins: dict[str, str]) -> list[str]:
    """Copy `source` config to `target`, re-pointing state sites; returns the states served.

    The YAML is edited as text, not re-dumped, so every value keeps its exact spelling (a key
    like ``yes`` must not turn into a boolean).
    """
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    served = []
    for path in sorted((target / "states").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        pointed = point_at(text, origins)
        if pointed == text:
            continue  # none of its sites is among the saved pages
        # no politeness delay: the server is ours
        pointed, n = _POLITENESS_DELAY.subn(r"\g<1>0", pointed, count=1)
        if n == 0 and not re.search(r"(?m)^politeness:", pointed):
            pointed += "\npoliteness:\n  delay: 0\n"
        path.write_text(pointed, encoding="utf-8")
        served.append(path.stem)
    return served


def _mute_unsaved_checks(path: Path, config: Any, session: str, sites: SavedSites) -> None:
    """A session-list page nobody saved (GA's GetSessions) is only a check: in the demo copy it
    gets ``live: false`` rather than a "not saved" error in every run."""
    names = config.session(session).vars
    text = path.read_text(encoding="utf-8")
    for kind, page in config.pages.items():
        if page.role == "sessions" and page.live:
            if not any(served(sites, u) for u in _page_urls(config, page, names)):
                text = re.sub(
                    rf"(?m)^(  {re.escape(kind)}:[ \t]*\n)",
                    r"\g<1>    live: false   # demo: this page was not saved\n",
                    text,
                    count=1,
                )
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------- the demo


def _isolate(workdir: Path, config: Path, *, base_url: str) -> str:
    """Point this process's settings at the demo folder (its own config, data and, unless
    ``TRACKER_DATABASE_URL`` names one, database); returns the database URL."""
    from tracker.settings import reset_settings

    data = workdir / "data"
    url = os.environ.get("TRACKER_DATABASE_URL") or f"sqlite:///{(data / 'demo.db').resolve()}"
    os.environ.update(
        {
            "TRACKER_DATA_DIR": str(data),
            "TRACKER_DATABASE_URL": url,
            "TRACKER_CONFIG_DIR": str(config.resolve()),
            "TRACKER_HTTP_DEFAULT_DELAY": "0",
            "TRACKER_BASE_URL": base_url,
        }
    )
    reset_settings()
    (workdir / ".env").write_text(
        "# written by tracker demo: commands run in this folder use the demo's data\n"
        f"TRACKER_DATABASE_URL={url}\nTRACKER_DATA_DIR={data.resolve()}\n"
        f"TRACKER_CONFIG_DIR={config.resolve()}\nTRACKER_BASE_URL={base_url}\n",
        encoding="utf-8",
    )
    return url


def shared_html_dir() -> Path:
    from tracker.settings import get_settings

    settings = get_settings()
    shared = settings.resolved_shared_dir()
    if settings.shared_dir and not (settings.shared_dir / "fixtures" / "real" / "html").is_dir():
        raise DemoError(
            f"TRACKER_SHARED_DIR is {settings.shared_dir}, which holds no saved pages "
            f"(no {Path('fixtures', 'real', 'html')} in it): point it at the shared folder"
        )
    if shared is None or not (shared / "fixtures" / "real" / "html").is_dir():
        raise DemoError(
            "the saved pages are not here: put the shared folder beside the project as ../shared "
            "or set TRACKER_SHARED_DIR=/path/to/shared"
        )
    return shared / "fixtures" / "real" / "html"


def import_sets(shared: Path, *, quick: bool) -> list[tuple[str, list[Path]]]:
    """(importer, paths) pairs. --quick: the real samples and the smallest LegiScan dataset."""
    data = shared / "data"
    os_dir, lg_dir = data / "openstates", data / "legiscan"
    bulk = sorted((lg_dir / "bulk_csv").glob("*.zip"), key=lambda p: p.stat().st_size)
    if quick:
        sets = [
            ("openstates", [os_dir / "windy_civi_2025" / "samples"]),
            ("legiscan", [lg_dir / "api_json"] + bulk[:1]),
        ]
    else:
        sets = [
            (
                "openstates",
                [
                    os_dir / "windy_civi_2025",
                    os_dir / "scraper_output_id_2025",
                    os_dir / "billy_csv_ak_27",
                ],
            ),
            ("legiscan", [lg_dir / "api_json", *bulk]),
        ]
    out = []
    for kind, paths in sets:
        present = [p for p in paths if p.exists()]
        if present:
            out.append((kind, present))
    return out


def run_import(engine: Any, kind: str, paths: list[Path]) -> Any:
    from tracker.ingest import ingest_bills

    if kind == "openstates":
        from scrapers.importers.openstates import iter_openstates as reader
    else:
        from scrapers.importers.legiscan import iter_legiscan as reader
    return ingest_bills(engine, reader(paths), source=f"import:{kind}", kind="import")


@dataclass
class DemoResult:
    states: list[str]
    runs: dict[str, tuple[str, str]]  # state -> (status, message)
    preview_dir: Path | None
    database: str
    imported: dict[str, int]
    fetched: int = 0  # requests answered with a saved page
    missing: int = 0  # requests for pages nobody saved
    stopped: bool = False  # the site served until a signal (Ctrl-C) stopped it


def run_cycle(
    engine: Any,
    states: list[str],
    *,
    preview_dir: Path,
    say: Say,
    bills: dict[str, list[str]] | None = None,
    sessions: dict[str, str] | None = None,
) -> dict[str, tuple[str, str]]:
    """One scheduled cycle with the real job functions: every scrape, maintenance, a digest preview.

    With `bills`, a state's scrape reads its lists but fetches only those bills' pages: the
    saved pages hold a handful of bills per site, and asking for the thousands of others
    would only produce thousands of "not saved" errors. `sessions` names each state's saved
    session (the pages are old; a live run scrapes today's session instead).
    """
    from sqlalchemy import select

    from tracker import jobs
    from tracker.models import Run

    runs: dict[str, tuple[str, str]] = {}
    for st in states:
        only = (bills or {}).get(st)
        session = (sessions or {}).get(st)
        say(
            f"  scraping {st.upper()} (job scrape:{st})"
            + (f", saved session {session}" if session else "")
            + (f" for the saved bills {', '.join(only)}" if only else "")
            + " ..."
        )
        started = time.perf_counter()
        # offline: the scraper only, never a fallback to the APIs
        run_id = jobs.scrape_state(
            st, source="scrape", bills=only, sessions=[session] if session else None
        )
        with engine.connect() as conn:
            row = conn.execute(
                select(Run.__table__.c.status, Run.__table__.c.message).where(
                    Run.__table__.c.id == run_id
                )
            ).one()
        runs[st] = (row.status, row.message)
        say(f"    {row.status} in {time.perf_counter() - started:.1f}s: {row.message[:300]}")
    say("  maintenance (job maintenance:daily) ...")
    jobs.maintenance()
    return runs


def served(sites: SavedSites, url: str) -> bool:
    """A saved page answers `url` (an original or a local address)."""
    parts = urlsplit(url)
    server = sites.servers.get(host_key(parts.hostname or "")) or next(
        (s for s in sites.servers.values() if s.origin == f"{parts.scheme}://{parts.netloc}"),
        None,
    )
    return server is not None and server.lookup(parts.path, parts.query) is not None


def _page_urls(config: Any, page: Any, names: dict[str, Any]) -> Iterator[str]:
    from scrapers.transforms import TemplateError, fill

    for url in page.urls:
        try:
            yield fill(url, {"base_url": config.base_url_for(page.source), **names})
        except (TemplateError, KeyError):
            continue


def saved_session(config: Any, sites: SavedSites) -> str | None:
    """The listed session the demo scrapes (today's has no saved pages): of those whose list
    page was saved, the one with the most saved bill pages (then the newest); else one
    whose bill page (by URL template) was saved for one of the saved bills."""
    from scrapers.scrape import bill_names

    by_year = sites.bills.get(config.state, {})
    specs = sorted(config.sessions, key=lambda s: s.start_date or date.min, reverse=True)
    listed = [
        spec
        for spec in specs
        if any(
            served(sites, u)
            for page in config.pages.values()
            if page.role == "list" and page.live
            for u in _page_urls(config, page, spec.vars)
        )
    ]
    if listed:
        return max(listed, key=lambda spec: sum(_year_bills(by_year, spec).values())).identifier
    every = sorted({b for bills in by_year.values() for b in bills})
    for spec in specs:
        for bill in every:
            names = {**spec.vars, **bill_names(bill)}
            for page in config.pages.values():
                if page.role == "bill" and page.live:
                    if any(served(sites, u) for u in _page_urls(config, page, names)):
                        return spec.identifier
    return None


def _year_bills(by_year: dict[str, dict[str, int]], spec: Any) -> dict[str, int]:
    year = str(spec.start_date.year) if spec.start_date else ""
    return by_year.get(year, {})


def session_bills(config: Any, sites: SavedSites, session: str) -> list[str]:
    """The saved bills to scrape in `session`: those of its year (all, when the file names
    give no year), kept only if their own page is saved when a bill URL template tells."""
    by_year = sites.bills.get(config.state, {})
    spec = config.session(session)
    chosen = _year_bills(by_year, spec) or {
        b: n for bills in by_year.values() for b, n in bills.items()
    }
    return bills_in_session(config, sites, session, sorted(chosen))


def bills_in_session(config: Any, sites: SavedSites, session: str, bills: list[str]) -> list[str]:
    """Of `bills`, those whose own page is saved for `session`, when a bill page's URL template
    tells (an Illinois bill of the 101st is not asked for in the 100th); else all of them."""
    from scrapers.scrape import bill_names

    names = config.session(session).vars
    pages = [p for p in config.pages.values() if p.role == "bill" and p.live and p.urls]
    if not any(list(_page_urls(config, p, {**names, **bill_names("HB 1")})) for p in pages):
        return bills
    return [
        b
        for b in bills
        if any(
            served(sites, u)
            for p in pages
            for u in _page_urls(config, p, {**names, **bill_names(b)})
        )
    ]


def replay_history(engine: Any) -> None:
    """Replay the data as if the tracker had watched it as it came: each bill on the digest's
    topics gets the stage changes its actions made, on the days they happened (one import sees
    only the end state), and every change is dated by the day it happened rather than the
    minute the demo read it. The digest of any past week then shows that week's news."""
    from sqlalchemy import bindparam, select, update

    from tracker.ingest_rows import change_table

    _replay_stages(engine)
    c = change_table.c
    with engine.begin() as conn:
        dated = [
            {"cid": cid, "seen": _noon(eff)}
            for cid, eff in conn.execute(
                select(c.id, c.effective_date).where(c.effective_date.is_not(None))
            )
            if _noon(eff) is not None
        ]
        if dated:
            conn.execute(
                update(change_table)
                .where(c.id == bindparam("cid"))
                .values(seen_at=bindparam("seen")),
                dated,
            )


def _noon(effective: str | None) -> datetime | None:
    """Noon UTC of an effective date ("2025-02-03..."), the middle of the day it happened."""
    try:
        day = date.fromisoformat(str(effective)[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _replay_stages(engine: Any) -> None:
    """Stage changes, one per step a topic bill's actions took (computed by tracker.stages)."""
    from sqlalchemy import insert, select

    from tracker.ingest_rows import action_table, bill_table, change_row, change_table
    from tracker.stages import compute_stage
    from tracker.subscriptions import DEFAULT_TOPICS

    b, a = bill_table.c, action_table.c
    with engine.begin() as conn:
        bills = conn.execute(
            select(b.id, b.chamber, b.classification, b.identifier, b.primary_source).where(
                b.topic.in_(list(DEFAULT_TOPICS))
            )
        ).all()
        rows = []
        for bill in bills:
            actions = [
                dict(x)
                for x in conn.execute(
                    select(a.date, a.description, a.chamber, a.classification)
                    .where(
                        a.bill_id == bill.id,
                        a.source == bill.primary_source,
                        a.removed_at.is_(None),
                    )
                    .order_by(a.position)
                ).mappings()
            ]
            stage = "introduced"
            for day in sorted({str(x["date"])[:10] for x in actions if x["date"]}):
                done = [x for x in actions if str(x["date"])[:10] <= day]
                new = compute_stage(
                    done,
                    bill_chamber=bill.chamber,
                    bill_classification=bill.classification,
                    identifier=bill.identifier,
                ).stage
                if new != stage:
                    seen = _noon(day)
                    rows.append(
                        change_row(
                            bill_id=bill.id,
                            run_id=None,
                            source="demo:replay",
                            kind="stage_changed",
                            old=stage,
                            new=new,
                            effective_date=day,
                            now=seen or datetime.now(UTC),
                        )
                    )
                    stage = new
        if rows:
            conn.execute(insert(change_table), rows)


def busiest_period(engine: Any, *, states: list[str] | None = None) -> str | None:
    """The week with the most new bills and stage changes on the digest's default topics
    (both kinds, when any week has both), of `states` if given."""
    from sqlalchemy import select

    from tracker import digest
    from tracker.ingest_rows import bill_table, change_table
    from tracker.subscriptions import DEFAULT_TOPICS

    c, b = change_table.c, bill_table.c
    q = (
        select(c.kind, c.effective_date)
        .join(bill_table, b.id == c.bill_id)
        .where(
            c.kind.in_(("bill_new", "stage_changed")),
            c.effective_date.is_not(None),
            b.topic.in_(list(DEFAULT_TOPICS)),
        )
    )
    if states:
        q = q.where(b.state.in_([s.lower() for s in states]))
    weeks: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for kind, eff in conn.execute(q):
            try:
                day = date.fromisoformat(str(eff)[:10])
            except ValueError:
                continue
            counts = weeks.setdefault(digest.format_period(day), {})
            counts[kind] = counts.get(kind, 0) + 1
    if not weeks:
        return None
    return max(
        weeks,
        key=lambda w: (len(weeks[w]) == 2, min(weeks[w].values()), sum(weeks[w].values())),
    )


def write_preview(engine: Any, out: Path, say: Say) -> Any:
    """Subscribe the demo address (confirmed, default choices) and preview its digest of the
    busiest week of the data."""
    from sqlmodel import Session

    from tracker import digest, subscriptions
    from tracker.digest_preview import write_preview as render

    with Session(engine) as session:
        subscriptions.add(
            session,
            email=DEMO_EMAIL,
            preferences=subscriptions.make_preferences(),
            confirmed=True,
        )
        session.commit()
    period = busiest_period(engine) or digest.format_period(date.today())
    say(f"5. Digest preview of the busiest week of the data, {period} -> {out}/")
    result = render(engine, email=DEMO_EMAIL, period=period, out=out)
    say(f"   {result.line()}")
    return result


def run_demo(
    workdir: Path,
    *,
    quick: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve: bool = True,
    states: list[str] | None = None,
    site_ports: range | None = None,
    say: Say = print,
) -> DemoResult:
    """Run the demo in `workdir` (see the module docstring); `states` limits the scrapes."""
    from scrapers.http import offline
    from tracker.db import make_engine, upgrade
    from tracker.paths import config_dir
    from tracker.settings import get_settings

    html_dir = shared_html_dir()
    shared = html_dir.parent.parent.parent
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"[bold]Single-Payer Tracker demo[/] in {workdir} (nothing outside it is changed)")
    started = time.perf_counter()
    from tracker.scraping import list_states, load_state_config

    configs = {st: load_state_config(st) for st in list_states()}
    extra = example_urls(list(configs.values()))
    with serve_saved_pages(html_dir, ports=site_ports, extra=extra) as sites:
        say(
            f"1. Serving {sites.pages} saved real pages of {len(sites.servers)} legislature sites "
            f"locally, under their original paths:"
        )
        for key, server in sorted(sites.servers.items()):
            say(f"     {key} -> {server.origin}")
        source_config = Path(get_settings().resolved_config_dir).resolve()
        if source_config == (workdir / "config").resolve():  # a second demo in one process
            source_config = config_dir()
        served = demo_config_dir(source_config, workdir / "config", sites.origin_map())
        wanted = {s.lower() for s in states} if states else None
        states = [s for s in served if wanted is None or s in wanted]
        if wanted and not states:
            raise DemoError(
                f"none of {', '.join(sorted(wanted))} has saved pages; choose from {', '.join(served)}"
            )
        db = _isolate(workdir, workdir / "config", base_url=f"http://{host}:{port}")
        engine = make_engine()
        upgrade(engine)
        sessions = {st: sess for st in states if (sess := saved_session(configs[st], sites))}
        bills = {st: session_bills(configs[st], sites, sess) for st, sess in sessions.items()}
        for st, sess in sessions.items():
            _mute_unsaved_checks(
                workdir / "config" / "states" / f"{st}.yaml", configs[st], sess, sites
            )
        say(
            f"2. State configs copied to {workdir / 'config'} and pointed at those servers: "
            f"{', '.join(s.upper() for s in states) or 'none'}"
        )
        say("3. One scheduled cycle (scrape, ingest, classify, maintenance, digest preview):")
        with offline(sites.origin_map()):  # any other host is refused: nothing leaves
            runs = run_cycle(
                engine,
                states,
                preview_dir=workdir / "digest-preview",
                say=say,
                bills={st: b for st, b in bills.items() if b},
                sessions=sessions,
            )
        fetched = sum(s.hits for s in sites.servers.values())
        missing = sum(s.misses for s in sites.servers.values())
        say(
            f"   the scrapers fetched {fetched} saved pages; {missing} requests asked for pages "
            "nobody saved (expected: only a few pages per site were captured)"
        )
        imported = _imports(engine, shared, quick=quick, say=say)
        replay_history(engine)
        write_preview(engine, workdir / "digest-preview", say)
        result = DemoResult(
            states, runs, workdir / "digest-preview", db, imported, fetched, missing
        )
        say(f"Done in {time.perf_counter() - started:.0f}s. Where to look:")
        say(f"   database:        {db}")
        say(f"   digest preview:  {workdir / 'digest-preview'}/ (.html, .txt, .eml)")
        say(f"   settings:        {workdir / '.env'} (read by tracker commands run in {workdir})")
        say("   to use the demo's data from anywhere, copy this line:")
        say(
            f"   export TRACKER_DATABASE_URL={db} TRACKER_CONFIG_DIR={workdir / 'config'} "
            f"TRACKER_DATA_DIR={workdir / 'data'}"
        )
        if serve:
            say(
                f"   the site:        http://{host}:{port}/  (health: /health; the scheduler runs "
                "and the saved sites stay up) - Ctrl-C to stop"
            )
            with offline(sites.origin_map()):
                result.stopped = _serve(engine, host, port)
    if result.stopped:
        say("stopped: the site, its scheduler and the saved sites")
    return result


def _imports(engine: Any, shared: Path, *, quick: bool, say: Say) -> dict[str, int]:
    sets = import_sets(shared, quick=quick)
    say(
        f"4. Importing shared Open States and LegiScan data{' (--quick: samples only)' if quick else ''}:"
    )
    imported: dict[str, int] = {}
    for kind, paths in sets:
        t0 = time.perf_counter()
        report = run_import(engine, kind, paths)
        imported[kind] = imported.get(kind, 0) + report.total
        names = ", ".join(str(p.relative_to(shared)) for p in paths)
        say(f"   {names}: {report.line()} in {time.perf_counter() - t0:.1f}s")
    return imported


def _serve(engine: Any, host: str, port: int) -> bool:
    """The site with a scheduler, as ``tracker run`` has: /health shows it live. Stops on
    Ctrl-C as `tracker run` does (True then), its jobs in this process's threads."""
    from tracker.scheduler import SchedulerService
    from tracker.service.supervisor import serve_here
    from tracker.web.app import create_app

    app = create_app(engine)
    service = app.state.scheduler_service = SchedulerService(engine)
    stopped = serve_here(app, service, host=host, port=port)
    engine.dispose()
    return stopped
