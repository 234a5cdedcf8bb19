"""The console's returns analytics: one dashboard over the rollups, and its downloads.

Admins, agents and analysts see it (``VIEW_ANALYTICS``). The filters are a GET form, so a
view is a link to share; filters that can't be used show the page again saying why (400).
Findings and the forecast come from their own services: if one of them can't answer, its
section says why and the rest of the page still shows.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from reclaim.analytics import export, findings_service, overview, service
from reclaim.analytics.definitions import KPIS, RETURN_WINDOW_DAYS
from reclaim.analytics.export_routes import attachment
from reclaim.analytics.filters import Filters
from reclaim.errors import ReclaimError, ValidationFailed
from reclaim.kit import clock
from reclaim.prediction import forecast_service
from reclaim.users.roles import Permission
from reclaim.web.console import analytics_charts as drawn
from reclaim.web.console import analytics_view as view
from reclaim.web.console.auth import ConsoleRoute, Staff, reading, render, require

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Analyst = Annotated[Staff, Depends(require(Permission.VIEW_ANALYTICS))]

PAGE = "console/analytics/dashboard.html"
HORIZON = 28
CATEGORIES_SHOWN = 12
# Drill-down links shown under a chart; the chart's table links every row.
DRILLS = 8
T = TypeVar("T")


def _typed(**values: str) -> dict[str, Any]:
    # What was typed goes back into the form as it was, cut to a sane length.
    return {name: value[:100] for name, value in values.items()}


@router.get("/analytics")
async def dashboard(
    request: Request,
    staff: Analyst,
    since: str = "",
    until: str = "",
    category: str = "",
    sku: str = "",
    reason: str = "",
    facility: str = "",
    currency: str = "",
) -> Response:
    typed = _typed(
        since=since,
        until=until,
        category=category,
        sku=sku,
        reason=reason,
        facility=facility,
        currency=currency,
    )
    try:
        filters = Filters.parse(**typed)
    except ValidationFailed as error:
        async with reading(request) as session:
            choices = await overview.choices(session)
        return render(
            request,
            PAGE,
            staff,
            status_code=400,
            typed=typed,
            error=error.message,
            error_field=error.details.get("field"),
            choices=choices,
        )
    async with reading(request) as session:
        shown = await _figures(session, filters)
    return render(request, PAGE, staff, **shown)


async def _figures(session: AsyncSession, filters: Filters) -> dict[str, Any]:
    """Everything the page shows for these filters."""
    report = await service.report(session, filters)
    choices = await overview.choices(session)
    earlier = filters.previous()
    shown: dict[str, Any] = {
        "filters": filters,
        "typed": view.params(filters),
        "choices": choices,
        "report": report,
        "period": view.day_span(filters.since, filters.until),
        "before_period": view.day_span(earlier.since, earlier.until),
        "presets": view.presets(filters),
        "chips": view.chips(
            filters, {"reason": dict(choices.reasons), "facility": dict(choices.facilities)}
        ),
        "as_of": _as_of(await service.refreshed_at(session)),
        "downloads": _downloads(filters),
    }
    if report.returns == 0:
        latest = await overview.latest_return_day(session)
        if latest is not None and not filters.since <= latest <= filters.until:
            since = latest - timedelta(days=89)
            shown["latest"] = {
                "href": view.link(filters, since=since, until=latest),
                "day": f"{latest.day} {latest:%b %Y}",
            }
        return shown
    before = await service.report(session, earlier)
    bucket = view.bucket(filters)
    rate, returns = drawn.trends(
        await service.series(session, filters, ["return_rate"], bucket),
        await overview.volumes(session, filters, bucket),
        bucket,
    )
    categories = await service.breakdown(session, filters, "category", limit=CATEGORIES_SHOWN)
    facilities = await service.breakdown(session, filters, "facility")
    overall = report.kpi("return_rate").value
    drawn_reasons = drawn.reasons(report.reason_mix, filters)
    drawn_categories = drawn.categories(categories, overall, filters)
    shown |= {
        "tiles": view.tiles(KPIS, report.kpis, before.kpis, filters),
        "bucket": bucket,
        "charts": {
            "rate": rate,
            "returns": returns,
            "reasons": drawn_reasons,
            "categories": drawn_categories,
            "cycle": drawn.cycle(report),
            "recovery": drawn.recovery(report, facilities),
        },
        "rate_about": _rate_about(filters),
        # A slice already chosen offers no drilling into itself.
        "reason_links": [] if filters.reason else drawn.drills(drawn_reasons, DRILLS),
        "category_links": [] if filters.category else drawn.drills(drawn_categories, DRILLS),
    }
    shown |= await _findings(session, filters, report.currency)
    shown |= await _forecast(session, filters)
    return shown


def _rate_about(filters: Filters) -> str:
    about = (
        f"Units returned within {RETURN_WINDOW_DAYS} days over units shipped, by the day the "
        "order was placed."
    )
    if filters.until > clock.utcnow().date() - timedelta(days=RETURN_WINDOW_DAYS):
        about += (
            f" Orders of the last {RETURN_WINDOW_DAYS} days can still come back: the latest "
            "points will rise."
        )
    return about


async def _answer(work: Awaitable[T]) -> tuple[T | None, str | None]:
    """A section's data, or why there is none."""
    try:
        return await work, None
    except ReclaimError as error:
        return None, error.message


