"""Help texts that wrap at the terminal's width, not at the docstring's line breaks.

Typer (rich mode) keeps every line break after a command's first paragraph, so a docstring
wrapped at 100 columns prints at 80 as lines broken mid-sentence. :func:`reflow_all` joins the
lines of each paragraph once, at start-up, and leaves lists and "Example:" lines as they are.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer

_KEEP_BREAK = re.compile(r"^(\s|[-*•]\s|\d+[.)]\s|Example)")


def reflow(text: str) -> str:
    """Join the lines of each paragraph; a line starting a list item or an example stays."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        joined = [lines[0]]
        for line in lines[1:]:
            if _KEEP_BREAK.match(line) or joined[-1].startswith("\b"):
                joined.append(line)
            else:
                joined[-1] = f"{joined[-1].rstrip()} {line.strip()}"
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs)


def reflow_all(app: typer.Typer) -> None:
    """Reflow the help of every command and group of `app`, recursively."""
    if app.info.help:
        app.info.help = reflow(app.info.help)
    if app.registered_callback is not None:
        _reflow_info(app.registered_callback)
    for command in app.registered_commands:
        _reflow_info(command)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = reflow(group.help)
        if isinstance(group.typer_instance, typer.Typer):
            reflow_all(group.typer_instance)


def _reflow_info(info: Any) -> None:
    text = info.help if isinstance(info.help, str) else inspect.getdoc(info.callback)
    if text:
        info.help = reflow(text)
