"""Webhook endpoints over the API: secrets shown once, bad URLs refused, the delivery log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications import signing, webhooks
from reclaim.notifications.models import Delivery, DeliveryAttempt, WebhookEndpoint
from reclaim.notifications.outbox import enqueue
from reclaim.users.apikeys import Scope
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, unchanged

HOOKS = "/api/v1/webhooks"
# A public address written into the URL: nothing to resolve, so no DNS is needed.
PUBLIC_URL = "https://93.184.215.14/hooks/reclaim"
WEBHOOK_STATE = {
    "endpoints": "SELECT id, url, description, event_types, secret, previous_secret, "
    "previous_secret_until, active, disabled_reason, updated_at FROM webhook_endpoints ORDER BY id",
    "deliveries": "SELECT id, status, attempts, next_attempt_at, claimed_by FROM deliveries "
    "ORDER BY id",
    "attempts": "SELECT count(*) FROM delivery_attempts",
}


async def _webhook_state(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        return {
            name: [tuple(row) for row in (await session.execute(text(sql))).all()]
            for name, sql in WEBHOOK_STATE.items()
        }


@asynccontextmanager
async def nothing_written(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """The shared tables and the webhook tables are left exactly as they were."""
    before = await _webhook_state(sessions)
    async with unchanged(sessions):
        yield
    assert await _webhook_state(sessions) == before


async def _register(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"url": PUBLIC_URL, "event_types": ["return.approved"], **fields}
    response = await client.post(HOOKS, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _stored(sessions: async_sessionmaker[AsyncSession], endpoint_id: int) -> WebhookEndpoint:
    async with transaction(sessions) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return endpoint


async def _seed_delivery(
    sessions: async_sessionmaker[AsyncSession],
    *,
    endpoint_id: int | None,
    topic: str = "return.approved",
    channel: str = "webhook",
    status: str = "pending",
    failures: int = 0,
    at: datetime | None = None,
) -> int:
    """A delivery as the worker leaves it: fanned out, tried ``failures`` times."""
    now = at or utcnow()
    async with transaction(sessions) as session:
        message = enqueue(session, topic, "return:RMA-1", {"return": "RMA-1"}, now)
        await session.flush()
        delivery = Delivery(
            outbox_id=message.id,
            channel=channel,
            target=str(endpoint_id) if endpoint_id else "shopper@example.com",
            endpoint_id=endpoint_id,
            content={"webhook_id": f"msg_{message.id}", "body": "{}"},
            status=status,
            attempts=failures,
            next_attempt_at=now + timedelta(minutes=5),
            last_error="HTTP 500: boom" if failures else None,
            created_at=now,
        )
        session.add(delivery)
        await session.flush()
        for number in range(1, failures + 1):
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    number=number,
                    at=now + timedelta(seconds=number),
                    ok=False,
                    status_code=500,
                    error="HTTP 500: boom",
                    duration_ms=12,
                    worker="test-worker",
                )
            )
        return delivery.id


async def test_registering_shows_the_secret_once_and_never_again(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await _register(
        client, event_types=["return.approved", "return.received"], description="ERP"
    )

    assert signing.valid_secret(created["secret"])
    assert created["url"] == PUBLIC_URL
    assert created["event_types"] == ["return.approved", "return.received"]
    assert created["active"] is True and created["description"] == "ERP"
    assert (await _stored(sessions, created["id"])).secret == created["secret"]
    shown = (await client.get(f"{HOOKS}/{created['id']}")).json()
    listed = (await client.get(HOOKS)).json()["items"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert created["secret"] not in str(shown) + str(listed)
    assert [item["id"] for item in listed] == [created["id"]]


async def test_registering_with_an_idempotency_key_twice_creates_one_endpoint(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = {"url": PUBLIC_URL, "event_types": ["*"]}
    first = await client.post(HOOKS, json=body, headers={"Idempotency-Key": "hook-1"})
    assert first.status_code == 201, first.text

    async with nothing_written(sessions):
        again = await client.post(HOOKS, json=body, headers={"Idempotency-Key": "hook-1"})

    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


async def test_every_event_type_is_the_default(client: httpx.AsyncClient) -> None:
    response = await client.post(HOOKS, json={"url": PUBLIC_URL})

    assert response.status_code == 201, response.text
    assert response.json()["event_types"] == ["*"]


BAD_REGISTRATIONS: list[tuple[str, Any, int, str]] = [
    ("ftp", {"url": "ftp://93.184.215.14/in"}, 422, "webhook-url-refused"),
    ("loopback", {"url": "http://127.0.0.1:8080/in"}, 422, "webhook-url-refused"),
    ("private", {"url": "https://10.0.0.5/in"}, 422, "webhook-url-refused"),
    ("metadata", {"url": "http://169.254.169.254/latest"}, 422, "webhook-url-refused"),
    ("mapped loopback", {"url": "http://[::ffff:127.0.0.1]/"}, 422, "webhook-url-refused"),
    ("credentials", {"url": "https://a:b@93.184.215.14/"}, 422, "webhook-url-refused"),
    ("no host", {"url": "https:///in"}, 422, "webhook-url-refused"),
    ("not a url", {"url": "hooks please"}, 422, "webhook-url-refused"),
    ("empty host label", {"url": "http://a..b.com/"}, 422, "webhook-url-refused"),
    ("leading dot", {"url": "http://.example.com/"}, 422, "webhook-url-refused"),
    ("long host label", {"url": f"https://{'a' * 64}.example.com/"}, 422, "webhook-url-refused"),
    ("empty url", {"url": ""}, 422, "validation-failed"),
    ("long url", {"url": PUBLIC_URL + "/" + "a" * 2000}, 422, "validation-failed"),
    ("no url", {"event_types": ["*"]}, 422, "validation-failed"),
    (
        "unknown event",
        {"url": PUBLIC_URL, "event_types": ["return.teleported"]},
        422,
        "validation-failed",
    ),
    ("no events", {"url": PUBLIC_URL, "event_types": []}, 422, "validation-failed"),
    (
        "too many events",
        {"url": PUBLIC_URL, "event_types": ["return.approved"] * 51},
        422,
        "validation-failed",
    ),
    ("event not text", {"url": PUBLIC_URL, "event_types": [7]}, 422, "validation-failed"),
    ("extra field", {"url": PUBLIC_URL, "secret": "whsec_mine"}, 422, "validation-failed"),
    ("NUL", {"url": PUBLIC_URL, "description": "a\x00b"}, 422, "validation-failed"),
    ("long description", {"url": PUBLIC_URL, "description": "d" * 201}, 422, "validation-failed"),
    ("not an object", ["https://93.184.215.14/"], 422, "validation-failed"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [pytest.param(body, status, code, id=name) for name, body, status, code in BAD_REGISTRATIONS],
)
async def test_a_bad_registration_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    body: Any,
    status: int,
    code: str,
) -> None:
    async with nothing_written(sessions):
        response = await client.post(HOOKS, json=body, headers={"Idempotency-Key": "bad-1"})
        assert_problem(response, status, code)


async def test_malformed_json_is_a_400_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessions):
        response = await client.post(
            HOOKS, content=b'{"url": "https://', headers={"content-type": "application/json"}
        )
        assert_problem(response, 400, "malformed-json")


async def test_a_private_url_says_why_and_what_to_do(client: httpx.AsyncClient) -> None:
    response = await client.post(HOOKS, json={"url": "https://10.0.0.5/in"})

    detail = assert_problem(response, 422)["detail"]
    assert "10.0.0.5 is a private address" in detail
    assert "webhooks only go to public addresses" in detail


async def test_a_host_name_no_lookup_can_find_says_what_is_wrong(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(HOOKS, json={"url": "http://a..b.com/"})

    detail = assert_problem(response, 422, "webhook-url-refused")["detail"]
    assert "'a..b.com' is not a valid host name" in detail


@pytest.mark.parametrize("server_overrides", [{"webhook_allow_private": True}])
async def test_private_urls_are_accepted_when_the_operator_allows_them(
    client: httpx.AsyncClient,
) -> None:
    created = await _register(client, url="http://127.0.0.1:9/hook")

    assert created["url"] == "http://127.0.0.1:9/hook"


async def test_a_key_without_webhooks_manage_gets_403_everywhere_and_writes_nothing(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint = await _register(client)
    dead = await _seed_delivery(sessions, endpoint_id=endpoint["id"], status="dead", failures=1)
    others = [scope.value for scope in Scope if scope != Scope.WEBHOOKS_MANAGE]
    key = await seed_api_key(sessions, others)
    calls: list[tuple[str, str, Any]] = [
        ("POST", HOOKS, {"url": PUBLIC_URL}),
        ("GET", HOOKS, None),
        ("GET", f"{HOOKS}/{endpoint['id']}", None),
        ("PATCH", f"{HOOKS}/{endpoint['id']}", {"active": False}),
        ("DELETE", f"{HOOKS}/{endpoint['id']}", None),
        ("POST", f"{HOOKS}/{endpoint['id']}/rotate-secret", None),
        ("GET", f"{HOOKS}/{endpoint['id']}/deliveries", None),
        ("GET", "/api/v1/deliveries?status=dead", None),
        ("POST", f"/api/v1/deliveries/{dead}/replay", None),
    ]

    async with api_client(live_server.url, key.token) as http, nothing_written(sessions):
        for method, path, body in calls:
            response = await http.request(method, path, json=body)
            problem = assert_problem(response, 403, "forbidden")
            assert "webhooks:manage" in problem["detail"], (method, path)


async def test_without_a_key_nothing_is_shown(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with api_client(live_server.url) as anonymous, nothing_written(sessions):
        assert_problem(await anonymous.get(HOOKS), 401, "unauthorized")
        assert_problem(await anonymous.post(HOOKS, json={"url": PUBLIC_URL}), 401)


async def test_patch_changes_only_what_it_names(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await _register(client, description="ERP")

    response = await client.patch(
        f"{HOOKS}/{created['id']}", json={"event_types": ["*", "return.approved"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["event_types"] == ["*"]
    assert response.json()["description"] == "ERP" and response.json()["url"] == PUBLIC_URL

    cleared = await client.patch(f"{HOOKS}/{created['id']}", json={"description": None})
    assert cleared.json()["description"] is None
    assert (await _stored(sessions, created["id"])).secret == created["secret"]


async def test_an_endpoint_turned_off_by_a_410_can_be_turned_back_on(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await _register(client)
    async with transaction(sessions) as session:
        endpoint = await session.get(WebhookEndpoint, created["id"])
        assert endpoint is not None
        endpoint.active, endpoint.disabled_reason = False, "HTTP 410: gone"
    assert (await client.get(f"{HOOKS}/{created['id']}")).json()["disabled_reason"] == (
        "HTTP 410: gone"
    )

    response = await client.patch(f"{HOOKS}/{created['id']}", json={"active": True})

    assert response.status_code == 200, response.text
    assert response.json()["active"] is True and response.json()["disabled_reason"] is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"url": "http://192.168.1.1/admin"}, id="private url"),
        pytest.param({"url": "ftp://93.184.215.14/"}, id="ftp"),
        pytest.param({"url": "http://a..b.com/"}, id="empty host label"),
        pytest.param({"event_types": ["nope"]}, id="unknown event"),
        pytest.param({"event_types": []}, id="no events"),
        pytest.param({"active": "yes"}, id="active not a bool"),
        pytest.param({"secret": "whsec_x"}, id="extra field"),
    ],
)
async def test_a_bad_patch_is_a_problem_and_changes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], body: dict[str, Any]
) -> None:
    created = await _register(client)

    async with nothing_written(sessions):
        assert_problem(await client.patch(f"{HOOKS}/{created['id']}", json=body), 422)


async def test_rotating_returns_a_new_secret_and_keeps_the_old_one_signing_for_a_while(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await _register(client)
    before = utcnow()

    response = await client.post(
        f"{HOOKS}/{created['id']}/rotate-secret", headers={"Idempotency-Key": "rot-1"}
    )

    assert response.status_code == 200, response.text
    rotated = response.json()
    assert signing.valid_secret(rotated["secret"]) and rotated["secret"] != created["secret"]
    until = datetime.fromisoformat(rotated["previous_secret_valid_until"])
    overlap = timedelta(hours=live_server.settings.webhook_secret_overlap_hours)
    assert before + overlap <= until <= utcnow() + overlap
    stored = await _stored(sessions, created["id"])
    assert (stored.secret, stored.previous_secret) == (rotated["secret"], created["secret"])
    assert webhooks.signing_secrets(stored, utcnow()) == [rotated["secret"], created["secret"]]
    assert webhooks.signing_secrets(stored, until) == [rotated["secret"]]
    shown = (await client.get(f"{HOOKS}/{created['id']}")).json()
    assert shown["previous_secret_valid_until"] == rotated["previous_secret_valid_until"]
    assert rotated["secret"] not in str(shown)


async def test_deleting_removes_the_endpoint_and_its_delivery_log(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await _register(client)
    await _seed_delivery(sessions, endpoint_id=created["id"], failures=2)

    response = await client.delete(f"{HOOKS}/{created['id']}")

    assert response.status_code == 204
    assert_problem(await client.get(f"{HOOKS}/{created['id']}"), 404, "not-found")
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM deliveries")) == 0
        assert await session.scalar(text("SELECT count(*) FROM delivery_attempts")) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{HOOKS}/999"),
        ("PATCH", f"{HOOKS}/999"),
        ("DELETE", f"{HOOKS}/999"),
        ("POST", f"{HOOKS}/999/rotate-secret"),
        ("GET", f"{HOOKS}/999/deliveries"),
        ("POST", "/api/v1/deliveries/999/replay"),
    ],
)
async def test_an_unknown_id_is_a_404_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], method: str, path: str
) -> None:
    async with nothing_written(sessions):
        response = await client.request(method, path, json={} if method == "PATCH" else None)
        assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", str(2**63), "1.5"])
async def test_an_id_that_is_no_id_is_a_422_problem(client: httpx.AsyncClient, bad_id: str) -> None:
    assert_problem(await client.get(f"{HOOKS}/{bad_id}"), 422, "validation-failed")
    assert_problem(
        await client.post(f"/api/v1/deliveries/{bad_id}/replay"), 422, "validation-failed"
    )


async def test_the_delivery_log_shows_each_delivery_with_its_attempts_newest_first(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    mine = (await _register(client))["id"]
    other = (await _register(client))["id"]
    first = await _seed_delivery(sessions, endpoint_id=mine, failures=2)
    await _seed_delivery(sessions, endpoint_id=other, failures=1)
    second = await _seed_delivery(sessions, endpoint_id=mine, topic="return.received")

    log = (await client.get(f"{HOOKS}/{mine}/deliveries")).json()

    assert [item["id"] for item in log["items"]] == [second, first]
    assert log["next_cursor"] is None
    newest, oldest = log["items"]
    assert newest["topic"] == "return.received" and newest["attempt_log"] == []
    assert oldest["status"] == "pending" and oldest["attempts"] == 2
    assert [a["number"] for a in oldest["attempt_log"]] == [1, 2]
    assert oldest["attempt_log"][0]["status_code"] == 500
    assert oldest["attempt_log"][0]["error"] == "HTTP 500: boom"
    assert oldest["last_error"] == "HTTP 500: boom"


async def test_the_delivery_log_pages_with_a_cursor(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint = (await _register(client))["id"]
    ids = [await _seed_delivery(sessions, endpoint_id=endpoint) for _ in range(3)]

    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{HOOKS}/{endpoint}/deliveries", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(ids, reverse=True)
    bad = await client.get(f"{HOOKS}/{endpoint}/deliveries", params={"cursor": "nope"})
    assert_problem(bad, 422)


async def test_dead_deliveries_are_listed_by_channel_and_can_be_replayed(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint = (await _register(client))["id"]
    dead_hook = await _seed_delivery(sessions, endpoint_id=endpoint, status="dead", failures=3)
    await _seed_delivery(sessions, endpoint_id=endpoint, failures=1)
    dead_mail = await _seed_delivery(
        sessions, endpoint_id=None, channel="email", status="dead", failures=2
    )

    dead = (await client.get("/api/v1/deliveries", params={"status": "dead"})).json()
    dead_hooks = (
        await client.get("/api/v1/deliveries", params={"status": "dead", "channel": "webhook"})
    ).json()
    assert [item["id"] for item in dead["items"]] == [dead_mail, dead_hook]
    assert [item["id"] for item in dead_hooks["items"]] == [dead_hook]
    assert dead_hooks["items"][0]["attempts"] == 3

    before = utcnow()
    replayed = await client.post(
        f"/api/v1/deliveries/{dead_hook}/replay", headers={"Idempotency-Key": "replay-1"}
    )

    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["status"] == "pending" and body["attempts"] == 3
    assert before <= datetime.fromisoformat(body["next_attempt_at"]) <= utcnow()
    still_dead = (await client.get("/api/v1/deliveries", params={"status": "dead"})).json()
    assert [item["id"] for item in still_dead["items"]] == [dead_mail]

    async with nothing_written(sessions):
        again = await client.post(f"/api/v1/deliveries/{dead_hook}/replay")
        assert "only dead deliveries" in assert_problem(again, 409, "conflict")["detail"]


async def test_an_unknown_delivery_status_filter_is_a_422_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/deliveries", params={"status": "lost"})

    assert_problem(response, 422, "validation-failed")


async def test_a_webhooks_only_key_sees_and_replays_no_shoppers_email_deliveries(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint = (await _register(client))["id"]
    dead_hook = await _seed_delivery(sessions, endpoint_id=endpoint, status="dead", failures=1)
    dead_mail = await _seed_delivery(
        sessions, endpoint_id=None, channel="email", status="dead", failures=1
    )
    key = await seed_api_key(sessions, [Scope.WEBHOOKS_MANAGE])

    async with api_client(live_server.url, key.token) as http:
        # Without returns:read the list holds webhook deliveries only, the e-mails left out.
        listed = await http.get("/api/v1/deliveries")
        dead = await http.get("/api/v1/deliveries", params={"status": "dead"})
        assert [item["id"] for item in listed.json()["items"]] == [dead_hook]
        assert [item["id"] for item in dead.json()["items"]] == [dead_hook]
        assert "shopper@example.com" not in listed.text + dead.text
        async with nothing_written(sessions):
            asked = await http.get("/api/v1/deliveries", params={"channel": "email"})
            assert "returns:read" in assert_problem(asked, 403, "forbidden")["detail"]
            replay = await http.post(f"/api/v1/deliveries/{dead_mail}/replay")
            problem = assert_problem(replay, 403, "forbidden")
            assert "returns:write" in problem["detail"]
            assert "shopper@example.com" not in replay.text
        replayed = await http.post(f"/api/v1/deliveries/{dead_hook}/replay")
        assert replayed.status_code == 200, replayed.text


async def test_a_key_with_the_returns_scopes_too_sees_and_replays_email_deliveries(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    dead_mail = await _seed_delivery(
        sessions, endpoint_id=None, channel="email", status="dead", failures=1
    )
    reader = await seed_api_key(sessions, [Scope.WEBHOOKS_MANAGE, Scope.RETURNS_READ])
    writer = await seed_api_key(
        sessions, [Scope.WEBHOOKS_MANAGE, Scope.RETURNS_READ, Scope.RETURNS_WRITE]
    )

    async with api_client(live_server.url, reader.token) as http:
        listed = (await http.get("/api/v1/deliveries", params={"channel": "email"})).json()
        assert [item["target"] for item in listed["items"]] == ["shopper@example.com"]
        async with nothing_written(sessions):
            refused = await http.post(f"/api/v1/deliveries/{dead_mail}/replay")
            assert "returns:write" in assert_problem(refused, 403, "forbidden")["detail"]
    async with api_client(live_server.url, writer.token) as http:
        replayed = await http.post(f"/api/v1/deliveries/{dead_mail}/replay")

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["status"] == "pending"
