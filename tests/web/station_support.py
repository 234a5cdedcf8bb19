"""Returns at the warehouse for the station and warehouse page tests: an order with a tee and a
phone, its return approved and on its way, and each warehouse step taken straight through the
services (receive, grade, route) when a test only needs the state it leaves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import dispositions, inspection, receiving
from reclaim.warehouse.schemas import ParcelIn
from tests.factories import actor, order_payload
from tests.web.console_support import console_state

Sessions = async_sessionmaker[AsyncSession]
TEE, PHONE = "1", "2"
# Answers to each checklist that suggest "new": nothing wrong with the unit.
AS_NEW: dict[str, dict[str, str]] = {
    TEE: {
        "tags_attached": "yes",
        "signs_of_wear": "none",
        "stains_or_odour": "no",
        "original_packaging": "yes",
    },
    PHONE: {
        "powers_on": "yes",
        "accessories": "all",
        "screen": "perfect",
        "serial_matches": "yes",
        "original_packaging": "yes",
    },
}
# Every table a warehouse form writes to, besides those console_state already watches.
WAREHOUSE_TABLES = (
    "receipts",
    "inspections",
    "dispositions",
    "inventory_movements",
    "refurb_work_orders",
    "manifests",
    "manifest_items",
    "return_photos",
)
WAREHOUSE_ROWS = {
    "refurb_work_orders": "SELECT number, status, cost_minor, grade_out FROM refurb_work_orders "
    "ORDER BY id",
    "manifests": "SELECT number, status, partner_id FROM manifests ORDER BY id",
}


def order_lines(*, tees: int = 2, phones: int = 1, tee: str = TEE) -> list[dict[str, Any]]:
    """A tee (apparel, line 1 unless ``tee`` names it) and a phone (electronics, line 2)."""
    return [
        {
            "line_id": tee,
            "sku": "TEE-M",
            "quantity": tees,
            "unit_price_minor": 2500,
            "product": {"name": "Tee (M)", "category": "apparel", "weight_grams": 200},
        },
        {
            "line_id": PHONE,
            "sku": "PHONE-X",
            "quantity": phones,
            "unit_price_minor": 40000,
            "product": {
                "name": "Phone X",
                "category": "electronics",
                "weight_grams": 180,
                "cost_minor": 22000,
            },
        },
    ]


async def arriving(
    client: httpx.AsyncClient,
    order_id: str = "1001",
    *,
    lines: dict[str, int] | None = None,
    tees: int = 2,
    phones: int = 1,
    tee: str = TEE,
) -> tuple[str, str]:
    """An approved return of the order's lines (line id -> units) on its way: its RMA and
    tracking number. ``tee`` is the shop's id for the tee's line."""
    payload = order_payload(order_id, lines=order_lines(tees=tees, phones=phones, tee=tee))
    made = await client.post("/api/v1/orders", json=payload)
    assert made.status_code in (200, 201), made.text
    wanted = lines or {tee: tees}
    started = await client.post(
        "/api/v1/returns",
        json={
            "order_id": order_id,
            "method": "prepaid_label",
            "lines": [
                {
                    "line_id": ref,
                    "quantity": n,
                    "reason": "no_longer_needed",
                    "resolution": "refund",
                }
                for ref, n in wanted.items()
            ],
        },
    )
    assert started.status_code == 201, started.text
    number = started.json()["number"]
    approved = await client.post(f"/api/v1/returns/{number}/approve", json={})
    assert approved.status_code == 200, approved.text
    return number, approved.json()["shipment"]["tracking_number"]


async def received(sessions: Sessions, number: str, counts: dict[str, int]) -> None:
    parcel = ParcelIn.model_validate(
        {"counts": [{"line_id": ref, "quantity": n} for ref, n in counts.items()]}
    )
    async with transaction(sessions) as session:
        await receiving.receive_parcel(session, number, actor("test"), parcel)


async def graded(
    sessions: Sessions, number: str, ref: str, grade: Grade | None = None, *, like: str = ""
) -> None:
    """Inspected with answers that suggest "new" (those for line ``like``, else for ``ref``);
    ``grade`` overrides it, with a reason."""
    async with transaction(sessions) as session:
        await inspection.inspect_line(
            session,
            number,
            ref,
            actor("test"),
            answers=AS_NEW[like or ref],
            grade=grade,
            override_reason="test" if grade else None,
            note=None,
        )


async def routed(
    sessions: Sessions, number: str, ref: str, channel: Disposition | None = None
) -> None:
    async with transaction(sessions) as session:
        await dispositions.route_line(
            session,
            number,
            ref,
            actor("test"),
            channel=channel,
            override_reason="test" if channel else None,
        )


async def rows(sessions: Sessions, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


async def one(sessions: Sessions, sql: str, **params: Any) -> Any:
    found = await rows(sessions, sql, **params)
    assert len(found) == 1, found
    return found[0][0] if len(found[0]) == 1 else found[0]


async def warehouse_state(sessions: Sessions) -> dict[str, Any]:
    state = await console_state(sessions)
    for table in WAREHOUSE_TABLES:
        state[f"count({table})"] = await one(sessions, f"SELECT count(*) FROM {table}")
    for name, sql in WAREHOUSE_ROWS.items():
        state[name] = await rows(sessions, sql)
    return state


@asynccontextmanager
async def warehouse_unchanged(sessions: Sessions) -> AsyncIterator[None]:
    """The block's requests may be refused, but must leave every row as it was."""
    before = await warehouse_state(sessions)
    yield
    after = await warehouse_state(sessions)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused request wrote to the database: {changed}"


def focused(page: httpx.Response) -> list[str]:
    """The tags that ask for the focus (``autofocus``): a page gives it to one thing."""
    return [m.group(0) for m in re.finditer(r"<[a-z]+\b[^>]*\sautofocus\b[^>]*>", page.text)]
