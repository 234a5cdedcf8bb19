"""Approved returns nobody sends: a reminder near the deadline, then expiry that frees the units."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.logistics.handover import remind_and_expire
from reclaim.logistics.shipments import Journey
from reclaim.returns import service as returns
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import returned_quantity, rows, scalar

Sessions = async_sessionmaker[AsyncSession]
APPROVED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAYS, BEFORE = 14, 3
DEADLINE = APPROVED_AT + timedelta(days=DAYS)


async def _approved(sessions: Sessions, *, at: datetime = APPROVED_AT, **kwargs: Any) -> str:
    number = await seed_return(sessions, **kwargs)
    async with transaction(sessions) as session:
        await returns.approve(
            session, number, actor("staff", at), journey=Journey("local", handover_days=DAYS)
        )
    return number


async def _run(sessions: Sessions, now: datetime) -> tuple[list[str], list[str]]:
    report = await remind_and_expire(sessions, now, reminder_days_before=BEFORE)
    assert report.failed == {}
    return report.reminded, report.expired


async def _count(sessions: Sessions, sql: str, **params: Any) -> int:
    return int(await scalar(sessions, sql, **params))


async def _expiring_events(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT r.number, e.from_status, e.to_status, e.actor FROM return_events e"
        " JOIN returns r ON r.id = e.return_id WHERE e.action = 'expiring' ORDER BY e.id",
    )


async def test_the_shopper_is_reminded_once_when_the_deadline_is_near(sessions: Sessions) -> None:
    await seed_order(sessions, quantity=3)
    number = await _approved(sessions)
    later = await _approved(sessions, at=APPROVED_AT + timedelta(days=5))

    too_early = await _run(sessions, DEADLINE - timedelta(days=BEFORE, seconds=1))
    on_time = await _run(sessions, DEADLINE - timedelta(days=BEFORE))
    again = await _run(sessions, DEADLINE - timedelta(days=1))

    assert too_early == ([], [])
    assert on_time == ([number], [])
    assert again == ([], [])
    assert await _expiring_events(sessions) == [(number, "approved", "approved", "handover")]
    (payload,) = await rows(sessions, "SELECT payload FROM outbox WHERE topic = 'return.expiring'")
    assert DEADLINE.isoformat() in str(payload[0])
    assert await _count(sessions, "SELECT count(*) FROM returns WHERE reminded_at IS NOT NULL") == 1
    assert (
        await _count(
            sessions,
            "SELECT count(*) FROM returns WHERE number = :n AND reminded_at IS NULL",
            n=later,
        )
        == 1
    )


async def test_after_the_deadline_the_return_expires_frees_its_units_and_closes_its_shipment(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await _approved(sessions, quantity=2)
    assert await returned_quantity(sessions) == 2

    before = await _run(sessions, DEADLINE - timedelta(seconds=1))
    at_deadline = await _run(sessions, DEADLINE)

    assert before == ([number], [])
    assert at_deadline == ([], [number])
    assert await scalar(sessions, "SELECT status FROM returns") == "expired"
    assert await returned_quantity(sessions) == 0
    assert await scalar(sessions, "SELECT cancelled_at FROM shipments") is not None
    assert await _count(sessions, "SELECT count(*) FROM outbox WHERE topic = 'return.expired'") == 1
    assert await _run(sessions, DEADLINE + timedelta(days=1)) == ([], [])


async def test_a_return_found_only_after_its_deadline_expires_without_a_reminder(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await _approved(sessions)

    assert await _run(sessions, DEADLINE + timedelta(days=5)) == ([], [number])
    assert await _expiring_events(sessions) == []


async def test_a_return_already_on_its_way_is_never_reminded_or_expired(
    sessions: Sessions,
) -> None:
    await seed_order(sessions, quantity=3)
    number = await _approved(sessions)
    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, number, actor("carrier:local"))
    returnless = await seed_return(sessions)
    async with transaction(sessions) as session:
        await returns.approve(session, returnless, actor("staff", APPROVED_AT), returnless=True)

    for days in (DAYS - BEFORE, DAYS, DAYS * 3):
        assert await _run(sessions, APPROVED_AT + timedelta(days=days)) == ([], [])

    assert await scalar(sessions, "SELECT status FROM returns WHERE number = :n", n=number) == (
        "in_transit"
    )
    assert await returned_quantity(sessions) == 2


async def test_two_workers_at_once_remind_once_and_expire_once(sessions: Sessions) -> None:
    await seed_order(sessions, quantity=6)
    reminded = [await _approved(sessions) for _ in range(3)]
    expired = [await _approved(sessions, at=APPROVED_AT - timedelta(days=3)) for _ in range(3)]
    now = DEADLINE - timedelta(days=1)

    reports = await asyncio.gather(
        *(remind_and_expire(sessions, now, reminder_days_before=BEFORE) for _ in range(2))
    )

    assert all(report.failed == {} for report in reports)
    assert sorted(n for report in reports for n in report.reminded) == sorted(reminded)
    assert sorted(n for report in reports for n in report.expired) == sorted(expired)
    assert len(await _expiring_events(sessions)) == 3
    assert (
        await _count(sessions, "SELECT count(*) FROM outbox WHERE topic = 'return.expiring'") == 3
    )
    assert await _count(sessions, "SELECT count(*) FROM outbox WHERE topic = 'return.expired'") == 3
    assert await returned_quantity(sessions) == 3
