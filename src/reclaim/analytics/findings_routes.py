"""Root-cause findings and product return rates over the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from reclaim.analytics import findings_service
from reclaim.analytics.filters import Filters
from reclaim.analytics.findings import Finding, ProductRate
from reclaim.api.deps import ReadSession, require
from reclaim.api.problems import Problem, documented
from reclaim.returns.states import Reason
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=documented(401, 403, 422))
# Routes take the key first: a caller without one hears 401, however bad the filters.
Reader = Annotated[ApiKey, Depends(require(Scope.ANALYTICS_READ))]
# A SKU is printable text: a control character (NUL above all, which PostgreSQL refuses in
# text) can name no product, and is refused before any query.
Sku = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, the first first")]
NO_PRODUCT: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No product with that SKU"}
}


def sliced(
    since: Annotated[
        str | None, Query(description="First day, YYYY-MM-DD (default: 90 days before until)")
    ] = None,
    until: Annotated[str | None, Query(description="Last day, inclusive (default: today)")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    reason: Reason | None = None,
    facility: Annotated[
        str | None,
        Query(
            max_length=32,
            description="A facility code, checked but not applied: units shipped belong to no "
            "facility, so findings and product rates are always over all facilities",
        ),
    ] = None,
    currency: Annotated[str | None, Query(description="ISO 4217, e.g. GBP")] = None,
) -> Filters:
    """The period and slices; a product's own page is already about one SKU."""
    return Filters.parse(
        since=since,
        until=until,
        category=category,
        reason=reason,
        facility=facility,
        currency=currency,
    )


Sliced = Annotated[Filters, Depends(sliced)]


def period(sliced: Sliced, sku: Annotated[str | None, Query(max_length=64)] = None) -> Filters:
    return Filters.parse(**{**vars(sliced), "sku": sku})


Period = Annotated[Filters, Depends(period)]


class FindingOut(BaseModel):
    kind: str = Field(description="sku_excess, category_excess, reason_concentration or theme")
    subject: str = Field(description="The SKU, category or phrase it is about")
    label: str
    headline: str = Field(description="What was found and what to do, in one sentence")
    action: str
    severity: int = Field(
        description="Value at stake in minor units: the price of the units returned beyond "
        "what their peers' rate would bring back. Findings come largest first."
    )
    evidence: dict[str, Any] = Field(
        description="The numbers behind it: counts, rates, the 90% interval, p and q values"
    )


class FindingList(BaseModel):
    since: date
    until: date
    items: list[FindingOut]


class ProductRateOut(BaseModel):
    sku: str
    name: str
    category: str
    shipped_units: int = Field(description="Units shipped on orders placed in the period")
    returned_units: int = Field(description="Of them, units returned within the window")
    raw_rate: float | None = Field(description="Units returned over units shipped")
    rate: float = Field(
        description="The estimate: the share of purchases (order lines) that come back, shrunk "
        "toward the category by volume"
    )
    low: float = Field(description="Lower end of the 90% credible interval")
    high: float = Field(description="Upper end of the 90% credible interval")
    category_rate: float = Field(
        description="The same rate for the other products in its category (for the rest of "
        "the shop when they have fewer than 20 purchases)"
    )
    frequently_returned: bool
    excessive: bool = Field(
        description="Frequently returned and significant across every product tested"
    )
    top_reason: str | None
    units_per_purchase: float
    p_value: float | None
    q_value: float | None


class ProductRateList(BaseModel):
    since: date
    until: date
    items: list[ProductRateOut]


def finding_out(finding: Finding) -> FindingOut:
    return FindingOut(
        kind=finding.kind,
        subject=finding.subject,
        label=finding.label,
        headline=finding.headline,
        action=finding.action,
        severity=finding.severity,
        evidence=finding.evidence,
    )


def rate_out(rate: ProductRate) -> ProductRateOut:
    found = rate.estimate
    return ProductRateOut(
        sku=rate.sku,
        name=rate.name,
        category=rate.category,
        shipped_units=found.shipped,
        returned_units=found.returned,
        raw_rate=found.raw,
        rate=found.mean,
        low=found.low,
        high=found.high,
        category_rate=rate.category_rate,
        frequently_returned=rate.frequently_returned,
        excessive=rate.excessive,
        top_reason=rate.top_reason,
        units_per_purchase=rate.lot,
        p_value=rate.p_value,
        q_value=rate.q_value,
    )


@router.get(
    "/findings",
    response_model=FindingList,
    summary="Root-cause findings, stated as actions, most valuable first",
)
async def list_findings(
    _key: Reader, filters: Period, session: ReadSession, limit: Limit = 50
) -> FindingList:
    found = await findings_service.findings(session, filters)
    return FindingList(
        since=filters.since, until=filters.until, items=[finding_out(f) for f in found[:limit]]
    )


@router.get(
    "/products",
    response_model=ProductRateList,
    summary="Product return-rate estimates with their uncertainty, most returned first",
)
async def list_product_rates(
    _key: Reader,
    filters: Period,
    session: ReadSession,
    limit: Limit = 50,
    flagged: Annotated[bool, Query(description="Only frequently returned products")] = False,
) -> ProductRateList:
    rates = await findings_service.product_rates(session, filters, limit, flagged=flagged)
    return ProductRateList(
        since=filters.since, until=filters.until, items=[rate_out(rate) for rate in rates]
    )


@router.get(
    "/products/{sku}",
    response_model=ProductRateOut,
    summary="One product's return-rate estimate",
    responses=NO_PRODUCT,
)
async def get_product_rate(
    _key: Reader, sku: Sku, filters: Sliced, session: ReadSession
) -> ProductRateOut:
    return rate_out(await findings_service.product_rate(session, sku, filters))
