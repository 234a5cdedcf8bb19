"""API keys: scoped, shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import NotFound, Unauthorized, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.users.models import ApiKey

TOKEN_PREFIX = "rk"


class Scope(StrEnum):
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    RETURNS_READ = "returns:read"
    RETURNS_WRITE = "returns:write"
    # Register and rotate webhook endpoints, read delivery logs, replay dead deliveries.
    WEBHOOKS_MANAGE = "webhooks:manage"
    # Receipts, flags, inspections, recommendations and stock; writing receives, grades, routes.
    WAREHOUSE_READ = "warehouse:read"
    WAREHOUSE_WRITE = "warehouse:write"
    # Refunds and exchanges; writing settles a return now, refunds by hand and confirms
    # what the shop's payment system did.
    REFUNDS_READ = "refunds:read"
    REFUNDS_WRITE = "refunds:write"
    # Store-credit balances; writing spends credit at the shop's checkout.
    CREDIT_READ = "credit:read"
    CREDIT_WRITE = "credit:write"
    # KPIs, findings, product return rates, forecasts and exports of returns and KPIs.
    ANALYTICS_READ = "analytics:read"
    # Scoring a cart or order for return risk at the shop's checkout.
    PREDICTIONS_READ = "predictions:read"


ALL_SCOPES = tuple(Scope)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: int
    name: str
    prefix: str
    token: str
    scopes: tuple[str, ...]


def _hash(secret: str) -> str:
    # The secret has 256 random bits, so a plain digest is enough: nothing to brute-force,
    # and checking stays cheap on every request (argon2 is for human passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    known = {scope.value for scope in Scope}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValidationFailed(
            f"Unknown scope {unknown[0]!r}; choose from {', '.join(sorted(known))}."
        )
    return tuple(dict.fromkeys(names))


async def create_api_key(
    session: AsyncSession, name: str, scopes: list[str] | tuple[str, ...]
) -> IssuedKey:
    if not name.strip():
        raise ValidationFailed("An API key needs a name that says who uses it.")
    chosen = parse_scopes(scopes or ALL_SCOPES)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), prefix=prefix, secret_hash=_hash(secret), scopes=list(chosen))
    session.add(key)
    await session.flush()
    return IssuedKey(key.id, key.name, prefix, f"{TOKEN_PREFIX}_{prefix}_{secret}", chosen)


async def authenticate(session: AsyncSession, token: str) -> ApiKey:
    """The key a bearer token belongs to; every failure looks the same to the caller."""
    parts = token.split("_", 2)
    # Only a well-formed prefix reaches the database: PostgreSQL rejects a NUL byte with an
    # error of its own, and a lone surrogate can't even be hashed.
    if (
        len(parts) != 3
        or parts[0] != TOKEN_PREFIX
        or not (parts[1].isascii() and parts[1].isalnum())
        or not parts[2].isascii()
    ):
        raise Unauthorized("Invalid API key.")
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    candidate = _hash(parts[2])
    if key is None or not hmac.compare_digest(key.secret_hash, candidate) or key.revoked_at:
        raise Unauthorized("Invalid API key.")
    return key


async def revoke_api_key(session: AsyncSession, prefix: str) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"No API key with prefix {prefix!r}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.id)))
