"""Returns flagged for a person (a carrier exception): shown, queued, and cleared with a note;
one a receiving flag put in the queue leaves it only once its flags are resolved.

Returns are flagged the way they are in production: by a signed carrier scan reporting an
exception to ``POST /api/v1/tracking-events``, or by the parcel opened at the warehouse.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from reclaim.cli.app import app
from reclaim.config import get_settings
from reclaim.notifications import signing
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.portal_support import PORTAL_POLICY, portal_browser, seed_portal_order
from tests.web.support import (
    act,
    api_client,
    assert_problem,
    post_order,
    post_return,
    unchanged,
)

Sessions = async_sessionmaker[AsyncSession]
SECRET = signing.new_secret()
WITH_SECRET = pytest.mark.parametrize("server_overrides", [{"tracking_secret": SECRET}])
CRUSHED = "Box crushed at the hub"


async def _tracking(sessions: Sessions, number: str) -> str:
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT s.tracking_number FROM shipments s JOIN returns r ON r.id = s.return_id"
                " WHERE r.number = :number"
            ),
            {"number": number},
        )
    return str(found)


async def _flag(live_server: LiveServer, sessions: Sessions, number: str) -> None:
    """The carrier reports the parcel damaged."""
    body = json.dumps(
        {
            "tracking_number": await _tracking(sessions, number),
            "code": "damaged",
            "occurred_at": "2025-03-01T09:00:00Z",
            "description": CRUSHED,
        }
    ).encode()
    headers = signing.sign([SECRET], f"msg_{uuid.uuid4().hex}", datetime.now(UTC), body).headers
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        response = await http.post(
            "/api/v1/tracking-events",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text


async def _approved(client: httpx.AsyncClient, order_id: str) -> str:
    await post_order(client, order_id)
    number = str((await post_return(client, order_id))["number"])
    await act(client, number, "approve")
    return number


@pytest.fixture
async def flagged(live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions) -> str:
    number = await _approved(client, "1001")
    await _flag(live_server, sessions, number)
    return number


def _listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


async def _topics(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        found = await session.scalars(text("SELECT topic FROM outbox ORDER BY id"))
        return list(found)


@WITH_SECRET
async def test_a_carrier_exception_shows_on_the_return_and_in_the_attention_queue(
    client: httpx.AsyncClient, flagged: str
) -> None:
    calm = await _approved(client, "1002")

    shown = (await client.get(f"/api/v1/returns/{flagged}")).json()
    assert shown["attention"] == CRUSHED
    assert shown["attention_at"] is not None
    assert shown["status"] == "approved"  # an exception is no handover

    assert _listed(await client.get("/api/v1/returns", params={"attention": "true"})) == [flagged]
    assert _listed(await client.get("/api/v1/returns", params={"attention": "false"})) == [calm]
    everything = (await client.get("/api/v1/returns")).json()["items"]
    assert {item["number"]: item["attention"] for item in everything} == {
        flagged: CRUSHED,
        calm: None,
    }


@WITH_SECRET
async def test_resolving_clears_the_flag_and_keeps_the_note_on_the_timeline(
    client: httpx.AsyncClient, sessions: Sessions, flagged: str, api_key: Any
) -> None:
    response = await client.post(
        f"/api/v1/returns/{flagged}/attention/resolve",
        json={"note": "Carrier re-boxed it; parcel continues"},
        headers={"Idempotency-Key": "resolve-1"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["attention"], body["attention_at"], body["status"]) == (None, None, "approved")
    last = body["events"][-1]
    assert (last["action"], last["from_status"], last["to_status"]) == (
        "attention_resolved",
        "approved",
        "approved",
    )
    assert last["actor"] == f"api:{api_key.prefix}"
    assert last["data"]["note"] == "Carrier re-boxed it; parcel continues"
    assert last["data"]["attention"] == CRUSHED
    assert "return.attention_resolved" in await _topics(sessions)
    assert _listed(await client.get("/api/v1/returns", params={"attention": "true"})) == []

    # The same request again, with the same key, is answered from the first: nothing new.
    async with unchanged(sessions):
        again = await client.post(
            f"/api/v1/returns/{flagged}/attention/resolve",
            json={"note": "Carrier re-boxed it; parcel continues"},
            headers={"Idempotency-Key": "resolve-1"},
        )
    assert again.status_code == 200 and again.json() == body


@WITH_SECRET
async def test_resolving_twice_is_a_409_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions, flagged: str
) -> None:
    path = f"/api/v1/returns/{flagged}/attention/resolve"
    assert (await client.post(path, json={"note": "Looked at it"})).status_code == 200

    async with unchanged(sessions):
        problem = assert_problem(await client.post(path, json={"note": "Again"}), 409, "conflict")
    assert "nothing flagged" in problem["detail"]


async def test_resolving_a_return_never_flagged_is_a_409_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client, "1001")
    async with unchanged(sessions):
        response = await client.post(
            f"/api/v1/returns/{number}/attention/resolve", json={"note": "Nothing to see"}
        )
        assert_problem(response, 409, "conflict")


@WITH_SECRET
@pytest.mark.parametrize(
    "body", [None, {}, {"note": ""}, {"note": "   "}, {"note": "x" * 2001}, {"note": "ok", "x": 1}]
)
async def test_resolving_needs_a_note_and_a_bad_one_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions, flagged: str, body: Any
) -> None:
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{flagged}/attention/resolve", json=body)
        assert response.status_code in (400, 422), response.text
        assert_problem(response, response.status_code)
    assert (await client.get(f"/api/v1/returns/{flagged}")).json()["attention"] == CRUSHED


async def test_the_flag_stays_while_a_receiving_flag_is_open_and_goes_with_the_last_one(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client, "1001")
    parcel = await client.post(f"/api/v1/returns/{number}/receipts", json={"weight_grams": 150})
    assert parcel.status_code == 201, parcel.text
    empty_box = parcel.json()["flags"][0]
    path = f"/api/v1/returns/{number}/attention/resolve"

    async with unchanged(sessions):
        problem = assert_problem(await client.post(path, json={"note": "Looked"}), 409, "conflict")
    assert problem["detail"].startswith("Resolve the 1 open flag first: empty box")

    resolved = await client.post(
        f"/api/v1/receiving-flags/{empty_box['id']}/resolve",
        json={"resolution": "Carrier claim opened"},
    )
    assert resolved.status_code == 200, resolved.text
    assert (await client.get(f"/api/v1/returns/{number}")).json()["attention"] is None


async def test_resolving_an_unknown_return_is_a_404_problem(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with unchanged(sessions):
        for number in ("RMA-0000000000", "not-a-number"):
            response = await client.post(
                f"/api/v1/returns/{number}/attention/resolve", json={"note": "Looked at it"}
            )
            assert_problem(response, 404, "not-found")


@WITH_SECRET
async def test_a_read_only_key_sees_the_flag_but_cannot_resolve_it(
    live_server: LiveServer, sessions: Sessions, flagged: str
) -> None:
    key = await seed_api_key(sessions, ["returns:read"])
    async with api_client(live_server.url, key.token) as reader:
        queue = await reader.get("/api/v1/returns", params={"attention": "true"})
        assert _listed(queue) == [flagged]
        async with unchanged(sessions):
            response = await reader.post(
                f"/api/v1/returns/{flagged}/attention/resolve", json={"note": "Looked at it"}
            )
            assert_problem(response, 403, "forbidden")


@pytest.fixture
def cli_database(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RECLAIM_DATABASE_URL", live_server.settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@WITH_SECRET
@pytest.mark.usefixtures("cli_database")
async def test_the_cli_lists_the_returns_that_need_attention_and_why(
    client: httpx.AsyncClient, flagged: str
) -> None:
    calm = await _approved(client, "1002")

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["returns", "list", "--attention"], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert flagged in result.output and CRUSHED in result.output
    assert calm not in result.output


@pytest.mark.parametrize("server_overrides", [{**PORTAL_POLICY, "tracking_secret": SECRET}])
async def test_the_shopper_hears_the_problem_was_looked_at_but_not_the_staff_note(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        status = await shopper.start_return()
        found = re.search(r'class="rma">(RMA-[0-9A-Z-]+)<', status.text)
        assert found, status.text
        number = found.group(1)
        await _flag(live_server, sessions, number)
        await act(client, number, "attention/resolve", {"note": "Called the depot, all fine"})

        page = await shopper.get(f"/returns/r/{number}")

    assert page.status_code == 200, page.text
    shown = " ".join(html.unescape(page.text).split())
    assert "There's a problem with the delivery; we're looking into it." in shown
    assert "We've looked into the delivery problem." in shown
    assert "Called the depot" not in shown
