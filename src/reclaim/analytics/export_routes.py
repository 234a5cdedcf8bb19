"""Exports of returns and KPIs as CSV and Parquet, for the shop's own analysis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response, StreamingResponse

from reclaim.analytics import export
from reclaim.analytics.export import Format, Kind
from reclaim.analytics.filters import Filters
from reclaim.analytics.schemas import filter_params
from reclaim.api.deps import ReadSession, require
from reclaim.api.problems import documented
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(
    prefix="/analytics/exports", tags=["analytics"], responses=documented(401, 403, 422)
)
Reader = Annotated[ApiKey, Depends(require(Scope.ANALYTICS_READ))]
# Exports hold customers' orders: never kept by a shared cache or the browser's.
NO_STORE = "private, no-store"
Filtered = Annotated[Filters, Depends(filter_params)]


def attachment(
    rows: Sequence[dict[str, Any]], kind: Kind, fmt: Format, filters: Filters
) -> Response:
    """The rows as a file to save: CSV streamed a chunk at a time, or Parquet whole."""
    headers = {
        "Content-Disposition": f'attachment; filename="{export.filename(kind, fmt, filters)}"',
        "Cache-Control": NO_STORE,
    }
    schema = export.schema_of(kind)
    if fmt is Format.CSV:
        return StreamingResponse(
            export.csv_chunks(rows, list(schema)), media_type=fmt.media_type, headers=headers
        )
    return Response(export.parquet_bytes(rows, schema), media_type=fmt.media_type, headers=headers)


def _file(fmt: Format, what: str) -> dict[int | str, dict[str, Any]]:
    schema: dict[str, Any] = {"type": "string"}
    if fmt is Format.PARQUET:
        schema["format"] = "binary"
    return {200: {"description": what, "content": {fmt.media_type: {"schema": schema}}}}


RETURNS = "One row per return line asked for in the period: see docs/analytics.md for the columns"
KPIS = (
    "One row per KPI over the whole selection (scope 'all'); with by=category, also one row "
    "per KPI and category (scope 'category')"
)
By = Annotated[
    str | None,
    Query(pattern="^category$", description="'category': add a row per KPI and category"),
]


@router.get(
    "/returns.csv",
    summary="Return lines as CSV",
    response_class=Response,
    responses=_file(Format.CSV, RETURNS),
)
async def returns_csv(session: ReadSession, _key: Reader, filters: Filtered) -> Response:
    return attachment(await export.return_rows(session, filters), Kind.RETURNS, Format.CSV, filters)


@router.get(
    "/returns.parquet",
    summary="Return lines as Parquet",
    response_class=Response,
    responses=_file(Format.PARQUET, RETURNS),
)
async def returns_parquet(session: ReadSession, _key: Reader, filters: Filtered) -> Response:
    rows = await export.return_rows(session, filters)
    return attachment(rows, Kind.RETURNS, Format.PARQUET, filters)


@router.get(
    "/kpis.csv", summary="KPIs as CSV", response_class=Response, responses=_file(Format.CSV, KPIS)
)
async def kpis_csv(
    session: ReadSession, _key: Reader, filters: Filtered, by: By = None
) -> Response:
    rows = await export.kpi_rows(session, filters, by_category=by == "category")
    return attachment(rows, Kind.KPIS, Format.CSV, filters)


@router.get(
    "/kpis.parquet",
    summary="KPIs as Parquet",
    response_class=Response,
    responses=_file(Format.PARQUET, KPIS),
)
async def kpis_parquet(
    session: ReadSession, _key: Reader, filters: Filtered, by: By = None
) -> Response:
    rows = await export.kpi_rows(session, filters, by_category=by == "category")
    return attachment(rows, Kind.KPIS, Format.PARQUET, filters)
