"""The plan of the house, checked: layers import one way and no module imports itself in a circle.

Layers, lowest first (docs/ARCHITECTURE.md): models/vocab -> understanding -> ingest ->
collect/search/digest/jobs -> web (and the demo, which serves it) -> cli. A module may import
its own layer or lower ones, so core never imports ``tracker.web`` or ``tracker.cli`` and the
web app never imports the CLI.
``scrapers`` is a library beside the models: bytes in, ``ScrapedBill`` out; from ``tracker`` it
may import only the contract and the vocabularies. Every import counts, at module level and
inside functions alike (a function-level import is still a dependency, only a later one);
imports under ``if TYPE_CHECKING:`` do not run and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What `scrapers` may import from `tracker`.
SCRAPERS_MAY_USE = {"tracker.scraped", "tracker.vocab", "tracker.identifiers"}

# Layer of each tracker module, by its own name or its package's. A new module needs a line here.
LAYERS: dict[str, int] = {
    # 0: models, vocabularies, settings, the run record
    "tracker": 0,
    "tracker.vocab": 0,
    "tracker.scraped": 0,
    "tracker.identifiers": 0,
    "tracker.settings": 0,
    "tracker.paths": 0,
    "tracker.models": 0,
    "tracker.all_models": 0,
    "tracker.source_models": 0,
    "tracker.subscription_models": 0,
    "tracker.scheduler_models": 0,
    "tracker.db": 0,
    "tracker.templating": 0,
    "tracker.sessions": 0,
    "tracker.runs": 0,
    "tracker.urls": 0,
    "tracker.scraping": 0,  # the scrapers library handed the settings (User-Agent, folders)
    # 1: understanding a bill
    "tracker.actions": 1,
    "tracker.stages": 1,
    "tracker.topics": 1,
    "tracker.understand": 1,
    "tracker.lineage": 1,
    # 2: the write path (the search index is kept in step by ingest, batch by batch)
    "tracker.ingest": 2,
    "tracker.ingest_rows": 2,
    "tracker.ingest_diff": 2,
    "tracker.ingest_files": 2,
    "tracker.topic_review": 2,
    "tracker.search": 2,
    "tracker.migrations": 2,  # run by Alembic, never imported; 0002 reuses search's DDL
    # 3: what runs things and what reads the database for people
    "tracker.collect": 3,
    "tracker.sources_health": 3,
    "tracker.digest": 3,
    "tracker.digest_preview": 3,
    "tracker.digest_render": 3,
    "tracker.delivery": 3,
    "tracker.mail": 3,
    "tracker.subscriptions": 3,
    "tracker.feeds": 3,
    "tracker.wave": 3,
    "tracker.jobs": 3,
    "tracker.health": 3,
    "tracker.alerts": 3,
    "tracker.scheduler": 3,
    # 4: the web app and static site, and the offline demo that serves them
    "tracker.web": 4,
    "tracker.demo": 4,
    # 5: the command line, which starts everything
    "tracker.cli": 5,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("tracker", "scrapers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that `name` (a module or a name inside one) lives in, or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skip.update(id(n) for n in ast.walk(inner))
    return skip


def imports_of(module: str, source: str) -> set[str]:
    """Our modules that `module` imports anywhere in `source` (functions included)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for name in names:
            target = _resolve(name)
            if target and target != module:
                out.add(target)
    return out


def import_graph(sources: dict[str, str] | None = None) -> dict[str, set[str]]:
    sources = sources or {m: p.read_text(encoding="utf-8") for m, p in MODULES.items()}
    return {m: imports_of(m, text) for m, text in sources.items()}


def layer_of(module: str) -> int | None:
    """A module's layer, or its package's (the bare ``tracker`` package counts only for itself)."""
    name = module
    while name:
        if name in LAYERS and (name != "tracker" or module == "tracker"):
            return LAYERS[name]
        name = name.rpartition(".")[0]
    return None


def crossings(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes against the layers, as 'importer -> imported (why)'."""
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            why = _crossing(module, target)
            if why:
                bad.append(f"{module} -> {target} ({why})")
    return bad


def _crossing(module: str, target: str) -> str | None:
    if module.startswith("scrapers"):
        if not target.startswith("tracker") or target in SCRAPERS_MAY_USE:
            return None
        return "scrapers are a library: only tracker.scraped, vocab and identifiers"
    if target.startswith("scrapers"):
        return None  # any tracker module may use the library
    mine, theirs = layer_of(module), layer_of(target)
    if mine is None or theirs is None:
        return "module has no layer: add it to LAYERS in tests/test_layers.py"
    if theirs > mine:
        return f"layer {mine} imports layer {theirs}"
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package __init__ files that only gather their own submodules are not a circle."""
    out = {}
    for module, targets in graph.items():
        if MODULES[module].name == "__init__.py":
            targets = {t for t in targets if not t.startswith(module + ".")}
        out[module] = targets
    return out


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m.startswith("tracker") and layer_of(m) is None]
    assert not missing


def test_no_layer_is_crossed() -> None:
    assert crossings(import_graph()) == []


def test_no_import_circle() -> None:
    found = cycles(_edges(import_graph()))
    assert found == []


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("scrapers.engine", "from tracker.ingest import ingest_bills"),
        ("scrapers.http", "    from tracker.models import Bill"),
        ("tracker.demo", "from tracker.cli.digest import preview"),
        ("tracker.jobs", "from tracker.web.app import create_app"),
        ("tracker.ingest", "from tracker.collect.runner import run_state_sources"),
        ("tracker.models", "from tracker import understand"),
        ("tracker.digest", "from tracker.web import pages"),
        ("tracker.health", "    from tracker.cli.core import engine_ready"),
    ],
)
def test_a_crossing_is_caught(module: str, line: str) -> None:
    """The check is not vacuous: adding one of the old crossings makes it fail."""
    sources = {m: p.read_text(encoding="utf-8") for m, p in MODULES.items()}
    body = line if not line.startswith(" ") else f"def _late():\n{line}\n"
    sources[module] += "\n" + body + "\n"
    assert any(c.startswith(f"{module} -> ") for c in crossings(import_graph(sources)))


def test_a_circle_is_caught() -> None:
    """alerts -> health -> jobs -> alerts was a circle (over JOB_KIND); a late import back from
    alerts to jobs would close one again, and so would one within a layer."""
    sources = {m: p.read_text(encoding="utf-8") for m, p in MODULES.items()}
    sources["tracker.alerts"] += "\ndef _late():\n    from tracker.jobs import JOB_KIND\n"
    sources["tracker.vocab"] += "\ndef _late():\n    from tracker import scraped\n"
    found = cycles(_edges(import_graph(sources)))
    assert ["tracker.alerts", "tracker.jobs"] in found
    assert ["tracker.scraped", "tracker.vocab"] in found
