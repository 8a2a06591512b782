"""The typed model of a state config (``config/states/<st>.yaml``) and its loader.

A config is data a volunteer edits: sessions, the kinds of pages a site has, and for each page the
fields to pull out with CSS selectors (HTML and XML), paths (JSON) or columns (delimited text),
each followed by small transforms. Every model forbids unknown keys, so a typo fails loudly, and
:func:`load_config` reports errors as ``file:line: key.path: message``.

Vocabulary used in configs and in this module:

- a *field* (:class:`FieldSpec`) yields one value or, with ``many: true``, a list of values;
- a *group* (:class:`GroupSpec`, recognised by its ``fields:`` key) yields objects: one per item
  its ``items`` selector matches, or a single object when it has no ``items``;
- a field whose name starts with ``_`` is scratch: usable in templates and ``from:`` but not output.
"""

from __future__ import annotations

import re
import string
import zoneinfo
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from tracker.scraped import (
    Abstract,
    Link,
    OtherTitle,
    RelatedBill,
    ScrapedAction,
    ScrapedBill,
    ScrapedHearing,
    ScrapedSponsorship,
    ScrapedVersion,
    ScrapedVote,
    Source,
)

ROLES = ("list", "bill", "augment", "index", "sessions")
FORMATS = ("html", "xml", "json", "delimited")
SCOPES = ("item", "document", "parent", "next", "previous", "preceding")

# Which model each list-valued bill field holds; nested lists (a version's links) too.
GROUP_MODELS: dict[str, type[BaseModel]] = {
    "actions": ScrapedAction,
    "sponsorships": ScrapedSponsorship,
    "versions": ScrapedVersion,
    "documents": ScrapedVersion,
    "hearings": ScrapedHearing,
    "votes": ScrapedVote,
    "abstracts": Abstract,
    "other_titles": OtherTitle,
    "related_bills": RelatedBill,
    "sources": Source,
    "links": Link,
}
# Bill fields that hold plain values (strings or lists of strings), not objects.
SCALAR_BILL_FIELDS = frozenset(
    {
        "identifier",
        "legislative_session",
        "title",
        "classification",
        "chamber",
        "subject",
        "other_identifiers",
        "text",
        "stage",
    }
)


