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


def test_help_paragraphs_wrap_at_the_terminal_width_not_mid_sentence() -> None:
    from typer.testing import CliRunner

    from tracker.cli.helptext import reflow

    text = "First line.\n\nA sentence that goes\non here.\n- a list item\n- another\n\nExample: x"
    assert reflow(text) == (
        "First line.\n\nA sentence that goes on here.\n- a list item\n- another\n\nExample: x"
    )
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "80"})
    lines = [line.strip() for line in result.stdout.splitlines()]
    # the docstring breaks after "the others only"; at 80 columns the sentence runs on
    assert any("the others only serve the site" in line for line in lines), lines
