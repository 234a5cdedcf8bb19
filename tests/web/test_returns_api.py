"""POST /api/v1/returns, GET /api/v1/returns and GET /api/v1/returns/{number}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import order_payload, return_payload
from tests.web.support import (
    act,
    assert_problem,
    post_order,
    post_return,
    returned_quantity,
    unchanged,
)


async def test_a_return_is_created_with_201_and_holds_its_units(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], api_key: Any
) -> None:
    await post_order(client, quantity=3)
    payload = return_payload(quantity=2, reason="defective", resolution="store_credit")
    payload["lines"][0]["comment"] = "Seam split on first wash"

    response = await client.post("/api/v1/returns", json=payload)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"].startswith("RMA-")
    assert body["status"] == "requested"
    assert (body["order_id"], body["method"], body["currency"]) == ("1001", "prepaid_label", "USD")
    [line] = body["lines"]
    assert line["line_id"] == "1" and line["sku"] == "TEE-M"
    assert (line["quantity"], line["received_quantity"]) == (2, 0)
    assert (line["reason"], line["fault"]) == ("defective", "merchant")
    assert line["resolution"] == "store_credit"
    assert line["comment"] == "Seam split on first wash"
    [event] = body["events"]
    assert (event["action"], event["from_status"], event["to_status"]) == (
        "create",
        None,
        "requested",
    )
    assert event["actor"] == f"api:{api_key.prefix}"
    assert await returned_quantity(sessions) == 2


async def test_a_return_can_be_read_by_number_with_its_timeline(
    client: httpx.AsyncClient,
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    await act(client, number, "review", {"reason": "High value"})
    await act(client, number, "approve", {"note": "Checked photos"})

    response = await client.get(f"/api/v1/returns/{number}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["number"] == number
    assert body["status"] == "approved"
    assert [(e["action"], e["from_status"], e["to_status"]) for e in body["events"]] == [
        ("create", None, "requested"),
        ("send_to_review", "requested", "review"),
        ("approve", "review", "approved"),
    ]
    assert body["events"][1]["data"] == {"reason": "High value"}
    assert body["events"][2]["data"] == {"returnless": False, "note": "Checked photos"}
    times = [e["at"] for e in body["events"]]
    assert times == sorted(times)


async def test_a_return_number_is_found_however_a_person_types_it(
    client: httpx.AsyncClient,
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    typed = number.lower().replace("-", " ")

    response = await client.get(f"/api/v1/returns/{typed}")

    assert response.status_code == 200, response.text
    assert response.json()["number"] == number


@pytest.mark.parametrize(
    "number",
    ["RMA-00000-00000", "RMA-ZZZZZ-ZZZZZ", "RMA-NOPE", "not-a-return", "RMA-00000-00000-0"],
)
async def test_an_unknown_return_number_is_a_404_problem(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], number: str
) -> None:
    await post_order(client)
    await post_return(client)
    assert_problem(await client.get(f"/api/v1/returns/{number}"), 404, "not-found")
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{number}/approve", json={})
        assert_problem(response, 404, "not-found")


async def test_a_return_for_an_unknown_order_is_a_404_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client)
    async with unchanged(sessions):
        response = await client.post("/api/v1/returns", json=return_payload("NO-SUCH-ORDER"))
        body = assert_problem(response, 404, "not-found")
    assert body["order_id"] == "NO-SUCH-ORDER"


def _line(**changes: Any) -> dict[str, Any]:
    payload = return_payload()
    payload["lines"][0].update(changes)
    return payload


BAD_RETURNS = {
    "zero quantity": _line(quantity=0),
    "negative quantity": _line(quantity=-1),
    "huge quantity": _line(quantity=10**9),
    "astronomic quantity": _line(quantity=10**30),
    "fractional quantity": _line(quantity=1.5),
    "whole float quantity": _line(quantity=1.0),
    "quantity as string": _line(quantity="1"),
    "quantity as bool": _line(quantity=True),
    "quantity null": _line(quantity=None),
    "unknown reason": _line(reason="changed_my_mind"),
    "unknown resolution": _line(resolution="cash"),
    "line id as number": _line(line_id=1),
    "unknown line field": _line(refund_minor=2500),
    "unknown top-level field": {**return_payload(), "refund_minor": 2500},
    "unknown method": {**return_payload(), "method": "pigeon"},
    "no lines": {**return_payload(), "lines": []},
    "missing order id": {"lines": return_payload()["lines"]},
    "body is a list": [return_payload()],
    "body is a string": "1001",
}


@pytest.mark.parametrize("payload", BAD_RETURNS.values(), ids=BAD_RETURNS.keys())
async def test_an_invalid_return_request_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], payload: Any
) -> None:
    await post_order(client, quantity=2)
    async with unchanged(sessions):
        response = await client.post(
            "/api/v1/returns", json=payload, headers={"Idempotency-Key": "bad-return"}
        )
        body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] and all({"field", "message"} <= e.keys() for e in body["errors"])


BAD_LINES = {
    "line not on the order": (_line(line_id="99"), "validation-failed"),
    "same line twice": (
        {**return_payload(), "lines": return_payload()["lines"] * 2},
        "validation-failed",
    ),
    "keep_item asked for by the shopper": (return_payload(method="keep_item"), "validation-failed"),
    "keep_item resolution asked for": (_line(resolution="keep_item"), "validation-failed"),
    "more than was bought": (_line(quantity=3), "quantity-exceeded"),
    "no reason stated, which only imported history has": (
        _line(reason="unspecified"),
        "validation-failed",
    ),
}


@pytest.mark.parametrize(("payload", "code"), BAD_LINES.values(), ids=BAD_LINES.keys())
async def test_a_return_the_order_does_not_allow_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    payload: dict,
    code: str,
) -> None:
    await post_order(client, quantity=2)
    async with unchanged(sessions):
        response = await client.post(
            "/api/v1/returns", json=payload, headers={"Idempotency-Key": f"bad-{code}"}
        )
        assert_problem(response, 422, code)


async def test_returning_more_than_is_left_after_earlier_returns_is_quantity_exceeded(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=3)
    await post_return(client, quantity=2)
    async with unchanged(sessions):
        response = await client.post("/api/v1/returns", json=return_payload(quantity=2))
        body = assert_problem(response, 422, "quantity-exceeded")
    assert body["returnable"] == 1
    assert (await client.post("/api/v1/returns", json=return_payload(quantity=1))).is_success
    assert await returned_quantity(sessions) == 3


async def test_an_order_outside_its_return_window_is_not_returnable(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, "OLD-1", delivered_days_ago=90)
    await post_order(client, "UNDELIVERED-1", delivered_days_ago=None)
    async with unchanged(sessions):
        for order_id in ("OLD-1", "UNDELIVERED-1"):
            response = await client.post("/api/v1/returns", json=return_payload(order_id))
            assert_problem(response, 422, "not-returnable")


async def _returns_on(client: httpx.AsyncClient, order_id: str, how_many: int) -> list[str]:
    await post_order(client, order_id, quantity=how_many)
    return [(await post_return(client, order_id))["number"] for _ in range(how_many)]


async def _walk(client: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/returns", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["number"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ran out"


async def test_listing_returns_is_newest_first_and_filters_by_order_and_status(
    client: httpx.AsyncClient,
) -> None:
    on_a = await _returns_on(client, "A", 3)
    on_b = await _returns_on(client, "B", 2)
    await act(client, on_a[0], "approve", {})
    await act(client, on_b[1], "approve", {})

    everything = (await client.get("/api/v1/returns")).json()
    assert [item["number"] for item in everything["items"]] == (on_a + on_b)[::-1]
    assert everything["next_cursor"] is None
    assert all(item["events"] is None for item in everything["items"])

    by_order = (await client.get("/api/v1/returns", params={"order_id": "A"})).json()
    assert [item["number"] for item in by_order["items"]] == on_a[::-1]

    approved = (await client.get("/api/v1/returns", params={"status": "approved"})).json()
    assert [item["number"] for item in approved["items"]] == [on_b[1], on_a[0]]

    both = {"status": "requested", "order_id": "B"}
    assert [
        i["number"] for i in (await client.get("/api/v1/returns", params=both)).json()["items"]
    ] == [on_b[0]]
    assert (await client.get("/api/v1/returns", params={"order_id": "C"})).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_cursor_pagination_walks_every_return_once(client: httpx.AsyncClient) -> None:
    created = await _returns_on(client, "A", 7)

    pages = await _walk(client, limit=2)

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    walked = [number for page in pages for number in page]
    assert walked == created[::-1]


async def test_cursor_pagination_keeps_to_the_filters(client: httpx.AsyncClient) -> None:
    on_a = await _returns_on(client, "A", 5)
    await _returns_on(client, "B", 4)
    for number in on_a[:4]:
        await act(client, number, "approve", {})

    pages = await _walk(client, limit=3, order_id="A", status="approved")

    assert [number for page in pages for number in page] == on_a[:4][::-1]


async def test_a_page_that_ends_exactly_on_the_last_return_has_no_next_cursor(
    client: httpx.AsyncClient,
) -> None:
    await _returns_on(client, "A", 4)
    pages = await _walk(client, limit=2)
    assert [len(page) for page in pages] == [2, 2]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "RMA-00000-00000"},
        {"order_id": "x" * 65},
    ],
    ids=str,
)
async def test_bad_list_parameters_are_a_422_problem(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    await _returns_on(client, "A", 2)
    assert_problem(await client.get("/api/v1/returns", params=params), 422, "validation-failed")


async def test_returns_of_one_order_do_not_leak_into_another_orders_quantities(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await client.post("/api/v1/orders", json=order_payload("A", quantity=2))
    await client.post("/api/v1/orders", json=order_payload("B", quantity=2))
    await post_return(client, "A", quantity=2)
    assert await returned_quantity(sessions, "A") == 2
    assert await returned_quantity(sessions, "B") == 0
