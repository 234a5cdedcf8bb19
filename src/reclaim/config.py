"""One settings object, read from the environment (prefix ``RECLAIM_``) when asked for."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECLAIM_", env_file=None, extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'reclaim.db'}",
        description="SQLAlchemy async URL; SQLite (aiosqlite) or PostgreSQL (asyncpg).",
    )
    policy_file: Path | None = Field(
        default=None,
        description="The merchant's returns policy (TOML); the built-in policy when unset.",
    )
    checklists_file: Path | None = Field(
        default=None,
        description="The inspection checklists and their grading rules (TOML); the built-in "
        "ones when unset.",
    )
    recovery_file: Path | None = Field(
        default=None,
        description="What each disposition channel recovers and costs (TOML); the built-in "
        "terms when unset.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs portal sessions and CSRF tokens. Set it when running more than one "
        "process or to keep sessions across restarts; unset, each process makes its own.",
    )
    files_dir: Path = Field(
        default=DEFAULT_DATA_DIR / "files", description="Where photos and labels are stored."
    )
    portal_session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Order lookups allowed per e-mail, per order number and per client address each window.
    lookup_limit: int = Field(default=10, ge=1)
    lookup_window_minutes: int = Field(default=15, ge=1)
    # A wrong lookup answers no sooner than this, so its timing tells nothing.
    lookup_min_ms: int = Field(default=250, ge=0, le=5000)
    max_photo_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    cookie_secure: bool = Field(
        default=False,
        description=(
            "Mark portal and console cookies HTTPS-only on every response. Unset, they are "
            "marked so on requests that came over HTTPS, as X-Forwarded-Proto says from a "
            "proxy the server trusts (on the same host, or listed in FORWARDED_ALLOW_IPS)."
        ),
    )
    # The staff console: a session ends after this long unused, and in any case after the
    # second, however busy; failed sign-ins are counted per e-mail and client address.
    console_idle_minutes: int = Field(default=8 * 60, ge=1, le=7 * 24 * 60)
    console_max_hours: int = Field(default=7 * 24, ge=1, le=90 * 24)
    console_login_limit: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins to one e-mail address from one client address each "
        "window; a client address may fail five times as many in all, as an office or "
        "warehouse shares one. A right password is refused only when its own client is over.",
    )
    console_login_window_minutes: int = Field(default=15, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_pool_size: int = Field(default=20, ge=1)
    batch_max_lines: int = Field(
        default=5_000,
        ge=1,
        le=100_000,
        description="The most lines the disposition batch plans at once; the solve takes "
        "seconds at the default and grows faster than the batch.",
    )
    idempotency_lock_seconds: int = Field(
        default=60,
        ge=1,
        description="After this, a key left in flight by a crashed request is free.",
    )

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where shoppers reach Reclaim: the base of links in e-mails.",
    )
    merchant_name: str = Field(default="Reclaim demo store", max_length=120)
    carrier: Literal["local"] = Field(
        default="local",
        description="Who issues tracking numbers and labels; 'local' makes them itself.",
    )
    payment_provider: Literal["builtin"] = Field(
        default="builtin",
        description="Who moves refund money; 'builtin' records each refund and asks the shop "
        "to execute it with a refund.requested webhook, then waits for its confirmation.",
    )
    tracking_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret ('whsec_…') that signs tracking events posted by carriers "
        "and drop-off points; unset, the tracking endpoint accepts nothing.",
    )
    # E-mail: over SMTP when smtp_host is set, else written as .eml files under mail_dir.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    smtp_ca_file: FilePath | None = Field(
        default=None,
        description="PEM bundle of CA certificates trusted for the mail server's TLS, on top "
        "of the system's: for a server whose certificate a private CA signed.",
    )
    mail_from: str = "Reclaim returns <returns@localhost>"
    mail_dir: Path = Field(default=DEFAULT_DATA_DIR / "mail")
    # Webhooks: private, loopback and link-local targets are refused unless allowed here.
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=120)
    webhook_secret_overlap_hours: int = Field(default=24, ge=0, le=24 * 30)
    # The worker.
    embedded_worker: bool = Field(
        default=False,
        description="Run the delivery worker inside the web process (one-process installs).",
    )
    worker_batch: int = Field(default=50, ge=1, le=1000)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_lease_seconds: int = Field(
        default=120, ge=1, description="A row claimed by a worker that died is free after this."
    )
    delivery_max_attempts: int = Field(default=12, ge=1, le=100)
    retry_base_seconds: float = Field(default=10, gt=0)
    retry_max_seconds: float = Field(default=6 * 3600, gt=0)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        return normalise_database_url(url)


def normalise_database_url(url: str) -> str:
    """Accept the plain URLs people copy around and pick the async driver for them."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
