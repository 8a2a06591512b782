"""Typed settings from TRACKER_* environment variables (and a .env file).

Built by :func:`get_settings`, never at import time, so tests and commands can change the
environment first.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracker.paths import config_dir

DEV_SECRET = "dev-insecure-secret-change-me"


class SettingsError(RuntimeError):
    """A setting that cannot be used as it is (the message names it and the fix)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRACKER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: str = Field("development", description="development, test or production")
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
    smtp_port: int = Field(25, description="SMTP port (587 for STARTTLS, 465 for SSL)")
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (environment only)")
    smtp_security: str = Field("none", description="none, starttls or ssl")
    smtp_rate_per_second: float = Field(50.0, description="messages per second at most")
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
    maintainer_emails: list[str] = Field(
        default_factory=list,
        description='JSON list of addresses that get scraper alerts, e.g. ["ops@example.org"]',
    )

    curator_emails: list[str] = Field(
        default_factory=list,
        description="JSON list of addresses that may sign in to /curate/ and review topic "
        'decisions, e.g. ["curator@example.org"]',
    )
    curator_session_hours: float = Field(
        12.0, description="hours a curator stays signed in before signing in again"
    )
    curator_link_minutes: int = Field(
        20, description="minutes a curator sign-in link stays valid (each link works once)"
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

    http_timeout: float = Field(30.0, description="seconds to wait for a response")
    http_max_retries: int = Field(
        4, description="retries after a connection error, 5xx or 429 (with backoff)"
    )
    http_max_bytes: int = Field(20_000_000, description="largest response body accepted")
    http_default_delay: float = Field(
        1.0, description="seconds between requests to one host unless a state config says otherwise"
    )

    import_max_member_bytes: int = Field(
        512 * 1024 * 1024,
        description="largest file or archive member an import reads (bytes, uncompressed)",
    )
    import_max_file_bytes: int = Field(
        8 * 1024 * 1024 * 1024,
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
    digest_hour: int = Field(7, description="hour the digest goes out")
    digest_timezone: str = Field(
        "America/New_York", description="time zone of digest_day/digest_hour"
    )
    digest_bounce_threshold: int = Field(
        3, description="permanent (5xx) failures in a row before an address is marked bouncing"
    )
    alert_after_failures: int = Field(
        3, description="consecutive failed or empty runs before maintainers get an email"
    )

    @field_validator("database_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

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
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise SettingsError(
                "TRACKER_SECRET_KEY is the development placeholder; set a real secret in production"
            )

    def check_base_url(self) -> None:
        """Refuse, in production, a public address that is not https: it is in every mail's
        one-click unsubscribe link (RFC 8058 wants https) and in the site's links."""
        if self.environment == "production" and urlsplit(self.base_url).scheme != "https":
            raise SettingsError(
                f"TRACKER_BASE_URL is {self.base_url!r}; in production it must be the site's "
                "https:// address (it is in every mail's unsubscribe link)"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
