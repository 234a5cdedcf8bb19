"""Races that real traffic produces: many shoppers, agents and retries at the same moment.

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
from reclaim.errors import InvalidTransition, QuantityExceeded
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReceiveIn, ReturnIn
from tests.factories import (
    MANUAL_POLICY,
    actor,
    order_payload,
    return_payload,
    seed_order,
    seed_return,
)
from tests.integration.helpers import returned_quantity, rows, scalar

Sessions = async_sessionmaker[AsyncSession]
CONTENDERS = 50


async def _race(
    sessions: Sessions, attempts: int, body: Callable[[AsyncSession], Awaitable[Any]]
) -> list[Any]:
    """Run ``body`` ``attempts`` times at once; each result is a value or the exception raised."""

    async def one() -> Any:
        async with transaction(sessions) as session:
            return await body(session)

    return await asyncio.gather(*(one() for _ in range(attempts)), return_exceptions=True)


def _outcomes(results: list[Any]) -> Counter[str]:
    return Counter("ok" if not isinstance(r, BaseException) else type(r).__name__ for r in results)


@pytest.mark.parametrize(("bought", "already_returned"), [(1, 0), (3, 1), (5, 0)])
async def test_racing_returns_never_take_more_units_than_were_bought(
    sessions: Sessions, bought: int, already_returned: int
) -> None:
    await seed_order(sessions, quantity=bought)
    if already_returned:
        await seed_return(sessions, quantity=already_returned)
    available = bought - already_returned
    request = ReturnIn.model_validate(return_payload(quantity=1))

    results = await _race(
        sessions,
        CONTENDERS,
        lambda s: returns.create_return(s, request, actor(), policy=MANUAL_POLICY),
    )

    # Anything but a clean refusal (a lock error, a constraint violation) is a bug.
    assert _outcomes(results) == {"ok": available, "QuantityExceeded": CONTENDERS - available}
    assert all(isinstance(r, QuantityExceeded) for r in results if isinstance(r, Exception))
    held = await returned_quantity(sessions)
    created = await scalar(
        sessions,
        "SELECT coalesce(sum(rl.quantity), 0) FROM return_lines rl"
        " JOIN order_lines ol ON ol.id = rl.order_line_id WHERE ol.line_ref = '1'",
    )
    assert held == created == bought
    assert await scalar(sessions, "SELECT count(*) FROM returns") == available + (
        1 if already_returned else 0
    )
    # Every accepted return is fully recorded, with nothing left behind by the losers.
    assert await scalar(sessions, "SELECT count(*) FROM return_events") == await scalar(
        sessions, "SELECT count(*) FROM returns"
    )


async def test_racing_returns_of_different_sizes_stay_within_the_line(sessions: Sessions) -> None:
    await seed_order(sessions, quantity=7)
    requests = [
        ReturnIn.model_validate(return_payload(quantity=1 + i % 3)) for i in range(CONTENDERS)
    ]

    async def one(request: ReturnIn) -> Any:
        async with transaction(sessions) as session:
            return (
                await returns.create_return(session, request, actor(), policy=MANUAL_POLICY)
            ).number

    results = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)

    assert {type(r).__name__ for r in results if isinstance(r, BaseException)} <= {
        "QuantityExceeded"
    }
    taken = sum(
        request.lines[0].quantity
        for request, result in zip(requests, results, strict=True)
        if not isinstance(result, BaseException)
    )
    assert 0 < taken <= 7
    assert await returned_quantity(sessions) == taken
    assert await scalar(sessions, "SELECT coalesce(sum(quantity), 0) FROM return_lines") == taken


async def test_racing_returns_on_different_orders_all_succeed(sessions: Sessions) -> None:
    # Contention on one order must not spill over as refusals or lock errors on others.
    orders = [f"20{i:02d}" for i in range(10)]
    for order_id in orders:
        await seed_order(sessions, order_id=order_id, email=f"c{order_id}@example.com")

    async def one(order_id: str) -> Any:
        async with transaction(sessions) as session:
            request = ReturnIn.model_validate(return_payload(order_id, quantity=1))
            return await returns.create_return(session, request, actor(), policy=MANUAL_POLICY)

    results = await asyncio.gather(*(one(o) for o in orders * 2), return_exceptions=True)

    assert _outcomes(results) == {"ok": 20}
    assert await rows(
        sessions, "SELECT DISTINCT returned_quantity FROM order_lines WHERE line_ref = '1'"
    ) == [(2,)]


async def test_concurrent_approvals_of_one_return_let_exactly_one_through(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions)

    results = await _race(sessions, CONTENDERS, lambda s: returns.approve(s, number, actor()))

    assert _outcomes(results) == {"ok": 1, "InvalidTransition": CONTENDERS - 1}
    assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, Exception))
    assert await rows(
        sessions, "SELECT action, count(*) FROM return_events GROUP BY action ORDER BY action"
    ) == [("approve", 1), ("create", 1)]
    assert (
        await scalar(sessions, "SELECT count(*) FROM outbox WHERE topic = 'return.approved'") == 1
    )


async def test_approve_racing_cancel_ends_in_one_consistent_state(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions, quantity=2)

    async def approve(s: AsyncSession) -> Any:
        return await returns.approve(s, number, actor())

    async def cancel(s: AsyncSession) -> Any:
        return await returns.cancel(s, number, actor(), "Changed my mind")

    async def one(body: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with transaction(sessions) as session:
            return await body(session)

    results = await asyncio.gather(
        *(one(approve if i % 2 else cancel) for i in range(20)), return_exceptions=True
    )

    assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, BaseException))
    status = await scalar(sessions, "SELECT status FROM returns WHERE number = :n", n=number)
    events = await rows(sessions, "SELECT action FROM return_events ORDER BY id")
    # Either it was cancelled straight away, or approved first and cancelled after; never
    # released twice, never both released and still approved.
    assert events in ([("create",), ("cancel",)], [("create",), ("approve",), ("cancel",)])
    assert status == "cancelled"
    assert await returned_quantity(sessions) == 0
    assert _outcomes(results)["ok"] == len(events) - 1


async def test_concurrent_receipts_never_count_more_units_than_expected(
    sessions: Sessions,
) -> None:
    await seed_order(sessions, lines=_one_line(quantity=4))
    number = await seed_return(sessions, quantity=4)
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor())

    one_unit = ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 1}]})

    results = await _race(sessions, 12, lambda s: returns.receive(s, number, one_unit, actor()))

    assert _outcomes(results) == {"ok": 4, "QuantityExceeded": 8}
    assert await scalar(sessions, "SELECT received_quantity FROM return_lines") == 4
    assert (
        await scalar(sessions, "SELECT count(*) FROM return_events WHERE action = 'receive'") == 4
    )


def _one_line(quantity: int) -> list[dict[str, Any]]:
    return order_payload(quantity=quantity)["lines"][:1]


async def test_returns_listing_lines_in_opposite_orders_never_deadlock(
    sessions: Sessions,
) -> None:
    # Without one lock order, two returns holding lines 1→2 and 2→1 deadlock on PostgreSQL.
    await seed_order(sessions, quantity=40)
    forwards = ["1", "2"]

    async def create(refs: list[str]) -> None:
        payload = {
            "order_id": "1001",
            "lines": [{"line_id": ref, "quantity": 1, "reason": "too_small"} for ref in refs],
        }
        async with transaction(sessions) as session:
            await returns.create_return(
                session, ReturnIn.model_validate(payload), actor(), policy=MANUAL_POLICY
            )

    outcomes = await asyncio.gather(
        *(create(forwards if i % 2 else forwards[::-1]) for i in range(20)),
        return_exceptions=True,
    )

    refused = [o for o in outcomes if isinstance(o, BaseException)]
    # Line 2 has one unit: one return gets it, the rest are refused for quantity, none for a
    # deadlock.
    assert all(isinstance(o, QuantityExceeded) for o in refused), refused
    assert len(refused) == 19
