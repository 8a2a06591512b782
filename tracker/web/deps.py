"""FastAPI dependencies shared by the web routers."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy import Connection


def connection(request: Request) -> Iterator[Connection]:
    """A read connection to the app's database for the duration of one request."""
    with request.app.state.engine.connect() as conn:
        yield conn
