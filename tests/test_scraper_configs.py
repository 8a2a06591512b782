"""Every state config against every saved page it lists, compared with the expected JSON.

One parametrised test walks ``examples:`` of each ``config/states/<st>.yaml``; the expected
output of each is ``tests/expected/<st>/<name>.json``. Regenerate deliberately, never silently:

    .venv/bin/pytest tests/test_scraper_configs.py --update-expected
    tracker scrapers check nm --update

then review the diff before committing it.
"""

from __future__ import annotations

import pytest

from tracker.collect.examples import compare, expected_path
from tracker.scraping import list_states, load_state_config


def _cases() -> list[tuple[str, str]]:
    return [(st, ex.name) for st in list_states() for ex in load_state_config(st).examples]


def test_every_state_has_examples() -> None:
    states = list_states()
    assert {"nm", "ny", "mo", "il", "or", "sc", "ga", "tx", "mt"} <= set(states)
    for st in states:
        assert load_state_config(st).examples, f"{st}: no saved pages under examples:"


@pytest.mark.shared
@pytest.mark.parametrize(("state", "name"), _cases(), ids=[f"{s}/{n}" for s, n in _cases()])
def test_config_on_saved_page(
    state: str, name: str, shared_dir, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    config = load_state_config(state)
    example = next(ex for ex in config.examples if ex.name == name)
    update = bool(request.config.getoption("--update-expected"))
    result = compare(config, example, update=update)
    assert result.error is None, result.error
    assert result.expected is not None, (
        f"no {expected_path(state, name)}; run pytest --update-expected (or tracker scrapers "
        f"check {state} --update) and review the output"
    )
    assert result.ok, f"{state}/{name} differs from its expected JSON:\n{result.diff()}"


def _check(*args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tracker.cli import app

    return CliRunner().invoke(app, ["scrapers", "check", *args], env={"COLUMNS": "80"})


@pytest.mark.shared
def test_scrapers_check_without_a_state_checks_every_state_and_sums_up(
    shared_dir, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import tracker.scraping

    monkeypatch.setattr(tracker.scraping, "list_states", lambda: ["mt", "tx"])  # two, for speed
    n = sum(len(load_state_config(st).examples) for st in ("mt", "tx"))
    for args in ((), ("--all",), ("all",)):
        result = _check(*args)
        assert result.exit_code == 0, result.output
        assert "mt/" in result.stdout and "tx/" in result.stdout
        assert result.stdout.splitlines()[-1] == f"2 states, {n} saved examples: {n} ok, 0 failed"
    assert _check("mt", "--all").exit_code == 2


def test_scrapers_check_without_the_saved_pages_fails_with_a_summary_not_a_traceback(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_SHARED_DIR", str(tmp_path))  # an empty ../shared
    result = _check("mt")
    assert result.exit_code == 1 and "Traceback" not in result.output
    n = len(load_state_config("mt").examples)
    assert "not found" in result.stdout
    assert result.stdout.splitlines()[-1] == f"1 state, {n} saved examples: 0 ok, {n} failed (mt)"
