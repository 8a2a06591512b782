"""`tracker scrapers ...`: the volunteer loop for state configs.

list -> new -> record -> parse -> check -> validate -> scrape: write a config, save a live page as a
fixture, see what the config extracts, pin it as expected output, and run it for real.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from scrapers.config import StateConfig

app = typer.Typer(
    help="State scraper configs: list, validate, parse saved pages, check expected output, "
    "record fixtures, start a new state, scrape live.\n\n"
    "Example: tracker scrapers parse nm --page bill=2019_SB11_legislation_detail.html",
    no_args_is_help=True,
)
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

REPO = Path(__file__).resolve().parent.parent.parent


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _config(state: str) -> StateConfig:
    from scrapers.config import ConfigError
    from tracker.scraping import load_state_config

    try:
        return load_state_config(state.lower())
    except ConfigError as exc:
        _fail(str(exc))
    except KeyError as exc:
        _fail(str(exc.args[0]))


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every configured state with its sessions, sources, page kinds and saved examples.

    Example: tracker scrapers list
    """
    from scrapers.config import ConfigError
    from tracker.scraping import list_states, load_state_config

    rows: list[dict[str, Any]] = []
    for st in list_states():
        try:
            cfg = load_state_config(st)
        except ConfigError as exc:
            rows.append(
                {
                    "state": st,
                    "error": str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc),
                }
            )
            continue
        live = [k for k, p in cfg.pages.items() if p.role == "list" and p.live]
        rows.append(
            {
                "state": st,
                "name": cfg.name,
                "sessions": [s.identifier for s in cfg.sessions],
                "sources": cfg.source_names(),
                "pages": list(cfg.pages),
                "examples": len(cfg.examples),
                "live": bool(live),
            }
        )
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="State scraper configs")
    for col in ("state", "name", "sessions", "sources", "page kinds", "examples", "live list"):
        table.add_column(col)
    for r in rows:
        if "error" in r:
            table.add_row(r["state"], f"[red]invalid: {r['error']}[/red]", "", "", "", "", "")
        else:
            table.add_row(
                r["state"],
                r["name"],
                ", ".join(r["sessions"]),
                ", ".join(r["sources"]),
                ", ".join(r["pages"]),
                str(r["examples"]),
                "yes" if r["live"] else "no",
            )
    out.print(table)


@app.command("validate")
def validate_cmd(
    state: Annotated[str | None, typer.Argument(help="state code; all when omitted")] = None,
) -> None:
    """Check configs against the schema (errors name file, line and key) and their hooks.

    Example: tracker scrapers validate nm
    """
    from scrapers.config import ConfigError
    from scrapers.engine import load_hook
    from tracker.scraping import list_states, load_state_config

    states = [state.lower()] if state else list_states()
    bad = 0
    for st in states:
        try:
            cfg = load_state_config(st)
            for page in cfg.pages.values():
                for step in ("parse", "post"):
                    name = getattr(page.hooks, step) if page.hooks else None
                    if name:
                        load_hook(st, name)
        except ConfigError as exc:
            bad += 1
            err.print(str(exc), highlight=False)
            continue
        except (KeyError, LookupError) as exc:
            bad += 1
            err.print(f"{st}: {exc.args[0] if exc.args else exc}", highlight=False)
            continue
        out.print(f"{st}: ok ({len(cfg.pages)} page kinds, {len(cfg.sessions)} sessions)")
    if bad:
        raise typer.Exit(1)


