"""The scrapers library set up from the settings: where the state configs live, the HTTP
client's User-Agent and limits, and where the page archive is kept.

The library reads no settings of its own (it is bytes in, ``ScrapedBill`` out); this module is
the one place that hands it the tracker's configuration, so every part of the tracker fetches
with the same honest User-Agent and reads the same ``config/states`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapers import registry
from scrapers.archive import PageArchive
from scrapers.config import StateConfig
from scrapers.http import HttpClient
from tracker.settings import get_settings


def states_dir() -> Path:
    return Path(get_settings().resolved_config_dir) / "states"


def config_path(state: str) -> Path:
    return registry.config_path(state, folder=states_dir())


def list_states() -> list[str]:
    """Codes of every state with a config file, sorted."""
    return registry.list_states(folder=states_dir())


def load_state_config(state: str) -> StateConfig:
    """The validated config of `state`; raises ConfigError (with file and line) or KeyError."""
    return registry.load_state_config(state, folder=states_dir())


def page_archive() -> PageArchive:
    """The raw page archive in the data directory."""
    return PageArchive(get_settings().data_dir / "archive")


def http_client(**options: Any) -> HttpClient:
    """An HTTP client with the settings' User-Agent, timeout, size cap, delay and retries;
    `options` (keyword arguments of :class:`HttpClient`) override them."""
    settings = get_settings()
    read = float(settings.http_timeout)
    defaults: dict[str, Any] = {
        "user_agent": settings.resolved_user_agent,
        "timeout": (min(10.0, read), read),
        "max_bytes": settings.http_max_bytes,
        "default_delay": settings.http_default_delay,
        "max_retries": settings.http_max_retries,
    }
    return HttpClient(**{**defaults, **options})
