"""GET /api/v1/analytics/exports/returns|kpis.csv|.parquet over real HTTP on both databases:
files to save, read back with polars; the analytics:read scope; bad filters as 422 problems."""

from __future__ import annotations

import io

import httpx
import polars as pl
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import export, rollups
from reclaim.analytics.definitions import KEYS
from tests.factories import seed_api_key
from tests.integration.analytics_support import build_history
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, unchanged

Sessions = async_sessionmaker[AsyncSession]
BASE = "/api/v1/analytics/exports"
MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


@pytest.fixture
async def history(sessions: Sessions) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


def _read(response: httpx.Response) -> pl.DataFrame:
    if response.headers["content-type"].startswith("text/csv"):
        return pl.read_csv(io.BytesIO(response.content))
    return pl.read_parquet(io.BytesIO(response.content))


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_returns_export_is_a_file_of_return_lines(
    client: httpx.AsyncClient, fmt: str
) -> None:
    response = await client.get(f"{BASE}/returns.{fmt}", params=MARCH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].replace(" ", "") == (
        export.Format(fmt).media_type.replace(" ", "")
    )
    assert response.headers["content-disposition"] == (
        f'attachment; filename="returns-2026-03-01-to-2026-03-31.{fmt}"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    lines = _read(response)
    assert lines.columns == list(export.RETURN_SCHEMA)
    assert lines.height == 9
    assert lines["value_minor"].dtype == pl.Int64
    assert lines.filter(pl.col("return_number") == "RMA-R1")["value_minor"].to_list() == [
        4000,
        1000,
    ]
    if fmt == "parquet":
        assert lines.schema == pl.Schema(export.RETURN_SCHEMA)


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_kpis_export_is_a_row_per_kpi_and_per_category_when_asked(
    client: httpx.AsyncClient, fmt: str
) -> None:
    whole = _read(await client.get(f"{BASE}/kpis.{fmt}", params=MARCH))
    assert whole.columns == list(export.KPI_SCHEMA)
    assert whole["key"].to_list() == list(KEYS)
    rate = whole.filter(pl.col("key") == "return_rate")
    assert rate["value"].to_list() == [pytest.approx(11 / 24)]
    by = _read(await client.get(f"{BASE}/kpis.{fmt}", params={**MARCH, "by": "category"}))
    assert by.height == 3 * len(KEYS)
    assert by.filter(pl.col("scope") == "category")["category"].unique().sort().to_list() == [
        "apparel",
        "home",
    ]


@pytest.mark.usefixtures("history")
async def test_a_slice_exports_only_what_is_in_it(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{BASE}/returns.csv", params={**MARCH, "facility": "WH1", "reason": "defective"}
    )
    lines = _read(response)
    assert lines["return_number"].to_list() == ["RMA-R1", "RMA-R7"]


async def test_an_empty_period_is_a_header_alone(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/returns.csv")
    assert response.status_code == 200
    assert response.text == ",".join(export.RETURN_SCHEMA) + "\r\n"


async def test_exports_need_the_analytics_read_scope(
    live_server: LiveServer, sessions: Sessions
) -> None:
    key = await seed_api_key(sessions, ["returns:read", "refunds:read"])
    async with api_client(live_server.url, key.token) as http, unchanged(sessions):
        for name in ("returns.csv", "returns.parquet", "kpis.csv", "kpis.parquet"):
            refused = await http.get(f"{BASE}/{name}")
            body = assert_problem(refused, 403, "forbidden")
            assert "analytics:read" in body["detail"]


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"since": "2026-02-30"}, "since must be a date"),
        ({"since": "2026-03-31", "until": "2026-03-01"}, "ends (2026-03-01) before"),
        ({"reason": "bored"}, "Unknown reason"),
        ({"currency": "12$"}, "three-letter ISO 4217 code"),
        ({"by": "sku"}, ""),
        ({"sku": "X" * 65}, ""),
    ],
)
async def test_bad_filters_are_a_422_problem_and_change_nothing(
    client: httpx.AsyncClient, sessions: Sessions, params: dict[str, str], said: str
) -> None:
    async with unchanged(sessions):
        for name in ("returns.csv", "kpis.parquet"):
            if "by" in params and name.startswith("returns"):
                continue
            body = assert_problem(await client.get(f"{BASE}/{name}", params=params), 422)
            assert said in body["detail"] or body.get("errors"), body
