"""An operator who mistypes a setting is told which variable, which value, what it must be and
where it was set, before anything runs; an unknown TRACKER_* name is reported with the setting
it most likely meant instead of silently falling back to a default."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.settings import (
    Settings,
    SettingsError,
    get_settings,
    reset_settings,
    unknown_variables,
)
from tracker.web.pagecache import configured_cache


def _error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    reset_settings()
    with pytest.raises(SettingsError) as caught:
        get_settings()
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TRACKER_ENVIRONMENT", "prod", "'development', 'test' or 'production'"),
        ("TRACKER_SMTP_PORT", "abc", "valid integer"),
        ("TRACKER_SMTP_PORT", "70000", "less than or equal to 65535"),
        ("TRACKER_SMTP_SECURITY", "tls", "'none', 'starttls' or 'ssl'"),
        ("TRACKER_SMTP_RATE_PER_SECOND", "-3", "greater than or equal to 0"),
        ("TRACKER_DIGEST_HOUR", "25", "less than or equal to 23"),
        ("TRACKER_DIGEST_DAY", "funday", "must be a weekday"),
        ("TRACKER_DIGEST_TIMEZONE", "Mars/Base", "IANA time zone"),
        ("TRACKER_HTTP_TIMEOUT", "-1", "greater than 0"),
        ("TRACKER_HTTP_MAX_RETRIES", "-1", "greater than or equal to 0"),
        ("TRACKER_PAGE_CACHE_MB", "lots", "valid number"),
        ("TRACKER_PAGE_CACHE_MB", "-1", "greater than or equal to 0"),
        ("TRACKER_BASE_URL", "example.org", "http:// or https:// address"),
        ("TRACKER_MAINTAINER_EMAILS", "ops", "'ops' is not one"),
        ("TRACKER_CURATOR_EMAILS", "[not json", "JSON list"),
        ("TRACKER_SECRET_KEY", " ", "must not be empty"),
        ("TRACKER_ALERT_AFTER_FAILURES", "0", "greater than or equal to 1"),
        ("TRACKER_CONFIG_DIR", "/no/such/config", "must be an existing folder"),
        ("TRACKER_TEMPLATES_DIR", "/no/such/templates", "must be an existing folder"),
    ],
)
def test_a_wrong_value_names_the_variable_the_value_and_the_rule(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    message = _error(monkeypatch, name, value)
    assert name in message and says in message, message
    assert "(the environment)" in message
    if name != "TRACKER_SECRET_KEY":
        assert repr(value) in message


def test_every_wrong_value_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SMTP_PORT", "abc")
    message = _error(monkeypatch, "TRACKER_DIGEST_HOUR", "24")
    assert "TRACKER_SMTP_PORT" in message and "TRACKER_DIGEST_HOUR" in message


def test_a_value_from_the_env_file_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# local settings\nTRACKER_SMTP_PORT=587\nTRACKER_DIGEST_DAY=someday\n"
    )
    reset_settings()
    with pytest.raises(SettingsError, match=r"TRACKER_DIGEST_DAY='someday' \(\.env line 3\)"):
        get_settings()


def test_a_secret_is_never_repeated_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from tracker.settings import explain_invalid

    # a database URL carries a password: the message names the variable, not the value
    try:
        Settings.model_validate({"database_url": ["postgresql://u:hunter2@db/x"]})
    except ValidationError as exc:
        message = explain_invalid(exc)
    assert "TRACKER_DATABASE_URL" in message and "hunter2" not in message


def test_usable_spellings_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DIGEST_DAY", "Friday")
    monkeypatch.setenv("TRACKER_MAINTAINER_EMAILS", "ops@example.org, oncall@example.org")
    monkeypatch.setenv("TRACKER_CURATOR_EMAILS", '["curator@example.org"]')
    monkeypatch.setenv("TRACKER_SMTP_RATE_PER_SECOND", "0")
    monkeypatch.setenv("TRACKER_PAGE_CACHE_MB", "0")
    reset_settings()
    settings = get_settings()
    assert settings.digest_day == "fri"
    assert settings.maintainer_emails == ["ops@example.org", "oncall@example.org"]
    assert settings.curator_emails == ["curator@example.org"]
    assert settings.smtp_rate_per_second == 0
    assert configured_cache() is None  # 0 turns the page cache off
    monkeypatch.setenv("TRACKER_PAGE_CACHE_MB", "2")
    reset_settings()
    cache = configured_cache()
    assert cache is not None and cache.max_bytes == 2 * 1024 * 1024


def test_a_short_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_ENVIRONMENT", "production")
    monkeypatch.setenv("TRACKER_SECRET_KEY", "short")
    reset_settings()
    with pytest.raises(SettingsError, match="at least 16"):
        get_settings().check_secrets()
    monkeypatch.setenv("TRACKER_SECRET_KEY", "a-long-enough-production-secret")
    reset_settings()
    get_settings().check_secrets()


def test_an_unknown_variable_is_reported_with_its_likely_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKER_DATABSE_URL", "postgresql://db/tracker")
    monkeypatch.setenv("TRACKER_DEBUG", "1")  # read outside the settings: not a typo
    (tmp_path / ".env").write_text("TRACKER_SMTP_HOST=mail\nexport TRACKER_SMPT_PORT=587\n")
    lines = unknown_variables()
    assert lines == [
        "TRACKER_DATABSE_URL (the environment) is not a setting and is ignored; "
        "did you mean TRACKER_DATABASE_URL?",
        "TRACKER_SMPT_PORT (.env line 2) is not a setting and is ignored; "
        "did you mean TRACKER_SMTP_PORT?",
    ]
    reset_settings()
    with caplog.at_level(logging.WARNING, logger="tracker.settings"):
        get_settings()
    assert [r.getMessage() for r in caplog.records if r.name == "tracker.settings"] == lines


def test_the_command_line_prints_one_paragraph_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["TRACKER_PAGE_CACHE_MB"] = "abc"
    env["TRACKER_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "tracker"), "run", "--no-scheduler", "--port", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "TRACKER_PAGE_CACHE_MB='abc'" in done.stderr
    assert "Traceback" not in done.stderr and "ValueError" not in done.stderr
