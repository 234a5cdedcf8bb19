"""PUT /api/v1/facilities/{code}, GET /api/v1/facilities and GET /api/v1/facilities/{code}."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.simulation.facilities import demo_facilities
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, unchanged

Sessions = async_sessionmaker[AsyncSession]


def _facility(code: str = "DROP-1", **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "Old Compton News",
        "kind": "dropoff",
        "methods": ["box_free_dropoff"],
        "address": "22 Old Compton Street, London",
        "postcode": "W1D 4TN",
        "country": "GB",
        "lat": 51.51335,
        "lon": -0.13095,
        "opening_hours": "Mon-Sun 07:00-22:00",
        **changes,
    }


async def _facilities(sessions: Sessions) -> list[tuple[Any, ...]]:
    """Read back the plain way: the API's own answer is not trusted to say what was stored."""
    async with sessions() as session:
        result = await session.execute(
            text(
                "SELECT code, name, kind, methods, postcode, country, lat, lon, active"
                " FROM facilities ORDER BY code"
            )
        )
        # JSON comes back as text from a plain query, on either database.
        return [
            (*row[:3], json.loads(row[3]) if isinstance(row[3], str) else row[3], *row[4:])
            for row in result.all()
        ]


async def _put(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/api/v1/facilities/{body['code']}", json=body)


async def test_put_creates_then_replaces_a_facility(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    created = await _put(client, _facility())

    assert created.status_code == 201, created.text
    assert created.json() == {**_facility(), "active": True}
    stored = await _facilities(sessions)
    assert [row[:4] for row in stored] == [
        ("DROP-1", "Old Compton News", "dropoff", ["box_free_dropoff"])
    ]

    replaced = await _put(
        client,
        _facility(name="Old Compton News & Parcels", methods=["locker", "box_free_dropoff"]),
    )

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["methods"] == ["box_free_dropoff", "locker"]
    [row] = await _facilities(sessions)
    assert row[:4] == (
        "DROP-1",
        "Old Compton News & Parcels",
        "dropoff",
        ["box_free_dropoff", "locker"],
    )
    shown = await client.get("/api/v1/facilities/DROP-1")
    assert shown.status_code == 200
    assert shown.json() == replaced.json()


async def test_list_is_by_code_and_filters_by_method_kind_and_active(
    client: httpx.AsyncClient,
) -> None:
    for facility in demo_facilities():
        response = await _put(client, facility.model_dump(mode="json"))
        assert response.status_code == 201, response.text
    closed = _facility("DROP-CLOSED", methods=["box_free_dropoff"], active=False)
    assert (await _put(client, closed)).status_code == 201

    async def codes(**params: str) -> list[str]:
        response = await client.get("/api/v1/facilities", params=params)
        assert response.status_code == 200, response.text
        return [item["code"] for item in response.json()["items"]]

    every = await codes()
    assert every == sorted(every) and len(every) == len(demo_facilities()) + 1
    assert await codes(method="locker") == [
        "LOCK-CANARY",
        "LOCK-CLAPHAM",
        "LOCK-KINGSX",
        "LOCK-STRATFORD",
    ]
    assert await codes(method="in_store") == ["STORE-OXFORD-ST", "STORE-SHOREDITCH"]
    assert await codes(kind="warehouse") == ["WH-PARK-ROYAL"]
    assert await codes(active="false") == ["DROP-CLOSED"]
    assert "DROP-CLOSED" not in await codes(method="box_free_dropoff", active="true")
    assert await codes(method="keep_item") == []


BAD = [
    pytest.param(_facility(lat=91.0), "lat", id="latitude-over-90"),
    pytest.param(_facility(lon=-180.5), "lon", id="longitude-under-minus-180"),
    pytest.param(_facility(lat=None), "body", id="longitude-without-latitude"),
    pytest.param(_facility(lat="north"), "lat", id="latitude-not-a-number"),
    pytest.param(_facility(kind="castle"), "kind", id="unknown-kind"),
    pytest.param(_facility(methods=["teleport"]), "methods.0", id="unknown-method"),
    pytest.param(_facility(methods=["keep_item"]), "body", id="keep-item-offered"),
    pytest.param(_facility(methods="locker"), "methods", id="methods-not-a-list"),
    pytest.param(_facility(country="gb"), "country", id="lowercase-country"),
    pytest.param(_facility(name=""), "name", id="empty-name"),
    pytest.param(_facility(surprise=1), "surprise", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
async def test_bad_facilities_are_refused_with_422_and_nothing_changes(
    client: httpx.AsyncClient, sessions: Sessions, body: dict[str, Any], field: str
) -> None:
    assert (await _put(client, _facility())).status_code == 201  # and then changed badly
    before = await _facilities(sessions)

    async with unchanged(sessions):
        problem = assert_problem(await _put(client, body), 422, "validation-failed")

    assert field in [error["field"] for error in problem["errors"]], problem
    assert await _facilities(sessions) == before


async def test_the_code_in_the_body_must_be_the_one_in_the_path(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with unchanged(sessions):
        response = await client.put("/api/v1/facilities/DROP-2", json=_facility("DROP-1"))
        problem = assert_problem(response, 422, "validation-failed")
        assert "DROP-2" in problem["detail"]
        bad_path = await client.put("/api/v1/facilities/DROP%201", json=_facility("DROP 1"))
        assert_problem(bad_path, 422, "validation-failed")
    assert await _facilities(sessions) == []


async def test_an_unknown_facility_is_404(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/api/v1/facilities/NOPE"), 404, "not-found")
    assert "NOPE" in problem["detail"]


async def test_writing_facilities_needs_orders_write(
    live_server: LiveServer, sessions: Sessions
) -> None:
    reader = await seed_api_key(sessions, ["orders:read"])
    async with api_client(live_server.url, reader.token) as http:
        async with unchanged(sessions):
            assert_problem(await _put(http, _facility()), 403, "forbidden")
        assert (await http.get("/api/v1/facilities")).status_code == 200
    assert await _facilities(sessions) == []
