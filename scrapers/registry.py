"""The registry of states: a file ``<folder>/<st>.yaml`` registers state ``st``.

There is no other list of states. Configs are validated on load and cached until the file
changes, so a long-running process picks up a volunteer's edit. The folder is the caller's
(the tracker passes ``config/states`` from its settings): the library reads no settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from scrapers.config import StateConfig, load_config


def config_path(state: str, *, folder: Path) -> Path:
    return folder / f"{state.lower()}.yaml"


def list_states(*, folder: Path) -> list[str]:
    """Codes of every state with a config file in `folder`, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if len(p.stem) == 2 and p.stem.isalpha())


def load_state_config(state: str, *, folder: Path) -> StateConfig:
    """The validated config of `state`; raises ConfigError (with file and line) or KeyError."""
    path = config_path(state, folder=folder)
    if not path.is_file():
        known = ", ".join(list_states(folder=folder)) or "none"
        raise KeyError(f"no config for state {state!r} at {path} (configured: {known})")
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int, size: int) -> StateConfig:
    return load_config(path)
