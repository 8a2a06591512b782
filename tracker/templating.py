"""The one Jinja2 environment for site pages and emails.

Autoescaping is always on: scraped text (titles, sponsor names, action text) is untrusted.
The loader chain lets a user's template folder (``TRACKER_TEMPLATES_DIR``) override the
bundled templates, and :func:`select` picks the most specific template that exists
(``state-ny.html`` before ``state.html``).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tracker.paths import templates_dir
from tracker.vocab import TOPIC_LABELS, stage_text, state_name


def _fmt_date(value: Any, fmt: str = "%b %-d, %Y") -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, datetime | date):
        return value.strftime(fmt)
    text = str(value)
    try:
        return datetime.fromisoformat(text[:19]).strftime(
            fmt if len(text) > 10 or "%H" not in fmt else fmt
        )
    except ValueError:
        return text


def _chamber(value: str | None) -> str:
    return {
        "upper": "Senate",
        "lower": "House",
        "executive": "Governor",
        "legislature": "Legislature",
        "joint": "Joint",
    }.get(value or "", "")


@lru_cache(maxsize=4)
def _build(extra_dir: str | None) -> Environment:
    loaders = []
    if extra_dir:
        loaders.append(FileSystemLoader(extra_dir))
    loaders.append(FileSystemLoader(str(templates_dir())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "svg"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date=_fmt_date,
        # stage_label(furthest): "Died (furthest: passed one chamber)"
        stage_label=lambda s, furthest=None: stage_text(s, furthest),
        topic_label=lambda t: TOPIC_LABELS.get(t or "", t or ""),
        state_name=lambda c: state_name(c or ""),
        chamber=_chamber,
    )
    return env


def get_env() -> Environment:
    """The shared environment (autoescape on, StrictUndefined, project filters)."""
    from tracker.settings import get_settings

    folder = get_settings().templates_dir
    return _build(str(folder) if folder else None)


def select(*names: str) -> Any:
    """The first of `names` that exists, e.g. ``select("site/state-ny.html", "site/state.html")``."""
    return get_env().select_template(list(names))


def render(name: str, /, **context: Any) -> str:
    return get_env().get_template(name).render(**context)
