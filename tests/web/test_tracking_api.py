"""POST /api/v1/tracking-events: signed scans in; forged or unreadable ones out, none half-stored.

Requests are signed both with Reclaim's own signing module and with the ``standardwebhooks``
package, an independent implementation of the scheme a carrier would use.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from reclaim.notifications import signing
from tests.web.conftest import LiveServer
from tests.web.support import act, assert_problem, post_order, post_return, unchanged

Sessions = async_sessionmaker[AsyncSession]
SECRET = signing.new_secret()
WITH_SECRET = pytest.mark.parametrize("server_overrides", [{"tracking_secret": SECRET}])
PATH = "/api/v1/tracking-events"
AT = "2025-03-01T09:00:00Z"
Signer = Callable[[bytes, str, datetime], dict[str, str]]


def _ours(body: bytes, secret: str, at: datetime) -> dict[str, str]:
    return signing.sign([secret], f"msg_{uuid.uuid4().hex}", at, body).headers


def _independent(body: bytes, secret: str, at: datetime) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body.decode()),
    }


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


async def _post(
    live_server: LiveServer,
    body: bytes,
    *,
    signer: Signer = _ours,
    secret: str = SECRET,
    at: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    signed = signer(body, secret, at or datetime.now(UTC)) if headers is None else headers
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        return await http.post(
            PATH, content=body, headers={**signed, "Content-Type": "application/json"}
        )


def _event(tracking: str, code: str = "picked_up", **extra: Any) -> dict[str, Any]:
    return {"tracking_number": tracking, "code": code, "occurred_at": AT, **extra}


async def _stored(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM tracking_events")) or 0)


@asynccontextmanager
async def _nothing_stored(sessions: Sessions) -> AsyncIterator[None]:
    before = await _stored(sessions)
    async with unchanged(sessions):
        yield
    assert await _stored(sessions) == before


@pytest.fixture
async def approved(client: httpx.AsyncClient, sessions: Sessions) -> tuple[str, str]:
    """An approved return of order 1001 and its tracking number."""
    await post_order(client, "1001")
    number = (await post_return(client))["number"]
    await act(client, number, "approve")
    async with sessions() as session:
        tracking = await session.scalar(
            text(
                "SELECT s.tracking_number FROM shipments s JOIN returns r ON r.id = s.return_id"
                " WHERE r.number = :number"
            ),
            {"number": number},
        )
    return number, str(tracking)


async def _status(client: httpx.AsyncClient, number: str) -> str:
    response = await client.get(f"/api/v1/returns/{number}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


@WITH_SECRET
@pytest.mark.parametrize("signer", [_ours, _independent], ids=["ours", "standardwebhooks"])
async def test_a_signed_scan_is_stored_and_moves_the_return_in_transit(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
    approved: tuple[str, str],
    signer: Signer,
) -> None:
    number, tracking = approved

    response = await _post(live_server, _body(_event(tracking, location="Soho")), signer=signer)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "tracking_number": tracking,
        "outcome": "stored",
        "message": "Stored; the return is now in transit; the shipment reached accepted.",
        "return_number": number,
        "stage": "accepted",
        "changes": ["in_transit", "stage"],
    }
    assert await _status(client, number) == "in_transit"
    assert await _stored(sessions) == 1


@WITH_SECRET
async def test_a_replayed_request_is_a_harmless_duplicate(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
    approved: tuple[str, str],
) -> None:
    _, tracking = approved
    body = _body(_event(tracking, event_id="E-1"))
    headers = _ours(body, SECRET, datetime.now(UTC))

    first = await _post(live_server, body, headers=headers)
    replayed = await _post(live_server, body, headers=headers)

    assert [first.json()["outcome"], replayed.json()["outcome"]] == ["stored", "duplicate"]
    assert replayed.json()["changes"] == []
    assert await _stored(sessions) == 1


def _forged(body: bytes, secret: str, at: datetime) -> dict[str, str]:
    headers = _ours(body, secret, at)
    return {**headers, "webhook-signature": "v1," + "A" * 43 + "="}


def _id_changed(body: bytes, secret: str, at: datetime) -> dict[str, str]:
    return {**_ours(body, secret, at), "webhook-id": "msg_other"}


def _body_changed(body: bytes, secret: str, at: datetime) -> dict[str, str]:
    return _ours(body.replace(b"picked_up", b"delivered"), secret, at)


@WITH_SECRET
@pytest.mark.parametrize(
    ("signer", "secret", "age"),
    [
        pytest.param(_forged, SECRET, 0, id="forged-signature"),
        pytest.param(_ours, signing.new_secret(), 0, id="wrong-secret"),
        pytest.param(_independent, signing.new_secret(), 0, id="wrong-secret-independent"),
        pytest.param(_body_changed, SECRET, 0, id="body-changed-after-signing"),
        pytest.param(_id_changed, SECRET, 0, id="id-changed-after-signing"),
        pytest.param(_ours, SECRET, 6 * 60, id="too-old"),
        pytest.param(_ours, SECRET, -6 * 60, id="too-far-ahead"),
    ],
)
async def test_a_request_not_signed_with_the_secret_is_refused_and_nothing_stored(
    live_server: LiveServer,
    sessions: Sessions,
    approved: tuple[str, str],
    signer: Signer,
    secret: str,
    age: int,
) -> None:
    _, tracking = approved
    async with _nothing_stored(sessions):
        response = await _post(
            live_server,
            _body(_event(tracking)),
            signer=signer,
            secret=secret,
            at=datetime.now(UTC) - timedelta(seconds=age),
        )
    assert_problem(response, 401, "invalid-signature")


@WITH_SECRET
@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature", "all"])
async def test_a_request_missing_signature_headers_is_refused(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str], missing: str
) -> None:
    _, tracking = approved
    body = _body(_event(tracking))
    headers = _ours(body, SECRET, datetime.now(UTC))
    kept = {} if missing == "all" else {k: v for k, v in headers.items() if k != missing}
    async with _nothing_stored(sessions):
        response = await _post(live_server, body, headers=kept)
    assert "Sign the request" in assert_problem(response, 401, "invalid-signature")["detail"]


@WITH_SECRET
@pytest.mark.parametrize("signature", [b"v1,\xe9", "v1,é".encode()], ids=["latin-1", "utf-8"])
async def test_a_signature_header_with_non_ascii_bytes_is_refused_with_a_401(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str], signature: bytes
) -> None:
    _, tracking = approved
    body = _body(_event(tracking))
    headers = _ours(body, SECRET, datetime.now(UTC))
    async with _nothing_stored(sessions), httpx.AsyncClient(base_url=live_server.url) as http:
        # Raw bytes, as a broken client would send them; the server reads them as latin-1.
        response = await http.post(
            PATH,
            content=body,
            headers={
                **headers,
                "webhook-signature": signature,
                "Content-Type": "application/json",
            },
        )
    assert "No signature matches" in assert_problem(response, 401, "invalid-signature")["detail"]


async def test_without_a_tracking_secret_no_scan_is_accepted(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str]
) -> None:
    _, tracking = approved
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body(_event(tracking)))
    body = assert_problem(response, 401, "tracking-not-configured")
    assert "not configured" in body["detail"]


@WITH_SECRET
@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"tracking_number": "RC1"', b"\xff\xfe", b""],
    ids=["broken", "cut-short", "not-utf8", "empty"],
)
async def test_a_body_that_is_not_json_is_refused_with_a_400(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str], body: bytes
) -> None:
    async with _nothing_stored(sessions):
        response = await _post(live_server, body)
    assert_problem(response, 400, "malformed-json")


@WITH_SECRET
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "2025-03-01T09:00:00"}, "occurred_at"),
        ({"occurred_at": "soon"}, "occurred_at"),
        ({"code": "teleported"}, "code"),
        ({"location": "x" * 201}, "location"),
        ({"description": "crushed\x00"}, "description"),
        ({"event_id": "e" * 81}, "event_id"),
        ({"tracking_number": " "}, "tracking_number"),
    ],
)
async def test_an_unreadable_event_is_refused_by_field_and_nothing_stored(
    live_server: LiveServer,
    sessions: Sessions,
    approved: tuple[str, str],
    change: dict[str, Any],
    field: str,
) -> None:
    _, tracking = approved
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body({**_event(tracking), **change}))
    body = assert_problem(response, 422, "validation-failed")
    assert [error["field"] for error in body["errors"]] == [field]


@WITH_SECRET
async def test_an_event_without_a_required_field_is_refused(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str]
) -> None:
    _, tracking = approved
    event = _event(tracking)
    del event["occurred_at"]
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body(event))
    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [{"field": "occurred_at", "message": "is required"}]


@WITH_SECRET
async def test_one_event_for_an_unknown_tracking_number_is_a_404(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str]
) -> None:
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body(_event("RC999999999999X")))
    assert "RC999999999999X" in assert_problem(response, 404, "not-found")["detail"]


@WITH_SECRET
async def test_a_batch_answers_each_event_in_order(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
    approved: tuple[str, str],
) -> None:
    number, tracking = approved
    events = [
        _event(tracking, "picked_up", event_id="E-1"),
        _event(tracking, "picked_up", event_id="E-1"),
        _event("RC999999999999X"),
        _event(tracking, "delivered", event_id="E-2", occurred_at="2025-03-02T10:00:00+01:00"),
    ]

    response = await _post(live_server, _body({"events": events}))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(r["outcome"], r["changes"]) for r in answer["results"]] == [
        ("stored", ["in_transit", "stage"]),
        ("duplicate", []),
        ("unknown", []),
        ("stored", ["stage", "arrived"]),
    ]
    assert answer["counts"] == {"stored": 2, "duplicate": 1, "ignored": 0, "unknown": 1}
    assert await _stored(sessions) == 2
    assert await _status(client, number) == "in_transit"
    timeline = (await client.get(f"/api/v1/returns/{number}")).json()["events"]
    assert [event["action"] for event in timeline][-2:] == ["mark_in_transit", "arrived"]


@WITH_SECRET
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"events": []}, "events"),
        ({"events": "many"}, "events"),
        ({"events": [{"code": "accepted"}] * 501}, "events"),
        ([{"tracking_number": "RC1"}], "body"),
    ],
    ids=["empty", "not-a-list", "too-many", "bare-list"],
)
async def test_a_batch_of_the_wrong_shape_is_refused(
    live_server: LiveServer,
    sessions: Sessions,
    approved: tuple[str, str],
    payload: Any,
    field: str,
) -> None:
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body(payload))
    body = assert_problem(response, 422, "validation-failed")
    assert [error["field"] for error in body["errors"]] == [field]


@WITH_SECRET
async def test_one_bad_event_in_a_batch_stores_none_of_it(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str]
) -> None:
    _, tracking = approved
    events = [_event(tracking), _event(tracking, "in_transit", occurred_at="2025-03-01"), "x"]
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body({"events": events}))
    body = assert_problem(response, 422, "validation-failed")
    assert [error["field"] for error in body["errors"]] == ["events.1.occurred_at", "events.2"]


@WITH_SECRET
async def test_a_body_over_the_size_limit_is_refused_unread(
    live_server: LiveServer, sessions: Sessions, approved: tuple[str, str]
) -> None:
    _, tracking = approved
    events = [_event(tracking, description="d" * 1900, event_id=f"E-{i}") for i in range(600)]
    async with _nothing_stored(sessions):
        response = await _post(live_server, _body({"events": events}))
    assert_problem(response, 413, "too-large")
