"""Webhook endpoints and the delivery log, as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from reclaim.notifications.deliveries import DeliveryStatus
from reclaim.orders.schemas import Strict

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="An http(s) URL whose host resolves to public addresses only",
    ),
]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(
        min_length=1,
        max_length=50,
        description="Topics to receive (e.g. 'return.approved'), or ['*'] for every event",
    ),
]
Description = Annotated[str | None, Field(max_length=200)]


class WebhookIn(Strict):
    url: Url
    event_types: EventTypes = ["*"]
    description: Description = None


class WebhookPatch(Strict):
    """Only the fields given change; ``active: true`` turns a disabled endpoint back on."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description = None
    active: bool | None = Field(default=None, strict=True)


class WebhookOut(BaseModel):
    id: int
    url: str
    description: str | None
    event_types: list[str]
    active: bool
    disabled_reason: str | None = Field(description="Why it was turned off, e.g. an HTTP 410")
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until when the previous secret also signs"
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only now, so keep it")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class SecretRotated(BaseModel):
    id: int
    secret: str = Field(description="The new secret; shown only now")
    previous_secret_valid_until: datetime | None = Field(
        description="Until when deliveries are also signed with the previous secret"
    )


class AttemptOut(BaseModel):
    number: int
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    outbox_id: int
    topic: str
    channel: str
    target: str = Field(description="An e-mail address, or a webhook endpoint's id")
    endpoint_id: int | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] = Field(description="Every try, oldest first")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: done")
