"""Parcels that come late or bring nothing back, on a real database.

A later parcel reopens inspection for the lines it brings; graded lines may be routed while
another line waits for its grade; more units for a line already graded are refused. A box that
brings nothing usable (empty, or only the wrong items) leaves the return approved or in transit,
and staff reject it: its units become returnable again and its label is voided.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import InvalidTransition, ValidationFailed
from reclaim.notifications.models import OutboxMessage
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.warehouse import receiving
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import returned_quantity, rows, scalar, table_counts
from tests.integration.warehouse_support import (
    LINES,
    MUG_AS_NEW,
    TEE_AS_NEW,
    WAREHOUSE_TABLES,
    Sessions,
    approved_return,
    inspect,
    receive,
    route,
    within,
)

TEES = [{"line_id": "1", "quantity": 2}]
MUG = [{"line_id": "2", "quantity": 1}]
EMPTY = "The parcel arrived empty."


async def _status(sessions: Sessions) -> str:
    return str(await scalar(sessions, "SELECT status FROM returns"))


async def _complete(sessions: Sessions, number: str) -> Return:
    return await within(sessions, lambda s: returns.complete(s, number, actor("inspector")))


async def _reject(sessions: Sessions, number: str, why: str | None = EMPTY) -> Return:
    return await within(sessions, lambda s: returns.reject(s, number, actor("agent"), why))


async def _resolve(sessions: Sessions, flag_id: int) -> None:
    await within(
        sessions, lambda s: receiving.resolve_flag(s, flag_id, actor("agent"), "Carrier claim")
    )


async def _rejection_reasons_told(sessions: Sessions) -> list[str]:
    """The reasons in the outbox rows the shopper's rejection e-mail is written from."""

    async def read(session: AsyncSession) -> list[str]:
        found = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "return.rejected")
        )
        return [message.payload["reason"] for message in found]

    return await within(sessions, read)


async def _in_transit(sessions: Sessions, number: str) -> None:
    await within(sessions, lambda s: returns.mark_in_transit(s, number, actor("carrier")))


# --- a later parcel -----------------------------------------------------------------------------


async def test_a_later_parcel_of_another_line_reopens_inspection_until_it_is_graded(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=TEES, weight_grams=420, last_parcel=False)
    await inspect(sessions, number, "1", TEE_AS_NEW)
    assert await _status(sessions) == "inspected"

    later = await receive(sessions, number, counts=MUG, weight_grams=410)

    assert later.flags == [] and later.ret.status == "received"
    assert await rows(sessions, LINES) == [("1", 2, "new", None), ("2", 1, None, None)]
    await inspect(sessions, number, "2", MUG_AS_NEW)
    assert await _status(sessions) == "inspected"
    await route(sessions, number, "1")
    await route(sessions, number, "2")
    assert (await _complete(sessions, number)).status == "completed"
    moves = await rows(
        sessions,
        "SELECT action, from_status, to_status FROM return_events"
        " WHERE action IN ('receive', 'inspect', 'complete') ORDER BY id",
    )
    assert moves == [
        ("receive", "approved", "received"),
        ("inspect", "received", "inspected"),
        ("receive", "inspected", "received"),
        ("inspect", "received", "inspected"),
        ("complete", "inspected", "completed"),
    ]
    # Everything came back, so completion hands nothing back to the order.
    assert await returned_quantity(sessions, line_ref="1") == 2
    assert await returned_quantity(sessions, line_ref="2") == 1


async def test_an_inspected_return_is_not_completed_while_a_later_parcel_waits_for_grades(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=TEES, weight_grams=420, last_parcel=False)
    await inspect(sessions, number, "1", TEE_AS_NEW)
    await route(sessions, number, "1")
    await receive(sessions, number, counts=MUG, weight_grams=410)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(InvalidTransition, match="received can't be completed"):
        await _complete(sessions, number)

    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await _status(sessions) == "received"


