"""The first steps of a return: which items, how many, and why; and no skipping ahead."""

from __future__ import annotations

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
    portal_unchanged,
    rows,
    said,
    seed_portal_order,
    seed_products,
    session_data,
)
from tests.web.support import count, post_return

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        yield shopper


async def where_to(shopper: Shopper, path: str) -> str:
    answer = await shopper.http.get(path)
    assert answer.status_code == 303, (path, answer.status_code)
    return answer.headers["location"]


async def test_each_step_sends_the_shopper_back_to_the_first_one_not_done(
    shopper: Shopper,
) -> None:
    await shopper.look_up()
    for step in ("reasons", "resolution", "method", "confirm"):
        assert await where_to(shopper, f"/returns/{step}") == "/returns/order"

    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    for step in ("resolution", "method", "confirm"):
        assert await where_to(shopper, f"/returns/{step}") == "/returns/reasons"

    await shopper.submit("/returns/reasons", {"reason-1": "too_small"})
    for step in ("method", "confirm"):
        assert await where_to(shopper, f"/returns/{step}") == "/returns/resolution"

    await shopper.submit("/returns/resolution", {"resolution": "refund"})
    assert await where_to(shopper, "/returns/confirm") == "/returns/method"

    for step in ("order", "reasons", "resolution", "method"):  # going back is always fine
        assert (await shopper.http.get(f"/returns/{step}")).status_code == 200


async def test_confirming_an_empty_draft_goes_back_to_the_items_and_starts_nothing(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer
) -> None:
    await shopper.look_up()

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        page = await shopper.submit("/returns/confirm", {})

    assert str(page.url).endswith("/returns/order")
    assert "What would you like to return?" in said(page)


async def test_choosing_no_item_asks_for_one(shopper: Shopper) -> None:
    await shopper.look_up()

    page = await shopper.submit("/returns/order", {"qty-1": "1", "pick-99": "1"})

    assert page.status_code == 400
    assert "Choose at least one item to return." in page.text
    assert session_data(shopper.cookie)["d"] == {}


@pytest.mark.parametrize("typed", ["3", "0", "-1", "two", "1.5", "", "999999999", "²", " 1"])
async def test_a_quantity_outside_what_can_be_returned_is_refused(
    shopper: Shopper, typed: str
) -> None:
    await shopper.look_up()

    page = await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": typed})

    assert page.status_code == 400
    assert "Choose between 1 and 2." in page.text
    assert session_data(shopper.cookie)["d"] == {}


async def test_units_already_being_returned_cannot_be_chosen_again(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    await post_return(client)  # one of the two tees
    await shopper.look_up()

    page = await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "2"})

    assert page.status_code == 400
    assert "Choose between 1 and 1." in page.text


async def test_a_non_returnable_item_is_not_offered_and_is_refused_when_forced(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    await seed_portal_order(
        client,
        "2001",
        lines=[
            order_line("1", "GIFT-CARD", name="Gift card", returnable=False),
            order_line("2", "SOCKS", name="Socks"),
        ],
    )
    async with portal_browser(live_server.url) as shopper:
        items = await shopper.look_up("2001")
        assert "This item can't be returned." in said(items)
        assert 'name="pick-1"' not in items.text and 'name="pick-2"' in items.text

        page = await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})

        assert page.status_code == 400
        assert "This item can't be returned." in said(page)
        assert session_data(shopper.cookie)["d"] == {}


async def test_chosen_items_and_quantities_carry_on_to_the_reasons(shopper: Shopper) -> None:
    await shopper.look_up()

    page = await shopper.submit(
        "/returns/order", {"pick-1": "1", "qty-1": "2", "pick-2": "1", "qty-2": "1"}
    )

    assert str(page.url).endswith("/returns/reasons")
    assert "Tee (M) × 2" in page.text and "Mug" in page.text
    assert session_data(shopper.cookie)["d"]["lines"] == {"1": 2, "2": 1}


@pytest.mark.parametrize("reason", ["", "bogus", "TOO_SMALL"])
async def test_a_missing_or_unknown_reason_is_asked_for(shopper: Shopper, reason: str) -> None:
    await shopper.look_up()
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})

    page = await shopper.submit("/returns/reasons", {"reason-1": reason})

    assert page.status_code == 400
    assert "Tell us why you're returning this item." in said(page)
    assert "asks" not in session_data(shopper.cookie)["d"]


async def test_every_chosen_item_needs_its_own_reason(shopper: Shopper) -> None:
    await shopper.look_up()
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1", "pick-2": "1"})

    page = await shopper.submit("/returns/reasons", {"reason-1": "too_small"})

    assert page.status_code == 400
    assert 'href="#line-2"' in page.text
    assert "asks" not in session_data(shopper.cookie)["d"]


async def test_the_reason_comment_and_fitting_size_end_up_on_the_return_line(
    shopper: Shopper, sessions: Sessions
) -> None:
    await seed_products(sessions, "tee", {"TEE-M": "M", "TEE-L": "L"})
    await shopper.look_up()
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    reasons = shopper.page
    assert reasons is not None and re.search(r"<option\s*>L</option>", reasons.text)  # sizes

    await shopper.submit(
        "/returns/reasons",
        {"reason-1": "too_small", "fit-1": "L", "comment-1": "  Tight on the shoulders. "},
    )
    await shopper.submit("/returns/resolution", {"resolution": "refund"})
    await shopper.submit("/returns/method", {"method": "prepaid_label"})
    status = await shopper.submit("/returns/confirm", {})

    assert "Your return is confirmed" in status.text
    assert await rows(sessions, "SELECT reason, comment, fit_size FROM return_lines") == [
        ("too_small", "Tight on the shoulders.", "L")
    ]
    assert await count(sessions, "returns") == 1


async def test_what_the_shopper_typed_is_shown_back_as_text_never_as_markup(
    shopper: Shopper,
) -> None:
    await shopper.look_up()
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    await shopper.submit(
        "/returns/reasons",
        {"reason-1": "too_small", "comment-1": '<script>alert("hi")</script>', "fit-1": "<b>L"},
    )
    await shopper.submit("/returns/resolution", {"resolution": "refund"})

    confirm = await shopper.submit("/returns/method", {"method": "prepaid_label"})

    assert "<script>alert" not in confirm.text and "<b>L" not in confirm.text
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in confirm.text
    assert "&lt;b&gt;L" in confirm.text
