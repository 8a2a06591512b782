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
    return _fmt_text(str(value), fmt)


@lru_cache(maxsize=4096)  # a page shows the same few dates many times (a search's, a bill's)
def _fmt_text(text: str, fmt: str) -> str:
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


# What `getattr` finds on a plain dict: its methods (``d.items``). Any other name it does not
# have, and Jinja then looks the name up as a key.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(Environment):
    """Jinja's environment, with ``row.title`` on a plain dict looked up as the key at once.
    Jinja tries the attribute first and a dict has none such: the AttributeError raised and
    caught for each of a search page's ~300 ``hit.title`` cost a tenth of its rendering. The
    result is Jinja's own: a dict method's name still gives the method, a missing key
    Jinja's undefined."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@lru_cache(maxsize=4)
def _build(extra_dir: str | None) -> Environment:
    loaders = []
    if extra_dir:
        loaders.append(FileSystemLoader(extra_dir))
    loaders.append(FileSystemLoader(str(templates_dir())))
    env = _Environment(
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