async def _findings(
    session: AsyncSession, filters: Filters, currency: str | None
) -> dict[str, Any]:
    read, why = await _answer(findings_service.evidence(session, filters))
    found = rates = None
    why_not_rates = why
    if read is not None:
        found, why = await _answer(findings_service.findings(session, filters, read))
        rates, why_not_rates = await _answer(
            findings_service.product_rates(session, filters, limit=drawn.PRODUCTS_SHOWN, read=read)
        )
    return {
        "findings": drawn.findings(found or [], filters, currency),
        "findings_note": why,
        "products": drawn.products(rates or [], filters),
        "products_note": why_not_rates,
    }


async def _forecast(session: AsyncSession, filters: Filters) -> dict[str, Any]:
    # Looking back at an old season, the forecast is the one made at its end: what the model
    # would have said then, from what was known then.
    start = min(clock.utcnow().date(), filters.until + timedelta(days=1))
    found, why = await _answer(
        forecast_service.forecast_inbound(session, start, HORIZON, facility=filters.facility)
    )
    return {
        "forecasts": drawn.forecasts(found or []),
        "forecast_note": why,
        "forecast_from": f"{start.day} {start:%b %Y}",
        "horizon": HORIZON,
    }


def _as_of(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = clock.as_utc(moment)
    if moment.date() == clock.utcnow().date():
        return f"{moment:%H:%M} UTC"
    return f"{moment.day} {moment:%b %Y}, {moment:%H:%M} UTC"


def _downloads(filters: Filters) -> list[dict[str, str]]:
    exports = view.EXPORTS
    return [
        {"label": "Returns (CSV)", "href": view.address(f"{exports}/returns.csv", filters)},
        {"label": "Returns (Parquet)", "href": view.address(f"{exports}/returns.parquet", filters)},
        {"label": "KPIs (CSV)", "href": view.address(f"{exports}/kpis.csv", filters)},
        {"label": "KPIs (Parquet)", "href": view.address(f"{exports}/kpis.parquet", filters)},
        {
            "label": "KPIs by category (CSV)",
            "href": view.address(f"{exports}/kpis.csv", filters, by="category"),
        },
    ]


# --- downloads ------------------------------------------------------------------------------------


@router.get("/analytics/export/{name}")
async def download(
    request: Request,
    name: str,
    staff: Analyst,
    since: str = "",
    until: str = "",
    category: str = "",
    sku: str = "",
    reason: str = "",
    facility: str = "",
    currency: str = "",
    by: str = "",
) -> Response:
    kind, fmt = export.file_of(name)
    try:
        filters = Filters.parse(
            since=since,
            until=until,
            category=category,
            sku=sku,
            reason=reason,
            facility=facility,
            currency=currency,
        )
        if by not in ("", "category"):
            raise ValidationFailed(f"by is 'category' or nothing, not {by[:40]!r}.", field="by")
    except ValidationFailed as error:
        return render(
            request,
            "console/error.html",
            staff,
            status_code=400,
            title="These filters can't be used",
            message=error.message,
        )
    async with reading(request) as session:
        rows = await export.rows_of(session, kind, filters, by_category=by == "category")
    return attachment(rows, kind, fmt, filters)
