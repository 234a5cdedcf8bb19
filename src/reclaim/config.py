"""One settings object, read from the environment (prefix ``RECLAIM_``) when asked for."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
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
        description="Send portal cookies over HTTPS only: set it in production behind TLS.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_pool_size: int = Field(default=20, ge=1)
    idempotency_lock_seconds: int = Field(
        default=60,
        ge=1,
        description="After this, a key left in flight by a crashed request is free.",
    )

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
