"""Typed settings from TRACKER_* environment variables (and a .env file).

Built by :func:`get_settings`, never at import time, so tests and commands can change the
environment first.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tracker.paths import config_dir

DEV_SECRET = "dev-insecure-secret-change-me"
MIN_SECRET_CHARS = 16  # a production signing key shorter than this is refused


class SettingsError(RuntimeError):
    """A setting that cannot be used as it is (the message names it and the fix)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRACKER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = Field(
        "development", description="development, test or production"
    )
    data_dir: Path = Field(
        Path("data"), description="where the SQLite file, page archive and builds live"
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in data_dir")
    shared_dir: Path | None = Field(
        None, description="the ../shared folder with real fixtures and data"
    )
    config_dir: Path | None = Field(None, description="override the bundled config/ folder")
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="public address used in links and mails (https:// required in production)",
    )
    contact_email: str = Field(
        "tracker@example.org", description="in the User-Agent and mail Reply-To"
    )
    user_agent: str | None = Field(None, description="override the honest default User-Agent")

    smtp_host: str = Field("127.0.0.1", description="SMTP server for digests and alerts")
    smtp_port: int = Field(
        25, ge=1, le=65535, description="SMTP port (587 for STARTTLS, 465 for SSL)"
    )
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (environment only)")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="none, starttls or ssl"
    )
    smtp_rate_per_second: float = Field(
        50.0, ge=0, description="messages per second at most (0: no limit)"
    )
    mail_from: str = Field(
        "Single-Payer Tracker <digest@example.org>", description="From header of every mail"
    )
    mail_reply_to: str | None = Field(
        None, description="Reply-To header; default the contact address"
    )
    org_postal_address: str = Field(
        "Single-Payer Tracker, PO Box 0000, Anytown, USA",
        description="postal address in every mail footer",
    )
    maintainer_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses that get scraper alerts: a JSON list or comma-separated, "
        'e.g. ["ops@example.org"]',
    )

    curator_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses that may sign in to /curate/ and review topic decisions: a "
        'JSON list or comma-separated, e.g. ["curator@example.org"]',
    )
    curator_session_hours: float = Field(
        12.0, gt=0, description="hours a curator stays signed in before signing in again"
    )
    curator_link_minutes: int = Field(
        20, ge=1, description="minutes a curator sign-in link stays valid (each link works once)"
    )

    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET), description="signs links and CSRF tokens (environment only)"
    )

    openstates_api_key: SecretStr | None = Field(
        None, description="Open States API v3 key (environment only)"
    )
    openstates_api_url: str = Field(
        "https://v3.openstates.org", description="Open States API base address"
    )
    legiscan_api_key: SecretStr | None = Field(
        None, description="LegiScan API key (environment only)"
    )
    legiscan_api_url: str = Field(
        "https://api.legiscan.com/", description="LegiScan API base address"
    )

    http_timeout: float = Field(30.0, gt=0, description="seconds to wait for a response")
    http_max_retries: int = Field(
        4, ge=0, le=20, description="retries after a connection error, 5xx or 429 (with backoff)"
    )
    http_max_bytes: int = Field(20_000_000, gt=0, description="largest response body accepted")
    http_default_delay: float = Field(
        1.0,
        ge=0,
        description="seconds between requests to one host unless a state config says otherwise",
    )

    import_max_member_bytes: int = Field(
        512 * 1024 * 1024,
        gt=0,
        description="largest file or archive member an import reads (bytes, uncompressed)",
    )
    import_max_file_bytes: int = Field(
        8 * 1024 * 1024 * 1024,
        gt=0,
        description="largest archive an import reads (bytes, all members uncompressed)",
    )
    removal_guard_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of a state's actions, sponsors, versions or hearings one run may "
        "mark removed; a run that would remove more is held (nothing removed, flagged)",
    )

    digest_day: str = Field("mon", description="weekday the digest goes out")
    digest_hour: int = Field(7, ge=0, le=23, description="hour the digest goes out (0-23)")
    digest_timezone: str = Field(
        "America/New_York", description="time zone of digest_day/digest_hour"
    )
    digest_bounce_threshold: int = Field(
        3,
        ge=1,
        description="permanent (5xx) failures in a row before an address is marked bouncing",
    )
    alert_after_failures: int = Field(
        3, ge=1, description="consecutive failed or empty runs before maintainers get an email"
    )

    page_cache_mb: float = Field(
        32.0,
        ge=0,
        description="megabytes of pages and API answers each web process keeps until the data "
        "changes (0: off)",
    )
    templates_dir: Path | None = Field(
        None, description="a folder of your own templates, each overriding the bundled one"
    )

    @field_validator("database_url", "templates_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return v or None

    @field_validator("secret_key")
    @classmethod
    def _secret_set(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty (unset it for the development placeholder)")
        return v

    @field_validator("config_dir", "templates_dir")
    @classmethod
    def _existing_folder(cls, v: Path | None) -> Path | None:
        # a mistyped folder would otherwise mean no states at all, or no template of one's own
        if v is not None and not v.is_dir():
            raise ValueError("must be an existing folder")
        return v

    @field_validator("maintainer_emails", "curator_emails", mode="before")
    @classmethod
    def _addresses(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"must be a JSON list of addresses ({exc})") from None
            else:
                v = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(v, list):
            bad = [a for a in v if not isinstance(a, str) or "@" not in a or " " in a.strip()]
            if bad:
                raise ValueError(f"must be email addresses; {bad[0]!r} is not one")
            return [a.strip() for a in v]
        return v

    @field_validator("digest_day", mode="before")
    @classmethod
    def _weekday(cls, v: Any) -> Any:
        if isinstance(v, str):
            day = v.strip().lower()
            found = next((d for d in WEEKDAYS if day in (d, WEEKDAYS[d])), None)
            if found is None:
                raise ValueError("must be a weekday: mon, tue, wed, thu, fri, sat or sun")
            return found
        return v

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as America/New_York or UTC") from None
        return v

    @field_validator("base_url", "openstates_api_url", "legiscan_api_url")
    @classmethod
    def _web_address(cls, v: str) -> str:
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// address with a host name")
        return v.strip()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tracker.db').resolve()}"

    @property
    def resolved_config_dir(self) -> Path:
        return self.config_dir or config_dir()

    @property
    def resolved_user_agent(self) -> str:
        from tracker import __version__

        return self.user_agent or (
            f"SinglePayerTracker/{__version__} (+{self.base_url}; {self.contact_email})"
        )

    def resolved_shared_dir(self) -> Path | None:
        if self.shared_dir:
            return self.shared_dir
        guess = Path(__file__).resolve().parent.parent.parent / "shared"
        return guess if guess.is_dir() else None

    def export_import_limits(self) -> None:
        """Copy the import size caps into the environment, where the importers (and their
        worker processes) read them: ``scrapers`` does not depend on these settings."""
        for name in ("import_max_member_bytes", "import_max_file_bytes"):
            os.environ[f"TRACKER_{name.upper()}"] = str(getattr(self, name))

    def check_secrets(self) -> None:
        """Refuse the placeholder signing key outside development and tests."""
        if self.environment != "production":
            return
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET:
            raise SettingsError(
                "TRACKER_SECRET_KEY is the development placeholder; set a real secret in production"
            )
        if len(secret) < MIN_SECRET_CHARS:
            raise SettingsError(
                f"TRACKER_SECRET_KEY has {len(secret)} characters; in production it must have at "
                f"least {MIN_SECRET_CHARS} (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )

    def check_base_url(self) -> None:
        """Refuse, in production, a public address that is not https: it is in every mail's
        one-click unsubscribe link (RFC 8058 wants https) and in the site's links."""
        if self.environment == "production" and urlsplit(self.base_url).scheme != "https":
            raise SettingsError(
                f"TRACKER_BASE_URL is {self.base_url!r}; in production it must be the site's "
                "https:// address (it is in every mail's unsubscribe link)"
            )


WEEKDAYS = {
    "mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
    "fri": "friday", "sat": "saturday", "sun": "sunday",
}  # fmt: skip

ENV_FILE = ".env"

# TRACKER_* variables read outside these settings: not settings of the site, but not typos.
OTHER_VARIABLES = frozenset({
    "TRACKER_DEBUG",  # show tracebacks (as --debug does)
    "TRACKER_RUN_ROLE_FILE", "TRACKER_RUN_LOG_JSON",  # set by `tracker run` for its web workers
    "TRACKER_TEST_POSTGRES_URL", "TRACKER_CHROMIUM", "TRACKER_SCREENSHOTS_DIR",  # the tests'
    "TRACKER_BENCH_SEARCH_PG_DB",  # the search bench's scratch database
})  # fmt: skip

# Settings whose value is never repeated in a message (a database URL may hold a password).
SECRET_FIELDS = frozenset(
    {"smtp_password", "secret_key", "openstates_api_key", "legiscan_api_key", "database_url"}
)


def _where(name: str, file_lines: dict[str, int]) -> str:
    """Where a variable was set: the environment (which wins), or a line of the .env file."""
    if name in os.environ or name not in file_lines:
        return "the environment"
    return f"{ENV_FILE} line {file_lines[name]}"


def _env_file_lines() -> dict[str, int]:
    """TRACKER_* names set in the .env file, with their line numbers."""
    try:
        text = Path(ENV_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name = line.split("=", 1)[0].strip()
        if "=" in line and name.upper().startswith("TRACKER_"):
            found.setdefault(name.upper(), number)
    return found


def explain_invalid(exc: ValidationError) -> str:
    """One line per wrong setting: the variable, its value, what it must be and where it was set.
    Secrets' values are never repeated."""
    lines, file_lines = [], _env_file_lines()
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        name = f"TRACKER_{field.upper()}"
        secret = field in SECRET_FIELDS
        value = "" if secret else f"={str(error.get('input'))[:80]!r}"
        reason = str(error["msg"]).removeprefix("Value error, ").replace("Input should", "must")
        lines.append(f"{name}{value} ({_where(name, file_lines)}): {reason}")
    fix = "fix it and rerun" if len(lines) == 1 else "fix them and rerun"
    return "settings not usable, " + fix + ":\n  " + "\n  ".join(lines)


def unknown_variables() -> list[str]:
    """A line per TRACKER_* variable (environment or .env) that no setting reads, with the
    setting it most likely meant: a typo must not silently fall back to a default."""
    import difflib

    known = {f"TRACKER_{f.upper()}" for f in Settings.model_fields} | OTHER_VARIABLES
    names = {n for n in os.environ if n.startswith("TRACKER_")}
    file_names = _env_file_lines()
    lines = []
    for name in sorted(names | set(file_names)):
        if name in known:
            continue
        where = _where(name, file_names)
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name} ({where}) is not a setting and is ignored{hint}")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, checked: a wrong value is a :class:`SettingsError` naming the variable,
    and an unknown TRACKER_* variable is logged once (by the first process, not its workers)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SettingsError(explain_invalid(exc)) from None
    except ValueError as exc:  # pydantic-settings' own parse errors
        raise SettingsError(f"settings not usable: {exc}") from None
    _warn_unknown()
    return settings


def _warn_unknown() -> None:
    import logging
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return
    for line in unknown_variables():
        logging.getLogger("tracker.settings").warning(line)


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
