"""The label, QR code and tracking on the shopper's status page, and their downloads: served
to the session that owns the return and to nobody else, never kept by a cache."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import text

from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    order_line,
    portal_browser,
    portal_unchanged,
    said,
    seed_facility,
    seed_portal_order,
    stored_files,
    words,
)
from tests.web.support import act

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])
LONDON = {
    "line1": "10 Craven Street",
    "city": "London",
    "postcode": "WC2N 5DU",
    "country": "GB",
    "lat": 51.5074,
    "lon": -0.1278,
}
NO_STORE = "private, no-store"
FACILITY = {
    "box_free_dropoff": "NEWS",
    "locker": "LOCK",
    "in_store": "SHOP",
}


@pytest.fixture
async def shopper(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> AsyncIterator[Shopper]:
    await seed_portal_order(client, address=LONDON)
    await seed_facility(
        sessions,
        "NEWS",
        name="Corner News",
        address="12 Strand",
        opening_hours="Mon–Sat 8:00–20:00",
        lat=51.508,
        lon=-0.128,
    )
    await seed_facility(
        sessions, "LOCK", name="Station Locker", kind="locker", methods=["locker"], lat=51.5, lon=0
    )
    await seed_facility(
        sessions, "SHOP", name="High St Store", kind="store", methods=["in_store"], lat=51.5, lon=0
    )
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        yield shopper


async def send_back(shopper: Shopper, method: str = "prepaid_label") -> httpx.Response:
    """Start a return of the tee by the method; the answer is its status page."""
    await shopper.submit("/returns/order", {"pick-1": "1"})
    await shopper.submit("/returns/reasons", {"reason-1": "too_small"})
    page = await shopper.submit("/returns/resolution", {"resolution": "refund"})
    extra: dict[str, Any] = {}
    if method in FACILITY:
        extra = {f"facility-{method}": FACILITY[method]}
    if method == "scheduled_pickup":
        slot = re.search(r'<option value="(\d{4}-[^"]+)"', page.text)
        assert slot
        extra = {"pickup": slot.group(1)}
    await shopper.submit("/returns/method", {"method": method, **extra})
    status = await shopper.submit("/returns/confirm", {})
    assert status.status_code == 200, status.text
    return status


def rma_of(page: httpx.Response) -> str:
    found = re.search(r'class="rma">(RMA-[0-9A-Z-]+)<', page.text)
    assert found, page.text
    return found.group(1)


def tracking_of(page: httpx.Response) -> str:
    found = re.search(r'class="tracking">(RC\d{13})<', page.text)
    assert found, page.text
    return found.group(1)


def decoded(png: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_a_prepaid_label_return_offers_the_label_and_a_code_for_the_counter(
    shopper: Shopper,
) -> None:
    status = await send_back(shopper)
    number, tracking = rma_of(status), tracking_of(status)

    text = words(status)
    assert f'href="/returns/r/{number}/label.pdf"' in status.text
    assert "Download your label (PDF)" in text
    assert "Page 2 is the packing slip: put it in the box with the items." in text
    assert "No printer?" in text
    assert "Show this at a drop-off point of our carrier: they print the label" in text
    assert f'aria-label="QR code for return {number}, tracking number {tracking}"' in status.text
    assert f'href="/returns/r/{number}/dropoff.png"' in status.text
    assert f"Tracking number: {tracking}" in text


@pytest.mark.parametrize(
    ("method", "place"),
    [
        ("box_free_dropoff", "Corner News"),
        ("locker", "Station Locker"),
        ("in_store", "High St Store"),
    ],
)
async def test_a_drop_off_return_shows_its_code_large_and_where_to_take_it(
    shopper: Shopper, method: str, place: str
) -> None:
    status = await send_back(shopper, method)
    number = rma_of(status)

    text = words(status)
    assert f"Show this at {place}" in text
    assert '<figure class="qr big">' in status.text
    assert "label.pdf" not in status.text and "Download your label" not in text
    assert f'href="/returns/r/{number}/dropoff.png"' in status.text
    assert f"Tracking number: {tracking_of(status)}" in text
    if method == "box_free_dropoff":
        assert "12 Strand · Mon–Sat 8:00–20:00" in text


async def test_a_pickup_shows_the_booked_slot_where_from_and_the_label(shopper: Shopper) -> None:
    status = await send_back(shopper, "scheduled_pickup")

    text = words(status)
    slot = re.search(r"Pickup booked: (\w{3} \d+ \w{3}, \d\d:\d\d–\d\d:\d\d)", text)
    assert slot, text
    assert f"Have the parcel ready {slot.group(1)}." in text
    assert "Download your label (PDF)" in text
    assert "The driver scans this and brings a label" in text
    assert "The driver collects it from 10 Craven Street, London, WC2N 5DU GB." in text
    label = await shopper.http.get(f"/returns/r/{rma_of(status)}/label.pdf")
    printed = pypdf.PdfReader(io.BytesIO(label.content)).pages[0].extract_text()
    assert slot.group(1) in printed and "10 Craven Street" in printed


async def test_the_owner_downloads_the_label_and_it_is_kept(
    shopper: Shopper, live_server: LiveServer
) -> None:
    status = await send_back(shopper)
    number, tracking = rma_of(status), tracking_of(status)

    label = await shopper.http.get(f"/returns/r/{number}/label.pdf")

    assert label.status_code == 200
    assert label.headers["content-type"] == "application/pdf"
    assert label.headers["content-disposition"] == f'attachment; filename="{number}-label.pdf"'
    assert label.headers["cache-control"] == NO_STORE
    reader = pypdf.PdfReader(io.BytesIO(label.content))
    assert tracking in reader.pages[0].extract_text()
    assert "Packing slip" in reader.pages[1].extract_text()
    kept = stored_files(live_server.settings.files_dir)
    assert [path.read_bytes() for path in kept] == [label.content]
    again = await shopper.http.get(f"/returns/r/{number}/label.pdf")
    assert again.content == label.content
    assert stored_files(live_server.settings.files_dir) == kept


async def test_the_owner_downloads_the_drop_off_code_as_a_png(shopper: Shopper) -> None:
    status = await send_back(shopper, "box_free_dropoff")
    number = rma_of(status)

    code = await shopper.http.get(f"/returns/r/{number}/dropoff.png")

    assert code.status_code == 200
    assert code.headers["content-type"] == "image/png"
    assert code.headers["content-disposition"] == f'inline; filename="{number}-qr.png"'
    assert code.headers["cache-control"] == NO_STORE
    assert decoded(code.content) == [tracking_of(status)]


@pytest.mark.parametrize("path", ["label.pdf", "dropoff.png"])
async def test_another_orders_session_gets_not_found(
    shopper: Shopper,
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
    path: str,
) -> None:
    number = rma_of(await send_back(shopper))
    await seed_portal_order(client, "1002", email="bob@example.com")

    async with portal_browser(live_server.url) as other:
        await other.look_up("1002", "bob@example.com")
        async with portal_unchanged(sessions, live_server.settings.files_dir):
            answer = await other.http.get(f"/returns/r/{number}/{path}")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Return not found" in answer.text and number not in answer.text


@pytest.mark.parametrize("path", ["label.pdf", "dropoff.png"])
async def test_without_a_session_nothing_is_served(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions, path: str
) -> None:
    number = rma_of(await send_back(shopper))

    async with (
        portal_browser(live_server.url) as stranger,
        portal_unchanged(sessions, live_server.settings.files_dir),
    ):
        answer = await stranger.http.get(f"/returns/r/{number}/{path}")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/returns?expired=1"


async def test_a_drop_off_return_has_no_label_to_download(shopper: Shopper) -> None:
    number = rma_of(await send_back(shopper, "locker"))

    answer = await shopper.http.get(f"/returns/r/{number}/label.pdf")

    assert answer.status_code == 409
    assert "There's no label to download" in said(answer)
    assert "This return needs no label: show the QR code" in said(answer)
    assert f'href="/returns/r/{number}"' in answer.text


async def test_a_cancelled_return_shows_and_serves_no_label(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    number = rma_of(await send_back(shopper))

    cancelled = await shopper.submit(f"/returns/r/{number}/cancel", {})

    assert "label.pdf" not in cancelled.text and "<svg" not in cancelled.text
    assert "Tracking number" not in words(cancelled)  # the label is void
    for path in ("label.pdf", "dropoff.png"):
        async with portal_unchanged(sessions, live_server.settings.files_dir):
            answer = await shopper.http.get(f"/returns/r/{number}/{path}")
        assert answer.status_code == 409
        assert "This return was cancelled, so there's nothing to send back." in said(answer)


async def test_a_return_under_review_has_nothing_to_download_yet(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    await seed_portal_order(
        client, "4001", lines=[order_line("1", "SOFA", price_minor=70000, category="home")]
    )
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up("4001")
        status = await shopper.start_return()
        number = rma_of(status)

        answer = await shopper.http.get(f"/returns/r/{number}/label.pdf")

        assert "Being checked by our team" in said(status)
        assert "Tracking number" not in words(status) and "label.pdf" not in status.text
        assert answer.status_code == 409
        assert "Your return isn't approved yet." in said(answer)


async def test_the_parcels_journey_shows_when_it_was_handed_over_and_arrived(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    status = await send_back(shopper)
    number = rma_of(status)
    assert journey(status) == [
        ("done", "Ready to send back"),
        ("todo", "Handed over: the carrier has it"),
        ("todo", "Arrived at our returns centre"),
    ]

    await act(client, number, "in-transit")
    await scanned(sessions, number, "first_scan_at")
    on_its_way = await shopper.get(f"/returns/r/{number}")
    await scanned(sessions, number, "delivered_at")
    arrived = await shopper.get(f"/returns/r/{number}")

    assert [state for state, _ in journey(on_its_way)] == ["done", "done", "todo"]
    assert "<svg" not in on_its_way.text and "label.pdf" not in on_its_way.text
    assert f"Tracking number: {tracking_of(status)}" in words(on_its_way)
    assert [state for state, _ in journey(arrived)] == ["done", "done", "done"]
    assert "(done)" in words(arrived) and "(not yet)" not in words(arrived)


def journey(page: httpx.Response) -> list[tuple[str, str]]:
    found = re.search(r'<ol class="journey">(.*?)</ol>', page.text, re.S)
    assert found, page.text
    return [
        (state, text.strip())
        for state, text in re.findall(r'<li class="(\w+)">([^<]*)<', found.group(1))
    ]


async def scanned(sessions: Sessions, number: str, column: str) -> None:
    """A carrier's scan, as tracking records it on the shipment."""
    async with transaction(sessions) as session:
        await session.execute(
            text(
                f"UPDATE shipments SET {column} = :at WHERE return_id = "
                "(SELECT id FROM returns WHERE number = :number)"
            ),
            {"at": utcnow(), "number": number},
        )
