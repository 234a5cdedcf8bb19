"""Refurbishment work orders: opened when a line is routed to refurbish, closed once, either
back in stock with a new grade and a cost, or scrapped onto the recycling manifest."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import InvalidTransition, NotFound, ValidationFailed
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import configured, refurbishment
from reclaim.warehouse.disposition_rules import location_for
from tests.factories import actor
from tests.integration.helpers import rows, scalar, table_counts, table_rows
from tests.integration.operations_support import (
    facility,
    graded_return,
    json_value,
    route,
    run_warehouse_cli,
)

Sessions = async_sessionmaker[AsyncSession]
WORK_ORDER_NUMBER = re.compile(r"^WO-[0-9A-HJKMNP-TV-Z]{8}$")
CHANGED_BY_CLOSING = ("inventory_movements", "manifests", "manifest_items")


async def _sent(sessions: Sessions, quantity: int = 2, grade: Grade = Grade.GOOD) -> str:
    """A work order for ``quantity`` phones in ``grade``; its number."""
    number = await graded_return(sessions, "2001", [("PHONE", quantity, grade)])
    await route(sessions, number, "1", Disposition.REFURBISH)
    found = await scalar(sessions, "SELECT number FROM refurb_work_orders")
    return str(found)


async def _work_order(sessions: Sessions) -> dict[str, Any]:
    found = await rows(
        sessions,
        "SELECT number, status, grade_in, grade_out, quantity, cost_minor, recovery_minor, "
        "expected_cost_minor, expected_recovery_minor, partner_id, closed_by, note "
        "FROM refurb_work_orders",
    )
    columns = [
        "number",
        "status",
        "grade_in",
        "grade_out",
        "quantity",
        "cost_minor",
        "recovery_minor",
        "expected_cost_minor",
        "expected_recovery_minor",
        "partner_id",
        "closed_by",
        "note",
    ]
    assert len(found) == 1
    return dict(zip(columns, found[0], strict=True))


async def _realized(sessions: Sessions) -> tuple[Any, ...]:
    return (
        await rows(sessions, "SELECT realized_value_minor, realized_cost_minor FROM dispositions")
    )[0]


async def _receive(
    sessions: Sessions, number: str, grade: Grade, cost_minor: int, note: str | None = None
) -> None:
    async with transaction(sessions) as session:
        await refurbishment.receive_back(
            session, number, actor("refurb desk"), grade=grade, cost_minor=cost_minor, note=note
        )


async def _scrap(sessions: Sessions, number: str, cost_minor: int, reason: str) -> None:
    async with transaction(sessions) as session:
        await refurbishment.scrap(
            session, number, actor("refurb desk"), cost_minor=cost_minor, reason=reason
        )


async def test_routing_to_refurbish_sends_the_units_to_the_first_active_refurbisher(
    sessions: Sessions,
) -> None:
    await facility(sessions, "FIX-OLD", "refurbisher", active=False)
    await facility(sessions, "RECYCLE-1", "recycler")
    await facility(sessions, "FIX-A", "refurbisher")
    await facility(sessions, "FIX-B", "refurbisher")

    number = await _sent(sessions)

    order = await _work_order(sessions)
    assert WORK_ORDER_NUMBER.match(number)
    assert order["partner_id"] == await scalar(
        sessions, "SELECT id FROM facilities WHERE code = 'FIX-A'"
    )
    assert (order["status"], order["grade_in"], order["quantity"]) == ("sent", "good", 2)
    assert order["grade_out"] is None and order["closed_by"] is None


async def test_a_work_order_expects_what_the_engine_valued_refurbishing_at(
    sessions: Sessions,
) -> None:
    await _sent(sessions, quantity=3)

    order = await _work_order(sessions)
    options = json_value(await scalar(sessions, "SELECT options FROM dispositions"))
    refurbish = next(option for option in options if option["channel"] == "refurbish")
    assert order["expected_recovery_minor"] == refurbish["gross_minor"] * 3
    assert order["expected_cost_minor"] == refurbish["cost_minor"] * 3
    assert order["partner_id"] is None  # no refurbisher registered: sent, partner to be named


async def test_units_back_like_new_enter_stock_as_refurbished_with_realized_values(
    sessions: Sessions,
) -> None:
    number = await _sent(sessions)

    await _receive(sessions, number, Grade.LIKE_NEW, 3000, note="new battery")

    order = await _work_order(sessions)
    assert (order["status"], order["grade_out"], order["cost_minor"]) == (
        "returned",
        "like_new",
        3000,
    )
    assert (order["closed_by"], order["note"]) == ("refurb desk", "new battery")
    ledger = await rows(
        sessions,
        "SELECT m.kind, m.sku, m.condition, m.location, m.quantity, m.value_minor, "
        "m.work_order_id = w.id, m.return_line_id = w.return_line_id "
        "FROM inventory_movements m, refurb_work_orders w",
    )
    stock = location_for(Disposition.RESTOCK, configured.recovery())
    assert ledger == [
        ("refurbished", "PHONE", "like_new", stock, 2, order["recovery_minor"], True, True)
    ]
    # Like new sells at 90% of 400.00 in the default terms: 360.00 a unit.
    assert order["recovery_minor"] == 2 * 36000
    value, cost = await _realized(sessions)
    assert value == order["recovery_minor"]
    assert cost > 3000  # the partner's bill and the resale's own fees and handling


async def test_units_back_in_a_lower_grade_go_to_the_bin_that_sells_it(
    sessions: Sessions,
) -> None:
    number = await _sent(sessions)

    await _receive(sessions, number, Grade.VERY_GOOD, 2500)

    found = await rows(sessions, "SELECT condition, location FROM inventory_movements")
    assert found == [("very_good", location_for(Disposition.OPEN_BOX, configured.recovery()))]


async def test_units_back_unsellable_are_scrapped_onto_the_recycling_manifest(
    sessions: Sessions,
) -> None:
    number = await _sent(sessions)

    await _receive(sessions, number, Grade.UNSELLABLE, 1500)

    order = await _work_order(sessions)
    assert (order["status"], order["cost_minor"], order["recovery_minor"]) == (
        "scrapped",
        1500,
        0,
    )
    assert "unsellable" in order["note"]
    assert await _realized(sessions) == (0, 1500)
    assert await table_counts(sessions, "inventory_movements") == {"inventory_movements": 0}
    assert await rows(
        sessions,
        "SELECT m.kind, m.status, i.sku, i.quantity, i.weight_grams FROM manifest_items i "
        "JOIN manifests m ON m.id = i.manifest_id",
    ) == [("recycle", "open", "PHONE", 2, 800)]


async def test_scrapping_recycles_the_units_and_recovers_nothing(sessions: Sessions) -> None:
    number = await _sent(sessions)

    await _scrap(sessions, number, 1200, "  board beyond repair ")

    order = await _work_order(sessions)
    assert (order["status"], order["cost_minor"], order["recovery_minor"], order["note"]) == (
        "scrapped",
        1200,
        0,
        "board beyond repair",
    )
    assert await _realized(sessions) == (0, 1200)
    items = await rows(
        sessions,
        "SELECT m.kind, i.quantity, i.weight_grams, i.work_order_id = w.id, "
        "i.return_line_id = w.return_line_id "
        "FROM manifest_items i JOIN manifests m ON m.id = i.manifest_id, refurb_work_orders w",
    )
    assert items == [("recycle", 2, 800, True, True)]


CLOSE: dict[str, Any] = {
    "receive": lambda s, n: _receive(s, n, Grade.GOOD, 100),
    "scrap": lambda s, n: _scrap(s, n, 100, "no parts"),
}


@pytest.mark.parametrize("first", CLOSE)
@pytest.mark.parametrize("second", CLOSE)
async def test_a_work_order_closes_once(sessions: Sessions, first: str, second: str) -> None:
    number = await _sent(sessions)
    await CLOSE[first](sessions, number)
    before = (await _work_order(sessions), await table_counts(sessions, *CHANGED_BY_CLOSING))

    with pytest.raises(InvalidTransition, match="already"):
        await CLOSE[second](sessions, number)

    after = (await _work_order(sessions), await table_counts(sessions, *CHANGED_BY_CLOSING))
    assert after == before


async def test_racing_closings_close_it_once(sessions: Sessions) -> None:
    number = await _sent(sessions)

    async def receive() -> None:
        await _receive(sessions, number, Grade.LIKE_NEW, 100)

    results = await asyncio.gather(*(receive() for _ in range(8)), return_exceptions=True)

    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, InvalidTransition) for r in results if r is not None)
    assert await table_counts(sessions, "inventory_movements") == {"inventory_movements": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, n: _scrap(s, n, 0, "   "), "Say why"),
        (lambda s, n: _scrap(s, n, -1, "broken"), "non-negative"),
        (lambda s, n: _receive(s, n, Grade.GOOD, -5), "non-negative"),
    ],
)
async def test_closing_needs_a_reason_to_scrap_and_a_cost_that_is_not_negative(
    sessions: Sessions, change: Any, message: str
) -> None:
    number = await _sent(sessions)

    with pytest.raises(ValidationFailed, match=message):
        await change(sessions, number)

    assert (await _work_order(sessions))["status"] == "sent"


@pytest.mark.parametrize("number", ["WO-00000000", "WO-?", "MF-12345678", "", "WO-" + "1" * 40])
async def test_an_unknown_work_order_is_not_found(sessions: Sessions, number: str) -> None:
    with pytest.raises(NotFound):
        await _receive(sessions, number, Grade.GOOD, 0)


async def test_a_work_order_number_is_read_as_typed_or_scanned(sessions: Sessions) -> None:
    number = await _sent(sessions)
    typed = number.lower().replace("-", " ")

    async with transaction(sessions) as session:
        found = await refurbishment.get_work_order(session, typed)

    assert found.number == number


async def test_work_orders_list_newest_first_and_by_status(sessions: Sessions) -> None:
    first = await graded_return(sessions, "2001", [("PHONE", 1, Grade.GOOD)])
    second = await graded_return(sessions, "2002", [("TABLET", 1, Grade.ACCEPTABLE)])
    await route(sessions, first, "1", Disposition.REFURBISH)
    await route(sessions, second, "1", Disposition.REFURBISH)
    numbers = [
        row[0] for row in await rows(sessions, "SELECT number FROM refurb_work_orders ORDER BY id")
    ]
    await _scrap(sessions, numbers[0], 0, "no parts")

    async with transaction(sessions) as session:
        everything = await refurbishment.list_work_orders(session)
        sent = await refurbishment.list_work_orders(session, status="sent")
        about = await refurbishment.contexts(session, everything)
        with pytest.raises(ValidationFailed):
            await refurbishment.list_work_orders(session, status="lost")

    assert [order.number for order in everything] == numbers[::-1]
    assert [order.number for order in sent] == [numbers[1]]
    assert about[everything[0].id] == refurbishment.WorkOrderContext(
        second, "1", "TABLET", "Tablet 10in", None
    )


@pytest.mark.usefixtures("cli_env")
async def test_the_cli_lists_work_orders(sessions: Sessions) -> None:
    number = await _sent(sessions)

    result = await run_warehouse_cli("work-orders", "list", "--status", "sent")

    assert result.exit_code == 0, result.output
    [row] = table_rows(result.output)
    assert row[:5] == [number, "sent", row[2], "PHONE", "2"]
    assert row[2].endswith("/1")
