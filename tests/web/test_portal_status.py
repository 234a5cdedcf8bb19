"""The return's status page: what happened in plain words, what to do next, the QR code,
and cancelling before the parcel leaves."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    order_line,
    portal_browser,
    portal_unchanged,
    rows,
    said,
    seed_facility,
    seed_portal_order,
    words,
)
from tests.web.support import act, returned_quantity

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])
LONDON = {"postcode": "WC2N 5DU", "country": "GB", "lat": 51.5074, "lon": -0.1278}


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client, address=LONDON)
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        yield shopper


def rma_of(page: httpx.Response) -> str:
    found = re.search(r'class="rma">(RMA-[0-9A-Z-]+)<', page.text)
    assert found, page.text
    return found.group(1)


def timeline(page: httpx.Response) -> list[str]:
    found = re.search(r'<ol class="timeline">(.*?)</ol>', page.text, re.S)
    assert found
    items = re.findall(r"</time>\s*(.*?)</li>", found.group(1), re.S)
    return [" ".join(html.unescape(item).split()) for item in items]


async def test_the_status_page_tells_the_story_in_plain_words(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    status = await shopper.start_return()
    number = rma_of(status)
    assert timeline(status) == ["You started the return.", "Approved: you can send it back now."]
    assert "Your return is confirmed. Keep your RMA number" in words(status)

    await act(client, number, "in-transit", {"tracking_number": "1Z999", "carrier": "ups"})
    later = await shopper.get(f"/returns/r/{number}")

    assert later.status_code == 200
    assert "Your return is confirmed" not in later.text  # only right after confirming
    assert "On its way to us" in later.text
    assert timeline(later)[-1] == "Your parcel is on its way to us (tracking 1Z999)."
    assert "Your parcel is on its way. We'll e-mail you when it arrives." in said(later)
    assert "<svg" not in later.text  # nothing left to show at a drop-off
    for internal in ("policy", "mark_in_transit", "in_transit", "customer"):
        assert internal not in " ".join(timeline(later))


@pytest.mark.parametrize(
    ("method", "extra", "expected"),
    [
        (
            "prepaid_label",
            {},
            "Show the QR code below at any drop-off point of our carrier",
        ),
        (
            "box_free_dropoff",
            {"facility-box_free_dropoff": "NEWS"},
            "bring the items and show the QR code below at Corner News.",
        ),
        (
            "locker",
            {"facility-locker": "LOCK"},
            "At Station Locker, scan the QR code below",
        ),
        (
            "in_store",
            {"facility-in_store": "SHOP"},
            "Bring the items and the QR code below to High St Store.",
        ),
        ("scheduled_pickup", {}, "Have the parcel ready "),
    ],
)
async def test_the_next_steps_follow_the_chosen_method(
    shopper: Shopper,
    sessions: Sessions,
    method: str,
    extra: dict[str, Any],
    expected: str,
) -> None:
    await seed_facility(sessions, "NEWS", name="Corner News", lat=51.508, lon=-0.128)
    await seed_facility(
        sessions, "LOCK", name="Station Locker", kind="locker", methods=["locker"], lat=51.5, lon=0
    )
    await seed_facility(
        sessions, "SHOP", name="High St Store", kind="store", methods=["in_store"], lat=51.5, lon=0
    )
    await shopper.submit("/returns/order", {"pick-1": "1"})
    await shopper.submit("/returns/reasons", {"reason-1": "too_small"})
    page = await shopper.submit("/returns/resolution", {"resolution": "refund"})
    if method == "scheduled_pickup":
        found = re.search(r'<option value="(\d{4}-[^"]+)"', page.text)
        assert found
        extra = {"pickup": found.group(1)}
    await shopper.submit("/returns/method", {"method": method, **extra})

    status = await shopper.submit("/returns/confirm", {})

    text = said(status)
    assert expected in text
    assert 'role="img" aria-label="QR code for return' in status.text and "<svg" in status.text
    if method == "scheduled_pickup":
        assert re.search(r"Have the parcel ready \w{3} \d+ \w{3}, \d\d:\d\d–\d\d:\d\d\.", text)


async def test_the_qr_code_is_served_only_to_the_returns_owner(
    shopper: Shopper, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    number = rma_of(await shopper.start_return())

    qr = await shopper.http.get(f"/returns/r/{number}/qr.svg")

    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.headers["cache-control"] == "private"
    # A standalone SVG file (declaration and namespace), so a downloaded code opens anywhere.
    assert qr.text.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in qr.text
    assert qr.text.rstrip().endswith("</svg>")
    await seed_portal_order(client, "1002", email="bob@example.com")
    async with portal_browser(live_server.url) as other:
        await other.look_up("1002", "bob@example.com")
        assert (await other.http.get(f"/returns/r/{number}/qr.svg")).status_code == 404
    async with portal_browser(live_server.url) as stranger:
        assert (await stranger.http.get(f"/returns/r/{number}/qr.svg")).status_code == 303


async def test_the_status_page_answers_to_the_rma_however_it_is_typed(shopper: Shopper) -> None:
    number = rma_of(await shopper.start_return())

    page = await shopper.get(f"/returns/r/{number.lower()}")

    assert page.status_code == 200
    assert rma_of(page) == number


async def test_cancelling_an_approved_return_releases_its_items(
    shopper: Shopper, sessions: Sessions
) -> None:
    status = await shopper.start_return()
    number = rma_of(status)
    assert "Cancel this return" in status.text
    assert await returned_quantity(sessions) == 1

    cancelled = await shopper.submit(f"/returns/r/{number}/cancel", {})

    assert cancelled.status_code == 200
    assert str(cancelled.url).endswith(f"/returns/r/{number}")
    assert '<p class="status status-cancelled">Cancelled</p>' in cancelled.text
    assert timeline(cancelled)[-1] == "The return was cancelled."
    assert "Cancel this return" not in cancelled.text
    assert "Expected back" not in cancelled.text
    assert await rows(sessions, "SELECT status FROM returns") == [("cancelled",)]
    assert await returned_quantity(sessions) == 0
    # The items can be returned again.
    items = await shopper.get("/returns/order")
    assert 'name="pick-1"' in items.text


async def test_a_return_in_transit_cannot_be_cancelled(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions, live_server: LiveServer
) -> None:
    status = await shopper.start_return()
    number = rma_of(status)
    token = csrf_of(status)  # the page still showed the cancel button
    await act(client, number, "in-transit")

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        refused = await shopper.http.post(f"/returns/r/{number}/cancel", data={"csrf": token})

    assert refused.status_code == 409
    assert "This return can't be cancelled" in said(refused)
    assert "It's already on its way back to us." in said(refused)
    assert f'href="/returns/r/{number}"' in refused.text
    page = await shopper.get(f"/returns/r/{number}")
    assert "Cancel this return" not in page.text


async def test_a_cancelled_return_cannot_be_cancelled_again(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer
) -> None:
    status = await shopper.start_return()
    number = rma_of(status)
    token = csrf_of(status)
    await shopper.submit(f"/returns/r/{number}/cancel", {})

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        again = await shopper.http.post(f"/returns/r/{number}/cancel", data={"csrf": token})

    assert again.status_code == 409
    assert await rows(sessions, "SELECT count(*) FROM return_events WHERE action = 'cancel'") == [
        (1,)
    ]


async def test_the_items_page_lists_returns_already_started(shopper: Shopper) -> None:
    number = rma_of(await shopper.start_return())

    items = await shopper.get("/returns/order")

    assert f'<a href="/returns/r/{number}">{number}</a> · approved' in items.text


async def test_a_return_sent_to_review_says_so_and_can_still_be_cancelled(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed_portal_order(
        client, "4001", lines=[order_line("1", "SOFA", price_minor=70000, category="home")]
    )
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up("4001")

        status = await shopper.start_return()

        text = said(status)
        assert "Being checked by our team" in text
        assert "Someone from our team is checking your return." in text
        assert timeline(status) == [
            "You started the return.",
            "We're checking your return before approving it.",
        ]
        assert "<svg" not in status.text  # nothing to hand over until it's approved
        assert (await rows(sessions, "SELECT status FROM returns")) == [("review",)]
        cancelled = await shopper.submit(f"/returns/r/{rma_of(status)}/cancel", {})
        assert '<p class="status status-cancelled">Cancelled</p>' in cancelled.text
