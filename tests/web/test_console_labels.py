"""A return's label and drop-off QR code from its console page: the files the shopper gets,
for staff who may see the return, never kept by a cache; a return without one is not found."""

from __future__ import annotations

import io

import httpx
import pypdf
import zxingcpp
from PIL import Image

from reclaim.users.roles import Role
from tests.web.conftest import LiveServer
from tests.web.console_support import Sessions, console_unchanged, signed_in, visitor, words
from tests.web.support import act, post_order, post_return
from tests.web.test_labels_api import NO_STORE, a_drop_off_point, approved


async def test_an_agent_downloads_the_label_and_qr_code_linked_from_the_return_page(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    body = await approved(client)
    number, tracking = body["number"], body["shipment"]["tracking_number"]

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        label = await agent.get(f"/console/returns/{number}/label.pdf")
        qr = await agent.get(f"/console/returns/{number}/qr.png")

    assert f'href="/console/returns/{number}/label.pdf"' in page.text
    assert f'href="/console/returns/{number}/qr.png"' in page.text
    assert "Print label (PDF)" in words(page) and "Drop-off QR code" in words(page)
    assert label.status_code == 200, words(label)
    assert label.content.startswith(b"%PDF")
    assert label.headers["content-type"] == "application/pdf"
    assert label.headers["content-disposition"] == f'attachment; filename="{number}-label.pdf"'
    assert label.headers["cache-control"] == NO_STORE
    assert tracking in pypdf.PdfReader(io.BytesIO(label.content)).pages[0].extract_text()
    assert qr.status_code == 200, words(qr)
    assert qr.content.startswith(b"\x89PNG")
    assert qr.headers["content-type"] == "image/png"
    assert qr.headers["content-disposition"] == f'inline; filename="{number}-qr.png"'
    assert qr.headers["cache-control"] == NO_STORE
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.content)))
    assert [code.text for code in found] == [tracking]


async def test_staff_reprint_the_label_the_shopper_was_given(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = (await approved(client))["number"]
    shoppers = await client.get(f"/api/v1/returns/{number}/label.pdf")

    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        reprint = await inspector.get(f"/console/returns/{number.lower()}/label.pdf")

    assert reprint.status_code == 200
    assert reprint.content == shoppers.content


async def test_a_visitor_is_sent_to_sign_in_and_gets_no_file(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = (await approved(client))["number"]

    async with visitor(live_server.url) as stranger, console_unchanged(sessions):
        answers = [
            await stranger.get(f"/console/returns/{number}/{name}")
            for name in ("label.pdf", "qr.png")
        ]

    for answer in answers:
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")
        assert not answer.content
        assert answer.headers.get("content-type", "").split(";")[0] not in (
            "application/pdf",
            "image/png",
        )


async def test_a_returnless_return_has_no_label_or_qr_code(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    await act(client, number, "approve", {"returnless": True})

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        answers = [
            await agent.get(f"/console/returns/{number}/{name}") for name in ("label.pdf", "qr.png")
        ]

    assert "Print label" not in words(page) and "Drop-off QR code" not in words(page)
    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "Not found" in words(answer)
        assert "the shopper keeps the item" in words(answer)


async def test_a_drop_off_return_has_a_qr_code_but_no_label(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await a_drop_off_point(client)
    number = (await approved(client, method="box_free_dropoff"))["number"]

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        label = await agent.get(f"/console/returns/{number}/label.pdf")
        qr = await agent.get(f"/console/returns/{number}/qr.png")

    assert "Print label" not in words(page) and "Drop-off QR code" in words(page)
    assert label.status_code == 404
    assert "handed over with its QR code" in words(label)
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")


async def test_an_unknown_return_is_not_found(live_server: LiveServer, sessions: Sessions) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        answer = await agent.get("/console/returns/RMA-NOPE/label.pdf")

    assert answer.status_code == 404
    assert "Not found" in words(answer)
