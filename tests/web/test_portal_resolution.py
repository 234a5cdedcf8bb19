"""Step three: refund, store credit or an exchange, each with its price preview."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    order_line,
    portal_browser,
    rows,
    said,
    seed_portal_order,
    seed_products,
    session_data,
)

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        yield shopper


async def to_resolution(
    shopper: Shopper, order: str = "1001", reason: str = "too_small", **extra: str
) -> httpx.Response:
    await shopper.look_up(order)
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    page = await shopper.submit("/returns/reasons", {"reason-1": reason, **extra})
    assert str(page.url).endswith("/returns/resolution"), page.text
    return page


def option(page: httpx.Response, value: str) -> str:
    """The text of one resolution option's card, tags stripped."""
    found = re.search(
        rf'<div class="option card">\s*<input type="radio" id="res-{value}"(.*?)</ul>',
        page.text,
        re.S,
    )
    assert found, f"no {value} option"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def offered(page: httpx.Response) -> list[str]:
    return re.findall(r'name="resolution" value="([a-z_]+)"', page.text)


async def test_a_refund_shows_the_return_shipping_fee_and_store_credit_is_free_with_a_bonus(
    shopper: Shopper,
) -> None:
    page = await to_resolution(shopper)

    assert offered(page) == ["refund", "store_credit"]  # no other variants: no exchange
    refund = option(page, "refund")
    assert "You paid for these items 25.00 USD" in refund
    assert "Return shipping fee −4.95 USD" in refund
    assert "You get 20.05 USD" in refund
    credit = option(page, "store_credit")
    assert "Return shipping fee" not in credit
    assert "Store credit bonus +2.50 USD" in credit
    assert "You get 27.50 USD" in credit
    assert "Free return when you choose store credit or an exchange." in credit


async def test_the_store_credit_bonus_is_capped(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    await seed_portal_order(
        client, "3001", lines=[order_line("1", "COAT", price_minor=30000, name="Coat")]
    )

    page = await to_resolution(shopper, "3001")

    credit = option(page, "store_credit")
    assert "Store credit bonus +25.00 USD" in credit  # 10% would be 30.00
    assert "You get 325.00 USD" in credit


async def test_an_item_at_fault_comes_back_free(shopper: Shopper) -> None:
    page = await to_resolution(shopper, reason="defective")

    refund = option(page, "refund")
    assert "Return shipping fee" not in refund
    # The goods and their share of the original shipping (4.99 × 25.00 / 62.00).
    assert "You get 27.01 USD" in refund
    assert "Your original shipping is refunded too." in refund


async def test_an_opened_electronic_item_pays_restocking_only_for_a_refund(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    await seed_portal_order(
        client,
        "3002",
        lines=[
            order_line("1", "EARBUDS", price_minor=10000, category="electronics", name="Earbuds")
        ],
    )
    await shopper.look_up("3002")
    reasons = await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    assert "I've opened or used it" in said(reasons)

    page = await shopper.submit(
        "/returns/reasons", {"reason-1": "no_longer_needed", "opened-1": "1"}
    )

    refund = option(page, "refund")
    assert "Restocking fee −15.00 USD" in refund
    assert "Return shipping fee −4.95 USD" in refund
    assert "You get 80.05 USD" in refund
    credit = option(page, "store_credit")
    assert "Restocking" not in credit
    assert "You get 110.00 USD" in credit


async def test_exchange_is_offered_only_when_the_product_has_other_variants(
    shopper: Shopper, sessions: Sessions
) -> None:
    await seed_products(sessions, "tee", {"TEE-S": "S", "TEE-M": "M", "TEE-L": "L"})

    page = await to_resolution(shopper)

    assert offered(page) == ["refund", "store_credit", "exchange"]
    choices = re.findall(r'<option value="(TEE-[A-Z]+)"', page.text)
    assert choices == ["TEE-L", "TEE-S"]  # the others, not the one being returned
    assert "Return shipping fee" not in option(page, "exchange")


async def test_asking_for_an_exchange_without_variants_is_refused(shopper: Shopper) -> None:
    await to_resolution(shopper)

    page = await shopper.submit("/returns/resolution", {"resolution": "exchange"})

    assert page.status_code == 400
    assert "Choose what you'd like instead of the item." in said(page)
    assert "resolution" not in session_data(shopper.cookie)["d"]


@pytest.mark.parametrize("chosen", ["", "MUG", "TEE-M", "NOPE"])
async def test_an_exchange_needs_one_of_the_other_variants(
    shopper: Shopper, sessions: Sessions, chosen: str
) -> None:
    await seed_products(sessions, "tee", {"TEE-M": "M", "TEE-L": "L"})
    await to_resolution(shopper)

    page = await shopper.submit(
        "/returns/resolution", {"resolution": "exchange", "exchange-1": chosen}
    )

    assert page.status_code == 400
    assert "Choose the size or colour you'd like for each item." in said(page)
    assert "resolution" not in session_data(shopper.cookie)["d"]


@pytest.mark.parametrize("chosen", ["", "cash", "keep_item", "REFUND"])
async def test_a_resolution_not_on_offer_is_refused(shopper: Shopper, chosen: str) -> None:
    await to_resolution(shopper)

    page = await shopper.submit("/returns/resolution", {"resolution": chosen})

    assert page.status_code == 400
    assert "Choose what you'd like instead of the item." in said(page)


async def test_the_chosen_exchange_variant_is_recorded_on_the_return_line(
    shopper: Shopper, sessions: Sessions
) -> None:
    await seed_products(sessions, "tee", {"TEE-M": "M", "TEE-L": "L"})
    await to_resolution(shopper)

    method = await shopper.submit(
        "/returns/resolution", {"resolution": "exchange", "exchange-1": "TEE-L"}
    )
    assert str(method.url).endswith("/returns/method")
    await shopper.submit("/returns/method", {"method": "prepaid_label"})
    confirm = shopper.page
    assert confirm is not None and "exchange for TEE-L" in confirm.text
    status = await shopper.submit("/returns/confirm", {})

    assert "Your return is confirmed" in status.text
    assert await rows(sessions, "SELECT resolution, exchange_sku FROM return_lines") == [
        ("exchange", "TEE-L")
    ]


async def test_store_credit_is_recorded_with_its_bonus(
    shopper: Shopper, sessions: Sessions
) -> None:
    await to_resolution(shopper)
    await shopper.submit("/returns/resolution", {"resolution": "store_credit"})
    method = await shopper.submit("/returns/method", {"method": "prepaid_label"})
    assert "/returns/confirm" in str(method.url)
    assert "27.50 USD" in method.text

    await shopper.submit("/returns/confirm", {})

    [(resolution, decision)] = await rows(
        sessions,
        "SELECT rl.resolution, r.decision FROM return_lines rl JOIN returns r "
        "ON r.id = rl.return_id",
    )
    assert resolution == "store_credit"
    quote = (decision if isinstance(decision, dict) else json.loads(decision))["quote"]
    assert quote["bonus_minor"] == 250 and quote["store_credit_minor"] == 2750
