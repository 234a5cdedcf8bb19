"""Exchanges over HTTP: listed and shown to the shop, shipped once, bad input refused unwritten."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import seed_api_key
from tests.integration.helpers import rows, table_counts
from tests.integration.test_exchanges import seed_tees, swap
from tests.integration.test_settlement_timing import (
    MONEY_TABLES,
    line,
    policy_with,
    receive,
    seed_order,
    start_return,
)
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, unchanged

Sessions = async_sessionmaker[AsyncSession]
EXCHANGES = "/api/v1/exchanges"


async def exchanged(sessions: Sessions, sku: str = "TEE-S") -> tuple[str, str]:
    """A return of two tees received under at_receipt, exchanged for ``sku``: (RMA, EX)."""
    await seed_tees(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [swap(sku)])
    await receive(sessions, number, ("1", 2))
    ((exchange,),) = await rows(sessions, "SELECT number FROM exchanges")
    return number, exchange


async def exchange_row(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions, "SELECT status, carrier, tracking_number, shipped_at FROM exchanges"
    )


async def test_exchanges_are_listed_filtered_and_shown_one_at_a_time(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, exchange = await exchanged(sessions)

    listed = await client.get(EXCHANGES)
    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()["items"]
    assert listed.json()["next_cursor"] is None
    assert shown["number"] == exchange and shown["return_number"] == number
    assert (shown["status"], shown["instant"], shown["settle"]) == ("created", False, "refund")
    assert (shown["value_minor"], shown["price_minor"], shown["difference_minor"]) == (
        5000,
        4000,
        1000,
    )
    assert shown["items"] == [
        {"line_id": "1", "sku": "TEE-S", "name": "Tee (S)", "quantity": 2, "unit_price_minor": 2000}
    ]
    for query, found in (
        ({"return": number.lower()}, 1),
        ({"status": "created"}, 1),
        ({"status": "shipped"}, 0),
        ({"return": "RMA-00000-00000"}, 0),
    ):
        response = await client.get(EXCHANGES, params=query)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == found, query
    one = await client.get(f"{EXCHANGES}/{exchange.lower()}")
    assert one.status_code == 200 and one.json() == shown
    for unknown in ("EX-00000000", "nonsense"):
        assert_problem(await client.get(f"{EXCHANGES}/{unknown}"), 404)
    assert_problem(await client.get(EXCHANGES, params={"status": "lost"}), 422)
    assert_problem(await client.get(EXCHANGES, params={"cursor": "EX-00000000"}), 422)


async def test_an_exchange_ships_once_and_a_replay_gets_the_first_answer(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, exchange = await exchanged(sessions, "TEE-L")
    path = f"{EXCHANGES}/{exchange}/shipped"
    body = {"carrier": "ups", "tracking_number": "1Z999AA10123456784"}

    first = await client.post(path, json=body, headers={"Idempotency-Key": "ship-1"})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["tracking_number"]) == (
        "shipped",
        body["tracking_number"],
    )
    again = await client.post(path, json=body, headers={"Idempotency-Key": "ship-1"})
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"

    async with unchanged(sessions):
        twice = await client.post(path, json={"carrier": "dhl", "tracking_number": "JD01"})
        assert_problem(twice, 409, "conflict")
    assert await rows(
        sessions, "SELECT aggregate, topic FROM outbox WHERE topic = 'exchange.shipped'"
    ) == [(number, "exchange.shipped")]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tracking_number": "1Z1"}, 422),
        ({"carrier": "ups"}, 422),
        ({"carrier": "", "tracking_number": "1Z1"}, 422),
        ({"carrier": "ups", "tracking_number": "   "}, 422),
        ({"carrier": "x" * 33, "tracking_number": "1Z1"}, 422),
        ({"carrier": "ups", "tracking_number": "9" * 65}, 422),
        ({"carrier": 7, "tracking_number": "1Z1"}, 422),
        ({"carrier": "ups", "tracking_number": "1Z1", "eta": "tomorrow"}, 422),
        ({"carrier": "ups\x00", "tracking_number": "1Z1"}, 422),
        (b'{"carrier": "ups", "tracking_number": ', 400),
    ],
)
async def test_bad_shipping_details_are_refused_and_write_nothing(
    client: httpx.AsyncClient, sessions: Sessions, body: Any, status: int
) -> None:
    _, exchange = await exchanged(sessions, "TEE-L")
    before = await table_counts(sessions, *MONEY_TABLES)
    async with unchanged(sessions):
        if isinstance(body, bytes):
            response = await client.post(
                f"{EXCHANGES}/{exchange}/shipped",
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": "bad"},
            )
        else:
            response = await client.post(
                f"{EXCHANGES}/{exchange}/shipped", json=body, headers={"Idempotency-Key": "bad"}
            )
        assert_problem(response, status)
    assert await table_counts(sessions, *MONEY_TABLES) == before
    assert await exchange_row(sessions) == [("created", None, None, None)]


async def test_shipping_an_unknown_exchange_is_not_found(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with unchanged(sessions):
        response = await client.post(
            f"{EXCHANGES}/EX-00000000/shipped", json={"carrier": "ups", "tracking_number": "1Z1"}
        )
        assert_problem(response, 404)


async def test_exchanges_need_the_refunds_scopes(
    live_server: LiveServer, sessions: Sessions
) -> None:
    _, exchange = await exchanged(sessions, "TEE-L")
    reader = await seed_api_key(sessions, ["refunds:read"])
    other = await seed_api_key(sessions, ["returns:read", "returns:write"])
    async with api_client(live_server.url, other.token) as client:
        assert_problem(await client.get(EXCHANGES), 403)
    async with api_client(live_server.url, reader.token) as client:
        assert (await client.get(f"{EXCHANGES}/{exchange}")).status_code == 200
        async with unchanged(sessions):
            shipped = await client.post(
                f"{EXCHANGES}/{exchange}/shipped", json={"carrier": "ups", "tracking_number": "1"}
            )
            assert_problem(shipped, 403)
    assert await exchange_row(sessions) == [("created", None, None, None)]


async def test_asking_to_refund_a_line_not_yet_received_under_at_receipt_is_refused_unwritten(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("1", 2), line("2", 1)])
    await receive(sessions, number, ("2", 1))
    before = await table_counts(sessions, *MONEY_TABLES)

    async with unchanged(sessions):
        response = await client.post(
            f"/api/v1/returns/{number}/refund",
            json={"lines": ["1"]},
            headers={"Idempotency-Key": "too-early"},
        )
        problem = assert_problem(response, 409, "not-due")
    assert "once it is received (at receipt)" in problem["detail"]
    assert await table_counts(sessions, *MONEY_TABLES) == before