class ConfigError(ValueError):
    """A config file is invalid; the message names the file, line and key of every problem."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: invalid state config\n" + "\n".join(f"  {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------------- transforms


def _bare_name(value: Any) -> Any:
    """Let a volunteer write ``- strip`` instead of ``- strip: true``."""
    if isinstance(value, str):
        return {value: True}
    return value


class RegexArg(_Model):
    """``regex: {pattern: ..., group: 1, all: false, missing: ...}``; a bare string is the pattern."""

    pattern: str
    group: int | str | None = Field(
        None, description="group to keep; default: the first group, else the match"
    )
    all: bool = Field(False, description="return every match as a list")
    missing: Any = Field("__error__", description="value when nothing matches; default: an error")
    flags: str = Field(
        "", description="letters i, m, s: ignore case, multi-line, dot matches newline"
    )
    template: str | None = Field(None, description="combine groups: '{1} {2}' (or named groups)")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"regular expression {v!r} does not compile: {exc}") from exc
        return v


class DateArg(_Model):
    """``date: {formats: [...], year: "{year}"}``: ``year`` completes dates printed without one."""

    formats: list[str] = Field(min_length=1)
    year: str | None = Field(
        None, description="template giving the year when the format lacks %Y/%y"
    )


class Transform(_Model):
    """One step; exactly one key is set. See docs/adding-a-state.md for examples of each."""

    strip: bool | str | None = Field(None, description="trim whitespace (or the given characters)")
    regex: RegexArg | None = Field(
        None, description="keep a regex group; error when nothing matches"
    )
    sub: tuple[str, str] | None = Field(
        None, description="[pattern, replacement] regex substitution"
    )
    replace: tuple[str, str] | None = Field(None, description="[old, new] literal replacement")
    split: str | None = Field(None, description="split on a literal separator into a list")
    split_regex: str | None = Field(None, description="split on a regex into a list")
    date: DateArg | None = Field(None, description="strptime format(s) -> ISO date")
    map: dict[str, Any] | None = Field(
        None, description="value map; unknown values raise ('*' is any other)"
    )
    join: str | None = Field(None, description="join a list with a separator")
    default: Any = Field(None, description="value used when the input is empty")
    template: str | None = Field(None, description="format string with {value} and context names")
    int_: bool | None = Field(None, alias="int", description="convert to an integer")
    upper: bool | None = None
    lower: bool | None = None
    title: bool | None = None
    first: bool | None = Field(None, description="first element of a list")
    last: bool | None = Field(None, description="last element of a list")
    equals: Any = Field(None, description="true when the value equals this")
    matches: str | None = Field(None, description="true when the regex finds a match")
    absolute: bool | None = Field(None, description="resolve a relative URL against the page URL")
    session: bool | None = Field(None, description="map a session name or alias to its identifier")
    identifier: bool | None = Field(
        None, description="normal display form of a bill number: 'HB 45'"
    )
    squash: bool | None = Field(None, description="collapse runs of whitespace into one space")
    nonempty: bool | None = Field(None, description="drop empty strings from a list")

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data: Any) -> Any:
        data = _bare_name(data)
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(
                f"a transform is one key such as '- strip' or '- regex: ...', got {data!r}"
            )
        ((key, value),) = data.items()
        if key == "regex" and isinstance(value, str):
            data = {"regex": {"pattern": value}}
        elif key == "date" and isinstance(value, str | list):
            data = {"date": {"formats": [value] if isinstance(value, str) else value}}
        return data

    @property
    def op(self) -> str:
        (name,) = self.model_fields_set
        field = type(self).model_fields[name]
        return field.alias or name

    @property
    def arg(self) -> Any:
        (name,) = self.model_fields_set
        return getattr(self, name)

    @field_validator("sub", "split_regex", "matches")
    @classmethod
    def _pattern_compiles(cls, v: Any) -> Any:
        pattern = v[0] if isinstance(v, tuple) else v
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regular expression {pattern!r} does not compile: {exc}") from exc
        return v


TransformList = list[Transform]


# --------------------------------------------------------------------------------- fields


class Condition(_Model):
    """Keep (``only_if``) or drop (``skip_if``) an item by a regex on one of its fields."""

    field: str
    matches: str

    @field_validator("matches")
    @classmethod
    def _compiles(cls, v: str) -> str:
        re.compile(v)
        return v


class FieldSpec(_Model):
    """Where one value comes from, and how to clean it.

    Exactly one source: ``selector`` (CSS, HTML/XML), ``path`` (JSON), ``column`` (delimited),
    ``group`` (a regex item's group), ``from`` (a value already extracted or a context name),
    ``value`` (a constant or template), ``index`` (the item's position), or ``first_of``.
    ``selector: "."`` is the current item itself.
    """

    selector: str | None = None
    path: str | None = None
    column: str | int | None = None
    group: str | int | None = None
    from_: str | None = Field(None, alias="from")
    value: Any = None
    index: bool | None = None
    first_of: list[FieldSpec] | None = None

    attr: str | None = Field(
        None, description="attribute to read instead of text (href, title, ...)"
    )
    raw: bool = Field(False, description="keep line breaks and spacing of the text")
    many: bool = Field(False, description="every match as a list (else exactly the first)")
    required: bool = Field(True, description="zero matches is an error naming selector and count")
    min_items: int | None = Field(None, ge=0, description="with many: fewest matches accepted")
    max_items: int | None = Field(None, ge=0, description="most matches accepted")
    scope: Literal["item", "document", "parent", "next", "previous", "preceding"] = Field(
        "item",
        description="where to look: the item, the whole page, a neighbour, or 'preceding' "
        "(the last match anywhere before the item, such as a heading above a table row)",
    )
    after: str | None = Field(
        None, description="only matches after the first match of this selector"
    )
    before: str | None = Field(
        None, description="only matches before the first match of this selector"
    )
    transforms: TransformList = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [
            n
            for n in ("selector", "path", "column", "group", "from_", "index", "first_of")
            if getattr(self, n) is not None
        ]
        if "value" in self.model_fields_set:
            sources.append("value")
        if len(sources) > 1:
            names = ", ".join(s.rstrip("_") for s in sources)
            raise ValueError(f"give one source per field, not {names}")
        if not sources and not self.transforms:
            raise ValueError(
                "a field needs a source: selector, path, column, group, from, value or first_of"
            )
        return self

    @property
    def source_name(self) -> str:
        for n in ("selector", "path", "column", "group", "from_", "first_of"):
            v = getattr(self, n)
            if v is not None:
                return f"{n.rstrip('_')} {v!r}" if n != "first_of" else "first_of"
        return "value"


def _field_or_group(value: Any) -> Any:
    """A bare string is shorthand for ``selector:`` (``path:`` on JSON pages is spelled out)."""
    if isinstance(value, str):
        return {"selector": value}
    return value


def _kind_of(value: Any) -> str:
    """Which model a field entry is: a list of groups, a group (has ``fields:``) or a field."""
    if isinstance(value, list):
        return "groups"
    if isinstance(value, dict) and "fields" in value:
        return "group"
    if isinstance(value, GroupSpec):
        return "group"
    return "field"


Entry = Annotated[
    Annotated[FieldSpec, Tag("field")]
    | Annotated["GroupSpec", Tag("group")]
    | Annotated[list["GroupSpec"], Tag("groups")],
    Discriminator(_kind_of),
    BeforeValidator(_field_or_group),
]
FieldMap = dict[str, Entry]


class GroupSpec(_Model):
    """Objects (actions, sponsors, versions, ...): one per item, or one from the current node."""

    items: str | None = Field(None, description="selector/path of the items; none: one object")
    items_regex: str | None = Field(None, description="each regex match over the text is an item")
    items_from: str | None = Field(
        None, description="each element of a list extracted earlier is an item"
    )
    text_selector: str | None = Field(
        None, description="with items_regex: element whose text is searched"
    )
    scope: Literal["item", "document", "parent", "next", "previous"] = "item"
    after: str | None = None
    before: str | None = None
    min_items: int = Field(0, ge=0)
    max_items: int | None = Field(None, ge=0)
    only_if: Condition | None = None
    reverse: bool = Field(False, description="the page lists newest first: keep oldest first")
    skip_if: Condition | None = None
    fields: FieldMap

    @field_validator("items_regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)
        return v


# --------------------------------------------------------------------------------- pages


class ErrorMarker(_Model):
    """A page that says it is an error page (``selector`` matches) fails with ``message``."""

    selector: str
    matches: str | None = Field(None, description="only when the matched text fits this regex")
    message: str = "the site returned an error page"


class Strainer(_Model):
    """Parse only these elements of a big HTML page (BeautifulSoup's SoupStrainer) for speed."""

    name: str | list[str] | None = Field(None, description="tag name(s) to keep")
    attrs: dict[str, str | list[str]] = Field(
        default_factory=dict, description="attribute values to keep: {id: [a, b]} keeps either"
    )


class FollowSpec(_Model):
    """Links on a list page to further list pages of kind ``kind`` (a range index, say)."""

    kind: str
    link: FieldSpec


class HookSpec(_Model):
    """Names of functions in ``scrapers/hooks/<st>.py`` that replace or adjust one step."""

    parse: str | None = Field(
        None, description="fn(doc, ctx) -> data; replaces the declarative fields"
    )
    post: str | None = Field(
        None, description="fn(data, ctx) -> data; adjusts what the fields gave"
    )


class PageSpec(_Model):
    """One kind of page on the site."""

    role: Literal["list", "bill", "augment", "index", "sessions"]
    description: str = ""
    source: str = Field("main", description="which of the state's sources this page belongs to")
    format: Literal["html", "xml", "json", "delimited"] = "html"
    encoding: str | None = Field(None, description="override the page's declared encoding")
    url: str | list[str] | None = Field(None, description="URL template(s); see the docs for names")
    method: Literal["GET", "POST"] = "GET"
    body: str | None = Field(None, description="POST body template (SOAP envelope, form)")
    headers: dict[str, str] = Field(default_factory=dict)
    sessions: list[str] | None = Field(
        None,
        description='only for these session identifiers; "2017+": that session and every later '
        "one (a layout the site still uses)",
    )
    delimiter: str = ","
    strainer: Strainer | None = None

    error_if: list[ErrorMarker] = Field(default_factory=list)
    empty_if: str | None = Field(
        None, description="selector present only when the page has no items"
    )
    allow_empty: bool = Field(False, description="an empty list page is not an error")
    min_items: int = Field(0, ge=0, description="fewer items is an error (expected counts)")

    items: str | None = Field(None, description="list/index/sessions: selector or path of one item")
    yields: Literal["urls", "bills"] = Field(
        "urls", description="list: bill page URLs or whole bills"
    )
    bill_url: FieldSpec | None = Field(None, description="list: the link to each bill page")
    bill_kind: str | None = Field(
        None, description="list: page kind of those links (default: the source's bill page)"
    )
    key: FieldSpec | None = Field(None, description="index: the bill number each item belongs to")
    next_page: FieldSpec | None = None
    follow: FollowSpec | None = None
    fields: FieldMap = Field(default_factory=dict)
    hooks: HookSpec | None = None
    live: bool = Field(True, description="false: parse-only (a live scrape never fetches it)")

    @field_validator("sessions", mode="before")
    @classmethod
    def _session_strings(cls, v: Any) -> Any:
        return [str(s) for s in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _role_needs(self) -> PageSpec:
        if self.role == "list" and not self.items and self.follow is not None:
            return self  # an index of further list pages, with no bills of its own
        if (
            self.role in ("list", "index", "sessions")
            and not self.items
            and self.format != "delimited"
        ):
            raise ValueError(f"a {self.role} page needs 'items' (the selector of one entry)")
        if self.role == "index" and self.key is None:
            raise ValueError("an index page needs 'key' (the bill number of each item)")
        if self.role == "augment" and not self.url:
            raise ValueError("an augment page needs 'url' (a template from bill fields)")
        if self.method == "GET" and self.body:
            raise ValueError("'body' needs method: POST")
        return self

    @property
    def urls(self) -> list[str]:
        if self.url is None:
            return []
        return [self.url] if isinstance(self.url, str) else list(self.url)


# --------------------------------------------------------------------------------- state


class Politeness(_Model):
    delay: float = Field(1.0, ge=0, description="seconds between requests to one host")
    max_pages: int = Field(5000, ge=1, description="stop a run after this many fetches")
    timeout: float | None = Field(None, gt=0, description="read timeout in seconds")


_CRON_RE = re.compile(r"^(\S+\s+){4}\S+$")
_INTERVAL_RE = re.compile(r"^\d+\s*(m|h|d)$")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _check_when(v: str | None) -> str | None:
    if v is None:
        return v
    v = v.strip()
    if not (_CRON_RE.match(v) or _INTERVAL_RE.match(v)):
        raise ValueError(
            f"{v!r} is neither a cron line ('0 */6 * * *') nor an interval ('6h', '30m', '1d')"
        )
    if _CRON_RE.match(v):
        from apscheduler.triggers.cron import CronTrigger

        try:  # the scheduler's own parser: every field's range and syntax, as at run time
            CronTrigger.from_crontab(v)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"cron line {v!r} is invalid: {exc}") from exc
    return v


class Schedule(_Model):
    in_session: str = Field("6h", description="cron line or interval while a session is on")
    out_of_session: str | None = Field("7d", description="cron line or interval between sessions")
    quiet_hours: str | None = Field(None, description="HH:MM-HH:MM local time with no fetching")

    _w = field_validator("in_session", "out_of_session")(_check_when)

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is not None and not _HOURS_RE.match(v):
            raise ValueError(f"quiet_hours {v!r} must look like 22:00-06:00")
        return v


class SessionSpec(_Model):
    identifier: str = Field(
        min_length=1, description="our identifier, Open States style: 2023-2024"
    )
    name: str = ""
    start_date: date | None = None
    end_date: date | None = None
    aliases: list[str] = Field(default_factory=list, description="how the site names this session")
    vars: dict[str, Any] = Field(default_factory=dict, description="names for URL templates")

    @field_validator("identifier", mode="before")
    @classmethod
    def _str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_strings(cls, v: Any) -> Any:
        return [str(a) for a in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _dates(self) -> SessionSpec:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class SessionRule(_Model):
    """The current session computed from today's date, so a config follows the site by itself.

    Sessions begin every ``every`` years from ``first_year`` (2 for a biennium). The templates
    (``identifier``, ``name``, ``aliases``, ``vars`` values) may use ``{year}`` (the first year),
    ``{end_year}``, ``{yy}``, ``{end_yy}`` and, with ``first_number``, ``{number}`` and
    ``{ordinal}`` (the site's count of sessions: 101 and "101st" for Illinois' 2019-2020).
    The ``sessions:`` list stays for the sessions the saved pages (fixtures) come from; a
    session listed there under the same identifier wins (its vars are exact).
    """

    first_year: int = Field(ge=1776, le=2200, description="a year a session of this rule began")
    every: int = Field(1, ge=1, le=4, description="years between session starts (2: biennium)")
    first_number: int | None = Field(
        None, ge=1, description="the site's number of the session that began in first_year"
    )
    identifier: str = Field(min_length=1, description="template: {year}-{end_year}")
    name: str = ""
    start: str = Field("01-01", pattern=r"^\d\d-\d\d$", description="MM-DD in the first year")
    end: str = Field("12-31", pattern=r"^\d\d-\d\d$", description="MM-DD in the last year")
    ends_in: Literal["first", "last"] = Field(
        "last", description="the year `end` falls in (Texas meets in the first year only)"
    )
    aliases: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict, description="names for URL templates")
    site_vars: dict[str, str] = Field(
        default_factory=dict,
        description="vars read from the site's sessions page: {var: field of the item whose "
        "name is the session's name or an alias}, for ids no date rule gives",
    )

    def names_for(self, year: int) -> dict[str, Any]:
        end = year + self.every - 1
        names: dict[str, Any] = {
            "year": year,
            "end_year": end,
            "yy": f"{year % 100:02d}",
            "end_yy": f"{end % 100:02d}",
        }
        if self.first_number is not None:
            number = self.first_number + (year - self.first_year) // self.every
            names |= {"number": number, "ordinal": _ordinal(number)}
        return names

    def session_of(self, year: int) -> SessionSpec:
        """The session that began in `year` (a year this rule starts a session in)."""
        names = self.names_for(year)
        fill = _fill_names(names)
        return SessionSpec(
            identifier=fill(self.identifier),
            name=fill(self.name),
            start_date=date.fromisoformat(f"{year}-{self.start}"),
            end_date=date.fromisoformat(
                f"{year if self.ends_in == 'first' else names['end_year']}-{self.end}"
            ),
            aliases=[fill(a) for a in self.aliases],
            vars={k: fill(v) if isinstance(v, str) else v for k, v in self.vars.items()},
        )

    def start_year(self, day: date) -> int:
        """The first year of the session period `day` falls in."""
        return self.first_year + ((day.year - self.first_year) // self.every) * self.every

    def session_on(self, day: date) -> SessionSpec:
        return self.session_of(self.start_year(day))


def _fill_names(names: dict[str, Any]) -> Any:
    def fill(template: str) -> str:
        try:
            return template.format_map(names)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"current_session template {template!r}: {exc} (names: {', '.join(names)})"
            ) from exc

    return fill


class SourceSpec(_Model):
    description: str = ""
    base_url: str | None = None
    enabled: bool = True


class Example(_Model):
    """A saved page (or pages) and the expected output kept in tests/expected/<st>/<name>.json."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    pages: dict[str, str] = Field(min_length=1, description="kind -> fixture path")
    url: str | None = None
    session: str | None = None
    sample: int | None = Field(
        None, ge=1, description="lists: keep the count and first/last N items"
    )
    error: bool = Field(False, description="the page is expected to fail with a clear error")


class StateConfig(_Model):
    state: str = Field(pattern=r"^[a-z]{2}$")
    name: str
    timezone: str
    base_url: str
    politeness: Politeness = Field(default_factory=Politeness)
    schedule: Schedule = Field(default_factory=Schedule)
    sessions: list[SessionSpec] = Field(
        default_factory=list, description="known sessions: the ones saved pages come from"
    )
    current_session: SessionRule | None = Field(
        None, description="a rule on dates giving the session to scrape today"
    )
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    pages: dict[str, PageSpec] = Field(min_length=1)
    derive: FieldMap = Field(
        default_factory=dict, description="bill fields computed after merging pages"
    )
    ignored_sessions: list[str] = Field(
        default_factory=list,
        description="regexes for sessions the site lists that we deliberately do not scrape",
    )
    action_rules: list[dict[str, Any]] = Field(default_factory=list)
    action_rules_replace_defaults: bool = False
    examples: list[Example] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like America/Denver)"
            ) from exc
        return v

    @model_validator(mode="after")
    def _some_session(self) -> StateConfig:
        if not self.sessions and self.current_session is None:
            raise ValueError(
                "give current_session: (a rule on dates) or at least one sessions: entry"
            )
        if self.current_session is not None:
            self.current_session.session_of(self.current_session.first_year)  # templates fill
        return self

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"base_url {v!r} must start with http:// or https://")
        return v.rstrip("/")

    def known_sessions(self, today: date | None = None) -> list[SessionSpec]:
        """The listed sessions, then the rule's from its first year to today's (newest last)."""
        out = list(self.sessions)
        rule = self.current_session
        if rule is not None:
            listed = {s.identifier for s in self.sessions}
            last = rule.start_year(today or date.today())
            for year in range(rule.first_year, last + 1, rule.every):
                spec = rule.session_of(year)
                if spec.identifier not in listed:
                    out.append(spec)
        return out

    def current(self, today: date | None = None) -> SessionSpec:
        """The session to scrape on `today`: the rule's, else the listed one running, else the
        newest listed (a config without a rule can only follow what it lists)."""
        today = today or date.today()
        if self.current_session is not None:
            return self.session(self.current_session.session_on(today).identifier, today=today)
        running = [
            s
            for s in self.sessions
            if s.start_date
            and s.start_date <= today
            and (s.end_date is None or today <= s.end_date)
        ]
        if running:
            return running[-1]
        return sorted(self.sessions, key=lambda s: s.start_date or date.min)[-1]

    def session(self, identifier: str, *, today: date | None = None) -> SessionSpec:
        known = self.known_sessions(today)
        for s in known:
            if s.identifier == identifier:
                return s
        names = ", ".join(s.identifier for s in known)
        raise KeyError(f"{self.state}: no session {identifier!r} in the config (known: {names})")

    def session_for(self, name: str) -> SessionSpec | None:
        """The session whose identifier, name or alias is `name` (case and space insensitive)."""
        want = fold_name(name)
        for s in self.known_sessions():
            if want in {
                fold_name(s.identifier),
                fold_name(s.name),
                *(fold_name(a) for a in s.aliases),
            }:
                return s
        return None

    def is_ignored_session(self, name: str) -> bool:
        """A session the site lists that we deliberately do not scrape (``ignored_sessions``)."""
        return any(re.fullmatch(p, name.strip(), re.I) for p in self.ignored_sessions)

    def pages_of(
        self, role: str, *, source: str | None = None, session: str | None = None
    ) -> dict[str, PageSpec]:
        return {
            kind: p
            for kind, p in self.pages.items()
            if p.role == role
            and (source is None or p.source == source)
            and (session is None or p.sessions is None or self._page_for(p.sessions, session))
        }

    def _page_for(self, wanted: list[str], session: str) -> bool:
        """`session` is among `wanted`, or starts no earlier than a ``"2017+"`` entry's."""
        if session in wanted:
            return True
        open_ended = [w[:-1] for w in wanted if w.endswith("+")]
        if not open_ended:
            return False
        known = {s.identifier: s.start_date for s in self.known_sessions()}
        start = known.get(session)
        return start is not None and any(
            (since := known.get(w)) is not None and since <= start for w in open_ended
        )

    def source_names(self) -> list[str]:
        names = {p.source for p in self.pages.values()}
        return sorted(names | set(self.sources))

    def base_url_for(self, source: str) -> str:
        spec = self.sources.get(source)
        return spec.base_url.rstrip("/") if spec and spec.base_url else self.base_url


def fold_name(text: str) -> str:
    return " ".join(str(text).lower().split())


# --------------------------------------------------------------------------------- semantic checks


def _check_group_names(
    fields: dict[str, Any], model: type[BaseModel], where: tuple[Any, ...]
) -> list[tuple[tuple[Any, ...], str]]:
    """Field names must be fields of the target model (or scratch); groups only where lists of objects go."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    allowed = set(model.model_fields)
    for name, spec in fields.items():
        loc = (*where, name)
        if name.startswith("_"):
            continue
        if name.startswith("extras.") and model is ScrapedBill:
            continue
        if name not in allowed:
            hint = ", ".join(sorted(allowed))
            problems.append(
                (loc, f"unknown field {name!r} for {model.__name__}; known: {hint} (or _scratch)")
            )
            continue
        sub = GROUP_MODELS.get(name)
        groups = spec if isinstance(spec, list) else [spec]
        if sub is not None:
            for i, g in enumerate(groups):
                gl = (*loc, i) if isinstance(spec, list) else loc
                if not isinstance(g, GroupSpec):
                    problems.append((gl, f"{name!r} holds objects: give a group with 'fields:'"))
                else:
                    problems += _check_group_names(g.fields, sub, (*gl, "fields"))
        elif any(isinstance(g, GroupSpec) for g in groups):
            problems.append(
                (
                    loc,
                    f"{name!r} is a plain value: give a field (selector, path, ...), not 'fields:'",
                )
            )
    return problems


def semantic_problems(cfg: StateConfig) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    kinds = set(cfg.pages)
    for kind, page in cfg.pages.items():
        where = ("pages", kind)
        if page.role == "sessions":
            if "name" not in page.fields:
                problems.append(((*where, "fields"), "a sessions page needs a 'name' field"))
        else:
            problems += _check_group_names(page.fields, ScrapedBill, (*where, "fields"))
        if page.role == "list" and page.items and page.yields == "urls" and page.bill_url is None:
            target = cfg.pages.get(page.bill_kind or "") or next(
                (p for p in cfg.pages.values() if p.role == "bill" and p.source == page.source),
                None,
            )
            if target is None or not target.url:
                problems.append(
                    (
                        where,
                        "a list page that yields urls needs 'bill_url' "
                        "(or a bill page with a 'url' template)",
                    )
                )
        if page.bill_kind and (
            page.bill_kind not in kinds or cfg.pages[page.bill_kind].role != "bill"
        ):
            problems.append(
                ((*where, "bill_kind"), f"{page.bill_kind!r} is not a page kind with role: bill")
            )
        if page.follow and page.follow.kind not in kinds:
            problems.append(((*where, "follow", "kind"), f"no page kind {page.follow.kind!r}"))
        if page.source not in cfg.sources and cfg.sources:
            problems.append(((*where, "source"), f"source {page.source!r} is not under 'sources:'"))
        for s in page.sessions or []:
            if cfg.session_for(s.removesuffix("+")) is None:
                problems.append(((*where, "sessions"), f"unknown session {s!r}"))
    problems += _check_group_names(cfg.derive, ScrapedBill, ("derive",))
    for i, ex in enumerate(cfg.examples):
        for kind in ex.pages:
            if kind not in kinds:
                problems.append(
                    (("examples", i, "pages", kind), f"no page kind {kind!r} in 'pages:'")
                )
    for i, pattern in enumerate(cfg.ignored_sessions):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append((("ignored_sessions", i), f"regex {pattern!r} does not compile: {exc}"))
    seen: set[str] = set()
    for i, s in enumerate(cfg.sessions):
        if s.identifier in seen:
            problems.append(
                (("sessions", i, "identifier"), f"session {s.identifier!r} is listed twice")
            )
        seen.add(s.identifier)
    return problems + _selector_problems(cfg) + _placeholder_problems(cfg)


# Selector-valued attributes, per model; on JSON pages FieldSpec's ``path`` is the selector.
_SELECTOR_ATTRS: dict[type[BaseModel], tuple[str, ...]] = {
    FieldSpec: ("selector", "after", "before"),
    GroupSpec: ("items", "text_selector", "after", "before"),
    ErrorMarker: ("selector",),
    PageSpec: ("items", "empty_if"),
}


def _selectors(obj: Any, loc: tuple[Any, ...], page_format: str) -> Iterator[tuple[Any, str]]:
    """(location, selector) for every selector in a page's specs, walked recursively."""
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            yield from _selectors(item, (*loc, i), page_format)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _selectors(item, (*loc, key), page_format)
    elif isinstance(obj, BaseModel):
        attrs = _SELECTOR_ATTRS.get(type(obj), ())
        if page_format == "json" and isinstance(obj, FieldSpec):
            attrs = ("path",)
        for name in attrs:
            value = getattr(obj, name)
            if isinstance(value, str):
                yield (*loc, name), value
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if isinstance(value, BaseModel | list | dict) and name not in ("headers", "attrs"):
                alias = type(obj).model_fields[name].alias or name
                yield from _selectors(value, (*loc, alias), page_format)


def _selector_problems(cfg: StateConfig) -> list[tuple[tuple[Any, ...], str]]:
    """Every CSS selector (HTML, XML) and JSON path compiled now, as the scrape would."""
    from scrapers.extract import SelectorSyntaxError, check_selector

    problems: list[tuple[tuple[Any, ...], str]] = []
    for kind, page in cfg.pages.items():
        if page.format == "delimited":
            continue
        for loc, selector in _selectors(page, ("pages", kind), page.format):
            try:
                check_selector(selector, page.format)
            except SelectorSyntaxError as exc:
                problems.append((loc, str(exc)))
    return problems


BUILTIN_NAMES = frozenset({"state", "base_url", "session", "session_name", "url", "query"})
"""Names every URL template may use (see ``scrapers.engine.context_names``)."""
BILL_NAMES = frozenset({"identifier", "prefix", "number", "print_no"})
"""Names a bill page's URL template may use when a bill is fetched without a list page
(``scrapers.scrape.bill_names``: "S 609" -> prefix S, number 609, print_no S609)."""


def _known_names(cfg: StateConfig, page: PageSpec) -> set[str] | None:
    """The names a scrape fills ``page``'s templates from, or None when no scrape fetches it
    (a bill page of a source without list pages is only read from saved copies)."""
    known = set(BUILTIN_NAMES)
    for s in cfg.sessions:
        known |= set(s.vars)
    if cfg.current_session is not None:
        known |= set(cfg.current_session.vars)
    if page.role == "bill":
        known |= BILL_NAMES
        lists = [p for p in cfg.pages.values() if p.role == "list" and p.source == page.source]
        if not lists:
            return None
        for p in lists:
            known |= set(p.fields)
    elif page.role == "augment":  # filled from the merged bill: every field any page gives
        known |= set(ScrapedBill.model_fields) | set(cfg.derive)
        for p in cfg.pages.values():
            known |= set(p.fields)
    return known


def _placeholder_problems(cfg: StateConfig) -> list[tuple[tuple[Any, ...], str]]:
    """URL, body and header templates may name only what the scrape will have for that page:
    the built-in names and sessions' ``vars`` everywhere, the list's fields on a bill page, the
    bill's fields on an augment page."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for kind, page in cfg.pages.items():
        known = _known_names(cfg, page) if page.live else None
        if known is None:
            continue
        for loc, template in _templates(kind, page):
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            except ValueError as exc:
                problems.append((loc, f"template {template!r} cannot be filled: {exc}"))
                continue
            for name in names:
                head = re.split(r"[.\[!:]", name, maxsplit=1)[0]
                if head not in known:
                    hint = ", ".join(sorted(n for n in known if not n.startswith("_")))
                    problems.append((loc, f"unknown placeholder {{{name}}}; known here: {hint}"))
    return problems


def _templates(kind: str, page: PageSpec) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(page.url, str):
        out = [(("pages", kind, "url"), page.url)]
    else:
        out = [(("pages", kind, "url", i), u) for i, u in enumerate(page.urls)]
    if page.body:
        out.append((("pages", kind, "body"), page.body))
    return out + [(("pages", kind, "headers", h), v) for h, v in page.headers.items()]


# --------------------------------------------------------------------------------- YAML with lines


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: ``yes:``/``no:`` stay keys (only true/false are
    booleans) and ``2011_12`` or ``1:30`` stay strings (no digit separators, no base 60)."""


# Timestamps too: a date stays text for pydantic, so 2018-02-30 is a located error, not a crash.
_YAML11_ONLY = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML11_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


class _Lines:
    """Line numbers of every key and item in a YAML document, by path."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int, int]] = []  # (path, line, first line)
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, key.value)
                if sub in self.lines and key.value != "<<":
                    self.duplicates.append((sub, key.start_mark.line + 1, self.lines[sub]))
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def clean(self, loc: tuple[Any, ...]) -> tuple[Any, ...]:
        """`loc` without the union tags pydantic inserts (kept when they are real YAML keys)."""
        out: tuple[Any, ...] = ()
        for part in loc:
            if isinstance(part, str) and part in _UNION_TAGS and (*out, part) not in self.lines:
                continue
            out = (*out, part)
        return out

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """The line of the deepest existing prefix of `loc`."""
        clean = self.clean(loc)
        for n in range(len(clean), -1, -1):
            line = self.lines.get(clean[:n])
            if line is not None:
                return line
        return None

    def where(self, loc: tuple[Any, ...]) -> str:
        return ".".join(str(p) for p in self.clean(loc)) or "(top level)"


_UNION_TAGS = {"field", "group", "groups", "function-before", "function-after"}


def parse_config_text(text: str, path: str | Path = "<config>") -> StateConfig:
    """Validate YAML text as a state config; problems are reported with line numbers."""
    try:
        node = yaml.compose(text, Loader=ConfigLoader)
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(path, [_yaml_problem(path, text, exc)]) from exc
    lines = _Lines(node)
    if not isinstance(data, dict):
        raise ConfigError(path, ["line 1: expected a mapping of keys (state:, name:, pages: ...)"])
    duplicates = [
        f"{path}:{line}: {lines.where(loc)}: duplicate key (first at line {first}); "
        "YAML would keep only the last"
        for loc, line, first in lines.duplicates
    ]
    if duplicates:
        raise ConfigError(path, duplicates)
    try:
        cfg = StateConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = lines.line_of(loc)
            msg = err["msg"].removeprefix("Value error, ")
            text_ = f"{path}:{line}: {lines.where(loc)}: {msg}"
            if text_ not in seen:
                seen.add(text_)
                problems.append(text_)
        raise ConfigError(path, _trim_union_noise(problems)) from exc
    problems = [
        f"{path}:{lines.line_of(loc)}: {lines.where(loc)}: {msg}"
        for loc, msg in semantic_problems(cfg)
    ]
    if problems:
        raise ConfigError(path, problems)
    return cfg


def _yaml_problem(path: str | Path, text: str, exc: yaml.YAMLError) -> str:
    """``file:line: not valid YAML: ...`` at the line where the mistake is. An unclosed quote
    runs on until the next quote and the parser fails lines later: the line reported is then
    where that quoted value starts."""
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    detail = "; ".join(
        x for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x
    )
    detail = detail or str(exc).splitlines()[0]
    if isinstance(exc, yaml.scanner.ScannerError) and context is not None:
        return f"{path}:{context.line + 1}: not valid YAML: {detail}"  # e.g. quote never closed
    mark = problem or context
    if mark is None:
        return f"{path}: not valid YAML: {detail}"
    quote = _runaway_quote(text, before=mark.line)
    if quote is not None:
        start, end = quote
        return (
            f"{path}:{start}: not valid YAML: the quoted value here runs on to line {end} "
            f"(a quote not closed?); then at line {mark.line + 1}: {detail}"
        )
    return f"{path}:{mark.line + 1}: not valid YAML: {detail}"


def _runaway_quote(text: str, *, before: int) -> tuple[int, int] | None:
    """(first line, last line) of the last quoted scalar spanning lines that starts before line
    index ``before``: in a config such a value is nearly always an unclosed quote."""
    found = None
    try:
        for token in yaml.scan(text, Loader=ConfigLoader):
            if token.start_mark.line > before:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.end_mark.line > token.start_mark.line
            ):
                found = (token.start_mark.line + 1, token.end_mark.line + 1)
    except yaml.YAMLError:
        pass
    return found


def _trim_union_noise(problems: list[str]) -> list[str]:
    """A field-or-group union reports each branch; keep the most specific messages."""
    if len(problems) <= 6:
        return problems
    specific = [p for p in problems if "Input should be" not in p and "Field required" not in p]
    return (specific or problems)[:12]


def load_config(path: str | Path) -> StateConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc}"]) from exc
    cfg = parse_config_text(text, path)
    if cfg.state != path.stem:
        raise ConfigError(
            path, [f"{path}:1: state: {cfg.state!r} does not match the file name {path.name!r}"]
        )
    return cfg


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a state config, for editors (config/state.schema.json)."""
    schema = StateConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Single-Payer Tracker state scraper config"
    return schema


GroupSpec.model_rebuild()
PageSpec.model_rebuild()
StateConfig.model_rebuild()
