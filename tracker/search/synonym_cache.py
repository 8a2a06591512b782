"""The topics' search synonyms kept on disk, so that `tracker search` need not load the topic rules.

Deriving the synonyms (:func:`tracker.search.topical.synonyms`) reads ``config/topics.yaml``
through the topic rules' model in :mod:`tracker.topics`, whose import (PyYAML, the actions'
rules, the classifier's patterns) cost a command-line search more than its own query. The
derived table is saved in ``<TRACKER_DATA_DIR>/search-cache/synonyms.json`` beside a key: the
SHA-256 of the topics file and of the code that derives the table from it (:data:`SOURCES`,
and the pydantic and PyYAML that read it). A saved table is used only when its key is the one
computed now, so an edited topics file or other code is never answered from an old table;
a missing, unreadable, malformed or foreign file is ignored and replaced. Nothing is saved for
a topics file that does not load (its error is raised each time, as before), and a data folder
that cannot be written is no error: the table is then derived each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

FORMAT = "tracker-search-synonyms/1"
CACHE_DIR = "search-cache"
CACHE_FILE = "synonyms.json"
# The modules whose code turns the topics file into the table: the rules' model and the topic
# names (tracker.topics, tracker.vocab), the normal form (topical.normalize, query.WORD), and
# the libraries that read and validate the file.
SOURCES = (
    "tracker.topics",
    "tracker.vocab",
    "tracker.search.topical",
    "tracker.search.query",
    "pydantic.version",
    "yaml",
)


def cached_synonyms(
    topics_file: Path, derive: Callable[[Path], dict[str, str]], cache_dir: Path | None = None
) -> dict[str, str]:
    """The table `derive(topics_file)` gives, read from the cache when its key still holds."""
    key = cache_key(topics_file)
    if key is None:
        return derive(topics_file)
    where = (cache_dir or default_cache_dir()) / CACHE_FILE
    saved = _read(where, key)
    if saved is not None:
        return saved
    table = derive(topics_file)
    _write(where, key, table)
    return table


def default_cache_dir() -> Path:
    from tracker.settings import get_settings

    return Path(get_settings().data_dir) / CACHE_DIR


def cache_key(topics_file: Path) -> str | None:
    """The digest of the topics file and of :data:`SOURCES` (None: one of them is unreadable,
    e.g. code run from a zip: then nothing is cached)."""
    digest = hashlib.sha256(FORMAT.encode())
    paths = [topics_file]
    for name in SOURCES:
        spec = find_spec(name)
        if spec is None or not spec.origin or not spec.has_location:
            return None
        paths.append(Path(spec.origin))
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        # Contents only, not where they lie: the same code imported from a checkout and from
        # site-packages (a test and the command it runs) derives the same table.
        digest.update(b"%d\0" % len(data))
        digest.update(data)
    return digest.hexdigest()


def _read(path: Path, key: str) -> dict[str, str] | None:
    try:
        with path.open(encoding="utf-8") as fh:
            saved = json.load(fh)
    except (OSError, ValueError):  # missing, unreadable, not JSON (UnicodeDecodeError too)
        return None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("key") != key:
        return None
    table = saved.get("synonyms")
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        return None
    return table


def _write(path: Path, key: str, table: dict[str, str]) -> None:
    """Save atomically (a reader sees the old file or the new one, never half of one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".synonyms-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"format": FORMAT, "key": key, "synonyms": table}, fh, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a data folder we may not write: derive the table each time