def _parse_page_args(pages: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for spec in pages:
        kind, sep, file = spec.partition("=")
        if not sep or not kind or not file:
            _fail(f"--page takes KIND=FILE, got {spec!r}")
        path = Path(file)
        if not path.is_file():
            _fail(f"--page {kind}: no such file {file}")
        found[kind] = path
    return found


@app.command("parse")
def parse_cmd(
    state: Annotated[str, typer.Argument(help="state code, e.g. nm")],
    page: Annotated[
        list[str],
        typer.Option("--page", help="KIND=FILE, repeatable (kinds as the config names them)"),
    ],
    url: Annotated[
        str | None, typer.Option("--url", help="the address the (first) page came from")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="session, for pages that do not name it")
    ] = None,
) -> None:
    """Run a state's config on saved pages and print JSON: an object for pages of one bill,
    an array for a list page.

    Example: tracker scrapers parse nm --page bill=../shared/fixtures/real/html/nm/2019_SB11_legislation_detail.html
    """
    from scrapers.engine import ExtractionError
    from tracker.collect.examples import parse_pages

    cfg = _config(state)
    files = _parse_page_args(page)
    unknown = [k for k in files if k not in cfg.pages]
    if unknown:
        _fail(
            f"{cfg.state}: no page kind {', '.join(map(repr, unknown))}; kinds: {', '.join(cfg.pages)}"
        )
    try:
        data = parse_pages(
            cfg, {k: p.read_bytes() for k, p in files.items()}, url=url, session=session
        )
    except ExtractionError as exc:
        _fail(str(exc))
    except KeyError as exc:
        _fail(str(exc.args[0]))
    print(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("check")
def check_cmd(
    state: Annotated[
        str | None, typer.Argument(help="state code; none (or 'all') for every state")
    ] = None,
    all_states: Annotated[bool, typer.Option("--all", help="every configured state")] = False,
    update: Annotated[
        bool, typer.Option("--update", help="rewrite the expected JSON from today's output")
    ] = False,
) -> None:
    """Parse every saved page of a state (or of every state) and compare with its expected JSON.

    Shows a readable diff for each page whose output moved, and ends with a summary line; exits
    1 if any page failed, differs or has no expected output yet.

    Example: tracker scrapers check nm
    """
    from tracker.scraping import list_states

    if state is not None and all_states:
        _fail("give a state code or --all, not both", code=2)
    every = state is None or state.lower() == "all"
    states = [state.lower()] if state is not None and not every else list_states()
    tally = {"ok": 0, "failed": 0, "written": 0}
    bad_states: list[str] = []
    for st in states:
        counts = _check_state(st, update=update)
        for key, n in counts.items():
            tally[key] += n
        if counts["failed"]:
            bad_states.append(st)
    pages = sum(tally.values())
    summary = (
        f"{len(states)} {'state' if len(states) == 1 else 'states'}, "
        f"{pages} saved {'example' if pages == 1 else 'examples'}: {tally['ok']} ok"
        + (f", {tally['written']} written" if update else "")
        + f", {tally['failed']} failed"
        + (f" ({', '.join(bad_states)})" if bad_states else "")
    )
    out.print(summary, highlight=False, markup=False, soft_wrap=True)
    if tally["failed"]:
        raise typer.Exit(1)


def _check_state(st: str, *, update: bool) -> dict[str, int]:
    """Check one state's saved pages, printing one line (or a diff) each; the counts."""
    from tracker.collect.examples import compare, expected_path

    counts = {"ok": 0, "failed": 0, "written": 0}
    cfg = _config(st)
    if not cfg.examples:
        err.print(f"{st}: no examples: in the config (save pages with `tracker scrapers record`)")
        counts["failed"] += 1
    for ex in cfg.examples:
        try:
            result = compare(cfg, ex, update=update)
        except FileNotFoundError as exc:  # the saved page is not here (../shared missing?)
            counts["failed"] += 1
            out.print(f"[red]FAIL[/red] {st}/{ex.name}: {escape(str(exc))}", highlight=False)
            continue
        if result.error:
            counts["failed"] += 1
            out.print(f"[red]FAIL[/red] {st}/{ex.name}: {escape(result.error)}", highlight=False)
        elif update:
            counts["written"] += 1
            out.print(f"[green]wrote[/green] {expected_path(st, ex.name).relative_to(REPO)}")
        elif result.expected is None:
            counts["failed"] += 1
            out.print(
                f"[yellow]NEW[/yellow] {st}/{ex.name}: no expected output yet; "
                f"run `tracker scrapers check {st} --update` and review it"
            )
        elif not result.ok:
            counts["failed"] += 1
            out.print(f"[red]DIFF[/red] {st}/{ex.name}", highlight=False)
            out.print(result.diff(), highlight=False, markup=False)
        else:
            counts["ok"] += 1
            out.print(f"[green]ok[/green]   {st}/{ex.name}")
    return counts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "page"


@app.command("record")
def record_cmd(
    state: Annotated[str, typer.Argument(help="state code")],
    url: Annotated[str, typer.Argument(help="live page to save")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="page kind it is (as the config names it)")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="file name stem (default from the URL)")
    ] = None,
    dest: Annotated[
        Path | None, typer.Option("--dest", help="folder (default tests/fixtures/recorded/<st>)")
    ] = None,
) -> None:
    """Fetch a live page politely and save it, with its provenance, as a new fixture.

    Example: tracker scrapers record nm "https://www.nmlegis.gov/Legislation/Legislation?chamber=S&legtype=B&legno=11&year=19" --kind bill
    """
    from scrapers.fetch_types import FetchError
    from tracker.scraping import http_client

    cfg = _config(state)
    if kind and kind not in cfg.pages:
        _fail(f"{cfg.state}: no page kind {kind!r}; kinds: {', '.join(cfg.pages)}")
    folder = dest or REPO / "tests" / "fixtures" / "recorded" / cfg.state
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with http_client() as client:
            client.set_host_delay(urlsplit(url).netloc, cfg.politeness.delay)
            page = client.get(url, conditional=False)
    except FetchError as exc:
        _fail(f"could not fetch {url}: {exc}")
    fmt = cfg.pages[kind].format if kind else "html"
    ext = {"html": "html", "xml": "xml", "json": "json", "delimited": "txt"}[fmt]
    stem = _slug(
        name or f"{kind or 'page'}_{urlsplit(url).path.rsplit('/', 1)[-1]}_{urlsplit(url).query}"
    )
    path = folder / f"{stem}.{ext}"
    path.write_bytes(page.body)
    fetched = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = (
        f"\n### `{path.name}`\n- **URL**: {url}\n- **final URL**: {page.url}\n- **captured**: {fetched}\n"
        f"- **status**: {page.status}\n- **content-type**: {page.headers.get('content-type', page.headers.get('Content-Type', ''))}\n"
        f"- **kind**: {kind or 'not given'}\n"
        f"- **bytes / sha256**: {len(page.body)} / `{hashlib.sha256(page.body).hexdigest()}`\n"
    )
    prov = folder / "PROVENANCE.md"
    if not prov.exists():
        prov.write_text(
            f"# Pages recorded for {cfg.name} with `tracker scrapers record`\n", encoding="utf-8"
        )
    with prov.open("a", encoding="utf-8") as fh:
        fh.write(entry)
    rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    out.print(f"saved {len(page.body)} bytes to {rel} (provenance in {prov.name})")
    out.print("Add it to the config's examples: and pin its output:")
    out.print(
        f"  - name: {stem}\n    url: {url}\n    pages: {{{kind or 'KIND'}: {rel}}}", markup=False
    )
    out.print(f"then: tracker scrapers check {cfg.state} --update", markup=False)


