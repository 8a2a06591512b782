"""`ScrapedBill`: the one shape every scraper and importer hands to ingest.

Field names follow Open States' bill JSON where it has one (``identifier``,
``legislative_session``, ``actions`` with ``date`` ``description`` ``chamber``
``classification``, ``sponsorships`` with ``name`` ``primary`` ``classification``, ...), plus
``state`` and ``stage``. Unknown fields are rejected so a typo in a config or importer fails
loudly instead of being dropped.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracker.vocab import CHAMBERS

_DATE_RE = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2})?([.]\d+)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def _check_date(value: str | None, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError("date is required")
        return None
    value = value.strip()
    if not _DATE_RE.match(value):
        raise ValueError(f"date {value!r} is not ISO 8601 (YYYY-MM-DD[THH:MM])")
    return value.replace(" ", "T", 1) if len(value) > 10 else value


def _check_chamber(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in CHAMBERS:
        raise ValueError(f"chamber {value!r} is not one of {', '.join(CHAMBERS)}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Link(_Strict):
    url: str
    media_type: str = ""


class ScrapedAction(_Strict):
    date: str
    description: str = Field(min_length=1)
    chamber: str | None = None
    classification: list[str] = Field(default_factory=list)
    committee: str | None = None

    _d = field_validator("date")(lambda v: _check_date(v, required=True))
    _c = field_validator("chamber")(_check_chamber)


class ScrapedSponsorship(_Strict):
    name: str = Field(min_length=1)
    primary: bool = False
    classification: str = "cosponsor"
    entity_type: str = "person"
    chamber: str | None = None

    _c = field_validator("chamber")(_check_chamber)


class ScrapedVersion(_Strict):
    """A bill version or a supporting document (fiscal note, analysis, amendment)."""

    note: str = ""
    date: str | None = None
    classification: str = ""
    links: list[Link] = Field(default_factory=list)

    _d = field_validator("date")(lambda v: _check_date(v, required=False))


class ScrapedHearing(_Strict):
    """A scheduled or held hearing/event: date (and time when known), committee, place."""

    date: str
    committee: str | None = None
    location: str | None = None
    description: str = ""
    chamber: str | None = None
    status: str = "scheduled"

    _d = field_validator("date")(lambda v: _check_date(v, required=True))
    _c = field_validator("chamber")(_check_chamber)


class ScrapedVote(_Strict):
    date: str | None = None
    motion: str = ""
    result: str = ""
    chamber: str | None = None
    yes: int | None = None
    no: int | None = None
    other: int | None = None

    _d = field_validator("date")(lambda v: _check_date(v, required=False))
    _c = field_validator("chamber")(_check_chamber)


class Abstract(_Strict):
    abstract: str
    note: str = ""


class OtherTitle(_Strict):
    title: str
    note: str = ""


class RelatedBill(_Strict):
    identifier: str
    legislative_session: str | None = None
    relation_type: str = "companion"


class Source(_Strict):
    url: str
    note: str = ""


class ScrapedBill(_Strict):
    state: str = Field(min_length=2, max_length=2)
    legislative_session: str = Field(min_length=1)
    identifier: str = Field(min_length=1)
    title: str = ""
    classification: list[str] = Field(default_factory=lambda: ["bill"])
    chamber: str | None = Field(None, description="originating chamber (from_organization)")
    subject: list[str] = Field(default_factory=list)
    abstracts: list[Abstract] = Field(default_factory=list)
    other_titles: list[OtherTitle] = Field(default_factory=list)
    other_identifiers: list[str] = Field(default_factory=list)
    actions: list[ScrapedAction] = Field(default_factory=list)
    sponsorships: list[ScrapedSponsorship] = Field(default_factory=list)
    versions: list[ScrapedVersion] = Field(default_factory=list)
    documents: list[ScrapedVersion] = Field(default_factory=list)
    hearings: list[ScrapedHearing] = Field(default_factory=list)
    votes: list[ScrapedVote] = Field(default_factory=list)
    related_bills: list[RelatedBill] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    text: str | None = Field(None, description="full bill text when a source gives it")
    stage: str | None = Field(
        None, description="filled by the stage rules; sources may leave it empty"
    )
    extras: dict[str, Any] = Field(default_factory=dict)

    @field_validator("state")
    @classmethod
    def _state_lower(cls, v: str) -> str:
        v = v.lower()
        if not v.isalpha():
            raise ValueError(f"state {v!r} must be a two-letter postal code")
        return v

    _c = field_validator("chamber")(_check_chamber)
