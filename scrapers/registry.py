"""The registry of states: a file ``config/states/<st>.yaml`` registers state ``st``.

There is no other list of states. Configs are validated on load and cached until the file
changes, so a long-running process picks up a volunteer's edit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from scrapers.config import ConfigError, StateConfig, load_config


def states_dir() -> Path:
    from tracker.settings import get_settings

    return Path(get_settings().resolved_config_dir) / "states"


def config_path(state: str) -> Path:
    return states_dir() / f"{state.lower()}.yaml"


def list_states() -> list[str]:
    """Codes of every state with a config file, sorted."""
    folder = states_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if len(p.stem) == 2 and p.stem.isalpha())


def load_state_config(state: str) -> StateConfig:
    """The validated config of `state`; raises ConfigError (with file and line) or KeyError."""
    path = config_path(state)
    if not path.is_file():
        known = ", ".join(list_states()) or "none"
        raise KeyError(f"no config for state {state!r} at {path} (configured: {known})")
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int, size: int) -> StateConfig:
    return load_config(path)


def validate_all() -> dict[str, ConfigError | None]:
    """Every state's validation result: None when valid."""
    results: dict[str, ConfigError | None] = {}
    for st in list_states():
        try:
            load_state_config(st)
            results[st] = None
        except ConfigError as exc:
            results[st] = exc
    return results
