"""The API keeps the contract its schema states: schemathesis' stateless checks on /openapi.json.

Every documented operation is called with generated valid and invalid parameters against the app
on real imported bills (the Open States samples in the shared data); each answer must match its
documented status, media type, headers and schema, never be a 5xx, and a 405 carries ``Allow``.
Examples are few and bounded so this stays a unit test (well under a minute).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from tracker.db import make_engine
from tracker.ingest import ingest_bills
from tracker.search import reindex_bills
from tracker.settings import reset_settings
from tracker.web.app import create_app


@pytest.fixture(scope="module")
def real_app(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sqlite_template: Path
) -> Iterator[Any]:
    """The app on a database holding the real Open States sample bills."""
    from scrapers.importers.openstates import iter_openstates

    path = tmp_path_factory.mktemp("contract") / "contract.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    report = ingest_bills(
        engine,
        iter_openstates([shared_data / "openstates/windy_civi_2025/samples"]),
        source="import:openstates",
    )
    with engine.begin() as conn:
        reindex_bills(conn, report.bill_ids)
    reset_settings()
    yield create_app(engine)
    engine.dispose()


def test_every_operation_keeps_its_documented_contract(real_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", real_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{o.method.upper()} {o.path}" for o in operations}  # the API, feeds, /healthz
    assert {
        "GET /api/bills",
        "GET /api/states",
        "GET /feeds/hearings.ics",
        "GET /healthz",
    } <= labels
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _check(operation, mode)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no parameter to get wrong
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
                failures[f"{operation.method.upper()} {operation.path} ({mode})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


# Search filters accept any text by design (an unknown state or topic is a warning, never an
# error), and an invalid value the generator makes for them (`topic=false` for a list) is valid
# text on the wire; the typed parameters' rejections are asserted in the last test instead.
LENIENT = [negative_data_rejection]


def _check(operation: Any, mode: GenerationMode) -> None:
    """A few generated requests of `mode` (valid or invalid data), each answer validated."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=6,
        deadline=2000,
        derandomize=True,  # the same cases every run: a failure here is a change, not luck
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=LENIENT if mode is GenerationMode.NEGATIVE else [])

    check()


def test_errors_and_media_types_are_documented(real_app: Any) -> None:
    doc = TestClient(real_app).get("/openapi.json").json()
    paths = doc["paths"]
    bills = paths["/api/bills"]["get"]["responses"]
    assert bills["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BillListPublic"
    }
    assert "text/csv" in bills["200"]["content"]
    assert set(paths["/api/bills.csv"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    assert (
        "application/atom+xml"
        in paths["/feeds/states/{code}.atom"]["get"]["responses"]["200"]["content"]
    )
    assert "text/calendar" in paths["/feeds/hearings.ics"]["get"]["responses"]["200"]["content"]
    one = paths["/api/bills/{state}/{session}/{identifier}"]["get"]["responses"]
    assert {"200", "400", "404", "422"} <= set(one)
    issue = doc["components"]["schemas"]["ValidationIssue"]
    assert set(issue["required"]) == {"loc", "msg", "type"}
    for path, methods in paths.items():
        for method, op in methods.items():
            for status, answer in op["responses"].items():
                if "application/json" in answer.get("content", {}):
                    assert answer["content"]["application/json"]["schema"], (method, path, status)


def test_422_keeps_the_type_and_405_says_allow(real_app: Any) -> None:
    client = TestClient(real_app)
    r = client.get("/api/bills", params={"page": "first"})
    assert r.status_code == 422
    (issue,) = r.json()["detail"]
    assert (
        issue
        == {
            "loc": ["query", "page"],
            "msg": issue["msg"],
            "type": "int_parsing",
        }
        and "integer" in issue["msg"]
    )
    for path in ("/api/states", "/about/", "/subscribe/"):
        r = client.request("DELETE", path)
        assert r.status_code == 405 and "GET" in r.headers["allow"], path
