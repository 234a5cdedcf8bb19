"""A small, hand-made returns history whose every KPI is worked out by hand in
``test_analytics_kpis.py``.

Rows go straight into the tables, at exact times, so the expected answers depend on nothing
but this file. March 2026 (the 2nd is a Monday), all in GBP:

    order  placed        lines
    O1     03-02 10:00   TEE ×4 @20.00, MUG ×2 @10.00
    O2     03-03 09:00   TEE ×2, SOCK ×10 @5.00
    O3     03-10 12:00   MUG ×3
    O4     01-20 10:00   TEE ×1            (before the period)
    O5     03-04 10:00   MUG ×1
    O6     03-05 10:00   TEE ×1
    O7     03-06 10:00   TEE ×1

    return requested    on  status      method / facility     lines
    R1     03-04 08:00  O1  completed   label, WH1; scanned 03-05 08:00
                                        TEE ×2 too_small, refund 40.00: received 03-07 08:00,
                                          like new, restocked 03-07 14:00 (expects 36.00,
                                          costs 2.00), settled 03-08 08:00
                                        MUG ×1 defective, credit 10.00: received 03-07 08:00,
                                          unsellable, disposed 03-07 10:00 (realised 0.00,
                                          cost 1.00 against 1.50 expected), settled 03-07 20:00
    R2     03-05 12:00  O2  inspected   drop-off, WH2; scanned 03-06 00:00
                                        TEE ×1 damaged_in_transit, exchange 20.00: received
                                          03-08 12:00, good, open box 03-09 12:00 (realised
                                          13.00, cost 0.50), settled 03-09 12:00
                                        SOCK ×4 too_large, refund: received 03-08 12:00,
                                          acceptable, donated 03-09 00:00 (costs 4.00),
                                          not settled
    R3     03-06 09:00  O5  completed   returnless (keep_item), no facility
                                        MUG ×1 not_as_described, refund 10.00 settled 09:30
    R4     03-07 10:00  O6  expired     label, WH1: TEE ×1 no_longer_needed
    R5     03-08 10:00  O7  cancelled   label, WH1, never approved: TEE ×1 ordered_by_mistake
    R6     03-09 10:00  O4  approved    label, WH2: TEE ×1 too_small (48 days after its order)
    R7     03-20 10:00  O3  received    label, WH1; scanned 03-21 22:00
                                        MUG ×2 defective, refund: received 03-23 10:00
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.logistics.models import Facility, Shipment
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.warehouse.models import DispositionRecord

CURRENCY = "GBP"


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class History:
    """Ids of what was made, by the names the docstring uses."""

    orders: dict[str, int] = field(default_factory=dict)
    order_lines: dict[str, int] = field(default_factory=dict)
    returns: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


PRODUCTS = {
    "TEE": ("Tee", "apparel", 2000),
    "SOCK": ("Socks", "apparel", 500),
    "MUG": ("Mug", "home", 1000),
}
ORDERS: dict[str, tuple[datetime, list[tuple[str, int]]]] = {
    "O1": (at(3, 2, 10), [("TEE", 4), ("MUG", 2)]),
    "O2": (at(3, 3, 9), [("TEE", 2), ("SOCK", 10)]),
    "O3": (at(3, 10, 12), [("MUG", 3)]),
    "O4": (at(1, 20, 10), [("TEE", 1)]),
    "O5": (at(3, 4, 10), [("MUG", 1)]),
    "O6": (at(3, 5, 10), [("TEE", 1)]),
    "O7": (at(3, 6, 10), [("TEE", 1)]),
}


async def build_history(sessions: async_sessionmaker[AsyncSession]) -> History:
    made = History()
    async with transaction(sessions) as session:
        facilities = {
            code: await _add(session, Facility(code=code, name=name, kind="warehouse"))
            for code, name in (("WH1", "North warehouse"), ("WH2", "South warehouse"))
        }
        products = {
            sku: await _add(
                session,
                Product(
                    sku=sku, name=name, category=category, price_minor=price, currency=CURRENCY
                ),
            )
            for sku, (name, category, price) in PRODUCTS.items()
        }
        customer = await _add(session, Customer(external_id="C1", email="c1@example.com"))
        for name, (placed, items) in ORDERS.items():
            order = await _add(
                session,
                Order(
                    external_id=name,
                    customer_id=customer.id,
                    currency=CURRENCY,
                    placed_at=placed,
                    delivered_at=placed,
                ),
            )
            made.orders[name] = order.id
            for sku, quantity in items:
                line = await _add(
                    session,
                    OrderLine(
                        order_id=order.id,
                        line_ref=sku,
                        product_id=products[sku].id,
                        sku=sku,
                        quantity=quantity,
                        unit_price_minor=PRODUCTS[sku][2],
                    ),
                )
                made.order_lines[f"{name}/{sku}"] = line.id

        async def ret(
            name: str,
            order: str,
            requested: datetime,
            status: str,
            method: str,
            facility: str | None,
            *,
            approved: bool = True,
            scanned: datetime | None = None,
        ) -> Return:
            row = await _add(
                session,
                Return(
                    number=f"RMA-{name}",
                    order_id=made.orders[order],
                    customer_id=customer.id,
                    status=status,
                    method=method,
                    currency=CURRENCY,
                    created_at=requested,
                    updated_at=requested,
                    facility_id=facilities[facility].id if facility else None,
                ),
            )
            made.returns[name] = row.id
            session.add(
                ReturnEvent(
                    return_id=row.id,
                    action="create",
                    to_status="requested",
                    actor="test",
                    at=requested,
                )
            )
            if approved:
                session.add(
                    ReturnEvent(
                        return_id=row.id,
                        action="approve",
                        from_status="requested",
                        to_status="approved",
                        actor="test",
                        at=requested,
                    )
                )
            if scanned is not None:
                session.add(
                    Shipment(
                        return_id=row.id,
                        carrier="test",
                        kind="label",
                        tracking_number=f"TRK-{name}",
                        first_scan_at=scanned,
                    )
                )
            return row

        async def line(
            name: str,
            ret_: Return,
            order_line: str,
            quantity: int,
            reason: str,
            resolution: str,
            **facts: Any,
        ) -> None:
            row = await _add(
                session,
                ReturnLine(
                    return_id=ret_.id,
                    order_line_id=made.order_lines[order_line],
                    quantity=quantity,
                    reason=reason,
                    resolution=resolution,
                    **facts,
                ),
            )
            made.lines[name] = row.id

        def routed(
            line_name: str,
            channel: str,
            quantity: int,
            when: datetime,
            expected: tuple[int, int],
            realized: tuple[int | None, int | None],
        ) -> None:
            session.add(
                DispositionRecord(
                    return_line_id=made.lines[line_name],
                    channel=channel,
                    quantity=quantity,
                    currency=CURRENCY,
                    expected_value_minor=expected[0],
                    expected_cost_minor=expected[1],
                    expected_net_minor=expected[0] - expected[1],
                    realized_value_minor=realized[0],
                    realized_cost_minor=realized[1],
                    location=channel.upper(),
                    actor="test",
                    at=when,
                )
            )

        r1 = await ret(
            "R1", "O1", at(3, 4, 8), "completed", "prepaid_label", "WH1", scanned=at(3, 5, 8)
        )
        await line(
            "RL1",
            r1,
            "O1/TEE",
            2,
            "too_small",
            "refund",
            received_quantity=2,
            received_at=at(3, 7, 8),
            grade="like_new",
            disposition="restock",
            dispositioned_at=at(3, 7, 14),
            settled_at=at(3, 8, 8),
            settled_quantity=2,
            settled_minor=4000,
        )
        await line(
            "RL2",
            r1,
            "O1/MUG",
            1,
            "defective",
            "store_credit",
            received_quantity=1,
            received_at=at(3, 7, 8),
            grade="unsellable",
            disposition="dispose",
            dispositioned_at=at(3, 7, 10),
            settled_at=at(3, 7, 20),
            settled_quantity=1,
            settled_minor=1000,
        )
        routed("RL1", "restock", 2, at(3, 7, 14), (3600, 200), (None, None))
        routed("RL2", "dispose", 1, at(3, 7, 10), (0, 150), (0, 100))

        r2 = await ret(
            "R2", "O2", at(3, 5, 12), "inspected", "box_free_dropoff", "WH2", scanned=at(3, 6, 0)
        )
        await line(
            "RL3",
            r2,
            "O2/TEE",
            1,
            "damaged_in_transit",
            "exchange",
            received_quantity=1,
            received_at=at(3, 8, 12),
            grade="good",
            disposition="open_box",
            dispositioned_at=at(3, 9, 12),
            settled_at=at(3, 9, 12),
            settled_quantity=1,
            settled_minor=2000,
        )
        await line(
            "RL4",
            r2,
            "O2/SOCK",
            4,
            "too_large",
            "refund",
            received_quantity=4,
            received_at=at(3, 8, 12),
            grade="acceptable",
            disposition="donate",
            dispositioned_at=at(3, 9, 0),
        )
        routed("RL3", "open_box", 1, at(3, 9, 12), (1200, 100), (1300, 50))
        routed("RL4", "donate", 4, at(3, 9, 0), (0, 400), (None, None))

        r3 = await ret("R3", "O5", at(3, 6, 9), "completed", "keep_item", None)
        await line(
            "RL5",
            r3,
            "O5/MUG",
            1,
            "not_as_described",
            "refund",
            settled_at=at(3, 6, 9, 30),
            settled_quantity=1,
            settled_minor=1000,
        )

        r4 = await ret("R4", "O6", at(3, 7, 10), "expired", "prepaid_label", "WH1")
        await line("RL6", r4, "O6/TEE", 1, "no_longer_needed", "refund")

        r5 = await ret(
            "R5", "O7", at(3, 8, 10), "cancelled", "prepaid_label", "WH1", approved=False
        )
        await line("RL7", r5, "O7/TEE", 1, "ordered_by_mistake", "refund")

        r6 = await ret("R6", "O4", at(3, 9, 10), "approved", "prepaid_label", "WH2")
        await line("RL8", r6, "O4/TEE", 1, "too_small", "refund")

        r7 = await ret(
            "R7", "O3", at(3, 20, 10), "received", "prepaid_label", "WH1", scanned=at(3, 21, 22)
        )
        await line(
            "RL9",
            r7,
            "O3/MUG",
            2,
            "defective",
            "refund",
            received_quantity=2,
            received_at=at(3, 23, 10),
        )
    return made


async def _add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row
