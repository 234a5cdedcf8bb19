"""What the API tests check again and again: problem documents, and a database left untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import order_payload, return_payload

PROBLEM_JSON = "application/problem+json"
# Every table a request could write to; api_keys too, so a refused request can't mint one.
TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "order_payments",
    "returns",
    "return_lines",
    "return_events",
    "refunds",
    "refund_parts",
    "credit_accounts",
    "credit_transactions",
    "credit_postings",
    "exchanges",
    "outbox",
    "idempotency_keys",
    "api_keys",
)
# Updates don't change counts, so the rows that requests update are compared value by value.
UPDATED = {
    "orders": "SELECT external_id, currency, delivered_at, updated_at, paid_minor, "
    "given_back_minor FROM orders ORDER BY id",
    "order_lines": "SELECT id, quantity, returned_quantity, unit_price_minor FROM order_lines "
    "ORDER BY id",
    "order_payments": "SELECT id, method, captured_minor, refunded_minor FROM order_payments "
    "ORDER BY id",
    "returns": "SELECT number, status, method, status_reason, updated_at FROM returns ORDER BY id",
    "return_lines": "SELECT id, received_quantity, grade, disposition, settled_quantity, "
    "settled_minor FROM return_lines ORDER BY id",
    "refunds": "SELECT number, status, amount_minor FROM refunds ORDER BY id",
    "refund_parts": "SELECT id, status, amount_minor FROM refund_parts ORDER BY id",
    "credit_accounts": "SELECT key, balance_minor FROM credit_accounts ORDER BY id",
    "credit_transactions": "SELECT id, remaining_minor FROM credit_transactions ORDER BY id",
    "exchanges": "SELECT number, status FROM exchanges ORDER BY id",
    "idempotency_keys": "SELECT id, key, locked_until, response_status FROM idempotency_keys "
    "ORDER BY id",
}


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        state: dict[str, Any] = {
            f"count({table})": await session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in TABLES
        }
        for name, sql in UPDATED.items():
            state[name] = [tuple(row) for row in (await session.execute(text(sql))).all()]
        return state


@asynccontextmanager
async def unchanged(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """The block's requests may be refused, but must leave every row as it was."""
    before = await snapshot(sessions)
    yield
    after = await snapshot(sessions)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused request wrote to the database: {changed}"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status (and ``urn:reclaim:problem:<code>``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    for field in ("type", "title", "detail"):
        assert isinstance(body.get(field), str) and body[field], (field, body)
    assert body.get("status") == status, body
    if code is not None:
        assert body["type"] == f"urn:reclaim:problem:{code}", body
    return body


def api_client(base_url: str, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60)


async def post_order(client: httpx.AsyncClient, order_id: str = "1001", **kwargs: Any) -> dict:
    response = await client.post("/api/v1/orders", json=order_payload(order_id, **kwargs))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post_return(client: httpx.AsyncClient, order_id: str = "1001", **kwargs: Any) -> dict:
    response = await client.post("/api/v1/returns", json=return_payload(order_id, **kwargs))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(
    client: httpx.AsyncClient, number: str, action: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Move a return on, insisting that it worked."""
    response = await client.post(f"/api/v1/returns/{number}/{action}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def returned_quantity(
    sessions: async_sessionmaker[AsyncSession], order_id: str = "1001", line_id: str = "1"
) -> int:
    async with sessions() as session:
        value = await session.scalar(
            text(
                "SELECT ol.returned_quantity FROM order_lines ol JOIN orders o "
                "ON o.id = ol.order_id WHERE o.external_id = :order AND ol.line_ref = :line"
            ),
            {"order": order_id, "line": line_id},
        )
    assert value is not None, f"no order line {order_id}/{line_id}"
    return int(value)


async def count(sessions: async_sessionmaker[AsyncSession], table: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
