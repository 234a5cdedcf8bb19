"""The status page tells the shopper how their money stands: the refund per payment method
as it goes from on its way to done, store credit added and the balance, the exchange and its
tracking; and the timeline says what each settlement gave. Another shopper sees none of it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reclaim.kit.money import Money
from tests.factories import order_payload
from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    portal_browser,
    rows,
    seed_portal_order,
    seed_products,
    words,
)
from tests.web.support import act

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])
# tests.factories.order_payload's order: 2 × 25.00 + 12.00 + 4.99 shipping.
CARD_AND_GIFT_CARD = [
    {"method": "card", "captured_minor": 5000, "last4": "4242", "reference": "ch_1"},
    {"method": "gift_card", "captured_minor": 1699},
]


def money(minor: int) -> str:
    return Money(minor, "USD").format()


def rma_of(page: httpx.Response) -> str:
    found = re.search(r'class="rma">(RMA-[0-9A-Z-]+)<', page.text)
    assert found, page.text
    return found.group(1)


def money_panel(page: httpx.Response) -> str:
    found = re.search(r'<section class="card money".*?</section>', page.text, re.S)
    return words(httpx.Response(200, text=found.group(0))) if found else ""


def timeline_text(page: httpx.Response) -> str:
    found = re.search(r'<ol class="timeline">.*?</ol>', page.text, re.S)
    assert found
    return words(httpx.Response(200, text=found.group(0)))


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    paid = {**order_payload(), "payments": CARD_AND_GIFT_CARD}
    assert (await client.post("/api/v1/orders", json=paid)).status_code == 201
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        yield shopper


async def _send_back(client: httpx.AsyncClient, number: str, units: int = 1) -> None:
    """The parcel travels and is received: at receipt, the default policy settles it."""
    await act(client, number, "in-transit", {"tracking_number": "1Z999", "carrier": "ups"})
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": units}]})


async def _refunds(client: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/refunds", params={"return": number})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_nothing_about_money_shows_before_anything_is_given_back(shopper: Shopper) -> None:
    status = await shopper.start_return()

    assert money_panel(status) == ""
    assert "store credit balance" not in words(status)


async def test_a_refund_is_shown_on_its_way_to_the_card_and_then_done(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = rma_of(await shopper.start_return())
    await _send_back(client, number)
    (refund,) = await _refunds(client, number)
    amount = refund["amount_minor"]

    page = await shopper.get(f"/returns/r/{number}")

    assert f"{money(amount)} is on its way back to your card ending 4242." in money_panel(page)
    said = f"We've refunded {money(amount)} to your original payment method."
    assert said in timeline_text(page)
    confirmed = await client.post(
        f"/api/v1/refunds/{refund['number']}/confirmation",
        json={"event": "refund.succeeded", "reference": "re_1"},
    )
    assert confirmed.status_code == 200, confirmed.text

    done = money_panel(await shopper.get(f"/returns/r/{number}"))

    assert re.search(
        rf"{re.escape(money(amount))} was refunded to your card ending 4242 on \d+ \w+ \d{{4}}\.",
        done,
    ), done
    assert "on its way" not in done


async def test_a_refund_larger_than_the_card_shows_each_payment_method(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = rma_of(await shopper.start_return(lines={"1": 2, "2": 1}))
    await act(client, number, "in-transit", {"tracking_number": "1Z999", "carrier": "ups"})
    await act(
        client,
        number,
        "receive",
        {"lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}]},
    )
    (refund,) = await _refunds(client, number)
    parts = {part["method"]: part["amount_minor"] for part in refund["parts"]}
    assert set(parts) == {"card", "gift_card"}, refund

    panel = money_panel(await shopper.get(f"/returns/r/{number}"))

    assert f"{money(parts['card'])} is on its way back to your card ending 4242." in panel
    assert f"{money(parts['gift_card'])} is on its way back to your gift card." in panel


async def test_store_credit_shows_what_was_added_and_the_balance(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = rma_of(await shopper.start_return(resolution="store_credit"))
    await _send_back(client, number)
    lots = await rows(sessions, "SELECT kind, amount_minor FROM credit_transactions ORDER BY id")
    assert [kind for kind, _ in lots] == ["issue", "bonus"]
    (principal, bonus) = (int(amount) for _, amount in lots)

    page = await shopper.get(f"/returns/r/{number}")

    panel = money_panel(page)
    assert f"{money(principal)} store credit was added to your account on" in panel
    assert f"{money(bonus)} bonus store credit was added to your account on" in panel
    assert f"Your store credit balance: {money(principal + bonus)}" in panel
    assert (
        f"{money(principal + bonus)} store credit is in your account, including a "
        f"{money(bonus)} bonus."
    ) in timeline_text(page)


async def test_the_balance_counts_what_was_spent_since(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = rma_of(await shopper.start_return(resolution="store_credit"))
    await _send_back(client, number)
    (balance,) = (await client.get("/api/v1/customers/cust-ann@example.com/store-credit")).json()[
        "balances"
    ]
    spent = await client.post(
        "/api/v1/customers/cust-ann@example.com/store-credit/spend",
        json={"amount_minor": 1000, "currency": "USD", "reference": "web-1"},
    )
    assert spent.status_code == 201, spent.text

    panel = money_panel(await shopper.get(f"/returns/r/{number}"))

    assert f"Your store credit balance: {money(balance['balance_minor'] - 1000)}" in panel


async def test_an_exchange_is_shown_being_prepared_and_then_on_its_way(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed_products(sessions, "tee", {"TEE-M": "M", "TEE-L": "L"})
    number = rma_of(
        await shopper.start_return(resolution="exchange", extra={"exchange-1": "TEE-L"})
    )
    await _send_back(client, number)
    listed = await client.get("/api/v1/exchanges", params={"return": number})
    assert listed.status_code == 200, listed.text
    (exchange,) = listed.json()["items"]

    page = await shopper.get(f"/returns/r/{number}")
    assert "We're preparing your exchange: Tee (L)." in money_panel(page)
    assert "We're preparing your exchange." in timeline_text(page)

    shipped = await client.post(
        f"/api/v1/exchanges/{exchange['number']}/shipped",
        json={"carrier": "ups", "tracking_number": "1ZEXCHANGE"},
    )
    assert shipped.status_code == 200, shipped.text

    panel = money_panel(await shopper.get(f"/returns/r/{number}"))
    assert "Your exchange (Tee (L)) is on its way with ups, tracking 1ZEXCHANGE, sent" in panel


async def test_another_shopper_sees_neither_the_money_nor_the_balance(
    shopper: Shopper, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    number = rma_of(await shopper.start_return(resolution="store_credit"))
    await _send_back(client, number)
    await seed_portal_order(client, "2002", email="bo@example.com")

    async with portal_browser(live_server.url) as other:
        await other.look_up("2002", "bo@example.com")
        page = await other.get(f"/returns/r/{number}")
        assert page.status_code == 404
        assert money_panel(page) == ""
        assert "store credit" not in words(page)
        # Bo's own returns page has no balance of Ann's either.
        bo = rma_of(await other.start_return())
        own = await other.get(f"/returns/r/{bo}")
        assert own.status_code == 200
        assert "store credit balance" not in words(own)
