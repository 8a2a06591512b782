"""Every state config against every saved page it lists, compared with the expected JSON.

One parametrised test walks ``examples:`` of each ``config/states/<st>.yaml``; the expected
output of each is ``tests/expected/<st>/<name>.json``. Regenerate deliberately, never silently:

    .venv/bin/pytest tests/test_scraper_configs.py --update-expected
    tracker scrapers check nm --update

then review the diff before committing it.
"""

from __future__ import annotations

import pytest

from scrapers.registry import list_states, load_state_config
from tracker.collect.examples import compare, expected_path


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
