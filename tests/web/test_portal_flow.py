"""The customer portal end to end over HTTP: lookup, the five steps, the status page."""

from __future__ import annotations

import httpx
import pytest

from tests.web.portal_support import PORTAL_POLICY, Shopper, seed_portal_order

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])


@pytest.fixture
async def shopper(live_server, client) -> Shopper:  # type: ignore[no-untyped-def]
    await seed_portal_order(client)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        yield Shopper(http)


async def test_a_shopper_returns_an_item_in_a_few_clicks_and_sees_it_approved(
    shopper: Shopper,
) -> None:
    found = await shopper.look_up()
    assert found.status_code == 200
    assert "What would you like to return?" in found.text
    assert "Return by" in found.text

    status = await shopper.start_return()

    assert status.status_code == 200
    assert "Your return is confirmed" in status.text
    assert "Approved: ready to send back" in status.text
    assert "<svg" in status.text  # the QR code to show at drop-off
    assert "You started the return." in status.text
