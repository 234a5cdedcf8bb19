"""Small, valid objects for tests, with only what a test wants to say spelled out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import parse
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.returns.schemas import ReturnIn
from reclaim.users.apikeys import IssuedKey, create_api_key

# Approves nothing by itself and sends nothing to review: returns stay requested, so a test
# moves them through the lifecycle itself. Tests of the policy engine bring their own.
MANUAL_POLICY_TEXT = """
name = "Manual test policy"
auto_approve = false
[review]
reasons = []
"""
MANUAL_POLICY = parse(MANUAL_POLICY_TEXT, "manual test policy")


def order_payload(
    order_id: str = "1001",
    *,
    quantity: int = 2,
    unit_price_minor: int = 2500,
    currency: str = "USD",
    delivered_days_ago: float | None = 3,
    lines: list[dict[str, Any]] | None = None,
    email: str = "ann@example.com",
) -> dict[str, Any]:
    now = utcnow()
    placed = now - timedelta(days=(delivered_days_ago or 0) + 4)
    return {
        "order_id": order_id,
        "customer": {"id": f"cust-{email}", "email": email, "name": "Ann Example"},
        "currency": currency,
        "placed_at": placed.isoformat(),
        "delivered_at": (now - timedelta(days=delivered_days_ago)).isoformat()
        if delivered_days_ago is not None
        else None,
        "shipping_minor": 499,
        "lines": lines
        or [
            {
                "line_id": "1",
                "sku": "TEE-M",
                "quantity": quantity,
                "unit_price_minor": unit_price_minor,
                "product": {"name": "Tee (M)", "category": "apparel", "weight_grams": 200},
            },
            {
                "line_id": "2",
                "sku": "MUG",
                "quantity": 1,
                "unit_price_minor": 1200,
                "product": {"name": "Mug", "category": "home", "weight_grams": 400},
            },
        ],
    }


def return_payload(
    order_id: str = "1001",
    *,
    line_id: str = "1",
    quantity: int = 1,
    reason: str = "too_small",
    resolution: str = "refund",
    method: str = "prepaid_label",
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "method": method,
        "lines": [
            {"line_id": line_id, "quantity": quantity, "reason": reason, "resolution": resolution}
        ],
    }


async def seed_order(sessions: async_sessionmaker[AsyncSession], **kwargs: Any) -> OrderIn:
    data = OrderIn.model_validate(order_payload(**kwargs))
    async with transaction(sessions) as session:
        await upsert_order(session, data)
    return data


def actor(name: str = "test", now: datetime | None = None) -> returns.Actor:
    return returns.Actor(name, now or utcnow())


async def seed_return(
    sessions: async_sessionmaker[AsyncSession], order_id: str = "1001", **kwargs: Any
) -> str:
    async with transaction(sessions) as session:
        ret: Return = await returns.create_return(
            session,
            ReturnIn.model_validate(return_payload(order_id, **kwargs)),
            actor(),
            policy=MANUAL_POLICY,
        )
        return ret.number


async def seed_api_key(
    sessions: async_sessionmaker[AsyncSession], scopes: list[str] | None = None
) -> IssuedKey:
    async with transaction(sessions) as session:
        return await create_api_key(session, "test integration", scopes or [])
