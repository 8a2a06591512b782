"""Docs cannot drift from code: every command shows an example, every setting is documented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from tracker.cli import app
from tracker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _commands(cmd, path: str = "tracker"):  # type: ignore[no-untyped-def]
    if hasattr(cmd, "commands"):  # a group (typer may bundle its own click)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")
    else:
        yield path, cmd


def test_every_command_has_an_example_in_its_help() -> None:
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert len(commands) > 30, "the walker must see every command"
    missing = [path for path, cmd in commands if "Example" not in (cmd.help or "")]
    assert not missing, f"commands without 'Example:' in --help: {missing}"


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        f"TRACKER_{name.upper()}"
        for name in Settings.model_fields
        if f"TRACKER_{name.upper()}" not in doc
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    root = typer.main.get_command(app)
    known = {path for path, _ in _commands(root)}
    for line in readme.splitlines():
        if line.startswith("| `tracker "):
            command = line.split("`")[1]
            words = command.split()
            prefixes = {" ".join(words[:n]) for n in range(2, len(words) + 1)}
            assert prefixes & known, f"README mentions an unknown command: {command}"
