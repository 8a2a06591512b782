"""Hostile request targets and exports (issue 13): NUL or non-UTF-8 in a path or query gets a
400 page with the security headers, trailing-slash redirects never trust the Host header, and
CSV exports defuse every formula prefix. Both backends: the NUL used to reach the database."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tracker.search import csv_safe, write_csv
from tracker.web.app import create_app
from tracker.web.security import SECURITY_HEADERS


@pytest.fixture
def client(engine: Any) -> TestClient:
    return TestClient(create_app(engine), raise_server_exceptions=False)


@pytest.mark.parametrize(
    "target",
    [
        "/bills/vt/%00/H1/",
        "/bills/vt/2025/H%001/",
        "/search/?q=health%00care",
        "/api/bills?q=%00",
        "/bills/vt/%ff%fe/H1/",
        "/search/?q=%C3%28",
    ],
)
def test_nul_and_bad_utf8_targets_get_a_400_page_with_headers(
    client: TestClient, target: str
) -> None:
    response = client.get(target)
    assert response.status_code == 400, response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value
    if target.startswith("/api"):
        assert "detail" in response.json()
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "cannot be served" in response.text


def test_ordinary_targets_are_not_refused(client: TestClient) -> None:
    assert client.get("/search/?q=single-payer+%C3%A9").status_code == 200
    assert client.get("/bills/vt/2025/H1/").status_code == 404  # no such bill: not a 400


def test_trailing_slash_redirect_ignores_the_host_header(client: TestClient) -> None:
    response = client.get("/search?q=x", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/search/?q=x"
    for name in SECURITY_HEADERS:
        assert name in response.headers


def test_no_redirect_to_another_host(client: TestClient) -> None:
    from tracker.web.app import _slash_redirect

    for path in ("//evil.example/search", "/\\evil.example/search"):
        response = client.get(f"http://testserver{path}", follow_redirects=False)
        location = response.headers.get("location", "")
        assert "evil.example" not in location and not location.startswith("//")

    class _Request:  # a path with two leading slashes, as a raw HTTP request can send it
        scope = {"path": "//search", "type": "http", "method": "GET", "route": None}

    assert _slash_redirect(_Request()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_export_defuses_every_formula_prefix(prefix: str) -> None:
    value = f'{prefix}HYPERLINK("http://evil.example")'
    assert csv_safe(value) == "'" + value
    out = io.StringIO()
    write_csv([{"title": value}], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert all(not cell.startswith(prefix) for row in rows[1:] for cell in row)
