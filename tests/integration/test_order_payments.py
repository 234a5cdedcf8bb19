"""How an order was paid: the payments the shop reports, and the database guards on giving back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import Conflict
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.refunds.models import Refund
from tests.factories import order_payload
from tests.integration.helpers import rows, run_cli, scalar

Sessions = async_sessionmaker[AsyncSession]
# order_payload(): 2 × 25.00 + 12.00 + 4.99 shipping.
TOTAL = 2 * 2500 + 1200 + 499
CARD = {"method": "card", "captured_minor": 5000, "reference": "ch_1", "last4": "4242"}
GIFT = {"method": "gift_card", "captured_minor": TOTAL - 5000, "reference": "gc_9"}


def _payload(payments: list[dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Any]:
    payload = order_payload("P-1", **kwargs)
    if payments is not None:
        payload["payments"] = payments
    return payload


async def _upsert(sessions: Sessions, payload: dict[str, Any]) -> None:
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(payload))


async def _payments(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT p.position, p.method, p.reference, p.last4, p.captured_minor, p.refunded_minor"
        " FROM order_payments p JOIN orders o ON o.id = p.order_id"
        " WHERE o.external_id = 'P-1' ORDER BY p.position",
    )


async def _paid(sessions: Sessions) -> tuple[Any, ...]:
    (row,) = await rows(
        sessions, "SELECT paid_minor, given_back_minor FROM orders WHERE external_id = 'P-1'"
    )
    return row


async def _state(sessions: Sessions) -> dict[str, Any]:
    return {
        "payments": await _payments(sessions),
        "order": await rows(
            sessions,
            "SELECT paid_minor, given_back_minor, shipping_minor, updated_at FROM orders",
        ),
        "lines": await rows(
            sessions, "SELECT line_ref, quantity, unit_price_minor, tax_minor FROM order_lines"
        ),
    }


async def _give_back(sessions: Sessions, minor: int) -> None:
    """What requesting a refund leaves behind: the first payment and the order count it."""
    async with transaction(sessions) as session:
        await session.execute(
            text(
                "UPDATE order_payments SET refunded_minor = :n WHERE position = 1 AND order_id ="
                " (SELECT id FROM orders WHERE external_id = 'P-1')"
            ),
            {"n": minor},
        )
        await session.execute(
            text("UPDATE orders SET given_back_minor = :n WHERE external_id = 'P-1'"), {"n": minor}
        )


async def test_an_order_that_names_no_payment_gets_one_for_its_total(sessions: Sessions) -> None:
    await _upsert(sessions, _payload())

    assert await _payments(sessions) == [(1, "original", None, None, TOTAL, 0)]
    assert await _paid(sessions) == (TOTAL, 0)


async def test_a_card_and_gift_card_order_keeps_its_payments_in_the_order_given(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))

    assert await _payments(sessions) == [
        (1, "card", "ch_1", "4242", 5000, 0),
        (2, "gift_card", "gc_9", None, TOTAL - 5000, 0),
    ]
    assert await _paid(sessions) == (TOTAL, 0)


async def test_payments_are_replaced_by_an_update_while_nothing_was_given_back(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))
    ids = await rows(sessions, "SELECT id FROM order_payments ORDER BY position")

    await _upsert(sessions, _payload([{"method": "paypal", "captured_minor": TOTAL}]))
    assert await _payments(sessions) == [(1, "paypal", None, None, TOTAL, 0)]
    # The first payment's row is reused; the second is gone.
    assert await rows(sessions, "SELECT id FROM order_payments") == ids[:1]

    await _upsert(sessions, _payload([GIFT, CARD]))
    assert [row[1] for row in await _payments(sessions)] == ["gift_card", "card"]


async def test_an_update_without_payments_keeps_those_that_still_add_up(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))

    await _upsert(sessions, _payload(delivered_days_ago=1))
    assert [row[1] for row in await _payments(sessions)] == ["card", "gift_card"]

    # A new total no longer matches them: one payment for the whole of it.
    await _upsert(sessions, _payload(quantity=3))
    assert await _payments(sessions) == [(1, "original", None, None, TOTAL + 2500, 0)]
    assert await _paid(sessions) == (TOTAL + 2500, 0)


async def test_once_money_was_given_back_payments_and_total_cant_change(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))
    await _give_back(sessions, 1000)
    before = await _state(sessions)
    attempts = {
        "other payments": _payload([{"method": "card", "captured_minor": TOTAL}]),
        "other order of payments": _payload([GIFT, CARD]),
        "another last4": _payload([{**CARD, "last4": "1111"}, GIFT]),
        "a new total": _payload(quantity=3),
    }

    for name, payload in attempts.items():
        with pytest.raises(Conflict, match="has refunds against it") as refused:
            await _upsert(sessions, payload)
        assert refused.value.details == {"order_id": "P-1"}, name

    assert await _state(sessions) == before


async def test_once_money_was_given_back_an_update_that_keeps_the_payments_is_fine(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))
    await _give_back(sessions, 1000)

    await _upsert(sessions, _payload([CARD, GIFT], delivered_days_ago=1))
    await _upsert(sessions, _payload(delivered_days_ago=2))

    assert await _payments(sessions) == [
        (1, "card", "ch_1", "4242", 5000, 1000),
        (2, "gift_card", "gc_9", None, TOTAL - 5000, 0),
    ]
    assert await _paid(sessions) == (TOTAL, 1000)


async def test_a_refund_that_failed_still_pins_the_payments_it_named(sessions: Sessions) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))
    async with transaction(sessions) as session:
        order_id = await session.scalar(text("SELECT id FROM orders WHERE external_id = 'P-1'"))
        session.add(
            Refund(
                number="RF-FAILED01",
                order_id=order_id,
                kind="manual",
                status="failed",
                amount_minor=500,
                currency="USD",
                provider="builtin",
                requested_by="agent",
            )
        )

    with pytest.raises(Conflict):
        await _upsert(sessions, _payload([{"method": "card", "captured_minor": TOTAL}]))
    assert len(await _payments(sessions)) == 2


async def test_the_database_refuses_a_payment_refunded_beyond_its_capture(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))

    for refunded in (5001, -1):
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                await session.execute(
                    text("UPDATE order_payments SET refunded_minor = :n WHERE position = 1"),
                    {"n": refunded},
                )
    assert [row[5] for row in await _payments(sessions)] == [0, 0]


async def test_the_database_refuses_an_order_giving_back_more_than_was_paid(
    sessions: Sessions,
) -> None:
    await _upsert(sessions, _payload([CARD, GIFT]))

    for given_back in (TOTAL + 1, -1):
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                await session.execute(
                    text("UPDATE orders SET given_back_minor = :n WHERE external_id = 'P-1'"),
                    {"n": given_back},
                )
    assert await _paid(sessions) == (TOTAL, 0)


# --- imports --------------------------------------------------------------------------------

HEADER = [
    "order_id",
    "customer_email",
    "currency",
    "placed_at",
    "shipping",
    "line_id",
    "sku",
    "quantity",
    "unit_price",
    "tax",
    "payment_method",
    "payment_captured",
    "payment_reference",
    "payment_last4",
]
PLACED = "2024-03-01T10:00:00+00:00"


def _csv(*data_rows: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(data_rows)
    return out.getvalue()


async def _import(tmp_path: Path, name: str, content: str) -> Any:
    path = tmp_path / name
    path.write_text(content)
    return await run_cli("import", "orders", str(path))


async def _imported_payments(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT o.external_id, p.position, p.method, p.reference, p.last4, p.captured_minor"
        " FROM order_payments p JOIN orders o ON o.id = p.order_id"
        " ORDER BY o.external_id, p.position",
    )


@pytest.mark.usefixtures("cli_env")
async def test_a_csv_import_records_each_orders_payment(sessions: Sessions, tmp_path: Path) -> None:
    content = _csv(
        ["C-1", "a@example.com", "USD", PLACED, "4.99", "1", "TEE", "2", "25.00", "1.00",
         "card", "", "ch_7", "4242"],
        ["C-1", "a@example.com", "USD", PLACED, "4.99", "2", "MUG", "1", "12.00", "",
         "card", "", "ch_7", "4242"],
        ["C-2", "b@example.com", "USD", PLACED, "0", "1", "CAP", "1", "9.50", "",
         "paypal", "9.50", "", ""],
        ["C-3", "b@example.com", "USD", PLACED, "0", "1", "CAP", "1", "9.50", "",
         "", "", "", ""],
    )  # fmt: skip

    result = await _import(tmp_path, "orders.csv", content)

    assert result.exit_code == 0, result.output
    assert await _imported_payments(sessions) == [
        ("C-1", 1, "card", "ch_7", "4242", 5000 + 100 + 1200 + 499),
        ("C-2", 1, "paypal", None, None, 950),
        ("C-3", 1, "original", None, None, 950),
    ]


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("payment", "error"),
    [
        (["card", "9.00", "", ""], "payments add up to 9.00 USD but the order totals 9.50 USD"),
        (["card", "", "", "42"], "last4"),
        (["Card!", "", "", ""], "method"),
        (["", "9.50", "", ""], "payment_method must not be empty"),
        (["card", "9.505", "", ""], "payment_captured"),
        (["card", "-9.50", "", ""], "captured_minor"),
    ],
    ids=["wrong-sum", "short-last4", "bad-method", "no-method", "fractional", "negative"],
)
async def test_a_csv_row_with_a_bad_payment_is_named_and_nothing_is_imported(
    sessions: Sessions, tmp_path: Path, payment: list[str], error: str
) -> None:
    content = _csv(
        ["C-1", "a@example.com", "USD", PLACED, "0", "1", "CAP", "1", "9.50", "", "card", "",
         "", ""],
        ["C-2", "b@example.com", "USD", PLACED, "0", "1", "CAP", "1", "9.50", "", *payment],
    )  # fmt: skip

    result = await _import(tmp_path, "orders.csv", content)

    assert result.exit_code == 1
    assert "line 3" in result.output
    assert error in result.output
    assert await scalar(sessions, "SELECT count(*) FROM orders") == 0
    assert await scalar(sessions, "SELECT count(*) FROM order_payments") == 0


@pytest.mark.usefixtures("cli_env")
async def test_a_jsonl_import_takes_an_orders_several_payments(
    sessions: Sessions, tmp_path: Path
) -> None:
    content = json.dumps({**order_payload("J-1"), "payments": [CARD, GIFT]}) + "\n"

    result = await _import(tmp_path, "orders.jsonl", content)

    assert result.exit_code == 0, result.output
    assert await _imported_payments(sessions) == [
        ("J-1", 1, "card", "ch_1", "4242", 5000),
        ("J-1", 2, "gift_card", "gc_9", None, TOTAL - 5000),
    ]
