"""``GET /api/v1/analytics/forecast`` over real HTTP: the forecast per facility, its refusals
and its scope."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.kit.clock import utcnow
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import act, api_client, assert_problem, post_order, unchanged

URL = "/api/v1/analytics/forecast"
TOMORROW = utcnow().date() + timedelta(days=1)


async def received_at_warehouse(client: httpx.AsyncClient) -> None:
    """Two returns of order 1001 received today at WH-1: one of 2 tees, one of a mug."""
    facility = {"code": "WH-1", "name": "Main warehouse", "kind": "warehouse"}
    response = await client.put("/api/v1/facilities/WH-1", json=facility | {"methods": ["locker"]})
    assert response.status_code == 201, response.text
    await post_order(client, "1001")
    for line_id, quantity in (("1", 2), ("2", 1)):
        body = {
            "order_id": "1001",
            "method": "locker",
            "facility": "WH-1",
            "lines": [{"line_id": line_id, "quantity": quantity, "reason": "no_longer_needed"}],
        }
        created = await client.post("/api/v1/returns", json=body)
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        await act(client, number, "approve")
        await act(
            client, number, "receive", {"lines": [{"line_id": line_id, "quantity": quantity}]}
        )


async def test_the_forecast_shows_each_facilitys_days_and_backtest(
    client: httpx.AsyncClient,
) -> None:
    await received_at_warehouse(client)

    response = await client.get(URL, params={"today": TOMORROW.isoformat(), "horizon": 7})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["today"], body["horizon"], body["coverage"]) == (TOMORROW.isoformat(), 7, 0.8)
    (warehouse,) = body["facilities"]
    assert (warehouse["facility"], warehouse["name"]) == ("WH-1", "Main warehouse")
    assert warehouse["history_days"] == 1
    assert "Not enough history (1 day)" in warehouse["note"]
    days, units = warehouse["days"], warehouse["units"]
    assert [day["day"] for day in days] == [
        (TOMORROW + timedelta(days=i)).isoformat() for i in range(7)
    ]
    # One day known: two returns of three units. A flat mean, with a range around it.
    assert days[0]["expected"] == pytest.approx(2.0)
    assert units[0]["expected"] == pytest.approx(3.0)
    assert days[0]["low"] <= days[0]["likely"] <= days[0]["high"]
    assert warehouse["backtest"] == {
        "windows": 0,
        "days": 0,
        "scored_days": 0,
        "mape_model": None,
        "mape_seasonal_naive": None,
        "wape_model": None,
        "wape_seasonal_naive": None,
    }


async def test_one_facility_alone_and_nothing_before_it(client: httpx.AsyncClient) -> None:
    await received_at_warehouse(client)

    alone = await client.get(URL, params={"facility": "WH-1", "today": TOMORROW.isoformat()})
    unassigned = await client.get(URL, params={"facility": "unassigned"})
    # Today's returns are not history yet: a forecast from today has nothing to learn from.
    from_today = await client.get(URL)

    assert [f["facility"] for f in alone.json()["facilities"]] == ["WH-1"]
    assert len(alone.json()["facilities"][0]["days"]) == 28
    assert unassigned.status_code == 200 and unassigned.json()["facilities"] == []
    assert from_today.json()["today"] == utcnow().date().isoformat()
    assert from_today.json()["facilities"] == []


async def test_an_unknown_facility_is_a_404_problem(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unchanged(sessions):
        body = assert_problem(await client.get(URL, params={"facility": "NOPE"}), 404, "not-found")
    assert "NOPE" in body["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"horizon": 0},
        {"horizon": 92},
        {"horizon": "four"},
        {"today": "2024-13-01"},
        {"today": "yesterday"},
        {"today": "0001-01-01"},
        {"facility": "not a code!"},
        {"facility": ""},
    ],
)
async def test_bad_parameters_are_422_problems(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], params: dict
) -> None:
    async with unchanged(sessions):
        assert_problem(await client.get(URL, params=params), 422)


async def test_the_forecast_needs_the_analytics_scope(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    allowed = await seed_api_key(sessions, ["analytics:read"])
    refused = await seed_api_key(sessions, ["returns:read", "refunds:read"])

    async with api_client(live_server.url, allowed.token) as http:
        assert (await http.get(URL)).status_code == 200
    async with api_client(live_server.url, refused.token) as http, unchanged(sessions):
        body = assert_problem(await http.get(URL), 403, "forbidden")
    assert body["scope"] == "analytics:read"
