"""Racing refunds: however requests, confirmations and retries interleave, money goes back once
and never beyond what was paid or what each payment captured.

Each contender runs in its own session and transaction, so on PostgreSQL they really overlap
and on SQLite they queue behind ``BEGIN IMMEDIATE``; the outcome must be the same on both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import parse
from reclaim.refunds import service
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from tests.factories import MANUAL_POLICY_TEXT, actor, order_payload
from tests.integration.helpers import rows, scalar

Sessions = async_sessionmaker[AsyncSession]
CONTENDERS = 50
POLICY = parse(MANUAL_POLICY_TEXT + "\n[refunds]\nsecond_approval_above = 50\n", "race policy")
CARD, GIFT_CARD = 4699, 2000
PAID = CARD + GIFT_CARD


async def _order(sessions: Sessions) -> None:
    payments = [
        {"method": "card", "captured_minor": CARD, "last4": "4242"},
        {"method": "gift_card", "captured_minor": GIFT_CARD},
    ]
    async with transaction(sessions) as session:
        await upsert_order(
            session, OrderIn.model_validate(order_payload() | {"payments": payments})
        )


def _manual(amount: int) -> ManualRefundIn:
    return ManualRefundIn(amount_minor=amount, currency="USD", reason="Goodwill")


async def _race(
    sessions: Sessions, bodies: list[Callable[[AsyncSession], Awaitable[Any]]]
) -> list[Any]:
    """Run every body at once; each result is a value or the exception raised."""

    async def one(body: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with transaction(sessions) as session:
            return await body(session)

    return await asyncio.gather(*(one(body) for body in bodies), return_exceptions=True)


def _outcomes(results: list[Any]) -> Counter[str]:
    return Counter("ok" if not isinstance(r, BaseException) else type(r).__name__ for r in results)


async def _books(sessions: Sessions) -> tuple[int, int, int]:
    """Given back on the order, refunded over its payments, and the live refunds' total."""
    return (
        int(await scalar(sessions, "SELECT given_back_minor FROM orders")),
        int(await scalar(sessions, "SELECT sum(refunded_minor) FROM order_payments")),
        int(
            await scalar(
                sessions,
                "SELECT coalesce(sum(amount_minor), 0) FROM refunds "
                "WHERE status IN ('pending_approval', 'requested', 'succeeded')",
            )
        ),
    )


async def _captured_never_exceeded(sessions: Sessions) -> None:
    for captured, refunded in await rows(
        sessions, "SELECT captured_minor, refunded_minor FROM order_payments"
    ):
        assert 0 <= refunded <= captured


async def test_two_concurrent_partial_refunds_that_together_exceed_the_paid_amount_let_one_through(
    sessions: Sessions,
) -> None:
    await _order(sessions)

    results = await _race(
        sessions,
        [
            lambda s: service.manual_refund(s, "1001", _manual(4000), actor("staff:a"), POLICY),
            lambda s: service.manual_refund(s, "1001", _manual(4000), actor("staff:b"), POLICY),
        ],
    )

    assert _outcomes(results) == {"ok": 1, "AmountExceeded": 1}
    assert await _books(sessions) == (4000, 4000, 4000)
    assert await scalar(sessions, "SELECT count(*) FROM refunds") == 1
    assert await scalar(sessions, "SELECT count(*) FROM outbox") == 1
    await _captured_never_exceeded(sessions)


@pytest.mark.parametrize("amount", [1000, 2999, PAID])
async def test_many_concurrent_refunds_never_give_back_more_than_was_paid(
    sessions: Sessions, amount: int
) -> None:
    await _order(sessions)

    results = await _race(
        sessions,
        [
            lambda s, i=i: service.manual_refund(
                s, "1001", _manual(amount), actor(f"staff:{i}"), POLICY
            )
            for i in range(CONTENDERS)
        ],
    )

    fits = PAID // amount
    assert _outcomes(results) == {"ok": fits, "AmountExceeded": CONTENDERS - fits}
    assert await _books(sessions) == (fits * amount,) * 3
    assert await scalar(sessions, "SELECT count(*) FROM refund_parts") >= fits
    await _captured_never_exceeded(sessions)


async def test_racing_confirmations_settle_a_refund_one_way_only(sessions: Sessions) -> None:
    await _order(sessions)
    async with transaction(sessions) as session:
        refund = await service.manual_refund(
            session, "1001", _manual(5500), actor("staff:a"), POLICY
        )
    async with transaction(sessions) as session:
        await service.approve(session, refund.number, actor("staff:b"))
    said = {
        "refund.succeeded": ConfirmationIn(event="refund.succeeded", reference="re_1"),
        "refund.failed": ConfirmationIn(event="refund.failed", reason="Declined by bank"),
    }

    results = await _race(
        sessions,
        [
            lambda s, event=event: service.confirm(s, refund.number, said[event], actor("api:x"))
            for event in ("refund.succeeded", "refund.failed") * (CONTENDERS // 2)
        ],
    )

    # One outcome wins; its repeats are no news, the other outcome is a conflict.
    assert _outcomes(results) == {"ok": CONTENDERS // 2, "Conflict": CONTENDERS // 2}
    status = await scalar(sessions, "SELECT status FROM refunds")
    kept = 5500 if status == "succeeded" else 0
    assert await _books(sessions) == (kept, kept, kept)
    topics = await rows(sessions, "SELECT topic FROM outbox WHERE topic LIKE 'refund.%'")
    assert sorted(t for (t,) in topics) == ["refund.requested", f"refund.{status}"]
    await _captured_never_exceeded(sessions)


async def test_racing_retries_of_a_failed_refund_make_one_retry(sessions: Sessions) -> None:
    await _order(sessions)
    async with transaction(sessions) as session:
        refund = await service.manual_refund(
            session, "1001", _manual(3000), actor("staff:a"), POLICY
        )
    async with transaction(sessions) as session:
        await service.confirm(
            session, refund.number, ConfirmationIn(event="refund.failed"), actor("api:x")
        )

    results = await _race(
        sessions,
        [
            lambda s, i=i: service.retry(s, refund.number, actor(f"staff:{i}"))
            for i in range(CONTENDERS)
        ],
    )

    assert _outcomes(results) == {"ok": 1, "Conflict": CONTENDERS - 1}
    assert await scalar(sessions, "SELECT count(*) FROM refunds WHERE kind = 'retry'") == 1
    assert await _books(sessions) == (3000, 3000, 3000)


async def test_racing_second_approvals_ask_the_shop_once(sessions: Sessions) -> None:
    await _order(sessions)
    async with transaction(sessions) as session:
        held = await service.manual_refund(session, "1001", _manual(6000), actor("staff:a"), POLICY)

    results = await _race(
        sessions,
        [
            lambda s, i=i: service.approve(s, held.number, actor(f"staff:{i + 1}"))
            for i in range(CONTENDERS)
        ],
    )

    assert _outcomes(results) == {"ok": 1, "Conflict": CONTENDERS - 1}
    assert await scalar(sessions, "SELECT count(*) FROM outbox") == 1
    assert await _books(sessions) == (6000, 6000, 6000)
