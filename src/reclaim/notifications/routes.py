"""Webhook endpoints (register, change, rotate, delete) and the delivery log with its replays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import AppSettings, ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import Problem, documented
from reclaim.db import transaction
from reclaim.errors import Forbidden
from reclaim.kit.clock import utcnow
from reclaim.notifications import deliveries, webhooks
from reclaim.notifications.deliveries import DeliveryFilter, DeliveryStatus, LoggedDelivery
from reclaim.notifications.models import WebhookEndpoint
from reclaim.notifications.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    SecretRotated,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)
from reclaim.notifications.webhook_channel import CHANNEL as WEBHOOK
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(tags=["webhooks"], responses=documented(401, 403, 422))
Manager = Annotated[ApiKey, Depends(require(Scope.WEBHOOKS_MANAGE))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=32)]
MISSING: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such webhook endpoint or delivery"}
}


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        active=endpoint.active,
        disabled_reason=endpoint.disabled_reason,
        previous_secret_valid_until=endpoint.previous_secret_until,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_out(logged: LoggedDelivery) -> DeliveryOut:
    delivery = logged.delivery
    return DeliveryOut(
        id=delivery.id,
        outbox_id=delivery.outbox_id,
        topic=logged.topic,
        channel=delivery.channel,
        target=delivery.target,
        endpoint_id=delivery.endpoint_id,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        attempt_log=[
            AttemptOut(
                number=attempt.number,
                at=attempt.at,
                ok=attempt.ok,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
            for attempt in logged.attempts
        ],
    )


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register an endpoint; the answer holds its secret, shown only this once",
    responses=documented(400, 409),
)
async def create_webhook(
    data: WebhookIn, request: Request, sessions: Sessions, settings: AppSettings, key: Manager
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, WebhookCreated]:
        issued = await webhooks.register(
            session,
            url=data.url,
            topics=data.event_types,
            description=data.description,
            allow_private=settings.webhook_allow_private,
            now=utcnow(),
        )
        shown = webhook_out(issued.endpoint).model_dump()
        return 201, WebhookCreated(**shown, secret=issued.secret)

    return await run_idempotent(request, sessions, key, work)


@router.get("/webhooks", response_model=WebhookList, summary="Endpoints, newest first")
async def list_webhooks(session: ReadSession, _key: Manager) -> WebhookList:
    return WebhookList(items=[webhook_out(e) for e in await webhooks.list_endpoints(session)])


@router.get(
    "/webhooks/{endpoint_id}", response_model=WebhookOut, summary="An endpoint", responses=MISSING
)
async def get_webhook(endpoint_id: Id, session: ReadSession, _key: Manager) -> WebhookOut:
    return webhook_out(await webhooks.get_endpoint(session, endpoint_id))


@router.patch(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    summary="Change the URL, event types or description, or turn it off or back on",
    responses={**MISSING, **documented(400)},
)
async def update_webhook(
    endpoint_id: Id, data: WebhookPatch, sessions: Sessions, settings: AppSettings, _key: Manager
) -> WebhookOut:
    changes = webhooks.Changes(
        url=data.url,
        topics=data.event_types,
        description=data.description,
        set_description="description" in data.model_fields_set,
        active=data.active,
    )
    async with transaction(sessions) as session:
        endpoint = await webhooks.update(
            session,
            endpoint_id,
            changes,
            allow_private=settings.webhook_allow_private,
            now=utcnow(),
        )
        return webhook_out(endpoint)


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=204,
    summary="Remove an endpoint with its delivery log",
    responses=MISSING,
)
async def delete_webhook(endpoint_id: Id, sessions: Sessions, _key: Manager) -> Response:
    async with transaction(sessions) as session:
        await webhooks.delete(session, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="A new secret; the old one also signs until previous_secret_valid_until",
    responses={**MISSING, **documented(409)},
)
async def rotate_secret(
    endpoint_id: Id, request: Request, sessions: Sessions, settings: AppSettings, key: Manager
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, SecretRotated]:
        rotated = await webhooks.rotate_secret(
            session,
            endpoint_id,
            overlap_hours=settings.webhook_secret_overlap_hours,
            now=utcnow(),
        )
        return 200, SecretRotated(
            id=rotated.endpoint.id,
            secret=rotated.secret,
            previous_secret_valid_until=rotated.previous_valid_until,
        )

    return await run_idempotent(request, sessions, key, work)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="The endpoint's delivery log with every attempt, newest first",
    responses=MISSING,
)
async def webhook_deliveries(
    endpoint_id: Id,
    session: ReadSession,
    _key: Manager,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    await webhooks.get_endpoint(session, endpoint_id)
    return await _page(session, DeliveryFilter(status, endpoint_id=endpoint_id), limit, cursor)


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    tags=["deliveries"],
    summary="Deliveries over every channel, newest first; status=dead lists the dead letters",
    description="E-mail deliveries name the shopper, so they are listed only to a key that "
    "also has returns:read; without it the list holds webhook deliveries only.",
)
async def list_deliveries(
    session: ReadSession,
    key: Manager,
    status: DeliveryStatus | None = None,
    channel: Annotated[str | None, Query(max_length=16, description="webhook or email")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    # Webhook deliveries go to the shop's own systems; e-mail ones name shoppers in their
    # target, so seeing them (and, in replay, sending them again) needs the returns scopes.
    if Scope.RETURNS_READ not in key.scopes:
        if channel not in (None, WEBHOOK):
            raise Forbidden(
                f"Deliveries over {channel!r} go to shoppers and show who they are; listing "
                f"them needs the {Scope.RETURNS_READ.value!r} scope as well.",
                scope=Scope.RETURNS_READ.value,
            )
        channel = WEBHOOK
    return await _page(session, DeliveryFilter(status, channel=channel), limit, cursor)


async def _page(
    session: AsyncSession, filters: DeliveryFilter, limit: int, cursor: str | None
) -> DeliveryPage:
    page, next_cursor = await deliveries.list_deliveries(
        session, filters, limit=limit, after=deliveries.parse_cursor(cursor)
    )
    return DeliveryPage(items=[delivery_out(logged) for logged in page], next_cursor=next_cursor)


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    tags=["deliveries"],
    summary="Send a dead delivery again, due now, with the same content and webhook-id",
    description="Replaying an e-mail delivery needs returns:write as well.",
    responses={**MISSING, **documented(409)},
)
async def replay_delivery(
    delivery_id: Id, request: Request, sessions: Sessions, key: Manager
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, DeliveryOut]:
        if Scope.RETURNS_WRITE not in key.scopes:
            channel = (await deliveries.get_delivery(session, delivery_id)).delivery.channel
            if channel != WEBHOOK:
                raise Forbidden(
                    f"Delivery {delivery_id} goes to a shopper by {channel}; replaying it "
                    f"needs the {Scope.RETURNS_WRITE.value!r} scope as well.",
                    scope=Scope.RETURNS_WRITE.value,
                )
        return 200, delivery_out(await deliveries.replay(session, delivery_id, utcnow()))

    return await run_idempotent(request, sessions, key, work)
