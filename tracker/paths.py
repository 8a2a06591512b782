"""Where the bundled folders (templates/, config/) live, in a checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent

# The topic rules' file in the config folder: read by tracker.topics (the rules) and by
# tracker.search.topical (search's synonyms, which must not import the rules).
TOPICS_FILE = "topics.yaml"


@cache
def resource_dir(name: str) -> Path:
    """Return the project folder `name` (``templates`` or ``config``).

    A checkout or editable install uses the top-level folder; a wheel carries a copy under
    ``tracker/bundled/``.
    """
    checkout = _PKG.parent / name
    if checkout.is_dir():
        return checkout
    bundled = _PKG / "bundled" / name
    if bundled.is_dir():
        return bundled
    raise FileNotFoundError(f"cannot find the {name}/ folder next to {_PKG}")


def templates_dir() -> Path:
    return resource_dir("templates")


def config_dir() -> Path:
    return resource_dir("config")
