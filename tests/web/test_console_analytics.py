"""The console's analytics dashboard over real HTTP, on both databases, with the hand-made
history of ``analytics_support`` (whose KPIs test_analytics_kpis.py works out by hand): who may
see it, its figures and charts, its filters good and bad, drilling down, the empty state, and
its downloads read back."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import polars as pl
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import export, rollups
from reclaim.analytics.definitions import KEYS, KPIS
from reclaim.users.roles import Role
from tests.integration.analytics_support import build_history
from tests.web.conftest import LiveServer
from tests.web.console_support import console_unchanged, signed_in, visitor, words

Sessions = async_sessionmaker[AsyncSession]
MARCH = "since=2026-03-01&until=2026-03-31"
PAGE = f"/console/analytics?{MARCH}"


@pytest.fixture
async def history(sessions: Sessions) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


def links(page: httpx.Response, pattern: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', page.text) if pattern in href]


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def svgs(page: httpx.Response) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", page.text, re.S)]


@pytest.mark.usefixtures("history")
async def test_admins_agents_and_analysts_see_the_dashboard_and_inspectors_dont(
    live_server: LiveServer, sessions: Sessions
) -> None:
    for role in (Role.ADMIN, Role.AGENT, Role.ANALYST):
        async with signed_in(live_server.url, sessions, role) as person:
            page = await person.get(PAGE)
            assert page.status_code == 200, (role, words(page))
            assert "Returns analytics" in words(page)
            assert 'href="/console/analytics" aria-current="page"' in page.text
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        refused = await inspector.get(PAGE)
        assert refused.status_code == 403
        assert "To see returns analytics you need the admin or agent or analyst role" in words(
            refused
        )
        assert (await inspector.get("/console/analytics/export/returns.csv")).status_code == 403
    async with visitor(live_server.url) as stranger:
        sent = await stranger.get(PAGE)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/console/login")


@pytest.mark.usefixtures("history")
async def test_every_kpi_has_a_tile_with_its_value_and_its_definition(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(PAGE)
    said = words(page)
    assert "1 Mar – 31 Mar 2026, compared with 29 Jan – 28 Feb 2026." in said
    assert "Figures as of " in said and "(refreshed every minute)" in said
    assert "7 returns, 12 units returned, 24 units shipped · GBP" in said
    assert page.text.count('class="tile"') == len(KPIS)
    for defn in KPIS:
        assert f'id="kpi-{defn.key}"' in page.text
        assert defn.definition in unescape(page.text), defn.key
    tile = re.search(r'id="kpi-return_rate">(.*?)</li>', page.text, re.S)
    assert tile is not None and '<p class="value">45.8%</p>' in tile.group(1)
    # Nothing was shipped in February: no change to show, and no value is made up.
    assert 'class="change' not in page.text


@pytest.mark.usefixtures("history")
async def test_a_kpi_without_a_denominator_shows_a_dash_and_why(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(f"{PAGE}&facility=WH2")
    tile = re.search(r'id="kpi-return_rate">(.*?)</li>', page.text, re.S)
    assert tile is not None
    assert '<p class="value none"' in tile.group(1) and "—" in tile.group(1)
    assert "Orders aren&#39;t shipped from a return facility" in tile.group(1)


@pytest.mark.usefixtures("history")
async def test_every_chart_is_an_svg_image_with_a_title_a_description_and_its_numbers(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(PAGE)
    pictures = svgs(page)
    titles = [svg.findtext("{http://www.w3.org/2000/svg}title") for svg in pictures]
    for title in (
        "Return rate by day",
        "Returns per day",
        "Why things come back",
        "Return rate by category",
        "How long refunds and restocking take",
        "What returned units are worth",
        "North warehouse",
        "South warehouse",
    ):
        assert title in titles, title
    for svg in pictures:
        assert svg.get("role") == "img"
        assert svg.findtext("{http://www.w3.org/2000/svg}title")
    assert page.text.count('<details class="numbers">') >= 8
    assert "<script" not in page.text  # server-drawn: nothing to run
    said = words(page)
    assert "Shopper's choice" in said and "Merchant's fault" in said and "Carrier's fault" in said
    assert "Whole selection 45.8%" in said


@pytest.mark.usefixtures("history")
async def test_filters_slice_the_figures_and_each_can_be_removed(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(f"{PAGE}&category=home&reason=defective")
        assert page.status_code == 200
        said = words(page)
        assert "2 returns, 3 units returned, 6 units shipped" in said
        assert "Category: home" in said and "Reason: Defective" in said
        assert '<option value="home" selected>' in page.text
        assert '<option value="defective" selected>' in page.text
        (drop_reason,) = [
            href
            for href in links(page, "/console/analytics?")
            if "category=home" in href and "reason" not in href and "since=2026-03-01" in href
        ][:1]
        dropped = await analyst.get(drop_reason)
        assert "3 returns, 4 units returned, 6 units shipped" in words(dropped)


@pytest.mark.usefixtures("history")
async def test_a_category_reason_or_sku_drills_down_from_the_page(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(PAGE)
        categories = [query(href) for href in links(page, "category=")]
        assert {"since": "2026-03-01", "until": "2026-03-31", "category": "apparel"} in categories
        home = next(href for href in links(page, "category=home"))
        drilled = await analyst.get(home)
        assert "Category: home" in words(drilled)
        reasons = {query(href)["reason"] for href in links(page, "reason=")}
        assert {"too_large", "too_small", "defective"} <= reasons
        skus = {query(href)["sku"] for href in links(page, "sku=")}
        assert skus and skus <= {"TEE", "SOCK", "MUG"}
        mug = await analyst.get(f"{PAGE}&sku=MUG")
        assert "SKU: MUG" in words(mug) and "3 returns, 4 units returned" in words(mug)


@pytest.mark.parametrize(
    ("typed", "said", "field"),
    [
        ("since=2026-13-01", "since must be a date as YYYY-MM-DD, not '2026-13-01'.", "since"),
        ("since=2026-03-31&until=2026-03-01", "The period ends (2026-03-01) before", "until"),
        ("since=2020-01-01&until=2026-03-01", "at most 3 years", "since"),
        ("reason=bored", "Unknown reason 'bored'", "reason"),
        ("currency=pounds", "three-letter ISO 4217 code", "currency"),
        (f"sku={'X' * 65}", "sku is at most 64 characters long.", "sku"),
        ("category=mugs%00", "category holds a control character.", "category"),
    ],
)
async def test_bad_filters_show_the_page_again_saying_why(
    live_server: LiveServer, sessions: Sessions, typed: str, said: str, field: str
) -> None:
    async with (
        signed_in(live_server.url, sessions, Role.ANALYST) as analyst,
        console_unchanged(sessions),
    ):
        page = await analyst.get(f"/console/analytics?{typed}")
    assert page.status_code == 400
    assert "These filters can't be used." in words(page)
    assert said in words(page)
    assert 'role="alert"' in page.text
    assert 'class="tile"' not in page.text
    if field in ("since", "until", "sku", "reason", "currency"):
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', page.text), field


@pytest.mark.usefixtures("history")
async def test_a_period_without_returns_says_how_to_find_some(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get("/console/analytics?since=2025-01-01&until=2025-01-31")
        assert page.status_code == 200
        said = words(page)
        assert "No returns in this period" in said
        assert "reclaim import online-retail FILE" in said
        assert 'class="tile"' not in page.text
        (latest,) = links(page, "until=2026-03-20")
        assert query(latest)["since"] == "2025-12-21"
        shown = await analyst.get(latest)
        assert "7 returns" in words(shown)


async def test_an_empty_database_shows_the_empty_state(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ADMIN) as admin:
        page = await admin.get("/console/analytics")
    assert page.status_code == 200
    assert "No returns in this period" in words(page)
    assert "Show the last 90 days with returns" not in words(page)


def _read(response: httpx.Response, fmt: str) -> pl.DataFrame:
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(response.content), infer_schema=False)
    return pl.read_parquet(io.BytesIO(response.content))


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_the_downloads_are_the_returns_and_kpis_of_the_current_filters(
    live_server: LiveServer, sessions: Sessions, fmt: str
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"{PAGE}&category=home")
        offered = links(page, "/console/analytics/export/")
        returns_url = next(href for href in offered if f"returns.{fmt}" in href)
        assert query(returns_url)["category"] == "home"
        returned = await agent.get(returns_url)
        kpis = await agent.get(next(href for href in offered if f"kpis.{fmt}?" in href))
    for response, kind in ((returned, "returns"), (kpis, "kpis")):
        assert response.status_code == 200
        media = export.Format(fmt).media_type
        assert response.headers["content-type"].replace(" ", "") == media.replace(" ", "")
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{kind}-2026-03-01-to-2026-03-31.{fmt}"'
        )
        assert response.headers["cache-control"] == "private, no-store"
    lines = _read(returned, fmt)
    assert lines.columns == list(export.RETURN_SCHEMA)
    assert sorted(set(lines["sku"].to_list())) == ["MUG"]
    assert lines.height == 3
    figures = _read(kpis, fmt)
    assert figures.columns == list(export.KPI_SCHEMA)
    assert figures["key"].to_list() == list(KEYS)


@pytest.mark.usefixtures("history")
async def test_kpis_by_category_download_adds_a_row_per_category(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(PAGE)
        (by_category,) = [href for href in links(page, "kpis.csv") if "by=category" in href]
        got = await analyst.get(by_category)
    figures = _read(got, "csv")
    assert sorted(set(figures["scope"].to_list())) == ["all", "category"]
    assert figures.filter(pl.col("scope") == "category").height == 2 * len(KEYS)


async def test_a_download_with_bad_filters_or_an_unknown_name_is_refused(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with (
        signed_in(live_server.url, sessions, Role.ANALYST) as analyst,
        console_unchanged(sessions),
    ):
        bad = await analyst.get("/console/analytics/export/returns.csv?until=yesterday")
        assert bad.status_code == 400
        assert "until must be a date as YYYY-MM-DD" in words(bad)
        by = await analyst.get("/console/analytics/export/kpis.csv?by=sku")
        assert by.status_code == 400 and "by is 'category' or nothing" in words(by)
        unknown = await analyst.get("/console/analytics/export/orders.xlsx")
        assert unknown.status_code == 404
        assert "No export 'orders.xlsx'" in words(unknown)
