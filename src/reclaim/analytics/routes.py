"""KPIs over the API: the report, time series, breakdowns and the definitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from reclaim.analytics import service
from reclaim.analytics.definitions import KPIS, RETURN_WINDOW_DAYS, by_key
from reclaim.analytics.filters import Filters
from reclaim.analytics.schemas import (
    BreakdownOut,
    BreakdownRowOut,
    DefinitionOut,
    DefinitionsOut,
    FiltersOut,
    KpiReportOut,
    SeriesOut,
    SeriesPointOut,
    filter_params,
)
from reclaim.api.deps import ReadSession, require
from reclaim.api.problems import documented
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=documented(401, 403, 422))
Reader = Annotated[ApiKey, Depends(require(Scope.ANALYTICS_READ))]
QueryFilters = Annotated[Filters, Depends(filter_params)]


@router.get("/kpis", summary="Every returns KPI for a period and slices")
async def kpis(_: Reader, filters: QueryFilters, session: ReadSession) -> KpiReportOut:
    """Each KPI with its definition, value, numerator and denominator, and the reason mix.
    Unknown categories, SKUs or facilities match nothing: every value is then null."""
    report = await service.report(session, filters)
    definitions = {defn.key: defn for defn in KPIS}
    return KpiReportOut.of(report, definitions, await service.refreshed_at(session))


@router.get("/kpis/series", summary="KPIs per day, week or month")
async def series(
    _: Reader,
    filters: QueryFilters,
    session: ReadSession,
    keys: Annotated[
        str, Query(max_length=500, description="KPI keys, comma-separated")
    ] = "return_rate",
    bucket: Annotated[str, Query(max_length=8, description="day, week or month")] = "week",
) -> SeriesOut:
    chosen = [by_key(key.strip()).key for key in keys.split(",") if key.strip()]
    points = await service.series(session, filters, chosen, bucket)
    return SeriesOut(
        filters=FiltersOut.of(filters),
        bucket=bucket,  # type: ignore[arg-type]  # checked by service.series
        keys=chosen,
        points=[SeriesPointOut(start=point.start, values=point.values) for point in points],
    )


@router.get("/kpis/breakdown", summary="Every KPI per category, SKU, reason or facility")
async def breakdown(
    _: Reader,
    filters: QueryFilters,
    session: ReadSession,
    by: Annotated[str, Query(max_length=16, description="category, sku, reason or facility")] = (
        "category"
    ),
    limit: Annotated[int, Query(ge=1, le=service.MAX_BREAKDOWN)] = 20,
) -> BreakdownOut:
    rows = await service.breakdown(session, filters, by, limit)
    return BreakdownOut(
        filters=FiltersOut.of(filters),
        by=by,  # type: ignore[arg-type]  # checked by service.breakdown
        rows=[BreakdownRowOut.of(row) for row in rows],
    )


@router.get("/definitions", summary="What each KPI means")
async def definitions(_: Reader) -> DefinitionsOut:
    return DefinitionsOut(
        return_window_days=RETURN_WINDOW_DAYS, kpis=[DefinitionOut.of(defn) for defn in KPIS]
    )
