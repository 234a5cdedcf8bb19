"""API keys: no key, a bad key, a revoked key or a key without the scope gets nothing done."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.users.apikeys import IssuedKey, Scope, revoke_api_key
from tests.factories import order_payload, return_payload, seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, post_order, post_return, unchanged

# Every endpoint that needs a key: (method, path, body, scope it needs).
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/orders", order_payload("NEW-1"), "orders:write"),
    ("GET", "/api/v1/orders/1001", None, "orders:read"),
    ("POST", "/api/v1/returns", return_payload(), "returns:write"),
    ("GET", "/api/v1/returns", None, "returns:read"),
    ("GET", "/api/v1/returns/{number}", None, "returns:read"),
    ("POST", "/api/v1/returns/{number}/review", {}, "returns:write"),
    ("POST", "/api/v1/returns/{number}/approve", {}, "returns:write"),
    ("POST", "/api/v1/returns/{number}/reject", {"reason": "no"}, "returns:write"),
    ("POST", "/api/v1/returns/{number}/cancel", {}, "returns:write"),
    ("POST", "/api/v1/returns/{number}/in-transit", {}, "returns:write"),
    (
        "POST",
        "/api/v1/returns/{number}/receive",
        {"lines": [{"line_id": "1", "quantity": 1}]},
        "returns:write",
    ),
    (
        "POST",
        "/api/v1/returns/{number}/inspect",
        {"lines": [{"line_id": "1", "grade": "new"}]},
        "returns:write",
    ),
    (
        "POST",
        "/api/v1/returns/{number}/disposition",
        {"lines": [{"line_id": "1", "disposition": "restock"}]},
        "returns:write",
    ),
    ("POST", "/api/v1/returns/{number}/complete", None, "returns:write"),
    ("POST", "/api/v1/returns/{number}/attention/resolve", {"note": "ok"}, "returns:write"),
    ("GET", "/api/v1/returns/{number}/shipment", None, "returns:read"),
    ("GET", "/api/v1/returns/{number}/label.pdf", None, "returns:read"),
    ("GET", "/api/v1/returns/{number}/qr.png", None, "returns:read"),
    ("POST", "/api/v1/webhooks", {"url": "https://93.184.215.14/h"}, "webhooks:manage"),
    ("GET", "/api/v1/webhooks", None, "webhooks:manage"),
    ("GET", "/api/v1/webhooks/1", None, "webhooks:manage"),
    ("PATCH", "/api/v1/webhooks/1", {"description": "x"}, "webhooks:manage"),
    ("DELETE", "/api/v1/webhooks/1", None, "webhooks:manage"),
    ("POST", "/api/v1/webhooks/1/rotate-secret", None, "webhooks:manage"),
    ("GET", "/api/v1/webhooks/1/deliveries", None, "webhooks:manage"),
    ("GET", "/api/v1/deliveries", None, "webhooks:manage"),
    ("POST", "/api/v1/deliveries/1/replay", None, "webhooks:manage"),
    ("POST", "/api/v1/returns/{number}/receipts", {"weight_grams": 100}, "warehouse:write"),
    ("GET", "/api/v1/returns/{number}/receipts", None, "warehouse:read"),
    ("GET", "/api/v1/returns/{number}/flags", None, "warehouse:read"),
    ("POST", "/api/v1/receiving-flags/1/resolve", {"resolution": "ok"}, "warehouse:write"),
    ("GET", "/api/v1/returns/{number}/lines/1/checklist", None, "warehouse:read"),
    (
        "POST",
        "/api/v1/returns/{number}/lines/1/inspection",
        {"answers": {}, "grade": "new"},
        "warehouse:write",
    ),
    ("GET", "/api/v1/returns/{number}/lines/1/recommendation", None, "warehouse:read"),
    ("POST", "/api/v1/returns/{number}/lines/1/disposition", {}, "warehouse:write"),
    ("GET", "/api/v1/inventory/stock", None, "warehouse:read"),
    ("GET", "/api/v1/inventory/movements", None, "warehouse:read"),
    ("GET", "/api/v1/work-orders", None, "warehouse:read"),
    ("GET", "/api/v1/work-orders/WO-0000000000", None, "warehouse:read"),
    (
        "POST",
        "/api/v1/work-orders/WO-0000000000/receive",
        {"grade": "good", "cost_minor": 0},
        "warehouse:write",
    ),
    (
        "POST",
        "/api/v1/work-orders/WO-0000000000/scrap",
        {"cost_minor": 0, "reason": "x"},
        "warehouse:write",
    ),
    ("GET", "/api/v1/manifests", None, "warehouse:read"),
    ("GET", "/api/v1/manifests/MF-0000000000", None, "warehouse:read"),
    ("POST", "/api/v1/manifests/MF-0000000000/ship", {}, "warehouse:write"),
    ("POST", "/api/v1/dispositions/plan", {"capacity": {}}, "warehouse:read"),
    ("POST", "/api/v1/dispositions/apply", {"capacity": {}}, "warehouse:write"),
    ("GET", "/api/v1/returns/{number}/lines/1/bin-tag.pdf", None, "warehouse:read"),
    ("POST", "/api/v1/returns/{number}/refund", None, "refunds:write"),
    (
        "POST",
        "/api/v1/orders/1001/refunds",
        {"amount_minor": 100, "currency": "USD", "reason": "Late"},
        "refunds:write",
    ),
    ("GET", "/api/v1/refunds", None, "refunds:read"),
    ("GET", "/api/v1/refunds/RF-00000000", None, "refunds:read"),
    (
        "POST",
        "/api/v1/refunds/RF-00000000/confirmation",
        {"event": "refund.succeeded"},
        "refunds:write",
    ),
    ("POST", "/api/v1/refunds/RF-00000000/retry", None, "refunds:write"),
    ("GET", "/api/v1/customers/cust-ann@example.com/store-credit", None, "credit:read"),
    (
        "POST",
        "/api/v1/customers/cust-ann@example.com/store-credit/spend",
        {"amount_minor": 100, "currency": "USD", "reference": "checkout-1"},
        "credit:write",
    ),
    ("GET", "/api/v1/exchanges", None, "refunds:read"),
    ("GET", "/api/v1/exchanges/EX-00000000", None, "refunds:read"),
    (
        "POST",
        "/api/v1/exchanges/EX-00000000/shipped",
        {"carrier": "local", "tracking_number": "1Z1"},
        "refunds:write",
    ),
    ("GET", "/api/v1/analytics/forecast", None, "analytics:read"),
    ("GET", "/api/v1/analytics/kpis", None, "analytics:read"),
    ("GET", "/api/v1/analytics/kpis/series", None, "analytics:read"),
    ("GET", "/api/v1/analytics/kpis/breakdown", None, "analytics:read"),
    ("GET", "/api/v1/analytics/definitions", None, "analytics:read"),
    ("GET", "/api/v1/analytics/findings", None, "analytics:read"),
    ("GET", "/api/v1/analytics/products", None, "analytics:read"),
    ("GET", "/api/v1/analytics/products/TEE-M", None, "analytics:read"),
    ("GET", "/api/v1/analytics/exports/returns.csv", None, "analytics:read"),
    ("GET", "/api/v1/analytics/exports/returns.parquet", None, "analytics:read"),
    ("GET", "/api/v1/analytics/exports/kpis.csv", None, "analytics:read"),
    ("GET", "/api/v1/analytics/exports/kpis.parquet", None, "analytics:read"),
    ("POST", "/api/v1/predictions/return-risk", {"order": "1001"}, "predictions:read"),
]


async def _send(
    http: httpx.AsyncClient, method: str, path: str, body: Any, number: str
) -> httpx.Response:
    return await http.request(
        method,
        path.format(number=number),
        json=body,
        headers={"Idempotency-Key": "auth-test"} if method == "POST" else {},
    )


@pytest.fixture
async def number(client: httpx.AsyncClient) -> str:
    await post_order(client)
    return str((await post_return(client))["number"])


async def test_a_request_without_a_key_is_a_401_problem_with_a_bearer_challenge(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession], number: str
) -> None:
    async with api_client(live_server.url) as anonymous, unchanged(sessions):
        for method, path, body, _ in ENDPOINTS:
            response = await _send(anonymous, method, path, body, number)
            assert response.status_code == 401, (method, path, response.text)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


def _tokens(real: str) -> dict[str, str]:
    prefix = real.split("_")[1]
    return {
        "scheme only": "Bearer",
        "garbage": "Bearer hello",
        "no secret": f"Bearer rk_{prefix}",
        "empty secret": f"Bearer rk_{prefix}_",
        "wrong secret": f"Bearer rk_{prefix}_{'A' * 43}",
        "secret off by one char": f"Bearer {real[:-1]}{'B' if real[-1] != 'B' else 'C'}",
        "unknown prefix": f"Bearer rk_ffffffff_{real.split('_', 2)[2]}",
        "wrong scheme": f"Basic {real}",
        "token without scheme": real,
        "other product's prefix": f"Bearer sk_{prefix}_{real.split('_', 2)[2]}",
    }


@pytest.mark.parametrize("case", list(_tokens("rk_00000000_x")))
async def test_a_malformed_or_wrong_key_is_a_401_problem_and_writes_nothing(
    live_server: LiveServer,
    sessions: async_sessionmaker[AsyncSession],
    api_key: IssuedKey,
    number: str,
    case: str,
) -> None:
    header = _tokens(api_key.token)[case]
    async with (
        httpx.AsyncClient(base_url=live_server.url, headers={"Authorization": header}) as http,
        unchanged(sessions),
    ):
        for method, path, body, _ in ENDPOINTS:
            response = await _send(http, method, path, body, number)
            assert response.status_code == 401, (method, path, response.text)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_stops_working_at_once(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession], number: str
) -> None:
    key = await seed_api_key(sessions)
    async with api_client(live_server.url, key.token) as http:
        assert (await http.get(f"/api/v1/returns/{number}")).status_code == 200
        async with transaction(sessions) as session:
            await revoke_api_key(session, key.prefix)

        async with unchanged(sessions):
            assert_problem(await http.get(f"/api/v1/returns/{number}"), 401, "unauthorized")
            response = await http.post(
                f"/api/v1/returns/{number}/approve", json={}, headers={"Idempotency-Key": "k"}
            )
            assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("scope", [scope.value for scope in Scope])
async def test_a_key_without_the_scope_is_a_403_problem_and_writes_nothing(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession], number: str, scope: str
) -> None:
    # The key holds every scope but one, so only that one can be why it is refused.
    key = await seed_api_key(sessions, [other.value for other in Scope if other != scope])
    needing = [(m, p, b) for m, p, b, needs in ENDPOINTS if needs == scope]
    assert needing
    async with api_client(live_server.url, key.token) as http, unchanged(sessions):
        for method, path, body in needing:
            response = await _send(http, method, path, body, number)
            assert response.status_code == 403, (method, path, response.text)
            assert assert_problem(response, 403, "forbidden")["scope"] == scope


async def test_a_read_only_key_reads_but_cannot_write(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession], number: str
) -> None:
    key = await seed_api_key(sessions, ["returns:read"])
    async with api_client(live_server.url, key.token) as http:
        assert (await http.get("/api/v1/returns")).status_code == 200
        assert (await http.get(f"/api/v1/returns/{number}")).status_code == 200
        async with unchanged(sessions):
            assert_problem(await http.post("/api/v1/returns", json=return_payload()), 403)
            assert_problem(await http.get("/api/v1/orders/1001"), 403)


async def test_actions_are_recorded_against_the_key_that_made_them(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession], number: str
) -> None:
    other = await seed_api_key(sessions, ["returns:write", "returns:read"])
    async with api_client(live_server.url, other.token) as http:
        approved = (await http.post(f"/api/v1/returns/{number}/approve", json={})).json()
    assert approved["events"][-1]["actor"] == f"api:{other.prefix}"


async def test_health_and_the_api_description_need_no_key(live_server: LiveServer) -> None:
    async with api_client(live_server.url) as anonymous:
        for path in ("/api/v1/health", "/openapi.json", "/docs"):
            assert (await anonymous.get(path)).status_code == 200, path
