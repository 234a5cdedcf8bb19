"""The inbound-returns forecast over the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from reclaim.api.deps import ReadSession, require
from reclaim.api.problems import Problem, documented
from reclaim.kit.clock import utcnow
from reclaim.prediction.forecast import COVERAGE
from reclaim.prediction.forecast_service import (
    DEFAULT_HORIZON,
    MAX_HORIZON,
    UNASSIGNED,
    forecast_inbound,
)
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=documented(401, 403, 422))
Reader = Annotated[ApiKey, Depends(require(Scope.ANALYTICS_READ))]
NO_FACILITY: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such facility"}
}


class ForecastDayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    expected: float = Field(description="The mean: adds up over days into totals")
    likely: int = Field(description="The median: the point forecast the backtest scores")
    low: int = Field(description="Lower end of the interval")
    high: int = Field(description="Upper end of the interval")


class BacktestOut(BaseModel):
    """The model's likely values against seasonal naive (the same weekday a week before) on the
    last 28-day windows of history, each forecast from what was known before it. Errors are
    fractions; MAPE counts only days on which something arrived, WAPE every day. Null when the
    history is too short to test."""

    model_config = ConfigDict(from_attributes=True)

    windows: int
    days: int
    scored_days: int = Field(description="Days on which something arrived: the days MAPE counts")
    mape_model: float | None
    mape_seasonal_naive: float | None
    wape_model: float | None
    wape_seasonal_naive: float | None


class FacilityForecastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    facility: str = Field(description=f"The facility's code; {UNASSIGNED!r} for no facility")
    name: str
    history_days: int = Field(description="Days of history the forecast learnt from")
    note: str | None
    days: list[ForecastDayOut] = Field(description="Returns (parcels) received per day")
    backtest: BacktestOut
    units: list[ForecastDayOut] = Field(description="Units received per day")
    units_backtest: BacktestOut


class ForecastOut(BaseModel):
    today: date
    horizon: int
    coverage: float = Field(description="The share of days each interval should hold")
    facilities: list[FacilityForecastOut]


@router.get(
    "/forecast",
    response_model=ForecastOut,
    summary="Daily inbound returns per facility for the coming days, with their backtest",
    responses=NO_FACILITY,
)
async def get_forecast(
    session: ReadSession,
    _key: Reader,
    facility: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description=f"One facility's code ({UNASSIGNED!r}: returns with no facility)",
        ),
    ] = None,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON, description="Days ahead")] = (
        DEFAULT_HORIZON
    ),
    today: Annotated[
        date | None, Query(description="The first forecast day; history is what came before it")
    ] = None,
) -> ForecastOut:
    start = today or utcnow().date()
    found = await forecast_inbound(session, start, horizon, facility=facility)
    return ForecastOut(
        today=start,
        horizon=horizon,
        coverage=COVERAGE,
        facilities=[FacilityForecastOut.model_validate(one) for one in found],
    )
