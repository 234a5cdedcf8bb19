"""Returns brought to the point where the warehouse's back office takes over: received, graded,
and (when a test asks) routed; and the partners units are shipped to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from reclaim.cli.warehouse import warehouse_app
from reclaim.db import transaction
from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.returns import service as returns
from reclaim.returns.schemas import InspectIn, ReceiveIn, ReturnIn
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import dispositions
from reclaim.warehouse.models import DispositionRecord
from tests.factories import MANUAL_POLICY, actor, order_payload

Sessions = async_sessionmaker[AsyncSession]

# Catalogue entries as a shop sends them with an order; price and cost in cents.
PRODUCTS: dict[str, dict[str, Any]] = {
    "PHONE": {
        "name": "Phone X 128 GB",
        "category": "electronics",
        "price_minor": 40000,
        "cost_minor": 25000,
        "weight_grams": 400,
        "attributes": {"refurbishable": True},
    },
    "TABLET": {
        "name": "Tablet 10in",
        "category": "electronics",
        "price_minor": 30000,
        "cost_minor": 18000,
        "weight_grams": 650,
        "attributes": {"refurbishable": True},
    },
    "TEE-M": {
        "name": "Tee (M)",
        "category": "apparel",
        "price_minor": 2500,
        "cost_minor": 800,
        "weight_grams": 200,
    },
    "MUG": {
        "name": "Mug",
        "category": "home",
        "price_minor": 1200,
        "cost_minor": 300,
        "weight_grams": 400,
    },
}


def order_line(
    line_id: str, sku: str, quantity: int, catalogue: Mapping[str, dict[str, Any]] = PRODUCTS
) -> dict[str, Any]:
    product = catalogue[sku]
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price_minor": product["price_minor"],
        "product": product,
    }


async def graded_return(
    sessions: Sessions,
    order_id: str,
    lines: Sequence[tuple[str, int, Grade | None]],
    *,
    catalogue: Mapping[str, dict[str, Any]] = PRODUCTS,
    currency: str = "USD",
) -> str:
    """A return of ``lines`` (sku, units, grade) of a new order, every unit received and each
    line given its grade (None: left ungraded); lines are named "1", "2", … in order."""
    refs = [str(index) for index in range(1, len(lines) + 1)]
    payload = order_payload(
        order_id,
        lines=[
            order_line(ref, sku, quantity, catalogue)
            for ref, (sku, quantity, _) in zip(refs, lines, strict=True)
        ],
        currency=currency,
    )
    request = ReturnIn.model_validate(
        {
            "order_id": order_id,
            "lines": [
                {"line_id": ref, "quantity": quantity, "reason": "defective"}
                for ref, (_, quantity, _) in zip(refs, lines, strict=True)
            ],
        }
    )
    counts = [
        {"line_id": ref, "quantity": quantity}
        for ref, (_, quantity, _) in zip(refs, lines, strict=True)
    ]
    grades = [
        {"line_id": ref, "grade": grade}
        for ref, (_, _, grade) in zip(refs, lines, strict=True)
        if grade
    ]
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(payload))
        ret = await returns.create_return(session, request, actor(), policy=MANUAL_POLICY)
        number = ret.number
        await returns.approve(session, number, actor())
        await returns.receive(session, number, ReceiveIn.model_validate({"lines": counts}), actor())
        if grades:
            await returns.inspect(
                session, number, InspectIn.model_validate({"lines": grades}), actor()
            )
    return number


async def route(
    sessions: Sessions, number: str, line_id: str, channel: Disposition
) -> DispositionRecord:
    async with transaction(sessions) as session:
        return await dispositions.route_line(
            session,
            number,
            line_id,
            actor("inspector"),
            channel=channel,
            override_reason="the test sends it this way",
        )


async def facility(sessions: Sessions, code: str, kind: str, *, active: bool = True) -> None:
    data = FacilityIn.model_validate(
        {"code": code, "name": f"{kind} {code}", "kind": kind, "active": active}
    )
    async with transaction(sessions) as session:
        await upsert_facility(session, data)


def json_value(value: Any) -> Any:
    """A JSON column read through plain SQL: SQLite hands it back as text."""
    return json.loads(value) if isinstance(value, str) else value


async def run_warehouse_cli(*args: str) -> Result:
    """``reclaim warehouse …``, in a worker thread: it runs its own event loop."""

    def invoke() -> Result:
        return CliRunner().invoke(warehouse_app, list(args), catch_exceptions=False)

    return await asyncio.to_thread(invoke)
