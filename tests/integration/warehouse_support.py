"""Returns on their way to the warehouse, and the warehouse steps in one transaction each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReturnIn
from reclaim.warehouse import dispositions, inspection, receiving
from reclaim.warehouse.models import DispositionRecord, Inspection
from reclaim.warehouse.schemas import ParcelIn
from tests.factories import MANUAL_POLICY, actor, seed_order

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")

# Line "1": 2 tees (apparel, 200 g each); line "2": 1 mug (home, 400 g).
TEE_AS_NEW = {
    "tags_attached": "yes",
    "signs_of_wear": "none",
    "stains_or_odour": "no",
    "original_packaging": "yes",
}
MUG_AS_NEW = {
    "works_as_intended": "yes",
    "cosmetic": "none",
    "complete": "yes",
    "original_packaging": "yes",
}
# Tables the warehouse writes to, for checking that a refused step wrote nothing.
WAREHOUSE_TABLES = (
    "receipts",
    "receiving_flags",
    "inspections",
    "dispositions",
    "inventory_movements",
    "refurb_work_orders",
    "manifest_items",
    "return_events",
    "outbox",
)
LINES = "SELECT ol.line_ref, rl.received_quantity, rl.grade, rl.disposition FROM return_lines rl"
LINES += " JOIN order_lines ol ON ol.id = rl.order_line_id ORDER BY ol.line_ref"


async def within(sessions: Sessions, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with transaction(sessions) as session:
        return await work(session)


async def approved_return(
    sessions: Sessions, lines: tuple[tuple[str, int], ...] = (("1", 2), ("2", 1))
) -> str:
    """An approved return of order 1001 for the given (line, units)."""
    await seed_order(sessions)
    data = ReturnIn.model_validate(
        {
            "order_id": "1001",
            "lines": [
                {"line_id": ref, "quantity": quantity, "reason": "no_longer_needed"}
                for ref, quantity in lines
            ],
        }
    )

    async def create(session: AsyncSession) -> str:
        ret = await returns.create_return(session, data, actor(), policy=MANUAL_POLICY)
        await returns.approve(session, ret.number, actor())
        return ret.number

    return await within(sessions, create)


def parcel(**fields: Any) -> ParcelIn:
    return ParcelIn.model_validate(fields)


async def receive(sessions: Sessions, number: str, **fields: Any) -> receiving.ParcelResult:
    return await within(
        sessions, lambda s: receiving.receive_parcel(s, number, actor("dock"), parcel(**fields))
    )


async def receive_all(sessions: Sessions, number: str) -> None:
    await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}],
        weight_grams=1100,
    )


async def inspect(
    sessions: Sessions, number: str, line_id: str, answers: dict[str, Any], **given: Any
) -> Inspection:
    fields = {"grade": None, "override_reason": None, "note": None, **given}
    return await within(
        sessions,
        lambda s: inspection.inspect_line(
            s, number, line_id, actor("inspector"), answers=answers, **fields
        ),
    )


async def route(sessions: Sessions, number: str, line_id: str, **given: Any) -> DispositionRecord:
    return await within(
        sessions,
        lambda s: dispositions.route_line(s, number, line_id, actor("inspector"), **given),
    )
