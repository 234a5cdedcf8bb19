"""Idempotency-Key on every POST: a retry never does the work twice, and gets the first answer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.api.idempotency import request_fingerprint
from reclaim.api.models import IdempotencyRecord
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.users.apikeys import IssuedKey
from tests.factories import order_payload, return_payload, seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import (
    api_client,
    assert_problem,
    count,
    post_order,
    post_return,
    returned_quantity,
    unchanged,
)

RETURNS = "/api/v1/returns"


def _keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_replayed_return_gets_the_first_response_byte_for_byte_and_creates_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=3)
    first = await client.post(RETURNS, json=return_payload(), headers=_keyed("ret-1"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    async with unchanged(sessions):
        replay = await client.post(RETURNS, json=return_payload(), headers=_keyed("ret-1"))

    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert await returned_quantity(sessions) == 1


async def test_a_replay_answers_with_the_original_even_after_the_return_moved_on(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client)
    first = await client.post(RETURNS, json=return_payload(), headers=_keyed("ret-1"))
    number = first.json()["number"]
    approved = await client.post(f"{RETURNS}/{number}/approve", json={}, headers=_keyed("appr-1"))
    assert approved.status_code == 200

    # A retried approval must not turn into "can't approve an approved return".
    again = await client.post(f"{RETURNS}/{number}/approve", json={}, headers=_keyed("appr-1"))
    assert (again.status_code, again.content) == (200, approved.content)
    replay = await client.post(RETURNS, json=return_payload(), headers=_keyed("ret-1"))
    assert (replay.status_code, replay.content) == (201, first.content)
    assert await count(sessions, "return_events") == 2


async def test_a_replayed_order_import_gets_the_first_response(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    payload = order_payload("A-1")
    first = await client.post("/api/v1/orders", json=payload, headers=_keyed("ord-1"))
    assert first.status_code == 201

    async with unchanged(sessions):
        replay = await client.post("/api/v1/orders", json=payload, headers=_keyed("ord-1"))

    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    fresh = await client.post("/api/v1/orders", json=payload, headers=_keyed("ord-2"))
    assert fresh.status_code == 200


@pytest.mark.parametrize(
    "other",
    [
        {"path": RETURNS, "payload": return_payload(quantity=2)},
        {"path": RETURNS, "payload": return_payload(reason="defective")},
        {"path": "/api/v1/orders", "payload": order_payload("A-2")},
    ],
    ids=["other quantity", "other reason", "other endpoint"],
)
async def test_the_same_key_with_a_different_request_is_a_422_problem(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], other: dict[str, Any]
) -> None:
    await post_order(client, quantity=3)
    first = await client.post(RETURNS, json=return_payload(), headers=_keyed("k-1"))
    assert first.status_code == 201

    async with unchanged(sessions):
        response = await client.post(other["path"], json=other["payload"], headers=_keyed("k-1"))
        assert_problem(response, 422, "idempotency-key-reused")


async def test_keys_belong_to_one_api_key_so_integrations_never_collide(
    client: httpx.AsyncClient, live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=3)
    other = await seed_api_key(sessions)
    first = await client.post(RETURNS, json=return_payload(), headers=_keyed("order-1001"))
    async with api_client(live_server.url, other.token) as second_integration:
        theirs = await second_integration.post(
            RETURNS, json=return_payload(quantity=2), headers=_keyed("order-1001")
        )
        their_replay = await second_integration.post(
            RETURNS, json=return_payload(quantity=2), headers=_keyed("order-1001")
        )

    assert (first.status_code, theirs.status_code) == (201, 201)
    assert first.json()["number"] != theirs.json()["number"]
    assert their_replay.content == theirs.content
    assert await returned_quantity(sessions) == 3
    assert await count(sessions, "idempotency_keys") == 2


async def test_a_failed_request_frees_its_key_for_the_corrected_request(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=2)
    async with unchanged(sessions):
        over = await client.post(RETURNS, json=return_payload(quantity=5), headers=_keyed("k-1"))
        assert_problem(over, 422, "quantity-exceeded")

    corrected = await client.post(RETURNS, json=return_payload(quantity=2), headers=_keyed("k-1"))

    assert corrected.status_code == 201, corrected.text
    assert "idempotent-replayed" not in corrected.headers
    replay = await client.post(RETURNS, json=return_payload(quantity=2), headers=_keyed("k-1"))
    assert replay.content == corrected.content


async def test_a_request_that_failed_can_be_retried_unchanged_once_the_cause_is_fixed(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The order import raced the return: the first try is a 404, not a stored answer.
    early = await client.post(RETURNS, json=return_payload("LATE-1"), headers=_keyed("k-1"))
    assert_problem(early, 404, "not-found")
    await post_order(client, "LATE-1")

    retry = await client.post(RETURNS, json=return_payload("LATE-1"), headers=_keyed("k-1"))

    assert retry.status_code == 201, retry.text
    assert await count(sessions, "returns") == 1


async def test_an_illegal_move_frees_its_key(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    early = await client.post(f"{RETURNS}/{number}/complete", headers=_keyed("k-1"))
    assert_problem(early, 409, "invalid-transition")
    assert await count(sessions, "idempotency_keys") == 0


@pytest.mark.parametrize("key", ["", "x" * 256], ids=["empty", "256 chars"])
async def test_an_unusable_key_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], key: str
) -> None:
    await post_order(client)
    async with unchanged(sessions):
        response = await client.post(RETURNS, json=return_payload(), headers=_keyed(key))
        assert_problem(response, 422, "validation-failed")


async def test_a_key_of_255_characters_works(client: httpx.AsyncClient) -> None:
    await post_order(client)
    first = await client.post(RETURNS, json=return_payload(), headers=_keyed("k" * 255))
    replay = await client.post(RETURNS, json=return_payload(), headers=_keyed("k" * 255))
    assert first.status_code == 201
    assert replay.content == first.content


async def _left_in_flight(
    sessions: async_sessionmaker[AsyncSession],
    api_key: IssuedKey,
    key: str,
    body: bytes,
    locked_for: timedelta,
) -> None:
    """What a request that claimed ``key`` and then died leaves behind."""
    async with transaction(sessions) as session:
        session.add(
            IdempotencyRecord(
                api_key_id=api_key.id,
                key=key,
                request_hash=request_fingerprint("POST", RETURNS, body),
                locked_until=utcnow() + locked_for,
            )
        )


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def test_a_key_still_in_flight_is_a_409_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], api_key: IssuedKey
) -> None:
    await post_order(client)
    body = _body(return_payload())
    await _left_in_flight(sessions, api_key, "k-1", body, timedelta(minutes=1))

    async with unchanged(sessions):
        response = await client.post(
            RETURNS, content=body, headers={**_keyed("k-1"), "Content-Type": "application/json"}
        )
        assert_problem(response, 409, "idempotency-key-in-flight")


async def test_a_key_left_in_flight_by_a_crashed_request_is_reclaimed_after_its_lock(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], api_key: IssuedKey
) -> None:
    await post_order(client)
    body = _body(return_payload())
    await _left_in_flight(sessions, api_key, "k-1", body, -timedelta(seconds=1))
    headers = {**_keyed("k-1"), "Content-Type": "application/json"}

    response = await client.post(RETURNS, content=body, headers=headers)

    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    replay = await client.post(RETURNS, content=body, headers=headers)
    assert (replay.status_code, replay.content) == (201, response.content)
    assert await count(sessions, "returns") == 1
    assert await count(sessions, "idempotency_keys") == 1


async def test_a_crashed_requests_key_still_refuses_a_different_request(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], api_key: IssuedKey
) -> None:
    await post_order(client, quantity=2)
    await _left_in_flight(sessions, api_key, "k-1", _body(return_payload()), -timedelta(seconds=1))
    async with unchanged(sessions):
        response = await client.post(
            RETURNS, json=return_payload(quantity=2), headers=_keyed("k-1")
        )
        assert_problem(response, 422, "idempotency-key-reused")
