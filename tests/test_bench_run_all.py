"""bench/run_all.py's plumbing on sample rows: BENCH_ROW parsing, scripts, coverage, table, JSON.

No timings are asserted: the bench measures, these tests check what it does with the figures.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def row_line(**data: object) -> str:
    return "BENCH_ROW " + json.dumps(data)


def test_bench_rows_are_read_from_a_scripts_output(run_all: ModuleType) -> None:
    out = "\n".join(
        [
            "some table",
            row_line(
                section="jobs+web sqlite",
                name="search while scrapes run",
                value=41.5,
                unit="ms",
                limit_name="idle",
                limit=20.75,
                target="p95 < 30 ms",
                extra="ignored",
            ),  # fmt: skip
            "BENCH_ROW {not json",
            row_line(section="web", name="/search, 8 clients", unit="req/s", note="wrk absent"),
        ]
    )
    rows = run_all.parse_rows(out)
    assert [r.name for r in rows] == ["search while scrapes run", "/search, 8 clients"]
    assert rows[0].ratio == pytest.approx(2.0)
    assert rows[1].value is None and rows[1].ratio is None and rows[1].note == "wrk absent"


def test_a_script_absent_failing_or_silent_says_why(run_all: ModuleType, tmp_path: Path) -> None:
    script = run_all.Script("x", ("good.py",), ("good.py", "--quick"))
    (tmp_path / "good.py").write_text(
        "import sys\nassert sys.argv[1:] == ['--quick']\n"
        f"print({row_line(section='x sqlite', name='first', value=1.0, unit='s')!r})\n"
    )
    out: list[str] = []
    rows, why = run_all.script_rows(script, quick=True, out=out, bench_dir=tmp_path)
    assert [r.value for r in rows] == [1.0] and why == ""
    (tmp_path / "bad.py").write_text("import sys\nprint('half')\nsys.exit('boom: no data')\n")
    rows, why = run_all.script_rows(
        run_all.Script("x", ("bad.py",), ("bad.py",)), quick=False, out=out, bench_dir=tmp_path
    )
    assert rows == [] and "exit 1" in why and "boom: no data" in why
    (tmp_path / "quiet.py").write_text("print('a table but no rows')\n")
    rows, why = run_all.script_rows(
        run_all.Script("x", ("quiet.py",), ("quiet.py",)), quick=False, out=out, bench_dir=tmp_path
    )
    assert rows == [] and "no BENCH_ROW" in why
    rows, why = run_all.script_rows(
        run_all.Script("x", ("gone.py",), ("gone.py",)), quick=False, out=out, bench_dir=tmp_path
    )
    assert rows == [] and "absent" in why


def test_a_script_without_a_small_mode_runs_its_default(
    run_all: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "plain.py").write_text(
        "import argparse\nargparse.ArgumentParser().parse_args()\n"
        f"print({row_line(section='web', name='/search', value=210.0, unit='req/s')!r})\n"
    )
    rows, why = run_all.script_rows(
        run_all.Script("web", ("plain.py",), ("plain.py", "--quick")),
        quick=True,
        out=[],
        bench_dir=tmp_path,
    )
    assert [r.value for r in rows] == [210.0] and why == ""


def test_every_must_reach_row_is_measured_or_says_why(run_all: ModuleType) -> None:
    row = run_all.Row
    rows = [
        row("cli", "tracker --help", 0.3, "s", "python -c pass", 0.05, "< 0.4 s"),
        row("cli", "tracker search health", 0.45, "s", "python -c pass", 0.05, "< 0.5 s"),
        row("jobs+web sqlite", "search while first scrapes run", 25.0, "ms"),
        row("jobs+web postgresql", "search while first scrapes run", None, "ms", note="died"),
        row("search sqlite (fallback)", "search health (cold, p95)", 9.0, "ms"),
    ]
    why = {"search": "bench/bench_search.py printed no BENCH_ROW line", "web": ""}
    missing = run_all.coverage(
        rows, why, sections={"cli", "jobs-web", "search", "web"}, pg=True, openstates=False
    )
    notes = {r.section.removeprefix("must: "): r.note for r in missing}
    assert set(notes) == {
        "jobs-web-postgresql",
        "search-sqlite",  # a fallback row is not the figure
        "search-postgresql",
        "web-load",
    }
    assert notes["jobs-web-postgresql"] == "not measured: died"
    assert notes["search-sqlite"].endswith("printed no BENCH_ROW line")
    assert "names web" in notes["web-load"]
    assert all(r.value is None and r.target for r in missing)
    down = run_all.coverage(rows, why, sections={"jobs-web"}, pg=False, openstates=False)
    assert [r.note for r in down] == [
        f"not measured: PostgreSQL at {run_all.PG_URL} does not answer"
    ]


def test_the_table_json_and_compare_carry_each_figure_beside_its_limit(
    run_all: ModuleType, tmp_path: Path
) -> None:
    row = run_all.Row
    rows = [
        row("import sqlite", "first import", 50.0, "s", "raw executemany", 0.25, "< 60 s"),
        row(
            "must: openstates",
            "vs Open States",
            None,
            "",
            target=">= 5x",
            note="not measured: openstates is not installed",
        ),  # fmt: skip
    ]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(run_all.payload(rows, load=3.0, quick=True)))
    data = json.loads(saved.read_text())
    assert data["rows"][0]["ratio"] == pytest.approx(200.0) and data["quick"] is True
    old = run_all.earlier(data)
    assert old == {"import sqlite | first import": 50.0, "must: openstates | vs Open States": None}
    rows[0].value = 40.0
    text = run_all.table(rows, old)
    head, _rule, first, second = text.splitlines()
    assert "before" in head and "note" in head
    assert "40 s" in first and "raw executemany" in first and "160x" in first and "50 s" in first
    assert "not measured: openstates is not installed" in second and ">= 5x" in second


def test_a_section_waits_for_a_quiet_machine_and_gives_up_in_time(run_all: ModuleType) -> None:
    """`settle` measures until the machine is under QUIET busy; a machine that stays busy
    is waited for `limit_s` at most, and the busy share it was left at is returned."""
    seen = iter([0.9, 0.4, 0.05, 0.9])
    waited, busy = run_all.settle(lambda: next(seen), limit_s=60)
    assert busy == 0.05 and waited < 60
    assert next(seen) == 0.9  # the fourth was never taken

    calls: list[int] = []

    def busy_forever() -> float:
        calls.append(1)
        return 0.8

    waited, busy = run_all.settle(busy_forever, limit_s=0)
    assert busy == 0.8 and calls == [1]


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc/stat")
def test_busy_share_reads_proc_stat(run_all: ModuleType) -> None:
    share = run_all.busy_share(0.05)
    assert 0.0 <= share <= 1.0
    lines = iter(["cpu  100 0 50 800 50 0 0 0 0 0", "cpu  130 0 60 850 60 0 0 0 0 0"])

    class Stat:  # two readings: 100 jiffies passed, 60 of them idle or waiting for the disk
        def read_text(self) -> str:
            return next(lines) + "\ncpu0 1 2 3 4 5 6 7 8\n"

    assert run_all.busy_share(0, stat=Stat()) == pytest.approx(0.4)
