"""The search synonyms kept on disk (tracker.search.synonym_cache): used only while their key
(the topics file and the code deriving the table) still holds; never a wrong or a failed table."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tracker.search import synonym_cache
from tracker.search.synonym_cache import CACHE_FILE, cache_key, cached_synonyms
from tracker.search.topical import TOPICS_FILE, derive_synonyms, normalize, synonyms
from tracker.settings import get_settings
from tracker.topics import TopicConfigError


@pytest.fixture
def topics_file(tmp_path: Path) -> Path:
    """A copy of the bundled topics file, free to edit."""
    path = tmp_path / "config" / TOPICS_FILE
    path.parent.mkdir()
    shutil.copy(Path(get_settings().resolved_config_dir) / TOPICS_FILE, path)
    return path


def never(path: Path) -> dict[str, str]:
    raise AssertionError(f"derived again from {path}: the saved table was not used")


def test_the_saved_table_is_the_derived_one_and_is_used(topics_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = cached_synonyms(topics_file, derive_synonyms, cache)
    assert first == derive_synonyms(topics_file)
    assert first[normalize("Medicare-for-All")] == "single-payer"
    saved = json.loads((cache / CACHE_FILE).read_text(encoding="utf-8"))
    assert saved["key"] == cache_key(topics_file) and saved["synonyms"] == first
    assert cached_synonyms(topics_file, never, cache) == first  # read back, not derived


def test_the_default_folder_is_in_the_data_dir() -> None:
    config = Path(get_settings().resolved_config_dir)
    found = synonyms(config)  # may come from this process's memory: derive into the cache too
    assert cached_synonyms(config / TOPICS_FILE, derive_synonyms) == found
    where = Path(get_settings().data_dir) / "search-cache" / CACHE_FILE
    assert json.loads(where.read_text(encoding="utf-8"))["synonyms"] == found


def test_an_edited_topics_file_is_read_again(topics_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = topics_file.stat()
    assert "medicare for all" in cached_synonyms(topics_file, derive_synonyms, cache)
    # the same size and modification time: only the content tells the edit apart
    text = topics_file.read_text(encoding="utf-8")
    assert "\n      - medicare for all\n" in text  # a synonym
    edited = text.replace("\n      - medicare for all\n", "\n      - medicare for any\n")
    topics_file.write_text(edited, encoding="utf-8")
    os.utime(topics_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert topics_file.stat().st_size == before.st_size
    after = cached_synonyms(topics_file, derive_synonyms, cache)
    assert "medicare for any" in after and "medicare for all" not in after
    assert after == derive_synonyms(topics_file)


def test_other_code_is_another_key(
    topics_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "lib" / "synonym_code_stand_in.py"
    module.parent.mkdir()
    module.write_text("X = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(module.parent))
    monkeypatch.setattr(synonym_cache, "SOURCES", ("synonym_code_stand_in",))
    key = cache_key(topics_file)
    module.write_text("X = 2\n", encoding="utf-8")
    assert key is not None and cache_key(topics_file) not in (None, key)


def test_the_same_code_elsewhere_is_the_same_key(
    topics_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test imports tracker from the checkout, the command it runs from site-packages (CI's
    non-editable install): the same code and file, read from elsewhere, keep the saved table."""
    monkeypatch.setattr(synonym_cache, "SOURCES", ("synonym_code_stand_in",))
    keys = []
    for place in ("checkout", "site-packages"):
        module = tmp_path / place / "synonym_code_stand_in.py"
        module.parent.mkdir()
        module.write_text("X = 1\n", encoding="utf-8")
        moved = tmp_path / place / TOPICS_FILE
        shutil.copy(topics_file, moved)
        monkeypatch.syspath_prepend(str(module.parent))
        sys.modules.pop("synonym_code_stand_in", None)
        keys.append(cache_key(moved))
    assert keys[0] is not None and keys[0] == keys[1]


def test_code_without_a_file_is_not_cached(
    topics_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synonym_cache, "SOURCES", ("sys",))  # built in: no source to digest
    assert cache_key(topics_file) is None
    assert cached_synonyms(topics_file, derive_synonyms, tmp_path / "c") == derive_synonyms(
        topics_file
    )
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"format": "tracker-search-synonyms/1", "key": "0", "synonyms": {"x": "y"}}',
        b'{"format": "other", "key": "KEY", "synonyms": {"x": "y"}}',
        b'{"format": "tracker-search-synonyms/1", "key": "KEY", "synonyms": {"x": 1}}',
        b'{"format": "tracker-search-synonyms/1", "key": "KEY", "synonyms": ["x"]}',
    ],
)
def test_a_corrupt_or_foreign_file_is_ignored_and_replaced(
    topics_file: Path, tmp_path: Path, content: bytes
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    key = cache_key(topics_file)
    assert key is not None
    (cache / CACHE_FILE).write_bytes(content.replace(b"KEY", key.encode()))
    table = cached_synonyms(topics_file, derive_synonyms, cache)
    assert table == derive_synonyms(topics_file)
    assert cached_synonyms(topics_file, never, cache) == table  # rewritten whole


def test_a_folder_that_cannot_be_written_is_no_error(topics_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    table = cached_synonyms(topics_file, derive_synonyms, blocker / "cache")
    assert table == derive_synonyms(topics_file)
    assert list(tmp_path.glob("**/.synonyms-*")) == []  # no temporary file left behind


def test_a_broken_topics_file_fails_each_time_and_saves_nothing(
    topics_file: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    topics_file.write_text("topics: [not, a, mapping\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(TopicConfigError):
            cached_synonyms(topics_file, derive_synonyms, cache)
    assert not (cache / CACHE_FILE).exists()


def test_the_file_name_is_the_topic_rules_own() -> None:
    from tracker.topics import TOPICS_FILE as OWN

    assert OWN == TOPICS_FILE
