from __future__ import annotations

import httpx

from tests.factories import order_payload, return_payload


async def test_an_order_can_be_imported_and_returned_over_http(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/orders", json=order_payload())
    assert created.status_code == 201, created.text
    ret = await client.post("/api/v1/returns", json=return_payload())
    assert ret.status_code == 201, ret.text
    body = ret.json()
    assert body["status"] == "requested"
    assert body["number"].startswith("RMA-")
