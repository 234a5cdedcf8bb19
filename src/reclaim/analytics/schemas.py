"""The analytics API's shapes, and the filter query parameters every analytics route shares."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from reclaim.analytics.definitions import KpiDefinition
from reclaim.analytics.filters import Filters
from reclaim.analytics.kpis import Bucket
from reclaim.analytics.service import BreakdownRow, Dimension, KpiReport, ReasonShare


def filter_params(
    since: Annotated[
        str | None,
        Query(max_length=10, description="First day (YYYY-MM-DD); default: 90 days to until"),
    ] = None,
    until: Annotated[
        str | None, Query(max_length=10, description="Last day, inclusive; default: today")
    ] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=32, description="A reason code")] = None,
    facility: Annotated[str | None, Query(max_length=32, description="A facility code")] = None,
    currency: Annotated[
        str | None, Query(max_length=3, description="ISO 4217; default: the period's main one")
    ] = None,
) -> Filters:
    """The period and slices from the query string; bad ones answer 422."""
    return Filters.parse(
        since=since,
        until=until,
        category=category,
        sku=sku,
        reason=reason,
        facility=facility,
        currency=currency,
    )


class FiltersOut(BaseModel):
    since: date
    until: date
    category: str | None
    sku: str | None
    reason: str | None
    facility: str | None
    currency: str | None

    @classmethod
    def of(cls, filters: Filters) -> FiltersOut:
        return cls(
            since=filters.since,
            until=filters.until,
            category=filters.category,
            sku=filters.sku,
            reason=filters.reason,
            facility=filters.facility,
            currency=filters.currency,
        )


class DefinitionOut(BaseModel):
    key: str
    title: str
    unit: str = Field(description="percent (a fraction of 1), hours, days, money (minor units)")
    definition: str
    better: str = Field(description="Which way is better: higher or lower")

    @classmethod
    def of(cls, defn: KpiDefinition) -> DefinitionOut:
        return cls(
            key=defn.key,
            title=defn.title,
            unit=defn.unit,
            definition=defn.definition,
            better=defn.better,
        )


class DefinitionsOut(BaseModel):
    return_window_days: int
    kpis: list[DefinitionOut]


class KpiOut(DefinitionOut):
    value: float | None = Field(description="None when the denominator is 0")
    numerator: float
    denominator: float
    display: str


class ReasonShareOut(BaseModel):
    reason: str
    label: str
    fault: str
    units: int
    share: float

    @classmethod
    def of(cls, share: ReasonShare) -> ReasonShareOut:
        return cls(
            reason=share.reason,
            label=share.label,
            fault=share.fault,
            units=share.units,
            share=share.share,
        )


class KpiReportOut(BaseModel):
    filters: FiltersOut
    currency: str | None = Field(description="The currency of the money KPIs")
    returns: int
    returned_units: int
    shipped_units: int
    kpis: list[KpiOut]
    reason_mix: list[ReasonShareOut]
    refreshed_at: datetime | None = Field(
        description="When the figures were last brought up to date"
    )

    @classmethod
    def of(
        cls, report: KpiReport, definitions: dict[str, KpiDefinition], refreshed: datetime | None
    ) -> KpiReportOut:
        return cls(
            filters=FiltersOut.of(report.filters),
            currency=report.currency,
            returns=report.returns,
            returned_units=report.returned_units,
            shipped_units=report.shipped_units,
            kpis=[
                KpiOut(
                    **DefinitionOut.of(definitions[kpi.key]).model_dump(),
                    value=kpi.value,
                    numerator=kpi.numerator,
                    denominator=kpi.denominator,
                    display=kpi.display,
                )
                for kpi in report.kpis
            ],
            reason_mix=[ReasonShareOut.of(share) for share in report.reason_mix],
            refreshed_at=refreshed,
        )


class SeriesPointOut(BaseModel):
    start: date
    values: dict[str, float | None]


class SeriesOut(BaseModel):
    filters: FiltersOut
    bucket: Bucket
    keys: list[str]
    points: list[SeriesPointOut]


class BreakdownRowOut(BaseModel):
    key: str
    label: str
    returned_units: int
    shipped_units: int | None = Field(description="None by reason or facility")
    kpis: dict[str, float | None]

    @classmethod
    def of(cls, row: BreakdownRow) -> BreakdownRowOut:
        return cls(
            key=row.key,
            label=row.label,
            returned_units=row.returned_units,
            shipped_units=row.shipped_units,
            kpis=row.kpis,
        )


class BreakdownOut(BaseModel):
    filters: FiltersOut
    by: Dimension
    rows: list[BreakdownRowOut]
