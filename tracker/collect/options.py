"""The typed model of ``config/sources.yaml`` and its loader.

Every model forbids unknown keys, so a typo fails loudly with the file and key path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracker.vocab import STATE_NAMES

SOURCE_NAMES = ("scrape", "openstates-api", "legiscan-api", "openstates-bulk", "legiscan-dataset")
API_SOURCES = ("openstates-api", "legiscan-api")
SOURCES_FILE = "sources.yaml"
Strategy = Literal["first-success", "all"]


class SourcesConfigError(ValueError):
    """config/sources.yaml is invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_names(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; use {', '.join(SOURCE_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a source is listed twice in {names}")
    return names


class ApiOptions(_Strict):
    requests_per_second: float = Field(default=1.0, gt=0)
    daily_cap: int | None = Field(default=None, ge=0)
    monthly_cap: int | None = Field(default=None, ge=0)


class OpenStatesOptions(ApiOptions):
    per_page: int = Field(default=20, ge=1, le=20)
    max_pages: int = Field(default=25, ge=1)
    include: list[str] = Field(
        default_factory=lambda: [
            "actions",
            "sponsorships",
            "versions",
            "sources",
            "abstracts",
            "other_identifiers",
        ]
    )
    first_run_days: int = Field(default=400, ge=1)
    overlap_days: int = Field(default=1, ge=0)


class LegiscanOptions(ApiOptions):
    follow: Literal["relevant", "all"] = "relevant"


class BulkOptions(_Strict):
    files: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _states(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {_state(k): list(paths) for k, paths in v.items()}


class SourceSettings(_Strict):
    openstates_api: OpenStatesOptions = Field(
        default_factory=lambda: OpenStatesOptions(), alias="openstates-api"
    )
    legiscan_api: LegiscanOptions = Field(
        default_factory=lambda: LegiscanOptions(), alias="legiscan-api"
    )
    openstates_bulk: BulkOptions = Field(
        default_factory=lambda: BulkOptions(), alias="openstates-bulk"
    )
    legiscan_dataset: BulkOptions = Field(
        default_factory=lambda: BulkOptions(), alias="legiscan-dataset"
    )

    def api(self, name: str) -> ApiOptions:
        return {"openstates-api": self.openstates_api, "legiscan-api": self.legiscan_api}[name]

    def bulk(self, name: str) -> BulkOptions:
        return {"openstates-bulk": self.openstates_bulk, "legiscan-dataset": self.legiscan_dataset}[
            name
        ]


class StateSources(_Strict):
    order: list[str] | None = None
    strategy: Strategy | None = None

    _n = field_validator("order")(lambda v: None if v is None else _check_names(v))


class Discovery(_Strict):
    sources: list[str] = Field(default_factory=lambda: ["legiscan-api", "openstates-api"])
    search_terms: list[str] = Field(default_factory=list)
    terms_from_topics: bool = True
    min_topic_weight: float = 3.0
    max_terms: int = Field(default=10, ge=1)
    combine_terms: bool = True
    max_pages: int = Field(default=4, ge=1)
    legiscan_year: int = 2

    @field_validator("sources")
    @classmethod
    def _apis(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if n not in API_SOURCES]
        if bad:
            raise ValueError(f"discovery sources must be among {', '.join(API_SOURCES)}, got {bad}")
        return v


class SourcesConfig(_Strict):
    default: list[str] = Field(default_factory=lambda: ["scrape", "openstates-api", "legiscan-api"])
    strategy: Strategy = "first-success"
    states: dict[str, StateSources] = Field(default_factory=dict)
    sources: SourceSettings = Field(default_factory=lambda: SourceSettings())
    discovery: Discovery = Field(default_factory=lambda: Discovery())
    path: str = Field(default="", exclude=True)

    _n = field_validator("default")(_check_names)

    @model_validator(mode="before")
    @classmethod
    def _list_shorthand(cls, data: Any) -> Any:
        # `states: {ca: [openstates-api, legiscan-api]}` is short for `{ca: {order: [...]}}`.
        if isinstance(data, dict) and isinstance(data.get("states"), dict):
            data = dict(data)
            data["states"] = {
                _state(k): ({"order": v} if isinstance(v, list) else v)
                for k, v in data["states"].items()
            }
        return data

    def order_for(self, state: str) -> list[str]:
        entry = self.states.get(state.lower())
        return list(entry.order) if entry and entry.order else list(self.default)

    def strategy_for(self, state: str) -> Strategy:
        entry = self.states.get(state.lower())
        return entry.strategy if entry and entry.strategy else self.strategy


def _state(code: str) -> str:
    code = str(code).lower()
    if code not in STATE_NAMES:
        raise ValueError(f"{code!r} is not a state code")
    return code


def sources_path() -> Path:
    from tracker.settings import get_settings

    return Path(get_settings().resolved_config_dir) / SOURCES_FILE


def load_sources_config(path: Path | None = None) -> SourcesConfig:
    """Read ``config/sources.yaml`` (a missing file means the defaults)."""
    path = path or sources_path()
    if not path.is_file():
        return SourcesConfig(path=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SourcesConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SourcesConfigError(f"{path}: expected a mapping at the top")
    try:
        config = SourcesConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise SourcesConfigError(f"{path}: {problems}") from exc
    config.path = str(path)
    return config


def expand_location(location: str) -> str:
    """``{shared}`` and ``{data}`` in a bulk path become the configured folders."""
    from tracker.settings import get_settings

    settings = get_settings()
    if "{shared}" in location:
        shared = settings.resolved_shared_dir()
        if shared is None:
            raise SourcesConfigError(f"{location}: {{shared}} is used but no shared folder is set")
        location = location.replace("{shared}", str(shared))
    return location.replace("{data}", str(settings.data_dir))


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 '\-]*[A-Za-z0-9]$")


def plain_phrases(patterns: list[tuple[str, float]], *, min_weight: float) -> list[str]:
    """Topic-rule patterns that are plain phrases (no regex syntax), heaviest first."""
    out: list[str] = []
    for pattern, weight in sorted(patterns, key=lambda p: -p[1]):
        text = " ".join(pattern.split())
        if weight >= min_weight and _PLAIN.match(text) and text.lower() not in out:
            out.append(text.lower())
    return out
