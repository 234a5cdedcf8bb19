"""``reclaim report``: the dashboard in the terminal, on the hand-made history of
``analytics_support`` (whose every KPI test_analytics_kpis.py works out by hand)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.cli import report
from tests.integration.analytics_support import build_history
from tests.integration.helpers import run_cli, table_rows

Sessions = async_sessionmaker[AsyncSession]
MARCH = ("--since", "2026-03-01", "--until", "2026-03-31")
pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
async def history(sessions: Sessions) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


def _rows_starting(output: str, first: str) -> list[list[str]]:
    return [row for row in table_rows(output) if row and row[0].startswith(first)]


@pytest.mark.usefixtures("history")
async def test_the_report_prints_every_kpi_with_its_value_and_definition() -> None:
    result = await run_cli("report", *MARCH)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Returns 01 Mar 2026 – 31 Mar 2026, against 29 Jan 2026 – 28 Feb 2026" in out
    assert "7 returns, 12 units returned, 24 units shipped; money in GBP." in out
    assert "Figures as of " in out
    (rate,) = _rows_starting(out, "Return rate")
    assert rate[1] == "45.8%"  # 11 of 24 units
    assert rate[3].startswith("Units returned within 30 days of the order")
    (fault,) = _rows_starting(out, "Merchant or carrier fault")
    assert fault[1] == "41.7%"  # 5 of 12 returned units
    (cycle,) = _rows_starting(out, "Refund cycle")
    assert cycle[1] == "69.1 h"


@pytest.mark.usefixtures("history")
async def test_the_reason_mix_is_drawn_as_bars_to_the_commonest_reasons_scale() -> None:
    result = await run_cli("report", *MARCH)
    mix = {row[0]: row[1:] for row in table_rows(result.output) if "(" in row[0]}
    # 12 units: too large 4, too small 3, defective 3, damaged 1, not as described 1.
    assert mix["Too large (customer)"] == ["█" * report.BAR_WIDTH, "33.3%", "4"]
    assert mix["Too small (customer)"] == ["█" * 22 + "▌", "25.0%", "3"]
    assert mix["Defective (merchant)"][1:] == ["25.0%", "3"]
    assert mix["Damaged in transit (carrier)"][1:] == ["8.3%", "1"]
    assert list(mix)[0] == "Too large (customer)"


@pytest.mark.usefixtures("history")
async def test_the_report_ends_with_findings_products_and_the_forecast_by_week() -> None:
    result = await run_cli("report", *MARCH)
    out = result.output
    assert "What to act on" in out
    assert "Frequently returned" in out
    # The period ended in the past: the forecast starts the day after it, from what was known.
    assert "Inbound forecast: returns expected from 01 Apr 2026" in out
    facilities = [row[0] for row in table_rows(out) if row[0].endswith("warehouse")]
    assert facilities == ["North warehouse", "South warehouse"]
    (north,) = _rows_starting(out, "North warehouse")
    assert len(north) == 5 and all(cell.replace(",", "").isdigit() for cell in north[1:])


@pytest.mark.usefixtures("history")
async def test_a_slice_reports_only_what_is_in_it() -> None:
    result = await run_cli("report", *MARCH, "--category", "home")
    assert result.exit_code == 0, result.output
    assert "(category home)" in result.output
    # Mugs: R1's one (defective), R3's one (not as described), R7's two (defective).
    assert "3 returns, 4 units returned, 6 units shipped" in result.output


@pytest.mark.usefixtures("history")
async def test_a_period_without_returns_says_how_to_get_some() -> None:
    result = await run_cli("report", "--since", "2025-01-01", "--until", "2025-01-31")
    assert result.exit_code == 0, result.output
    assert "0 returns" in result.output
    assert "No returns in this period" in result.output
    assert "reclaim import online-retail FILE" in result.output
    assert "Key figures" not in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--since", "2026-13-01"), "since must be a date as YYYY-MM-DD"),
        (("--since", "2026-03-31", "--until", "2026-03-01"), "ends (2026-03-01) before it starts"),
        (("--reason", "bored"), "Unknown reason 'bored'"),
        (("--currency", "pounds"), "three-letter ISO 4217 code"),
    ],
)
async def test_bad_filters_stop_the_report_saying_why(args: tuple[str, ...], said: str) -> None:
    result = await run_cli("report", *args)
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())
