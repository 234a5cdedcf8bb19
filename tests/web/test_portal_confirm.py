"""Step five: one confirmed return, whatever the double clicks, recorded with its decision."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    COOKIE,
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    portal_browser,
    portal_unchanged,
    rows,
    said,
    seed_portal_order,
    words,
)
from tests.web.support import count, post_return, returned_quantity

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        yield shopper


def rma_of(page: httpx.Response) -> str:
    found = re.search(r'class="rma">(RMA-[0-9A-Z-]+)<', page.text)
    assert found, page.text
    return found.group(1)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))


async def test_the_return_records_the_portal_the_policy_version_and_the_decision(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    confirm = await shopper.prepare_return()
    assert "Check your return" in confirm.text
    assert "Return shipping fee" in confirm.text and "20.05 USD" in confirm.text

    status = await shopper.submit("/returns/confirm", {})

    assert str(status.url).endswith(f"/returns/r/{rma_of(status)}?new=1")
    version = (await client.get("/api/v1/policy")).json()["version"]
    [(channel, policy_version, decision, state, token)] = await rows(
        sessions, "SELECT channel, policy_version, decision, status, client_token FROM returns"
    )
    assert (channel, policy_version, state) == ("portal", version, "approved")
    assert token and token.startswith("portal:")
    recorded = as_dict(decision)
    assert recorded["policy_version"] == version
    assert recorded["outcome"] == "approve" and recorded["returnless"] is False
    assert recorded["quote"]["refund_minor"] == 2005
    assert any(note["code"] == "label_fee" for note in recorded["explanations"])
    assert await rows(sessions, "SELECT actor FROM return_events ORDER BY id") == [
        ("customer",),
        ("policy",),
    ]


async def test_confirming_twice_with_the_same_page_makes_one_return(
    shopper: Shopper, sessions: Sessions
) -> None:
    confirm = await shopper.prepare_return()
    token, cookie = csrf_of(confirm), shopper.cookie
    first = await shopper.submit("/returns/confirm", {})
    after = shopper.cookie

    # The browser sends the same form again, with the cookie it had then (a double click).
    shopper.http.cookies.set(COOKIE, cookie or "", domain="127.0.0.1", path="/returns")
    again = await shopper.submit("/returns/confirm", {}, csrf=token)

    assert again.status_code == 200
    assert rma_of(again) == rma_of(first)
    assert "Your return is confirmed" in again.text
    # And once more with the cookie the first answer left: the draft is gone, nothing new.
    shopper.http.cookies.set(COOKIE, after or "", domain="127.0.0.1", path="/returns")
    third = await shopper.submit("/returns/confirm", {}, csrf=token)
    assert str(third.url).endswith("/returns/order")
    assert await count(sessions, "returns") == 1
    assert await returned_quantity(sessions) == 1


@pytest.mark.parametrize("quantity", [1, 2])
async def test_ten_confirms_at_once_make_one_return_and_all_show_it(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer, quantity: int
) -> None:
    confirm = await shopper.prepare_return(lines={"1": quantity})
    token, cookie = csrf_of(confirm), shopper.cookie
    assert cookie

    async def click() -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=live_server.url, cookies={COOKIE: cookie}, timeout=30
        ) as http:
            return await http.post("/returns/confirm", data={"csrf": token}, follow_redirects=True)

    answers = await asyncio.gather(*(click() for _ in range(10)))

    assert [answer.status_code for answer in answers] == [200] * 10, [
        said(answer)[:2000] for answer in answers if answer.status_code != 200
    ]
    assert len({rma_of(answer) for answer in answers}) == 1
    assert await count(sessions, "returns") == 1
    assert await count(sessions, "return_lines") == 1
    assert await returned_quantity(sessions) == quantity


async def test_a_cheap_light_item_is_kept_and_the_method_step_is_skipped(
    shopper: Shopper, sessions: Sessions
) -> None:
    await shopper.submit("/returns/order", {"pick-2": "1", "qty-2": "1"})  # the 12.00 mug
    await shopper.submit("/returns/reasons", {"reason-2": "no_longer_needed"})

    confirm = await shopper.submit("/returns/resolution", {"resolution": "refund"})

    assert str(confirm.url).endswith("/returns/confirm")
    assert "Nothing to send: keep the item." in confirm.text
    assert 'href="/returns/resolution" class="back"' in confirm.text
    status = await shopper.submit("/returns/confirm", {})
    text = said(status)
    assert "Approved: ready to send back" in text
    assert "There's nothing to send back: keep, recycle or donate the item." in text
    assert "Approved: keep the item, there's no need to send it back." in text
    assert "<svg" not in text  # nothing to show at a drop-off
    [(method, state, decision)] = await rows(
        sessions, "SELECT method, status, decision FROM returns"
    )
    assert (method, state) == ("keep_item", "approved")
    assert as_dict(decision)["returnless"] is True


async def test_a_return_started_elsewhere_meanwhile_is_refused_with_a_clear_page(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions, live_server: LiveServer
) -> None:
    confirm = await shopper.prepare_return(lines={"1": 2})
    await post_return(client, quantity=2)  # the shop's own system took both tees meanwhile

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        page = await shopper.http.post("/returns/confirm", data={"csrf": csrf_of(confirm)})

    assert page.status_code == 409
    assert "We couldn't start this return" in said(page)
    assert "can still be returned" in said(page)


async def test_the_confirm_page_lists_everything_chosen(shopper: Shopper) -> None:
    confirm = await shopper.prepare_return(lines={"1": 2}, reason="too_large")

    text = words(confirm)
    assert "Tee (M) × 2: Too large" in text
    assert "You'll get: Refund to your original payment" in text
    assert "Sending it back: Prepaid label, any carrier drop-off point" in text
    assert "You paid for these items 50.00 USD" in text
    assert "You get 45.05 USD" in text