async def test_more_units_of_a_line_already_graded_are_refused_and_change_nothing(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=[{"line_id": "1", "quantity": 1}], last_parcel=False)
    await inspect(sessions, number, "1", TEE_AS_NEW)
    assert await _status(sessions) == "inspected"
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(InvalidTransition) as refused:
        await receive(sessions, number, counts=[{"line_id": "1", "quantity": 1}])

    assert refused.value.message == (
        "Line '1' was already graded; receive the extra units on a new return."
    )
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await rows(sessions, LINES) == [("1", 1, "new", None), ("2", 0, None, None)]
    assert await _status(sessions) == "inspected"


async def test_a_graded_line_is_routed_while_another_line_waits_for_its_grade(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=TEES + MUG, weight_grams=820)
    await inspect(sessions, number, "1", TEE_AS_NEW)

    routed = await route(sessions, number, "1")

    assert routed.channel == "restock"
    assert await _status(sessions) == "received"
    assert await rows(sessions, LINES) == [("1", 2, "new", "restock"), ("2", 1, None, None)]
    assert await rows(
        sessions,
        "SELECT from_status, to_status FROM return_events WHERE action = 'disposition'",
    ) == [("received", "received")]
    with pytest.raises(InvalidTransition, match="needs a grade"):
        await route(sessions, number, "2")
    with pytest.raises(InvalidTransition):
        await _complete(sessions, number)

    await inspect(sessions, number, "2", MUG_AS_NEW)
    await route(sessions, number, "2")
    assert (await _complete(sessions, number)).status == "completed"


# --- a box that brings nothing back -------------------------------------------------------------


async def test_a_return_in_transit_whose_box_arrived_empty_is_rejected_and_its_units_released(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    await _in_transit(sessions, number)
    empty = await receive(sessions, number, weight_grams=90)
    assert empty.ret.status == "in_transit"
    await _resolve(sessions, empty.flags[0].id)

    rejected = await _reject(sessions, number)

    assert (rejected.status, rejected.status_reason) == ("rejected", EMPTY)
    assert await returned_quantity(sessions, line_ref="1") == 0
    assert await returned_quantity(sessions, line_ref="2") == 0
    assert await scalar(sessions, "SELECT cancelled_at FROM shipments") is not None
    # The shopper is told why: the rejection's outbox row carries the reason.
    assert await _rejection_reasons_told(sessions) == [EMPTY]
    # Released means returnable again, not just a counter that moved.
    await seed_return(sessions, quantity=2)
    assert await returned_quantity(sessions, line_ref="1") == 2


async def test_an_approved_return_whose_box_held_only_the_wrong_items_is_rejected(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions, (("1", 2),))
    wrong = await receive(
        sessions,
        number,
        wrong=[{"line_id": "1", "found": "Two odd socks", "quantity": 2}],
        weight_grams=120,
    )
    assert wrong.ret.status == "approved"
    await _resolve(sessions, wrong.flags[0].id)

    rejected = await _reject(sessions, number, "Only two odd socks came back.")

    assert rejected.status == "rejected"
    assert await returned_quantity(sessions, line_ref="1") == 0
    assert await scalar(sessions, "SELECT cancelled_at FROM shipments") is not None


async def test_a_rejection_after_approval_still_needs_a_reason(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await _in_transit(sessions, number)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(ValidationFailed, match="Say why"):
        await _reject(sessions, number, "")

    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await _status(sessions) == "in_transit"


@pytest.mark.parametrize("graded", [False, True], ids=["received", "inspected"])
async def test_a_return_with_units_received_cannot_be_rejected(
    sessions: Sessions, graded: bool
) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=TEES, weight_grams=420, last_parcel=False)
    if graded:
        await inspect(sessions, number, "1", TEE_AS_NEW)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(InvalidTransition, match="can't be rejected"):
        await _reject(sessions, number)

    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await _status(sessions) == ("inspected" if graded else "received")
    assert await returned_quantity(sessions, line_ref="1") == 2
    assert await scalar(sessions, "SELECT cancelled_at FROM shipments") is None


async def test_a_returnless_return_has_no_parcel_to_reject(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions, quantity=2)
    await within(sessions, lambda s: returns.approve(s, number, actor(), returnless=True))

    with pytest.raises(InvalidTransition, match="nothing to send back"):
        await _reject(sessions, number)

    assert await _status(sessions) == "approved"
    assert await returned_quantity(sessions, line_ref="1") == 2
