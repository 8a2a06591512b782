"""tracker.tables, the Core copy of the models' tables, is generated and stays in step with them.

The models are the one place the schema is written; tracker/tables.py is rendered from them by
``python -m tracker.tables_render`` so that readers such as ``tracker search`` need not import
SQLModel and pydantic's model building. These tests fail when the copy is stale or differs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

import tracker.all_models  # noqa: F401
from tracker import tables
from tracker.tables_render import OUT, render

MODEL_TABLES = sorted(SQLModel.metadata.tables.values(), key=lambda t: t.name)


def test_the_generated_file_is_the_models_rendered_now() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), (
        "tracker/tables.py is stale: run `python -m tracker.tables_render`"
    )


def test_every_table_of_the_models_is_there() -> None:
    assert sorted(tables.metadata.tables) == sorted(SQLModel.metadata.tables)


def _shape(table: Table) -> list[tuple[object, ...]]:
    return [
        (
            c.name,
            str(c.type.compile(dialect=sqlite.dialect())),
            str(c.type.compile(dialect=postgresql.dialect())),
            c.type._type_affinity,  # String for SQLModel's AutoString, JSON, DateTime...
            getattr(c.type, "timezone", None),
            c.primary_key,
            c.nullable,
            c.autoincrement,
            None if c.default is None else c.default.arg,  # type: ignore[attr-defined]
            sorted((fk.target_fullname, fk.ondelete) for fk in c.foreign_keys),
        )
        for c in table.columns
    ]


@pytest.mark.parametrize("model", MODEL_TABLES, ids=lambda t: t.name)
def test_columns_types_keys_and_defaults_match(model: Table) -> None:
    assert _shape(tables.metadata.tables[model.name]) == _shape(model)


@pytest.mark.parametrize("model", MODEL_TABLES, ids=lambda t: t.name)
def test_the_same_statement_renders_the_same_sql(model: Table) -> None:
    core = tables.metadata.tables[model.name]
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert str(core.select().compile(dialect=dialect)) == str(
            model.select().compile(dialect=dialect)
        )
        assert str(core.insert().compile(dialect=dialect)) == str(
            model.insert().compile(dialect=dialect)
        )


def test_importing_the_tables_loads_no_sqlmodel_or_pydantic() -> None:
    code = "import sys, tracker.tables; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "'sqlalchemy'" in out
    assert "'sqlmodel'" not in out and "'pydantic'" not in out, out
