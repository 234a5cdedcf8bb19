"""The inbound forecast per facility, from what each facility received.

A return line counts on the day (UTC) its units were received, under its return's facility: the
drop-off point, locker or store it was handed in at, which is where its parcels come from. Returns
sent straight to the warehouse (labels, pickups) name no facility and count under
``unassigned``. A line received in several parcels counts whole on the day of its last one (the
line keeps one receipt time).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from reclaim.analytics.dialect import day_of
from reclaim.errors import NotFound, ValidationFailed
from reclaim.logistics.models import Facility
from reclaim.prediction.forecast import (
    ForecastBacktest,
    ForecastDay,
    History,
    backtest,
    forecast,
    history_of,
)
from reclaim.returns.models import Return, ReturnLine

UNASSIGNED = "unassigned"
UNASSIGNED_NAME = "Straight to the warehouse"
# A year is enough for the weekday profile and the level, and keeps the read small.
HISTORY_DAYS = 365
DEFAULT_HORIZON = 28
MAX_HORIZON = 91
EARLIEST_TODAY = date(1971, 1, 1)
LATEST_TODAY = date(2999, 12, 31)


@dataclass(frozen=True)
class FacilityForecast:
    """The next days at one facility: returns (parcels) per day, units per day, and how the
    model did against seasonal naive on the facility's recent history, for each."""

    facility: str
    name: str
    days: list[ForecastDay]
    backtest: ForecastBacktest
    units: list[ForecastDay]
    units_backtest: ForecastBacktest
    history_days: int
    note: str | None


def _check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValidationFailed(
            f"The horizon must be 1 to {MAX_HORIZON} days, not {horizon}.", horizon=horizon
        )


def _check_today(today: date) -> None:
    if not EARLIEST_TODAY <= today <= LATEST_TODAY:
        raise ValidationFailed(
            f"Forecasts start between {EARLIEST_TODAY} and {LATEST_TODAY}, not {today}.",
            today=today.isoformat(),
        )


async def _received(
    session: AsyncSession, today: date, only: ColumnElement[bool] | None
) -> dict[int | None, dict[date, dict[int, int]]]:
    """{facility id: {day: {units in a return that day: returns}}} over the bounded history."""
    since = datetime.combine(today - timedelta(days=HISTORY_DAYS), time(), UTC)
    until = datetime.combine(today, time(), UTC)
    day = day_of(ReturnLine.received_at)
    per_return = (
        select(
            Return.facility_id.label("facility_id"),
            day.label("day"),
            func.sum(ReturnLine.received_quantity).label("units"),
        )
        .join(Return, Return.id == ReturnLine.return_id)
        .where(
            ReturnLine.received_at >= since,
            ReturnLine.received_at < until,
            ReturnLine.received_quantity > 0,
        )
        .group_by(Return.facility_id, day, ReturnLine.return_id)
    )
    if only is not None:
        per_return = per_return.where(only)
    sub = per_return.subquery()
    rows = await session.execute(
        select(sub.c.facility_id, sub.c.day, sub.c.units, func.count()).group_by(
            sub.c.facility_id, sub.c.day, sub.c.units
        )
    )
    received: dict[int | None, dict[date, dict[int, int]]] = defaultdict(dict)
    for facility_id, on, units, returns in rows:
        received[facility_id].setdefault(on, {})[int(units)] = int(returns)
    return received


async def _only(session: AsyncSession, code: str | None) -> ColumnElement[bool] | None:
    """The returns of the facility with this code (of none, for ``unassigned``), or of all."""
    if code is None:
        return None
    found = await session.scalar(select(Facility.id).where(Facility.code == code))
    if found is not None:
        return Return.facility_id == found
    if code == UNASSIGNED:
        return Return.facility_id.is_(None)
    raise NotFound(f"No facility {code!r}.", facility=code)


@dataclass(frozen=True)
class FacilityHistory:
    facility: str
    name: str
    history: History


async def histories(
    session: AsyncSession, today: date, *, facility: str | None = None
) -> list[FacilityHistory]:
    """What each facility received per day in the year before ``today``, from the first day it
    received anything; facilities that received nothing are left out. By code, the unassigned
    returns last."""
    _check_today(today)
    received = await _received(session, today, await _only(session, facility))
    known = [key for key in received if key is not None]
    names = {
        id_: (code, name)
        for id_, code, name in await session.execute(
            select(Facility.id, Facility.code, Facility.name).where(Facility.id.in_(known))
        )
    }
    ordered = sorted(
        (key is None, *(names[key] if key is not None else (UNASSIGNED, UNASSIGNED_NAME)), key)
        for key in received
    )
    return [
        FacilityHistory(code, name, history_of(received[key], today))
        for _, code, name, key in ordered
    ]


async def forecast_inbound(
    session: AsyncSession,
    today: date,
    horizon: int = DEFAULT_HORIZON,
    *,
    facility: str | None = None,
) -> list[FacilityForecast]:
    """Returns and units each facility will receive on each of ``horizon`` days from ``today``,
    learnt from its :func:`histories`, each with its backtest against seasonal naive."""
    _check_horizon(horizon)
    found = await histories(session, today, facility=facility)
    # A fraction of a second of arithmetic per facility: off the event loop, so that other
    # requests keep being served meanwhile.
    return await asyncio.to_thread(lambda: [_facility_forecast(one, horizon) for one in found])


def _facility_forecast(one: FacilityHistory, horizon: int) -> FacilityForecast:
    ahead = forecast(one.history, horizon)
    returns_backtest, units_backtest = backtest(one.history)
    return FacilityForecast(
        facility=one.facility,
        name=one.name,
        days=ahead.returns,
        backtest=returns_backtest,
        units=ahead.units,
        units_backtest=units_backtest,
        history_days=len(one.history.sizes),
        note=ahead.note,
    )
