"""Whatever goes wrong at the HTTP level is an application/problem+json document, never HTML
or a bare FastAPI ``{"detail": …}``, and writes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.support import assert_problem, post_order, post_return, unchanged

JSON = {"Content-Type": "application/json"}
MALFORMED = {
    "truncated": b'{"order_id": "1001", "lines": [',
    "single quotes": b"{'order_id': '1001'}",
    "trailing comma": b'{"order_id": "1001",}',
    "not json at all": b"order_id=1001",
    "bare word": b"undefined",
}


@pytest.fixture
async def number(client: httpx.AsyncClient) -> str:
    await post_order(client)
    return str((await post_return(client))["number"])


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_json_is_a_400_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], number: str, body: bytes
) -> None:
    async with unchanged(sessions):
        for path in ("/api/v1/orders", "/api/v1/returns", f"/api/v1/returns/{number}/approve"):
            response = await client.post(
                path, content=body, headers={**JSON, "Idempotency-Key": "m"}
            )
            assert response.status_code == 400, (path, response.text)
            assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b'"a string"', b"42"], ids=["empty", "null", "list", "str", "int"]
)
async def test_a_body_that_is_not_an_object_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], body: bytes
) -> None:
    async with unchanged(sessions):
        response = await client.post("/api/v1/returns", content=body, headers=JSON)
        assert_problem(response, 422, "validation-failed")


async def test_a_field_error_names_the_field(client: httpx.AsyncClient) -> None:
    await post_order(client)
    response = await client.post(
        "/api/v1/returns",
        json={"order_id": "1001", "lines": [{"line_id": "1", "quantity": "2", "reason": "x"}]},
    )
    problem = assert_problem(response, 422, "validation-failed")
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"lines.0.quantity", "lines.0.reason"}


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing", "/api/v2/returns", "/api/v1/returns/{number}/teleport", "/api", "/docs/x"],
)
async def test_an_unknown_route_is_a_404_problem(
    client: httpx.AsyncClient, number: str, path: str
) -> None:
    response = await client.get(path.format(number=number))
    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/orders/1001", {"GET"}),
        ("PUT", "/api/v1/orders", {"POST"}),
        pytest.param(
            "PATCH",
            "/api/v1/returns",
            {"GET", "POST"},
        ),
        ("DELETE", "/api/v1/returns/{number}", {"GET"}),
        ("GET", "/api/v1/returns/{number}/approve", {"POST"}),
        ("POST", "/api/v1/health", {"GET"}),
    ],
)
async def test_a_wrong_method_is_a_405_problem_that_lists_the_allowed_ones(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    number: str,
    method: str,
    path: str,
    allowed: set[str],
) -> None:
    async with unchanged(sessions):
        response = await client.request(method, path.format(number=number), json={})
        assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
