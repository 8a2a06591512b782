"""Fuzz-style import (issue 13): a few hundred mutated copies of real Open States and LegiScan
bill records (fields added, removed, retyped, truncated, NUL and control characters, deep
nesting, huge values) imported after the pristine records, on both backends.

Asserted: no traceback, the exit status says whether any record errored, every record is
either stored or reported, every copy that is still a valid bill is stored, and nothing the
pristine import stored is removed. Mutated copies get their own bill numbers, so they never
stand in for a pristine bill. Seeded, so a failure reproduces.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tracker.cli import app
from tracker.db import make_engine
from tracker.models import Action, Bill

runner = CliRunner()
SEED = 13
OPENSTATES = "openstates/scraper_output_id_2025/_data/id"
LEGISCAN = "legiscan/api_json/bill"

# Mutations that leave a valid bill (it must be stored) and ones that cannot (it must not be).
Mutation = Callable[[dict[str, Any], random.Random], Any]


def _add_field(bill: dict[str, Any], rng: random.Random) -> Any:
    bill[f"new_upstream_field_{rng.randrange(5)}"] = rng.choice([1, "x", [1, 2], {"a": None}])
    for item in bill.get("actions") or bill.get("history") or []:
        item["updated_at"] = "2025-06-01"
    return bill


def _control_chars(bill: dict[str, Any], rng: random.Random) -> Any:
    chars = "\x00\x01\x07\x0b\x0c\x1b\x7f"
    bill["title"] = "".join(c + rng.choice(chars) for c in str(bill.get("title") or "t"))
    return bill


def _huge_string(bill: dict[str, Any], rng: random.Random) -> Any:
    bill["title"] = "single payer " * rng.randrange(2_000, 20_000)
    return bill


def _truncate(bill: dict[str, Any], rng: random.Random) -> Any:
    text = json.dumps(bill)
    return text[: rng.randrange(1, len(text) - 1)]


def _deep(bill: dict[str, Any], rng: random.Random) -> Any:
    depth = rng.choice([5_000, 100_000])
    return json.dumps(bill)[:-1] + ', "nested": ' + "[" * depth + "]" * depth + "}"


def _huge_int(bill: dict[str, Any], rng: random.Random) -> Any:
    return json.dumps(bill)[:-1] + ', "big": ' + "7" * rng.choice([5_000, 1_000_000]) + "}"


def _not_an_object(bill: dict[str, Any], rng: random.Random) -> Any:
    return json.dumps(rng.choice([[bill], "bill", 12, None]))


def _remove_field(bill: dict[str, Any], rng: random.Random) -> Any:
    key = rng.choice(sorted(bill))
    del bill[key]
    return bill


def _retype_field(bill: dict[str, Any], rng: random.Random) -> Any:
    key = rng.choice(sorted(bill))
    bill[key] = rng.choice([None, 0, 1.5, True, "", [], {}, [None], {"x": [1]}, "2018-02-30"])
    return bill


GOOD: dict[str, Mutation] = {
    "add_field": _add_field,
    "control_chars": _control_chars,
    "huge_string": _huge_string,
}
BAD: dict[str, Mutation] = {
    "truncate": _truncate,
    "deep": _deep,
    "huge_int": _huge_int,
    "not_an_object": _not_an_object,
}
EITHER: dict[str, Mutation] = {"remove_field": _remove_field, "retype_field": _retype_field}


def _renumber(record: dict[str, Any], kind: str, n: int) -> tuple[dict[str, Any], str]:
    """The record as its own bill: bill number ``HB 9<n>`` (a number no real record uses)."""
    number = f"HB9{n:04d}"
    if kind == "legiscan":
        record["bill"]["bill_number"] = number
    else:
        record["identifier"] = number
    return record, number


def _target(record: dict[str, Any], kind: str) -> dict[str, Any]:
    return record["bill"] if kind == "legiscan" else record


def _write_mutants(
    kind: str, pristine: list[dict[str, Any]], folder: Path, copies: int
) -> dict[str, tuple[str, str]]:
    """Mutated copies as files under ``folder``; number -> (mutation, expectation)."""
    rng = random.Random(f"{SEED}-{kind}")
    table = [(n, "good", m) for n, m in GOOD.items()] + [(n, "bad", m) for n, m in BAD.items()]
    table += [(n, "either", m) for n, m in EITHER.items()]
    made: dict[str, tuple[str, str]] = {}
    for i in range(copies):
        name, expect, mutate = table[i % len(table)]
        record, number = _renumber(json.loads(json.dumps(rng.choice(pristine))), kind, i)
        if kind == "legiscan" and name in GOOD:
            mutate(record["bill"], rng)
            out: Any = record
        elif kind == "legiscan" and name in EITHER:
            mutate(record["bill"], rng)
            out = record
        else:
            out = mutate(_target(record, kind), rng) if kind != "legiscan" else mutate(record, rng)
        text = out if isinstance(out, str) else json.dumps(out)
        stem = "bill_fuzz" if kind == "openstates" else "fuzz"
        (folder / f"{stem}_{i:04d}_{name}.json").write_text(text, encoding="utf-8")
        made[number] = (name, expect)
    return made


def _stored(url: str) -> tuple[dict[str, int], int]:
    engine = make_engine(url)
    with engine.connect() as c:
        live = (
            select(Bill.identifier, func.count(Action.id))
            .join(Action, (Action.bill_id == Bill.id) & Action.removed_at.is_(None), isouter=True)
            .group_by(Bill.identifier)
        )
        counts = {row[0]: row[1] for row in c.execute(live)}
        removed = c.execute(
            select(func.count()).select_from(Action).where(Action.removed_at.is_not(None))
        ).scalar_one()
    engine.dispose()
    return counts, removed


def _summary(output: str) -> dict[str, int]:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


@pytest.mark.parametrize(("kind", "source", "pristine_count", "copies"), [
    ("openstates", OPENSTATES, 30, 180),
    ("legiscan", LEGISCAN, 6, 90),
])  # fmt: skip
def test_mutated_real_records_never_cost_a_good_one(
    db_url: str,
    shared_data: Path,
    tmp_path: Path,
    kind: str,
    source: str,
    pristine_count: int,
    copies: int,
) -> None:
    files = sorted((shared_data / source).glob("*.json"))[:pristine_count]
    pristine = [json.loads(p.read_bytes()) for p in files]
    first = runner.invoke(app, ["import", kind, *map(str, files), "--json", "--workers", "0"])
    assert first.exit_code == 0, first.output
    before, removed_before = _stored(db_url)

    folder = tmp_path / "id" / "fuzz"  # the folder names the state for Open States records
    folder.mkdir(parents=True)
    made = _write_mutants(kind, pristine, folder, copies)
    result = runner.invoke(app, ["import", kind, str(folder), "--json", "--workers", "0"])

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    summary = _summary(result.output)
    assert result.exit_code == (1 if summary["errors"] else 0), result.output
    assert summary["errors"] > 0  # the bad mutations are reported ...
    after, removed_after = _stored(db_url)
    stored_new = {n for n in made if n in after or n.replace("HB", "HB ") in after}
    assert summary["new"] == len(stored_new)
    # ... and nothing vanishes unreported, except what a folder walk rightly takes for another
    # LegiScan payload (people, votes, texts): a JSON value that is not a bill object
    skipped = sum(1 for name, _ in made.values() if kind == "legiscan" and name == "not_an_object")
    assert summary["new"] + summary["errors"] >= len(made) - skipped
    for number, (name, expect) in made.items():
        if expect == "good":
            assert number in stored_new, f"{number} ({name}) is a valid bill and was not stored"
        elif expect == "bad":
            assert number not in stored_new, f"{number} ({name}) is broken and was stored"
    assert {k: v for k, v in after.items() if k in before} == before  # nothing stored removed
    assert removed_after == removed_before