@app.command("new")
def new_cmd(
    state: Annotated[str, typer.Argument(help="two-letter state code")],
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing config")] = False,
) -> None:
    """Write a commented starting config for a state to config/states/<st>.yaml.

    Example: tracker scrapers new vt
    """
    from scrapers.config import parse_config_text
    from tracker.scraping import config_path
    from tracker.vocab import STATE_NAMES

    st = state.lower()
    if st not in STATE_NAMES:
        _fail(f"{state!r} is not a state code")
    path = config_path(st)
    if path.exists() and not force:
        _fail(f"{path} exists; use --force to overwrite it")
    text = STARTER.format(st=st, name=STATE_NAMES[st], year=datetime.now(UTC).year)
    parse_config_text(text, path)  # the starter must itself be valid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    out.print(
        f"wrote {path}; next: record a page, fix the selectors, then `tracker scrapers check {st} --update`"
    )


@app.command("schema")
def schema_cmd(
    output: Annotated[
        Path | None, typer.Option("--output", help="file (default config/state.schema.json)")
    ] = None,
) -> None:
    """Write the JSON Schema of state configs (for editor completion and checks).

    Example: tracker scrapers schema
    """
    from scrapers.config import json_schema
    from tracker.paths import config_dir

    target = output or config_dir() / "state.schema.json"
    target.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    out.print(f"wrote {target}")


