"""Many clients at once, over real HTTP: the invariants hold however the requests interleave."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.api.models import IdempotencyRecord
from tests.factories import return_payload
from tests.web.support import (
    assert_problem,
    count,
    post_order,
    post_return,
    returned_quantity,
)

RETURNS = "/api/v1/returns"
CLIENTS = 50


async def test_fifty_concurrent_posts_with_one_key_create_exactly_one_return(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=5)
    payload = return_payload(quantity=2)

    responses = await asyncio.gather(
        *(
            client.post(RETURNS, json=payload, headers={"Idempotency-Key": "burst"})
            for _ in range(CLIENTS)
        )
    )

    created = [r for r in responses if r.status_code == 201]
    others = [r for r in responses if r.status_code != 201]
    for response in others:
        assert_problem(response, 409, "idempotency-key-in-flight")
    assert created, "no request got through"
    assert len({r.content for r in created}) == 1, "replays differ from the first answer"
    originals = [r for r in created if r.headers.get("idempotent-replayed") != "true"]
    assert len(originals) == 1
    for table, rows in {
        "returns": 1,
        "return_lines": 1,
        "return_events": 1,
        "outbox": 1,
        "idempotency_keys": 1,
    }.items():
        assert await count(sessions, table) == rows, table
    assert await returned_quantity(sessions) == 2
    # Once the burst is over, every retry is a replay of that one answer.
    late = await client.post(RETURNS, json=payload, headers={"Idempotency-Key": "burst"})
    assert (late.status_code, late.content) == (201, created[0].content)


@pytest.mark.parametrize("keys", ["no keys", "a key each"])
async def test_fifty_concurrent_returns_for_three_units_left_let_exactly_three_through(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], keys: str
) -> None:
    await post_order(client, quantity=3)

    responses = await asyncio.gather(
        *(
            client.post(
                RETURNS,
                json=return_payload(quantity=1),
                headers={"Idempotency-Key": f"client-{i}"} if keys == "a key each" else {},
            )
            for i in range(CLIENTS)
        )
    )

    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 3, sorted(r.status_code for r in responses)
    for response in refused:
        assert_problem(response, 422, "quantity-exceeded")
    assert len({r.json()["number"] for r in created}) == 3
    assert await returned_quantity(sessions) == 3
    assert await count(sessions, "returns") == 3
    assert await count(sessions, "return_events") == 3
    # Refused requests free their keys; only the three that worked keep an answer.
    assert await count(sessions, "idempotency_keys") == (3 if keys == "a key each" else 0)


async def test_concurrent_cancels_release_the_units_once(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=3)
    await post_return(client, quantity=1)
    number = (await post_return(client, quantity=2))["number"]

    responses = await asyncio.gather(
        *(client.post(f"{RETURNS}/{number}/cancel", json={}) for _ in range(20))
    )

    assert sorted(r.status_code for r in responses) == [200] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "invalid-transition")
    # The other return still holds its one unit: a double release would have eaten it.
    assert await returned_quantity(sessions) == 1
    events = (await client.get(f"{RETURNS}/{number}")).json()["events"]
    assert [e["action"] for e in events] == ["create", "cancel"]


async def test_concurrent_receipts_never_receive_more_than_was_sent(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=2)
    number = (await post_return(client, quantity=2))["number"]
    await client.post(f"{RETURNS}/{number}/approve", json={})
    scan = {"lines": [{"line_id": "1", "quantity": 1}]}

    responses = await asyncio.gather(
        *(client.post(f"{RETURNS}/{number}/receive", json=scan) for _ in range(20))
    )

    assert sorted(r.status_code for r in responses) == [200] * 2 + [422] * 18
    shown = (await client.get(f"{RETURNS}/{number}")).json()
    assert shown["lines"][0]["received_quantity"] == 2
    assert [e["action"] for e in shown["events"]].count("receive") == 2


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("server_overrides", [{"idempotency_lock_seconds": 7}])
async def test_a_request_held_up_mid_work_keeps_its_key_in_flight_for_the_configured_time(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Only PostgreSQL can hold a row lock that stalls the work but not the claim before it;
    # SQLite's single write lock would stall both.
    await post_order(client, quantity=3)
    payload = return_payload()
    headers = {"Idempotency-Key": "slow"}
    async with sessions() as blocker, blocker.begin():
        await blocker.execute(text("SELECT id FROM order_lines FOR UPDATE"))
        first = asyncio.create_task(client.post(RETURNS, json=payload, headers=headers))
        claim = await _wait_for_claim(sessions)

        duplicate = await client.post(RETURNS, json=payload, headers=headers)
        assert_problem(duplicate, 409, "idempotency-key-in-flight")
        assert claim.locked_until is not None
        held = claim.locked_until - claim.created_at
        assert timedelta(seconds=6) < held < timedelta(seconds=8), held
        assert not first.done()

    response = await asyncio.wait_for(first, timeout=30)
    assert response.status_code == 201, response.text
    replay = await client.post(RETURNS, json=payload, headers=headers)
    assert replay.content == response.content
    assert await count(sessions, "returns") == 1


async def _wait_for_claim(sessions: async_sessionmaker[AsyncSession]) -> IdempotencyRecord:
    for _ in range(500):
        async with sessions() as session:
            found = await session.scalar(select(IdempotencyRecord))
        if found is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the request never claimed its key")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("server_overrides", [{"idempotency_lock_seconds": 1}])
async def test_a_request_that_outlives_its_key_lock_yields_to_the_retry_that_took_it_over(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The first request stalls past its lock; a retry takes the key over. Both then finish,
    # and one key must still have done the work once.
    await post_order(client, quantity=3)
    payload = return_payload()
    headers = {"Idempotency-Key": "outlived"}
    async with sessions() as blocker, blocker.begin():
        await blocker.execute(text("SELECT id FROM order_lines FOR UPDATE"))
        first = asyncio.create_task(client.post(RETURNS, json=payload, headers=headers))
        await _wait_for_claim(sessions)
        await asyncio.sleep(1.5)
        retry = asyncio.create_task(client.post(RETURNS, json=payload, headers=headers))
        await asyncio.sleep(0.5)

    answers = await asyncio.wait_for(asyncio.gather(first, retry), timeout=30)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert await count(sessions, "returns") == 1
    assert await returned_quantity(sessions) == 1
    created = next(a for a in answers if a.status_code == 201)
    replay = await client.post(RETURNS, json=payload, headers=headers)
    assert replay.content == created.content
