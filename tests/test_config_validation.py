"""`tracker scrapers validate` catches what would break at run time (issue 13, failure 12), and
`tracker jobs` lists a state with a broken config as invalid instead of crashing.

Each case breaks one line of the repository's own Oregon config (config/states/or.yaml) in a
copy under tmp_path and checks the error names that file and line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracker.cli import app
from tracker.paths import config_dir
from tracker.settings import reset_settings

runner = CliRunner()
REAL = config_dir() / "states" / "or.yaml"


def _broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[list[str]], int]
) -> tuple[Path, int]:
    """A config folder holding or.yaml with ``change`` applied; returns (file, changed line)."""
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    states = folder / "states"
    for other in states.glob("*.yaml"):
        if other.name != "or.yaml":
            other.unlink()
    lines = REAL.read_text().split("\n")
    line = change(lines)
    path = states / "or.yaml"
    path.write_text("\n".join(lines))
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(folder))
    reset_settings()
    return path, line


def _replace(old: str, new: str, *, nth: int = 0) -> Callable[[list[str]], int]:
    def change(lines: list[str]) -> int:
        hits = [i for i, line in enumerate(lines) if old in line]
        i = hits[nth]
        lines[i] = lines[i].replace(old, new, 1)
        return i + 1

    return change


def _first_selector_line(lines: list[str]) -> int:
    i = next(i for i, line in enumerate(lines) if 'selector: "' in line)
    lines[i] = lines[i].replace('selector: "', 'selector: "td[colspan=', 1)
    return i + 1


def _duplicate_name(lines: list[str]) -> int:
    i = next(i for i, line in enumerate(lines) if line.startswith("name:"))
    lines.insert(i + 1, "name: Oregon again")
    return i + 2


def _unclosed_quote(lines: list[str]) -> int:
    i = next(i for i, line in enumerate(lines) if line.startswith('  in_session: "'))
    lines[i] = lines[i].rstrip('"')
    return i + 1


CASES = {
    "invalid CSS selector": (_first_selector_line, "CSS selector"),
    "duplicate key": (_duplicate_name, "duplicate key"),
    "cron minute 99": (_replace('"0 */6 * * *"', '"99 */6 * * *"'), "cron line"),
    "unknown placeholder": (_replace("{code}", "{cdoe}"), "unknown placeholder {cdoe}"),
    "impossible date": (_replace("2010-02-01", "2018-02-30"), "start_date"),
    "unclosed quote": (_unclosed_quote, "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_names_file_and_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    change, expected = CASES[case]
    path, line = _broken(tmp_path, monkeypatch, change)
    result = runner.invoke(app, ["scrapers", "validate", "or"])
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 1, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert f"{path}:{line}:" in "".join(result.output.split()), output
    assert expected in output


def test_the_shipped_configs_still_validate() -> None:
    result = runner.invoke(app, ["scrapers", "validate"])
    assert result.exit_code == 0, result.output


def test_jobs_lists_a_broken_config_as_invalid(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken(tmp_path, monkeypatch, _replace('"0 */6 * * *"', '"99 */6 * * *"'))
    result = runner.invoke(app, ["jobs", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)}
    assert rows["scrape:or"]["name"].startswith("INVALID config")
    assert "99" in rows["scrape:or"]["name"] and rows["scrape:or"]["next_run"] is None
    assert "digest:weekly" in rows  # the other jobs are still listed
