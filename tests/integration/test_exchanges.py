"""Exchanges: made when the lines are settled (before they arrive, for shoppers who get instant
exchanges), their price difference refunded or charged, shipped once, called off with the return.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.service import upsert_product
from reclaim.db import transaction
from reclaim.errors import Conflict, ValidationFailed
from reclaim.notifications.models import OutboxMessage
from reclaim.orders.schemas import ProductIn
from reclaim.refunds import exchanges
from reclaim.returns import service as returns
from tests.factories import actor, order_payload
from tests.integration.helpers import rows, scalar, table_counts
from tests.integration.test_settlement_timing import (
    MONEY_TABLES,
    grade,
    policy_with,
    receive,
    seed_order,
    start_return,
)

Sessions = async_sessionmaker[AsyncSession]
INSTANT_FOR_GOLD = '[exchanges]\ninstant_tiers = ["gold"]\n'
# Line "1" of order 1001 is two medium tees at 25.00; the other sizes are priced as below.
TEES = {"TEE-M": 2500, "TEE-S": 2000, "TEE-L": 2500, "TEE-XL": 3000}


async def seed_tees(sessions: Sessions, *, tier: str = "standard") -> None:
    lines = order_payload()["lines"]
    lines[0]["product"]["product_group"] = "tee"
    await seed_order(sessions, tier=tier, lines=lines)
    async with transaction(sessions) as session:
        for sku, price in TEES.items():
            await upsert_product(
                session,
                sku,
                "USD",
                ProductIn(name=f"Tee ({sku[4:]})", category="apparel", product_group="tee"),
                unit_price_minor=price,
            )


def swap(sku: str, quantity: int = 2, reason: str = "too_small") -> dict[str, Any]:
    return {
        "line_id": "1",
        "quantity": quantity,
        "reason": reason,
        "resolution": "exchange",
        "exchange_sku": sku,
    }


async def exchange_rows(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT status, instant, value_minor, price_minor, difference_minor FROM exchanges"
        " ORDER BY id",
    )


async def outbox(sessions: Sessions, topic: str) -> list[tuple[Any, ...]]:
    return await rows(
        sessions, "SELECT aggregate FROM outbox WHERE topic = :t ORDER BY id", t=topic
    )


async def payload(sessions: Sessions, topic: str) -> dict[str, Any]:
    async with transaction(sessions) as session:
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.topic == topic))
        assert message is not None, topic
        return dict(message.payload)


async def given_back(sessions: Sessions) -> int:
    return int(await scalar(sessions, "SELECT given_back_minor FROM orders"))


async def test_a_gold_shopper_gets_an_instant_exchange_at_approval(sessions: Sessions) -> None:
    await seed_tees(sessions, tier="gold")
    number = await start_return(
        sessions, policy_with("after_inspection", INSTANT_FOR_GOLD), [swap("TEE-L")]
    )

    assert await exchange_rows(sessions) == [("created", True, 5000, 5000, 0)]
    created = await payload(sessions, "exchange.created")
    assert created["return"] == number
    assert (created["instant"], created["settle"], created["difference_minor"]) == (True, "none", 0)
    assert created["items"] == [
        {
            "line_id": "1",
            "sku": "TEE-L",
            "name": "Tee (L)",
            "quantity": 2,
            "unit_price_minor": 2500,
        }
    ]
    assert await given_back(sessions) == 5000
    assert await rows(sessions, "SELECT count(*) FROM refunds") == [(0,)]


async def test_a_standard_shopper_waits_for_the_inspection_before_the_exchange(
    sessions: Sessions,
) -> None:
    await seed_tees(sessions)
    number = await start_return(
        sessions, policy_with("after_inspection", INSTANT_FOR_GOLD), [swap("TEE-L")]
    )
    await receive(sessions, number, ("1", 2))
    assert await exchange_rows(sessions) == []

    await grade(sessions, number, **{"1": "good"})

    assert await exchange_rows(sessions) == [("created", False, 5000, 5000, 0)]


async def test_a_reviewed_return_gets_no_instant_exchange_even_for_gold(
    sessions: Sessions,
) -> None:
    await seed_tees(sessions, tier="gold")
    reviewed = INSTANT_FOR_GOLD + '[review]\nreasons = ["too_small"]\n'
    policy = policy_with("after_inspection", reviewed)
    number = await start_return(sessions, policy, [swap("TEE-L")])
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor("agent"))

    assert await exchange_rows(sessions) == []


async def test_an_instant_exchange_is_called_off_when_the_return_expires(
    sessions: Sessions,
) -> None:
    await seed_tees(sessions, tier="gold")
    number = await start_return(
        sessions, policy_with("after_inspection", INSTANT_FOR_GOLD), [swap("TEE-L")]
    )
    exchange = (await outbox(sessions, "exchange.created"))[0][0]

    async with transaction(sessions) as session:
        await returns.expire(session, number, actor("clock"))

    assert await exchange_rows(sessions) == [("cancelled", True, 5000, 5000, 0)]
    assert await given_back(sessions) == 0
    cancelled = await payload(sessions, "exchange.cancelled")
    assert (cancelled["exchange"], cancelled["return"]) == (exchange, number)
    assert "expired" in cancelled["reason"]
    with pytest.raises(Conflict, match="cancelled"):
        async with transaction(sessions) as session:
            await exchanges.mark_shipped(session, exchange, "ups", "1Z1", actor("shop"))


async def test_a_cheaper_variant_refunds_the_difference(sessions: Sessions) -> None:
    await seed_tees(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [swap("TEE-S")])
    await receive(sessions, number, ("1", 2))

    assert await exchange_rows(sessions) == [("created", False, 5000, 4000, 1000)]
    assert await rows(sessions, "SELECT kind, status, amount_minor FROM refunds") == [
        ("exchange_difference", "requested", 1000)
    ]
    assert (await payload(sessions, "exchange.created"))["settle"] == "refund"
    # The exchange holds what it costs, the refund the rest: 50.00 given back, counted once.
    assert await given_back(sessions) == 5000


async def test_a_dearer_variant_is_left_for_the_shop_to_charge(sessions: Sessions) -> None:
    await seed_tees(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [swap("TEE-XL")])
    await receive(sessions, number, ("1", 2))

    assert await exchange_rows(sessions) == [("created", False, 5000, 6000, -1000)]
    created = await payload(sessions, "exchange.created")
    assert (created["settle"], created["difference_minor"]) == ("charge", -1000)
    assert await rows(sessions, "SELECT count(*) FROM refunds") == [(0,)]
    assert await given_back(sessions) == 5000


async def test_an_exchange_ships_once_and_the_shopper_is_told(sessions: Sessions) -> None:
    await seed_tees(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [swap("TEE-L")])
    await receive(sessions, number, ("1", 2))
    exchange = (await outbox(sessions, "exchange.created"))[0][0]

    async with transaction(sessions) as session:
        shipped = await exchanges.mark_shipped(
            session, exchange.lower(), " ups ", "1Z999AA1", actor("shop")
        )
        assert (shipped.status, shipped.carrier) == ("shipped", "ups")

    assert await outbox(sessions, "exchange.shipped") == [(number,)]
    assert await payload(sessions, "exchange.shipped") == {
        "return": number,
        "exchange": exchange,
        "items": [{"sku": "TEE-L", "name": "Tee (L)", "quantity": 2}],
        "carrier": "ups",
        "tracking_number": "1Z999AA1",
    }
    before = await table_counts(sessions, *MONEY_TABLES)
    with pytest.raises(Conflict, match="already shipped"):
        async with transaction(sessions) as session:
            await exchanges.mark_shipped(session, exchange, "dhl", "JD0001", actor("shop"))
    for carrier, tracking in (("", "1Z1"), ("ups", " "), ("x" * 33, "1Z1"), ("ups", "9" * 65)):
        with pytest.raises(ValidationFailed):
            async with transaction(sessions) as session:
                await exchanges.mark_shipped(session, exchange, carrier, tracking, actor("shop"))
    assert await table_counts(sessions, *MONEY_TABLES) == before
    assert await rows(sessions, "SELECT carrier, tracking_number FROM exchanges") == [
        ("ups", "1Z999AA1")
    ]


async def test_an_instant_exchanges_difference_is_refunded_only_once_the_units_arrive(
    sessions: Sessions,
) -> None:
    await seed_tees(sessions, tier="gold")
    number = await start_return(
        sessions, policy_with("after_inspection", INSTANT_FOR_GOLD), [swap("TEE-S")]
    )
    assert await exchange_rows(sessions) == [("created", True, 5000, 4000, 1000)]
    # Sent ahead of the tees: nothing is paid back until they are here.
    assert await rows(sessions, "SELECT count(*) FROM refunds") == [(0,)]
    assert await given_back(sessions) == 4000

    await receive(sessions, number, ("1", 2))

    assert await rows(sessions, "SELECT kind, status, amount_minor FROM refunds") == [
        ("exchange_difference", "requested", 1000)
    ]
    assert await given_back(sessions) == 5000


async def test_a_cancelled_instant_exchange_refunds_nothing_and_frees_its_units(
    sessions: Sessions,
) -> None:
    await seed_tees(sessions, tier="gold")
    number = await start_return(
        sessions, policy_with("after_inspection", INSTANT_FOR_GOLD), [swap("TEE-S")]
    )

    async with transaction(sessions) as session:
        await returns.cancel(session, number, actor("shopper"), "Changed my mind")

    assert await exchange_rows(sessions) == [("cancelled", True, 5000, 4000, 1000)]
    assert await rows(sessions, "SELECT count(*) FROM refunds") == [(0,)]
    assert await given_back(sessions) == 0
    assert await rows(sessions, "SELECT settled_quantity, settled_minor FROM return_lines") == [
        (0, 0)
    ]
    assert (
        await scalar(sessions, "SELECT returned_quantity FROM order_lines WHERE line_ref = '1'")
        == 0
    )
