"""The JSON API's contract: the `*Public` models its answers are documented with.

The routes build their answers from plain dicts (the same data the pages render); these models
say, in ``/openapi.json``, what a client may rely on: the named fields with their types. Objects
allow more fields than they name, so adding a field is never a breaking change, and a test runs
schemathesis against the schema to keep the routes and the models in step.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """An object that may carry more fields than it names."""

    model_config = ConfigDict(extra="allow")


class ErrorPublic(BaseModel):
    """Every 4xx/5xx JSON answer except validation errors."""

    detail: str = Field(description="what went wrong, for a person")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: e.g. ['query', 'page']")
    msg: str = Field(description="what is wrong with it")
    type: str = Field(description="FastAPI's machine-readable kind, e.g. int_parsing")


class ValidationErrorPublic(BaseModel):
    """A 422 answer: one issue per bad parameter."""

    detail: list[ValidationIssue]


class FacetValuePublic(BaseModel):
    value: str
    label: str
    count: int


class SearchLinksPublic(BaseModel):
    self: str = Field(description="this page of results")
    html: str = Field(description="the same search on the site")
    csv: str = Field(description="every result as CSV")
    next: str | None = Field(description="the next page, or null on the last")


class BillHitPublic(_Open):
    """One search result."""

    id: int
    state: str = Field(description="two-letter code, lower case")
    session: str
    identifier: str
    identifier_norm: str
    title: str
    stage: str = Field(description="stage vocabulary: introduced ... enacted, adopted, dead")
    topic: str
    relevant: bool
    latest_action_date: str | None
    latest_action_description: str | None
    url: str = Field(description="the bill's page")
    api_url: str = Field(description="the bill's JSON")


class BillListPublic(_Open):
    """A page of search results with facets and paging links."""

    query: dict[str, Any] = Field(description="the search as understood")
    total: int = Field(description="bills found; a lower bound when total_exact is false")
    total_exact: bool = Field(
        description="false when total, pages and the facet counts are lower bounds, counted "
        "over part of a big match set (PostgreSQL, one common word) to answer sooner; the "
        "results are the same. The exact counts are computed next, and a later request for "
        "the same search (another page, a reload) gets them"
    )
    page: int
    per_page: int
    pages: int
    bill_number: bool = Field(description="true when the query was read as a bill number")
    results: list[BillHitPublic]
    facets: dict[str, list[FacetValuePublic]]
    warnings: list[str]
    links: SearchLinksPublic


class BillPublic(_Open):
    """A bill's own fields."""

    id: int
    state: str
    session: str
    identifier: str
    identifier_norm: str
    title: str
    chamber: str | None
    stage: str
    stage_date: str | None
    furthest_stage: str | None
    topic: str
    topic_decision: str | None
    relevant: bool
    latest_action_date: str | None
    latest_action_description: str | None
    path: str
    url: str


class ActionPublic(_Open):
    date: str | None
    description: str
    chamber: str | None
    classification: list[str]


class BillDetailPublic(_Open):
    """One bill with everything its page shows."""

    bill: BillPublic
    actions: list[ActionPublic]
    sponsors: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    hearings: list[dict[str, Any]]
    votes: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    official_url: str | None


class StatePublic(_Open):
    code: str = Field(description="two-letter code, lower case")
    name: str
    bills: int
    tracked: int = Field(description="bills on a tracked topic")
    furthest_stage: str | None
    last_action_date: str | None
    last_checked: str | None


class StatesPublic(BaseModel):
    states: list[StatePublic]


class HealthPublic(_Open):
    """``/healthz``: 200 with status ok, or 503 with status error when the database is down."""

    status: str = Field(description="ok or error")
    database: bool
    scheduler: bool = Field(description="some process scheduled recently")
    this_process: str = Field(description="this process's role")
    time: str


# `responses=` entries for the routes
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorPublic, "description": "no such bill, state or topic"}}
BAD_REQUEST: Responses = {
    400: {
        "model": ErrorPublic,
        "description": "a path or query with control characters or bytes that are not UTF-8",
    }
}
INVALID: Responses = {
    422: {"model": ValidationErrorPublic, "description": "a parameter of the wrong type"}
}
CSV: Responses = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV rows"}
}


# The app answers 400 to any path or query text with a control character (tracker.web.app):
# every string parameter says so, so clients and checks know what they may send.
PRINTABLE = r"^[^\u0000-\u001f\u007f]*$"


def document_printable_text(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add :data:`PRINTABLE` to every string parameter of `openapi` (in place)."""
    for methods in openapi.get("paths", {}).values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                _printable(parameter.get("schema", {}))
    return openapi


def _printable(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", []):
        _printable(option)
    if schema.get("type") == "array":
        _printable(schema.get("items", {}))
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        schema.setdefault("pattern", PRINTABLE)
