"""``reclaim model forecast``: the coming days of inbound returns per facility, for staffing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, with_database
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.prediction.forecast import COVERAGE, WEEK, ForecastBacktest, ForecastDay
from reclaim.prediction.forecast_service import (
    DEFAULT_HORIZON,
    HISTORY_DAYS,
    MAX_HORIZON,
    UNASSIGNED,
    FacilityForecast,
    forecast_inbound,
)


def _span(days: list[ForecastDay]) -> str:
    first, last = days[0].day, days[-1].day
    return f"{first:%a %d %b}" if first == last else f"{first:%a %d %b} – {last:%a %d %b}"


def _weekly(one: FacilityForecast) -> Table:
    table = Table("Days", "Returns expected", "Units expected", title="Totals by week")
    for start in range(0, len(one.days), WEEK):
        returns, units = one.days[start : start + WEEK], one.units[start : start + WEEK]
        table.add_row(
            _span(returns),
            f"{sum(day.expected for day in returns):,.0f}",
            f"{sum(day.expected for day in units):,.0f}",
        )
    return table


def _daily(one: FacilityForecast) -> Table:
    share = f"{COVERAGE:.0%}"
    table = Table(
        "Day",
        "Returns expected",
        "likely",
        f"{share} range",
        "Units expected",
        "likely",
        f"{share} range",
        title="Each day",
    )
    for returns, units in zip(one.days, one.units, strict=True):
        table.add_row(
            f"{returns.day:%a %d %b}",
            f"{returns.expected:,.1f}",
            f"{returns.likely:,}",
            f"{returns.low:,}–{returns.high:,}",
            f"{units.expected:,.0f}",
            f"{units.likely:,}",
            f"{units.low:,}–{units.high:,}",
        )
    return table


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _backtest(one: FacilityForecast) -> Table | str:
    if one.backtest.windows == 0:
        return "[dim]Backtest: not enough history yet to test on a 28-day window.[/]"
    table = Table(
        "Measure",
        "MAPE model",
        "MAPE seasonal naive",
        "WAPE model",
        "WAPE seasonal naive",
        title=f"Backtest on the last {one.backtest.windows} 28-day windows",
        caption=f"MAPE over the {one.backtest.scored_days} of {one.backtest.days} days on which "
        "returns arrived; WAPE over every day. Seasonal naive: the same weekday a week before.",
    )
    measures: tuple[tuple[str, ForecastBacktest], ...] = (
        ("Returns", one.backtest),
        ("Units", one.units_backtest),
    )
    for measure, scores in measures:
        table.add_row(
            measure,
            _percent(scores.mape_model),
            _percent(scores.mape_seasonal_naive),
            _percent(scores.wape_model),
            _percent(scores.wape_seasonal_naive),
        )
    return table


def _print(one: FacilityForecast, daily: bool) -> None:
    label = "Returns with no facility" if one.facility == UNASSIGNED else one.name
    console.rule(f"[bold]{one.facility}[/] {label}")
    console.print(f"Learnt from {one.history_days:,} days of history.")
    if one.note:
        console.print(f"[yellow]{one.note}[/]")
    console.print(_weekly(one))
    if daily:
        console.print(_daily(one))
    console.print(_backtest(one))


def forecast(
    facility: Annotated[
        str | None,
        typer.Option(
            help=f"Only this facility's code ({UNASSIGNED!r}: returns with no facility)",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        int, typer.Option(min=1, max=MAX_HORIZON, help="Days to forecast")
    ] = DEFAULT_HORIZON,
    today: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First day to forecast; the history is what came before it (default: today)",
            show_default=False,
        ),
    ] = None,
    daily: Annotated[
        bool, typer.Option("--daily", help="Also show each day, with its likely value and range")
    ] = False,
) -> None:
    """Forecast daily inbound returns per facility, backtested against seasonal naive."""
    start: date = today.date() if today else utcnow().date()

    async def _load(sessions: async_sessionmaker[AsyncSession]) -> list[FacilityForecast]:
        async with transaction(sessions) as session:
            return await forecast_inbound(session, start, horizon, facility=facility)

    found = with_database(_load)
    if not found:
        console.print(
            f"No returns were received in the {HISTORY_DAYS} days before {start}: "
            "nothing to forecast from."
        )
        return
    console.print(
        f"Inbound returns for the {horizon} days from {start:%a %d %b %Y}, UTC days, "
        f"with {COVERAGE:.0%} ranges."
    )
    for one in found:
        _print(one, daily)
