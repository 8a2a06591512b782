"""Command modules loaded when used: `tracker search` does not build `tracker subscribers`.

Typer turns every registered command into a click command (reading each function's signature)
before it parses the line; with a dozen modules that, and importing them, cost more than the
search itself. The root group here holds each module's commands as a loader instead: a name
is loaded when the line names it, when `tracker --help` lists it, or when something walks the
commands (the docs test), and each module is imported once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from tracker.cli.helptext import reflow_all

# (module, the top-level names it provides), in help order. A module with `register(app)`
# adds its commands itself; otherwise its `app` is the group of that one name.
MODULES: list[tuple[str, tuple[str, ...]]] = [
    ("tracker.cli.run", ("run", "status", "demo", "jobs")),
    ("tracker.cli.search", ("search",)),
    ("tracker.cli.actions", ("actions",)),
    ("tracker.cli.topics", ("topics",)),
    ("tracker.cli.scrapers", ("scrapers",)),
    ("tracker.cli.subscribers", ("subscribers",)),
    ("tracker.cli.mail", ("mail",)),
    ("tracker.cli.digest", ("digest",)),
    ("tracker.cli.sources", ("sources",)),
    ("tracker.cli.site", ("site",)),
]
# The order `tracker --help` lists them in (Typer's: commands, then groups, each as registered).
HELP_ORDER = ["run", "status", "demo", "search", "db", "import", "jobs"]
HELP_ORDER += [names[0] for _, names in MODULES[2:]]


def load(module_name: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The click commands of one module, built as Typer would have built them eagerly."""
    module = importlib.import_module(module_name)
    holder = typer.Typer(rich_markup_mode="rich")
    if hasattr(module, "register"):
        module.register(holder)
    else:
        holder.add_typer(module.app, name=names[0])
    reflow_all(holder)
    commands = dict(typer.main.get_group(holder).commands)
    if set(commands) != set(names):
        raise RuntimeError(f"{module_name} provides {sorted(commands)}, MODULES says {names}")
    return commands


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands: the loaded ones, then the rest loaded on first access."""

    def __init__(self, loaded: dict[str, Any], modules: list[tuple[str, tuple[str, ...]]]):
        self._loaded = loaded
        self._pending: dict[str, Callable[[], dict[str, Any]]] = {}
        self._order = list(loaded)
        for module_name, names in modules:
            loader = _once(module_name, names)
            for name in names:
                self._pending[name] = loader
                self._order.append(name)
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        self._order.sort(key=lambda name: rank.get(name, len(rank)))

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded and name in self._pending:
            self._loaded.update(self._pending[name]())
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._order:
            self._order.append(name)
        self._pending.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._pending.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


def _once(module_name: str, names: tuple[str, ...]) -> Callable[[], dict[str, Any]]:
    done: dict[str, Any] = {}

    def loader() -> dict[str, Any]:
        if not done:
            done.update(load(module_name, names))
        return done

    return loader


class LazyGroup(TyperGroup):
    """The root `tracker` group: its eagerly registered commands plus :data:`MODULES`, lazily."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(dict(self.commands), MODULES)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: listing must not load every module
