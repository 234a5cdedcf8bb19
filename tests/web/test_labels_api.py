"""GET /api/v1/returns/{number}/label.pdf, …/qr.png and …/shipment, and the shipment in every
return the API shows."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.kit.clock import utcnow
from reclaim.logistics.carriers import valid_tracking_number
from reclaim.logistics.rules import pickup_slots
from tests.factories import MANUAL_POLICY, order_payload, return_payload, seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import act, api_client, assert_problem, post_order, post_return

Sessions = async_sessionmaker[AsyncSession]
NO_STORE = "private, no-store"


async def approved(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    await post_order(client)
    number = (await post_return(client, **kwargs))["number"]
    return await act(client, number, "approve")


async def a_drop_off_point(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/v1/facilities/DROP",
        json={
            "code": "DROP",
            "name": "Corner News",
            "kind": "dropoff",
            "methods": ["box_free_dropoff"],
            "address": "12 High Street",
        },
    )
    assert response.status_code in (200, 201), response.text


def decoded(image: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))]


async def test_an_approved_return_shows_its_shipment(client: httpx.AsyncClient) -> None:
    body = await approved(client)
    number, shipment = body["number"], body["shipment"]

    assert shipment["kind"] == "label" and shipment["carrier"] == "local"
    assert valid_tracking_number(shipment["tracking_number"])
    assert shipment["stage"] == "created"
    assert shipment["first_scan_at"] is None and shipment["delivered_at"] is None
    assert shipment["cancelled_at"] is None and shipment["handover_by"] is not None
    assert shipment["label_url"] == f"/api/v1/returns/{number}/label.pdf"
    assert shipment["qr_url"] == f"/api/v1/returns/{number}/qr.png"
    one = (await client.get(f"/api/v1/returns/{number}")).json()
    listed = (await client.get("/api/v1/returns")).json()["items"]
    alone = await client.get(f"/api/v1/returns/{number}/shipment")
    assert alone.status_code == 200
    assert one["shipment"] == listed[0]["shipment"] == alone.json() == shipment


async def test_a_return_not_yet_approved_shows_no_shipment(client: httpx.AsyncClient) -> None:
    await post_order(client)

    body = await post_return(client)

    assert body["shipment"] is None
    listed = (await client.get("/api/v1/returns")).json()["items"]
    assert listed[0]["shipment"] is None


async def test_the_label_downloads_as_a_pdf_with_the_tracking_barcode(
    client: httpx.AsyncClient,
) -> None:
    body = await approved(client)
    number, tracking = body["number"], body["shipment"]["tracking_number"]

    response = await client.get(f"/api/v1/returns/{number}/label.pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{number}-label.pdf"'
    assert response.headers["cache-control"] == NO_STORE
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 2
    assert tracking in reader.pages[0].extract_text()
    assert "TEE-M" in reader.pages[1].extract_text()
    again = await client.get(f"/api/v1/returns/{number.lower()}/label.pdf")
    assert again.content == response.content


async def test_the_label_is_sent_from_the_orders_full_shipping_address(
    client: httpx.AsyncClient,
) -> None:
    order = order_payload()
    order["shipping_address"] = {
        "line1": "12 Church Street",
        "line2": "Flat 3",
        "city": "London",
        "region": "Greater London",
        "postcode": "N1 2AB",
        "country": "gb",
    }
    assert (await client.post("/api/v1/orders", json=order)).status_code == 201
    number = (await post_return(client))["number"]
    await act(client, number, "approve")

    response = await client.get(f"/api/v1/returns/{number}/label.pdf")

    assert response.status_code == 200
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    for line in ("Ann Example", "12 Church Street, Flat 3", "London, Greater London", "N1 2AB GB"):
        assert line in text


async def test_the_qr_code_downloads_as_a_png_of_the_tracking_number(
    client: httpx.AsyncClient,
) -> None:
    await a_drop_off_point(client)
    body = await approved(client, method="box_free_dropoff")
    number = body["number"]

    response = await client.get(f"/api/v1/returns/{number}/qr.png")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == f'attachment; filename="{number}-qr.png"'
    assert response.headers["cache-control"] == NO_STORE
    assert decoded(response.content) == [body["shipment"]["tracking_number"]]
    assert body["shipment"]["kind"] == "qr" and body["shipment"]["label_url"] is None


async def test_a_drop_off_return_has_no_label(client: httpx.AsyncClient) -> None:
    await a_drop_off_point(client)
    number = (await approved(client, method="box_free_dropoff"))["number"]

    response = await client.get(f"/api/v1/returns/{number}/label.pdf")

    body = assert_problem(response, 409, "conflict")
    assert "handed over with its QR code" in body["detail"]


@pytest.mark.parametrize("path", ["label.pdf", "qr.png", "shipment"])
async def test_a_key_without_returns_read_is_refused(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions, path: str
) -> None:
    number = (await approved(client))["number"]
    key = await seed_api_key(sessions, ["orders:read", "returns:write"])

    async with api_client(live_server.url, key.token) as other:
        response = await other.get(f"/api/v1/returns/{number}/{path}")
    async with api_client(live_server.url) as anonymous:
        nobody = await anonymous.get(f"/api/v1/returns/{number}/{path}")

    assert_problem(response, 403, "forbidden")
    assert_problem(nobody, 401)


@pytest.mark.parametrize("path", ["label.pdf", "qr.png", "shipment"])
@pytest.mark.parametrize("number", ["RMA-22222-22222", "RMA-123", "nothing"])
async def test_an_unknown_return_is_a_404_problem(
    client: httpx.AsyncClient, path: str, number: str
) -> None:
    response = await client.get(f"/api/v1/returns/{number}/{path}")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("path", ["label.pdf", "qr.png", "shipment"])
async def test_a_return_without_a_shipment_says_why(client: httpx.AsyncClient, path: str) -> None:
    await post_order(client)
    waiting = (await post_return(client))["number"]
    kept = (await post_return(client, line_id="2"))["number"]
    await act(client, kept, "approve", {"returnless": True})

    not_yet = await client.get(f"/api/v1/returns/{waiting}/{path}")
    returnless = await client.get(f"/api/v1/returns/{kept}/{path}")

    assert "isn't approved yet" in assert_problem(not_yet, 409, "conflict")["detail"]
    assert "is returnless" in assert_problem(returnless, 409, "conflict")["detail"]


async def test_a_cancelled_return_keeps_its_shipment_record_but_not_its_label(
    client: httpx.AsyncClient,
) -> None:
    number = (await approved(client))["number"]
    assert (await client.get(f"/api/v1/returns/{number}/label.pdf")).status_code == 200

    body = await act(client, number, "cancel")

    assert body["shipment"]["cancelled_at"] is not None
    assert body["shipment"]["label_url"] is None and body["shipment"]["qr_url"] is None
    shipment = await client.get(f"/api/v1/returns/{number}/shipment")
    assert shipment.status_code == 200 and shipment.json() == body["shipment"]
    for path in ("label.pdf", "qr.png"):
        refused = await client.get(f"/api/v1/returns/{number}/{path}")
        detail = assert_problem(refused, 409, "conflict")["detail"]
        assert "was cancelled" in detail and "start a new return" in detail


async def test_a_pickup_label_names_its_slot(client: httpx.AsyncClient) -> None:
    await post_order(client)
    payload = return_payload(method="scheduled_pickup")
    slot = pickup_slots(MANUAL_POLICY.policy.pickup, utcnow())[0]
    payload["pickup_start"] = slot.start.isoformat()
    number = (await client.post("/api/v1/returns", json=payload)).json()["number"]
    body = await act(client, number, "approve")

    response = await client.get(f"/api/v1/returns/{number}/label.pdf")

    assert body["shipment"]["kind"] == "pickup"
    assert body["shipment"]["pickup_start"] == body["pickup_start"]
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "PICKUP" in text and slot.label in text
