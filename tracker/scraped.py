"""`ScrapedBill`: the one shape every scraper and importer hands to ingest.

Field names follow Open States' bill JSON where it has one (``identifier``,
``legislative_session``, ``actions`` with ``date`` ``description`` ``chamber``
``classification``, ``sponsorships`` with ``name`` ``primary`` ``classification``, ...), plus
``state`` and ``stage``. Unknown fields are rejected so a typo in a config or importer fails
loudly instead of being dropped.

Text hygiene at the door: NUL is removed and other control characters (except tab, newline and
carriage return) become spaces in every string of a bill, whatever its source, so SQLite and
PostgreSQL (which refuses NUL) store the same text. ``extras`` must be JSON a database can
hold: nested at most :data:`MAX_EXTRAS_DEPTH` deep, integers within 64 bits.

Absence is not deletion: ``provided`` names the child lists (:data:`CHILD_FIELDS`) the record
really gives. A child list the source gives is complete, so ingest may mark a stored child it
no longer lists removed; one it does not give (a LegiScan zip without ``history.csv``, a page
with no sponsor section) says nothing, and stored children stay. Left ``None`` (the default,
for sources whose format cannot say "none"), a list is given only when it is not empty.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from tracker.vocab import CHAMBERS

_DATE_RE = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2})?([.]\d+)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
MAX_EXTRAS_DEPTH = 32
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same characters as orjson escapes them (or writes DEL), not after an escaped backslash:
# finds them in a bill's JSON bytes.
CONTROL_JSON = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:u00(?:0[0-8bBeEfF]|1[0-9a-fA-F]|7[fF])|[bf])|\x7f"
)
# What every CONTROL_JSON match contains; led by a literal, so the regex engine skips ahead.
_CONTROL_JSON_HINT = re.compile(rb"\\(?:u00|[bf])|\x7f")
_INT64 = 1 << 63
CHILD_FIELDS = ("actions", "sponsorships", "versions", "documents", "hearings", "votes")


def json_has_control(blob: bytes) -> bool:
    """True when JSON bytes written by orjson hold a control character in a string. Every
    match of :data:`CONTROL_JSON` holds a backslash or DEL, and most bills hold neither: two
    byte scans (memchr speed) decide for them; then :data:`_CONTROL_JSON_HINT` (a literal-led
    regex, fast) and only on a hit the exact one, whose look-behind tries every position.
    Measured on LegiScan bills (5 kB): ~8 µs a bill, against ~30 µs for substring scans."""
    if b"\\" not in blob and b"\x7f" not in blob:
        return False
    if _CONTROL_JSON_HINT.search(blob) is None:
        return False
    return CONTROL_JSON.search(blob) is not None


def clean_text(value: str) -> str:
    """``value`` without NUL, other control characters (not tab/newline/CR) as spaces."""
    return CONTROL.sub(" ", value.replace("\x00", ""))


def _cleaned(value: Any) -> Any:
    """``value`` with :func:`clean_text` applied to every string in it (models as dicts)."""
    if isinstance(value, str):
        return clean_text(value) if CONTROL.search(value) else value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value


def _has_control(data: Any) -> bool:
    """True when a string in ``data`` may hold a control character: one orjson pass (a few
    microseconds) and a byte search; anything orjson cannot write is walked instead."""
    try:
        return json_has_control(orjson.dumps(data))
    except TypeError:  # pydantic models inside, a huge int, deep nesting: check the slow way
        return True


def _check_json_value(value: Any) -> None:
    """Refuse what the database's JSON cannot hold: deep nesting, integers over 64 bits."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_EXTRAS_DEPTH:
            raise ValueError(f"nested more than {MAX_EXTRAS_DEPTH} levels deep")
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            todo.extend((v, depth + 1) for v in item)
        elif isinstance(item, int) and not -_INT64 <= item < _INT64:
            raise ValueError("holds an integer beyond 64 bits")


_DATES: dict[str, str] = {}  # dates already checked -> as stored: actions share few dates
_DATES_MAX = 50_000


def _check_date(value: str | None, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError("date is required")
        return None
    stripped = value.strip()
    if not _DATE_RE.match(stripped):
        raise ValueError(f"date {stripped!r} is not ISO 8601 (YYYY-MM-DD[THH:MM])")
    checked = stripped.replace(" ", "T", 1) if len(stripped) > 10 else stripped
    if len(_DATES) >= _DATES_MAX:
        _DATES.clear()
    _DATES[value] = checked
    return checked


def _required_date(value: str | None) -> str | None:
    checked = _DATES.get(value)  # type: ignore[arg-type]  # None is never a key
    return checked if checked is not None else _check_date(value, required=True)


def _optional_date(value: str | None) -> str | None:
    checked = _DATES.get(value)  # type: ignore[arg-type]  # None is never a key
    return checked if checked is not None else _check_date(value, required=False)


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

    _d = field_validator("date")(_required_date)
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

    _d = field_validator("date")(_optional_date)


class ScrapedHearing(_Strict):
    """A scheduled or held hearing/event: date (and time when known), committee, place."""

    date: str
    committee: str | None = None
    location: str | None = None
    description: str = ""
    chamber: str | None = None
    status: str = "scheduled"

    _d = field_validator("date")(_required_date)
    _c = field_validator("chamber")(_check_chamber)


class ScrapedVote(_Strict):
    date: str | None = None
    motion: str = ""
    result: str = ""
    chamber: str | None = None
    yes: int | None = None
    no: int | None = None
    other: int | None = None

    _d = field_validator("date")(_optional_date)
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
    provided: list[str] | None = Field(
        None,
        description="child lists this record gives in full (see CHILD_FIELDS); None: the "
        "non-empty ones",
    )

    def gives(self, name: str) -> bool:
        """This record gives its ``name`` children (one of CHILD_FIELDS) in full: a stored
        child it does not list was removed upstream."""
        if self.provided is None:
            return bool(getattr(self, name))
        return name in self.provided

    @model_serializer(mode="wrap")
    def _without_unset_provided(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``provided`` left None is not written: a bill from a source that does not say reads
        (and hashes) as it did before the field existed."""
        data = handler(self)
        if self.provided is None:
            data.pop("provided", None)
        return data

    @field_validator("provided")
    @classmethod
    def _known_children(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (unknown := set(v) - set(CHILD_FIELDS)):
            raise ValueError(f"unknown child list(s) {sorted(unknown)} (known: {CHILD_FIELDS})")
        return v

    @field_validator("state")
    @classmethod
    def _state_lower(cls, v: str) -> str:
        v = v.lower()
        if not v.isalpha():
            raise ValueError(f"state {v!r} must be a two-letter postal code")
        return v

    _c = field_validator("chamber")(_check_chamber)

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        return _cleaned(data) if isinstance(data, dict) and _has_control(data) else data

    @field_validator("extras")
    @classmethod
    def _extras_storable(cls, v: dict[str, Any]) -> dict[str, Any]:
        _check_json_value(v)
        return v