@app.command("scrape")
def scrape_cmd(
    state: Annotated[str | None, typer.Argument(help="state code")] = None,
    all_states: Annotated[bool, typer.Option("--all", help="every configured state")] = False,
    source: Annotated[
        str | None, typer.Option("--source", help="only this source of the config")
    ] = None,
    session: Annotated[
        list[str] | None, typer.Option("--session", help="session(s); default: the current one")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="fetch from this mirror instead of the site")
    ] = None,
    bill: Annotated[
        list[str] | None, typer.Option("--bill", help="only these bills, e.g. 'SB 11'")
    ] = None,
) -> None:
    """Scrape live through ingest with a progress bar; exits non-zero if any state failed.

    Example: tracker scrapers scrape nm --session 2019
    """
    from tracker.cli.core import engine_ready
    from tracker.collect.scrape import scrape_state
    from tracker.scraping import list_states

    if bool(state) == all_states:
        _fail("give a state code or --all")
    states = [state.lower()] if state and not all_states else list_states()
    engine = engine_ready()
    failed = []
    for st in states:
        _config(st)
        with Progress(
            TextColumn(f"[bold]{st}[/bold]"),
            BarColumn(),
            TextColumn("{task.completed} bills"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task(st, total=None)
            try:
                outcome = scrape_state(
                    engine,
                    st,
                    source=source,
                    sessions=session,
                    base_url=base_url,
                    bills=bill,
                    progress=partial(bar.advance, task),
                )
            except Exception as exc:  # noqa: BLE001 - one state's failure must not stop --all
                failed.append(st)
                err.print(f"[red]{st}: failed: {type(exc).__name__}: {exc}[/red]", highlight=False)
                continue
        s = outcome.stats
        out.print(
            f"{st}: {outcome.message}; pages {s.pages_fetched} (304: {s.not_modified}, "
            f"unchanged: {s.unchanged}), parsed {s.parsed}, reused {s.reused}",
            highlight=False,
            soft_wrap=True,
        )
        for e in outcome.errors[:20]:
            err.print(f"  {e}", highlight=False, markup=False, soft_wrap=True)
        if outcome.status in ("failed", "empty") or s.errors:
            failed.append(st)
    if failed:
        _fail(f"scrape had errors: {', '.join(failed)}")


STARTER = """\
# {name}: a starting config written by `tracker scrapers new {st}`.
# Walk-through: docs/adding-a-state.md. Schema: config/state.schema.json.
# Every selector below is a placeholder: record a real page, then fix them until
#   tracker scrapers parse {st} --page bill=FILE
# prints the bill you see in the browser.
state: {st}
name: {name}
timezone: America/New_York        # IANA name of the capital's time zone
base_url: https://legislature.example.gov

politeness:
  delay: 1.0                      # seconds between requests to one host; be kind
  max_pages: 5000

schedule:
  in_session: 6h                  # how often to look while the legislature meets
  out_of_session: 7d
  quiet_hours: "01:00-05:00"

sessions:
  - identifier: "{year}"          # our name for it (Open States style)
    name: {year} Regular Session
    start_date: {year}-01-01
    end_date: {year}-12-31
    aliases: ["{year} Regular Session"]   # how the site writes it
    vars: {{year: {year}}}            # names for URL templates below

pages:
  list:                           # the page listing every bill of a session
    role: list
    url: "{{base_url}}/bills?year={{year}}"
    items: "table.bills tr:has(a)"     # one match per bill
    min_items: 1
    bill_url: {{selector: "a", attr: href}}
    fields:
      identifier: {{selector: "a", transforms: [identifier]}}
      title: "td:nth-of-type(2)"

  bill:                           # one bill's page
    role: bill
    fields:
      identifier: {{selector: "h1", transforms: [identifier]}}
      legislative_session: {{selector: ".session", transforms: [session]}}
      title: ".title"
      sponsorships:
        items: ".sponsors a"
        fields:
          name: "."
          primary: {{index: true, transforms: [{{equals: 0}}]}}
          classification: {{index: true, transforms: [{{map: {{"0": primary, "*": cosponsor}}}}]}}
      actions:
        items: "table.actions tr:has(td)"
        min_items: 1
        fields:
          date: {{selector: "td:nth-of-type(1)", transforms: [{{date: "%m/%d/%Y"}}]}}
          chamber: {{selector: "td:nth-of-type(2)", transforms: [{{map: {{House: lower, Senate: upper}}}}]}}
          description: "td:nth-of-type(3)"

derive:
  chamber:
    from: identifier
    transforms: [{{regex: "^([HS])"}}, {{map: {{H: lower, S: upper}}}}]

# The state's own action wording, tried before the shared rules (config/actions.yaml):
action_rules: []

# Saved pages and the expected output kept in tests/expected/{st}/<name>.json:
examples: []
"""
