"""Store credit over HTTP: a customer's balance and statement, spending once per reference,
and every bad request refused as problem+json with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.refunds import credit
from tests.factories import actor, order_payload, seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, post_order, snapshot

Sessions = async_sessionmaker[AsyncSession]
ANN = "/api/v1/customers/cust-ann@example.com/store-credit"
LEDGER = ("credit_accounts", "credit_transactions", "credit_postings")


async def _issue(
    sessions: Sessions, principal: int, bonus: int = 0, who: str = "cust-ann@example.com"
) -> None:
    async with transaction(sessions) as session:
        customer = await credit.find_customer(session, who)
        await credit.issue(
            session,
            customer_id=customer.id,
            currency="USD",
            principal_minor=principal,
            bonus_minor=bonus,
            ret=None,
            actor=actor("agent"),
            expires_after_days=None,
        )


async def _state(sessions: Sessions) -> dict[str, Any]:
    state = await snapshot(sessions)
    async with sessions() as session:
        for table in LEDGER:
            state[table] = await session.scalar(text(f"SELECT count(*) FROM {table}"))
        state["balances"] = (
            await session.execute(
                text("SELECT key, balance_minor FROM credit_accounts ORDER BY key")
            )
        ).all()
    return state


@asynccontextmanager
async def _unchanged(sessions: Sessions) -> AsyncIterator[None]:
    before = await _state(sessions)
    yield
    after = await _state(sessions)
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}


@pytest.fixture
async def ann(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await post_order(client)
    await _issue(sessions, 2000, bonus=200)


@pytest.mark.usefixtures("ann")
async def test_a_customers_store_credit_shows_balances_and_the_latest_entries(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(ANN)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer"] == "cust-ann@example.com"
    assert body["balances"] == [{"currency": "USD", "balance_minor": 2200}]
    assert [(e["kind"], e["amount_minor"], e["remaining_minor"]) for e in body["entries"]] == [
        ("bonus", 200, 200),
        ("issue", 2000, 2000),
    ]
    assert body["next_cursor"] is None


@pytest.mark.usefixtures("ann")
async def test_the_statement_pages_by_cursor(client: httpx.AsyncClient) -> None:
    first = (await client.get(ANN, params={"limit": 1})).json()
    second = (await client.get(ANN, params={"limit": 1, "after": first["next_cursor"]})).json()

    assert [e["kind"] for e in first["entries"] + second["entries"]] == ["bonus", "issue"]
    assert second["next_cursor"] is None
    euros = (await client.get(ANN, params={"currency": "EUR"})).json()
    assert euros["entries"] == []


async def test_a_customer_the_shop_gave_no_id_is_found_by_email(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    payload = order_payload(email="Guest@Example.com")
    del payload["customer"]["id"]
    assert (await client.post("/api/v1/orders", json=payload)).status_code == 201
    await _issue(sessions, 500, who="guest@example.com")

    response = await client.get("/api/v1/customers/GUEST@example.com/store-credit")

    assert response.status_code == 200, response.text
    assert response.json()["customer"] == "guest@example.com"
    assert response.json()["balances"] == [{"currency": "USD", "balance_minor": 500}]


@pytest.mark.usefixtures("ann")
async def test_a_spend_takes_credit_once_per_reference(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    body = {"amount_minor": 1500, "currency": "USD", "reference": "checkout-881"}

    first = await client.post(f"{ANN}/spend", json=body)
    again = await client.post(f"{ANN}/spend", json=body)

    assert first.status_code == 201, first.text
    assert first.json()["balance_minor"] == 700
    spend = first.json()["spend"]
    assert (spend["kind"], spend["amount_minor"], spend["reference"]) == (
        "spend",
        -1500,
        "checkout-881",
    )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    async with sessions() as session:
        spends = await session.scalar(
            text("SELECT count(*) FROM credit_transactions WHERE kind = 'spend'")
        )
    assert spends == 1
    other = await client.post(f"{ANN}/spend", json={**body, "amount_minor": 100})
    assert_problem(other, 409, "conflict")


@pytest.mark.usefixtures("ann")
async def test_an_idempotency_key_replays_the_spend(client: httpx.AsyncClient) -> None:
    body = {"amount_minor": 300, "currency": "USD", "reference": "checkout-5"}
    headers = {"Idempotency-Key": "spend-5"}

    first = await client.post(f"{ANN}/spend", json=body, headers=headers)
    replay = await client.post(f"{ANN}/spend", json=body, headers=headers)

    assert first.status_code == replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    balance = (await client.get(ANN)).json()["balances"]
    assert balance == [{"currency": "USD", "balance_minor": 1900}]


@pytest.mark.usefixtures("ann")
async def test_spending_more_than_the_balance_is_refused_naming_it(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with _unchanged(sessions):
        response = await client.post(
            f"{ANN}/spend", json={"amount_minor": 2201, "currency": "USD", "reference": "big"}
        )

    problem = assert_problem(response, 409, "insufficient-credit")
    assert problem["detail"] == "Not enough store credit: the balance is 22.00 USD."
    assert problem["balance_minor"] == 2200


SPEND = {"amount_minor": 100, "currency": "USD", "reference": "r-1"}


@pytest.mark.usefixtures("ann")
@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (ANN, {**SPEND, "amount_minor": -100}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": 0}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": 12.5}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": 10**14}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": 10**30}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": "100"}, 422, "validation-failed"),
        (ANN, {**SPEND, "amount_minor": True}, 422, "validation-failed"),
        (ANN, {**SPEND, "currency": "XYZ"}, 422, "validation-failed"),
        (ANN, {**SPEND, "currency": "EUR"}, 409, "insufficient-credit"),
        (ANN, {"amount_minor": 100, "currency": "USD"}, 422, "validation-failed"),
        (ANN, {**SPEND, "reference": ""}, 422, "validation-failed"),
        (ANN, {**SPEND, "reference": "x" * 129}, 422, "validation-failed"),
        (ANN, {**SPEND, "reference": "a\x00b"}, 422, "validation-failed"),
        (ANN, {**SPEND, "tip": 5}, 422, "validation-failed"),
        (ANN, [SPEND], 422, "validation-failed"),
        ("/api/v1/customers/nobody/store-credit", SPEND, 404, "not-found"),
        ("/api/v1/customers/ann@example.com/store-credit", SPEND, 404, "not-found"),
    ],
)
async def test_bad_spends_are_refused_as_problems_and_change_nothing(
    client: httpx.AsyncClient,
    sessions: Sessions,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    async with _unchanged(sessions):
        response = await client.post(f"{path}/spend", json=body)

    assert_problem(response, status, code)


@pytest.mark.usefixtures("ann")
async def test_malformed_json_is_a_bad_request_and_changes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with _unchanged(sessions):
        response = await client.post(
            f"{ANN}/spend",
            content=b'{"amount_minor": 100, "currency":',
            headers={"Content-Type": "application/json"},
        )

    assert_problem(response, 400, "malformed-json")


@pytest.mark.usefixtures("ann")
async def test_an_unknown_customer_has_no_store_credit_to_show(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/customers/nobody/store-credit"), 404, "not-found")
    bad = await client.get(ANN, params={"currency": "XYZ"})
    assert_problem(bad, 422, "validation-failed")


@pytest.mark.usefixtures("ann")
async def test_reading_and_spending_credit_need_their_scopes(
    live_server: LiveServer, sessions: Sessions
) -> None:
    reader = await seed_api_key(sessions, ["credit:read"])
    stranger = await seed_api_key(sessions, ["returns:read"])

    async with api_client(live_server.url, reader.token) as http:
        assert (await http.get(ANN)).status_code == 200
        async with _unchanged(sessions):
            refused = await http.post(f"{ANN}/spend", json=SPEND)
        assert_problem(refused, 403, "forbidden")
    async with api_client(live_server.url, stranger.token) as http:
        assert_problem(await http.get(ANN), 403, "forbidden")
    async with api_client(live_server.url) as http:
        assert_problem(await http.get(ANN), 401, "unauthorized")
