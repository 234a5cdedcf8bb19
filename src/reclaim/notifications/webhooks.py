"""Webhook endpoints: where the shop's systems want to hear about events, and their secrets.

The secret is shown once, when an endpoint is registered or its secret rotated; it is stored
because every delivery is signed with it. After a rotation the previous secret keeps signing
(next to the new one) for ``webhook_secret_overlap_hours``, so the receiver can switch over
without refusing a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import NotFound, ValidationFailed
from reclaim.kit.clock import as_utc
from reclaim.notifications import signing
from reclaim.notifications.models import WebhookEndpoint
from reclaim.notifications.ssrf import Resolver, check_url, system_resolver
from reclaim.returns.service import TOPIC

EVERY_EVENT = "*"
# Every topic an endpoint can subscribe to: the returns lifecycle, what tracking and the
# scheduler report about a return, and the money and exchange steps.
TOPICS: frozenset[str] = frozenset(TOPIC.values()) | {
    "return.arrived",
    "return.attention",
    "return.attention_resolved",
    "return.expiring",
    "return.settled",
    "refund.requested",
    "refund.succeeded",
    "refund.failed",
    "refund.issued",
    "credit.issued",
    "exchange.created",
    "exchange.shipped",
    "exchange.cancelled",
}


@dataclass(frozen=True, slots=True)
class Issued:
    """An endpoint with the secret it signs with, which is shown only this once."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True, slots=True)
class Rotated:
    endpoint: WebhookEndpoint
    secret: str
    # Until when the previous secret still signs; None when no overlap is configured.
    previous_valid_until: datetime | None


def event_types(names: Iterable[str]) -> list[str]:
    """The subscription as stored: known topics in order, without repeats, or just ``"*"``."""
    chosen = list(dict.fromkeys(names))
    if not chosen:
        raise ValidationFailed("Name at least one event type, or '*' for every event.")
    unknown = [name for name in chosen if name != EVERY_EVENT and name not in TOPICS]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type {unknown[0]!r}; choose from {', '.join(sorted(TOPICS))}, "
            f"or '{EVERY_EVENT}' for every event.",
            event_type=unknown[0],
        )
    return [EVERY_EVENT] if EVERY_EVENT in chosen else chosen


def subscribed(endpoint: WebhookEndpoint, topic: str) -> bool:
    return EVERY_EVENT in endpoint.event_types or topic in endpoint.event_types


def signing_secrets(endpoint: WebhookEndpoint, at: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    secrets = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and at < as_utc(until):
        secrets.append(endpoint.previous_secret)
    return secrets


async def register(
    session: AsyncSession,
    *,
    url: str,
    topics: Iterable[str],
    description: str | None,
    allow_private: bool,
    now: datetime,
    resolver: Resolver = system_resolver,
) -> Issued:
    subscription = event_types(topics)
    # Before the first write, so no database lock is held while DNS answers.
    await check_url(url, allow_private=allow_private, resolver=resolver)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=subscription,
        secret=secret,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return Issued(endpoint, secret)


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    """Newest first; a shop has a handful, so they come in one list."""
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())))


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.", endpoint_id=endpoint_id)
    return endpoint


async def _locked(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint, locked: two rotations at once must not both keep the same old secret."""
    endpoint = await session.scalar(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.", endpoint_id=endpoint_id)
    return endpoint


@dataclass(frozen=True, slots=True)
class Changes:
    """What a PATCH sets; ``description`` is applied only when ``set_description``."""

    url: str | None = None
    topics: list[str] | None = None
    description: str | None = None
    set_description: bool = False
    active: bool | None = None


async def update(
    session: AsyncSession,
    endpoint_id: int,
    changes: Changes,
    *,
    allow_private: bool,
    now: datetime,
    resolver: Resolver = system_resolver,
) -> WebhookEndpoint:
    topics = event_types(changes.topics) if changes.topics is not None else None
    if changes.url is not None:
        # Before the row is locked: a slow DNS answer must not hold up other writers.
        await check_url(changes.url, allow_private=allow_private, resolver=resolver)
    endpoint = await _locked(session, endpoint_id)
    if changes.url is not None:
        endpoint.url = changes.url
    if topics is not None:
        endpoint.event_types = topics
    if changes.set_description:
        endpoint.description = changes.description
    if changes.active is True:
        endpoint.active = True
        endpoint.disabled_reason = None
    elif changes.active is False and endpoint.active:
        endpoint.active = False
        endpoint.disabled_reason = "Turned off on request."
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete(session: AsyncSession, endpoint_id: int) -> None:
    """Gone with its delivery log; deliveries still waiting for it go too."""
    await session.delete(await _locked(session, endpoint_id))
    await session.flush()


async def rotate_secret(
    session: AsyncSession, endpoint_id: int, *, overlap_hours: int, now: datetime
) -> Rotated:
    """A new secret; the one it replaces keeps signing for ``overlap_hours``.

    Rotating again within the overlap retires the oldest secret at once: only the two most
    recent ever sign.
    """
    endpoint = await _locked(session, endpoint_id)
    secret = signing.new_secret()
    until = now + timedelta(hours=overlap_hours) if overlap_hours > 0 else None
    endpoint.previous_secret = endpoint.secret if until is not None else None
    endpoint.previous_secret_until = until
    endpoint.secret = secret
    endpoint.updated_at = now
    await session.flush()
    return Rotated(endpoint, secret, until)
