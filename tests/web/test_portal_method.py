"""Step four: how the items come back, with the nearest places and pickup slots."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    portal_browser,
    said,
    seed_facility,
    seed_portal_order,
    session_data,
)

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])
LONDON = {"postcode": "WC2N 5DU", "country": "GB", "lat": 51.5074, "lon": -0.1278}


@pytest.fixture
async def shopper(live_server: LiveServer) -> AsyncIterator[Shopper]:
    async with portal_browser(live_server.url) as shopper:
        yield shopper


async def to_method(
    shopper: Shopper, client: httpx.AsyncClient, address: dict[str, Any] | None = None
) -> httpx.Response:
    await seed_portal_order(client, address=address)
    await shopper.look_up()
    await shopper.submit("/returns/order", {"pick-1": "1", "qty-1": "1"})
    await shopper.submit("/returns/reasons", {"reason-1": "too_small"})
    page = await shopper.submit("/returns/resolution", {"resolution": "refund"})
    assert str(page.url).endswith("/returns/method"), page.text
    return page


def methods(page: httpx.Response) -> list[str]:
    return re.findall(r'name="method" value="([a-z_]+)"', page.text)


def places(page: httpx.Response, method: str) -> list[str]:
    return re.findall(rf'name="facility-{method}" value="([^"]+)"', page.text)


def slots(page: httpx.Response) -> list[str]:
    return re.findall(r'<option value="(\d{4}-\d\d-\d\dT[^"]+)"', page.text)


async def test_only_methods_with_somewhere_to_go_are_offered(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    page = await to_method(shopper, client, LONDON)

    # No drop-off points, lockers or stores yet: only the label and the pickup.
    assert methods(page) == ["prepaid_label", "scheduled_pickup"]
    assert "4.95 USD fee" in page.text


async def test_drop_off_points_are_listed_nearest_first_by_coordinates(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    for code, lat, lon in (
        ("A-FAR", 51.60, -0.20),  # about 11 km
        ("B-NEAR", 51.5080, -0.1280),  # next door
        ("C-FARTHEST", 52.20, 0.12),  # Cambridge
        ("D-MID", 51.52, -0.10),  # about 2.4 km
    ):
        await seed_facility(sessions, code, lat=lat, lon=lon, country="GB")
    await seed_facility(sessions, "E-NOWHERE", country="GB", postcode="WC2N 5DU")  # no coordinates
    await seed_facility(sessions, "F-LOCKER", methods=["locker"], lat=51.5075, lon=-0.1279)

    page = await to_method(shopper, client, LONDON)

    assert places(page, "box_free_dropoff") == ["B-NEAR", "D-MID", "A-FAR"]
    assert places(page, "locker") == ["F-LOCKER"]
    assert "0.1 km" in page.text and "2.4 km" in page.text
    assert methods(page) == [
        "box_free_dropoff",
        "locker",
        "prepaid_label",
        "scheduled_pickup",
    ]


async def test_without_coordinates_drop_off_points_are_listed_by_postcode(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    for code, postcode, country in (
        ("A", "E1 6AN", "GB"),
        ("B", "W1D 3QU", "GB"),
        ("C", "W1A 1AA", "GB"),
        ("D", "W1D 4TP", "FR"),  # close postcode, other country
        ("E", "W1D 4TX", "GB"),
    ):
        await seed_facility(sessions, code, postcode=postcode, country=country)

    page = await to_method(shopper, client, {"postcode": "w1d 4tn", "country": "GB"})

    assert places(page, "box_free_dropoff") == ["E", "B", "C"]


async def test_the_chosen_drop_off_point_is_shown_and_recorded(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed_facility(sessions, "NEWS", name="Corner News", lat=51.508, lon=-0.128)
    await seed_facility(
        sessions, "STORE", name="High St Store", kind="store", methods=["in_store"], lat=51.5, lon=0
    )
    page = await to_method(shopper, client, LONDON)
    assert "Free" in page.text  # in store costs nothing

    confirm = await shopper.submit(
        "/returns/method", {"method": "in_store", "facility-in_store": "STORE"}
    )

    assert str(confirm.url).endswith("/returns/confirm")
    assert "Return in store at High St Store, 1 STORE Street" in confirm.text
    assert "Return shipping fee" not in confirm.text
    status = await shopper.submit("/returns/confirm", {})
    number = re.search(r'class="rma">([^<]+)<', status.text)
    assert number
    saved = (await client.get(f"/api/v1/returns/{number.group(1)}")).json()
    assert (saved["method"], saved["facility"]) == ("in_store", "STORE")


@pytest.mark.parametrize("facility", ["", "NOPE", "LOCKER", "FAR", "../STORE"])
async def test_a_drop_off_point_not_offered_is_refused(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions, facility: str
) -> None:
    for n, lat in enumerate((51.51, 51.52, 51.53)):
        await seed_facility(sessions, f"NEAR{n}", lat=lat, lon=-0.13)
    await seed_facility(sessions, "FAR", lat=55.0, lon=-3.0)  # fourth nearest: not listed
    await seed_facility(sessions, "LOCKER", methods=["locker"], lat=51.5074, lon=-0.1278)
    await to_method(shopper, client, LONDON)

    page = await shopper.submit(
        "/returns/method",
        {"method": "box_free_dropoff", "facility-box_free_dropoff": facility},
    )

    assert page.status_code == 400
    assert "Choose where you'll drop it off." in said(page)
    assert "method" not in session_data(shopper.cookie)["d"]


@pytest.mark.parametrize("method", ["", "keep_item", "box_free_dropoff", "teleport"])
async def test_a_method_not_offered_is_refused(
    shopper: Shopper, client: httpx.AsyncClient, method: str
) -> None:
    await to_method(shopper, client, LONDON)  # no facilities: no box-free drop-off either

    page = await shopper.submit("/returns/method", {"method": method})

    assert page.status_code == 400
    assert "Choose how you'll send the items back." in said(page)
    assert "method" not in session_data(shopper.cookie)["d"]


async def test_a_scheduled_pickup_shows_slots_and_records_the_chosen_one(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    page = await to_method(shopper, client, LONDON)
    offered = slots(page)
    # Five working days ahead, two windows each, from tomorrow.
    assert len(offered) == 10
    assert all(datetime.fromisoformat(slot).isoweekday() <= 5 for slot in offered)
    chosen = offered[3]

    confirm = await shopper.submit(
        "/returns/method", {"method": "scheduled_pickup", "pickup": chosen}
    )

    assert str(confirm.url).endswith("/returns/confirm")
    assert "Pickup from your door" in confirm.text
    assert "13:00–17:00" in confirm.text  # the fourth slot is an afternoon
    status = await shopper.submit("/returns/confirm", {})
    assert "Have the parcel ready" in said(status)
    number = re.search(r'class="rma">([^<]+)<', status.text)
    assert number
    saved = (await client.get(f"/api/v1/returns/{number.group(1)}")).json()
    assert saved["method"] == "scheduled_pickup"
    assert datetime.fromisoformat(saved["pickup_start"]) == datetime.fromisoformat(chosen)


@pytest.mark.parametrize(
    "pickup", ["", "tomorrow", "2020-01-06T09:00:00+00:00", "2999-01-05T09:00:00+00:00"]
)
async def test_a_pickup_slot_not_offered_is_refused(
    shopper: Shopper, client: httpx.AsyncClient, pickup: str
) -> None:
    await to_method(shopper, client, LONDON)

    page = await shopper.submit("/returns/method", {"method": "scheduled_pickup", "pickup": pickup})

    assert page.status_code == 400
    assert "Choose a pickup slot." in said(page)
    assert "method" not in session_data(shopper.cookie)["d"]
