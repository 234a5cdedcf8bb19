"""GET /api/v1/analytics/kpis, /kpis/series, /kpis/breakdown and /definitions over real HTTP,
on the hand-made history whose answers ``test_analytics_kpis`` works out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.analytics.definitions import KEYS
from reclaim.users.apikeys import Scope
from tests.factories import seed_api_key
from tests.integration.analytics_support import build_history
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, unchanged

MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


@pytest.fixture
async def history(sessions: async_sessionmaker[AsyncSession], live_server: LiveServer) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


def _by_key(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kpi["key"]: kpi for kpi in body["kpis"]}


@pytest.mark.usefixtures("history")
async def test_the_report_gives_every_kpi_with_its_definition_and_parts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/analytics/kpis", params=MARCH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["returns"], body["returned_units"], body["shipped_units"]) == (7, 12, 24)
    assert body["currency"] == "GBP"
    assert body["filters"]["since"] == "2026-03-01"
    assert body["refreshed_at"] is not None
    kpis = _by_key(body)
    assert list(kpis) == list(KEYS)
    rate = kpis["return_rate"]
    assert (rate["numerator"], rate["denominator"], rate["display"]) == (11, 24, "45.8%")
    assert rate["value"] == pytest.approx(11 / 24)
    assert rate["unit"] == "percent" and rate["better"] == "lower"
    assert "30 days" in rate["definition"]
    assert kpis["cost_per_return"]["display"] == "2.50 GBP"
    assert body["reason_mix"][0] == {
        "reason": "too_large",
        "label": "Too large",
        "fault": "customer",
        "units": 4,
        "share": pytest.approx(4 / 12),
    }


@pytest.mark.usefixtures("history")
async def test_slices_narrow_the_report(client: httpx.AsyncClient) -> None:
    sku = await client.get("/api/v1/analytics/kpis", params={**MARCH, "sku": "MUG"})
    place = await client.get("/api/v1/analytics/kpis", params={**MARCH, "facility": "WH1"})
    nothing = await client.get("/api/v1/analytics/kpis", params={**MARCH, "category": "garden"})

    assert _by_key(sku.json())["return_rate"]["value"] == pytest.approx(4 / 6)
    assert _by_key(place.json())["return_rate"]["value"] is None
    assert _by_key(place.json())["dock_to_stock_hours"]["value"] == 6.0
    assert nothing.status_code == 200
    assert {kpi["display"] for kpi in nothing.json()["kpis"]} == {"—"}


@pytest.mark.usefixtures("history")
async def test_series_per_week(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/analytics/kpis/series",
        params={**MARCH, "keys": "return_rate, refund_cycle_hours", "bucket": "week"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["keys"] == ["return_rate", "refund_cycle_hours"]
    assert [point["start"] for point in body["points"]][:3] == [
        "2026-02-23",
        "2026-03-02",
        "2026-03-09",
    ]
    assert body["points"][1]["values"]["return_rate"] == pytest.approx(9 / 21)
    assert body["points"][0]["values"] == {"return_rate": None, "refund_cycle_hours": None}


@pytest.mark.usefixtures("history")
async def test_breakdown_by_category(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/analytics/kpis/breakdown", params={**MARCH, "by": "category"}
    )

    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [(row["key"], row["returned_units"], row["shipped_units"]) for row in rows] == [
        ("apparel", 8, 18),
        ("home", 4, 6),
    ]
    assert set(rows[0]["kpis"]) == set(KEYS)


async def test_definitions(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/analytics/definitions")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["return_window_days"] == 30
    assert [kpi["key"] for kpi in body["kpis"]] == list(KEYS)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/kpis", {"since": "2026-02-30"}, "since"),
        ("/kpis", {"since": "2026-03-31", "until": "2026-03-01"}, "until"),
        ("/kpis", {"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ("/kpis", {"reason": "bored"}, "reason"),
        ("/kpis", {"currency": "pound"}, None),
        ("/kpis", {"currency": "£££"}, "currency"),
        ("/kpis/series", {"bucket": "hour"}, "bucket"),
        ("/kpis/series", {"keys": "return_rate,speed"}, None),
        ("/kpis/series", {"keys": ","}, "keys"),
        ("/kpis/breakdown", {"by": "colour"}, "by"),
        ("/kpis/breakdown", {"limit": "0"}, None),
    ],
)
async def test_bad_filters_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    params: dict[str, str],
    field: str | None,
) -> None:
    async with unchanged(sessions):
        response = await client.get(f"/api/v1/analytics{path}", params=params)

    body = assert_problem(response, 422)
    if field is not None:
        assert body["field"] == field, body


async def test_the_analytics_scope_is_needed(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_api_key(sessions, [Scope.RETURNS_READ])
    reader = await seed_api_key(sessions, [Scope.ANALYTICS_READ])
    async with (
        api_client(live_server.url) as anonymous,
        api_client(live_server.url, other.token) as wrong,
        api_client(live_server.url, reader.token) as right,
    ):
        for path in ("/kpis", "/kpis/series", "/kpis/breakdown", "/definitions"):
            assert_problem(await anonymous.get(f"/api/v1/analytics{path}"), 401)
            assert_problem(await wrong.get(f"/api/v1/analytics{path}"), 403, "forbidden")
            assert (await right.get(f"/api/v1/analytics{path}")).status_code == 200
