"""The console's order page and a return's risk panel, over real HTTP on both databases:
lines, payments and returns; each line's return risk at purchase with its drivers and the
model version; a plain note when there is no model yet; a 404 page for an unknown order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from reclaim.analytics.retail_import import import_file
from reclaim.db import transaction
from reclaim.orders.models import Order
from reclaim.prediction import service
from reclaim.returns.models import Return
from reclaim.users.roles import Role
from tests.factories import order_payload
from tests.web.conftest import LiveServer
from tests.web.console_support import Sessions, console_unchanged, signed_in, words
from tests.web.support import post_order, post_return

SLICE = Path(__file__).parents[1] / "data" / "online_retail" / "slice.csv"
NO_MODEL = "No return-risk model yet. Train one with `reclaim model train`."


@pytest.fixture
async def imported(sessions: Sessions, live_server: LiveServer) -> tuple[str, str]:
    """The slice imported: an order with a return, and that return's number."""
    await import_file(sessions, SLICE)
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                select(Order.external_id, Return.number)
                .join(Return, Return.order_id == Order.id)
                .order_by(Return.created_at.desc())
                .limit(1)
            )
        ).one()
    return row[0], row[1]


async def test_an_order_page_lists_lines_payments_and_returns_and_says_how_to_train(
    client: httpx.AsyncClient, live_server: LiveServer, sessions: Sessions
) -> None:
    await post_order(client, "1001")
    number = (await post_return(client, "1001"))["number"]

    async with (
        signed_in(live_server.url, sessions, Role.AGENT) as agent,
        console_unchanged(sessions),
    ):
        page = await agent.get("/console/orders/1001")

    assert page.status_code == 200, page.text
    said = words(page)
    assert "Order 1001" in said and "ann@example.com" in said
    assert "Tee (M) TEE-M · line 1" in said and "Mug MUG · line 2" in said
    assert "Payments" in said and "Returns" in said
    assert f'href="/console/returns/{number}"' in page.text
    assert "Return risk at purchase" in said and NO_MODEL in said


async def test_an_order_page_shows_where_the_order_was_shipped(
    client: httpx.AsyncClient, live_server: LiveServer, sessions: Sessions
) -> None:
    payload = order_payload("1002")
    payload["shipping_address"] = {
        "line1": "10 Craven Street",
        "line2": "Flat 2",
        "city": "London",
        "postcode": "WC2N 5DU",
        "country": "GB",
    }
    made = await client.post("/api/v1/orders", json=payload)
    assert made.status_code == 201, made.text

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get("/console/orders/1002")

    assert page.status_code == 200, page.text
    assert "Ships to 10 Craven Street, Flat 2, London, WC2N 5DU GB" in words(page)


async def test_with_a_model_each_line_shows_its_risk_drivers_and_the_model_version(
    live_server: LiveServer, sessions: Sessions, imported: tuple[str, str]
) -> None:
    order_id, _ = imported
    await service.train(sessions, datetime(2011, 9, 1, tzinfo=UTC))

    async with (
        signed_in(live_server.url, sessions, Role.ANALYST) as analyst,
        console_unchanged(sessions),
    ):
        page = await analyst.get(f"/console/orders/{order_id}")

    assert page.status_code == 200, page.text
    said = words(page)
    assert "Chance at least one line comes back within 30 days" in said
    assert "Scored by return-risk model v1" in said
    assert said.count(" risk ") >= 2  # the order's band and at least one line's
    assert "%" in said and NO_MODEL not in said


async def test_a_returns_page_shows_the_orders_risk_and_links_to_the_order_page(
    live_server: LiveServer, sessions: Sessions, imported: tuple[str, str]
) -> None:
    order_id, number = imported
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        before = await agent.get(f"/console/returns/{number}")
        await service.train(sessions, datetime(2011, 9, 1, tzinfo=UTC))
        after = await agent.get(f"/console/returns/{number}")

    assert before.status_code == 200 and after.status_code == 200
    assert f'href="/console/orders/{order_id}"' in after.text
    assert NO_MODEL in words(before)
    assert "Return risk at purchase" in words(after)
    assert "Scored by return-risk model v1" in words(after)


async def test_an_unknown_order_is_a_404_page(live_server: LiveServer, sessions: Sessions) -> None:
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        page = await inspector.get("/console/orders/no-such-order")
    assert page.status_code == 404
    assert "No order 'no-such-order'." in words(page)
