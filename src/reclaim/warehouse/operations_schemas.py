"""What the API takes and shows for refurbishment work orders, end-of-life manifests and the
capacity-limited disposition batch."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from reclaim.orders.schemas import Strict
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.refurbishment import MAX_COST_MINOR

Cost = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_COST_MINOR,
        strict=True,
        description="What the partner charged for all the units, in minor units",
    ),
]
Slots = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]


class WorkOrderStatus(StrEnum):
    SENT = "sent"  # with the partner
    RETURNED = "returned"  # back regraded and in stock
    SCRAPPED = "scrapped"  # couldn't be repaired: recycled


class ManifestKind(StrEnum):
    DONATE = "donate"
    RECYCLE = "recycle"
    DISPOSE = "dispose"


class ManifestStatus(StrEnum):
    OPEN = "open"  # units are added
    SHIPPED = "shipped"  # handed to the partner; nothing more is added


class WorkOrderOut(BaseModel):
    number: str
    status: WorkOrderStatus
    return_number: str
    line_id: str = Field(description="The order line's id")
    sku: str
    name: str
    quantity: int
    partner: str | None = Field(description="The refurbishment partner's facility code")
    grade_in: Grade
    grade_out: Grade | None
    currency: str
    expected_cost_minor: int
    expected_recovery_minor: int
    cost_minor: int | None
    recovery_minor: int | None = Field(description="What the units are worth back in stock")
    note: str | None
    sent_by: str
    sent_at: datetime
    closed_by: str | None
    closed_at: datetime | None


class WorkOrderList(BaseModel):
    items: list[WorkOrderOut]


class ReceiveBackIn(Strict):
    grade: Grade = Field(description="The grade the units came back in; unsellable scraps them")
    cost_minor: Cost
    note: str | None = Field(default=None, max_length=2000)


class ScrapIn(Strict):
    cost_minor: Cost = 0
    reason: str = Field(min_length=1, max_length=2000, description="Why it can't be repaired")


class ManifestOut(BaseModel):
    number: str
    kind: ManifestKind
    status: ManifestStatus
    partner: str | None = Field(description="The facility code it was shipped to")
    items: int = Field(description="Return lines on it")
    units: int
    weight_grams: int
    created_at: datetime
    shipped_at: datetime | None
    shipped_by: str | None


class ManifestItemOut(BaseModel):
    return_number: str | None
    line_id: str | None
    work_order: str | None = Field(description="Set when the units were scrapped by a partner")
    sku: str
    category: str
    quantity: int
    weight_grams: int
    added_at: datetime


class ManifestDetailOut(ManifestOut):
    lines: list[ManifestItemOut]


class ManifestList(BaseModel):
    items: list[ManifestOut]


class ShipIn(Strict):
    partner: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Code of the facility taking it (a recycler for recycling and disposal)",
    )


class CapacityIn(Strict):
    capacity: dict[Disposition, Slots] = Field(
        default_factory=dict,
        description='Units each channel can take today, e.g. {"refurbish": 20, "open_box": '
        "50}; channels left out are unlimited",
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{3}$",
        description="Only units sold in this currency; needed when pending units mix currencies",
    )


class PlannedLineOut(BaseModel):
    return_number: str
    line_id: str
    sku: str
    name: str
    grade: Grade
    quantity: int
    channel: Disposition = Field(description="Where the plan sends it")
    baseline: Disposition = Field(description="Where the per-unit rule would send it")


class PlanOut(BaseModel):
    currency: str | None
    total_net_minor: int
    baseline_net_minor: int
    gain_minor: int = Field(description="What the plan recovers beyond the per-unit rule")
    explanation: list[str]
    lines: list[PlannedLineOut]


class BatchOut(PlanOut):
    batch: str | None = Field(description="The batch id on every routed line; null: none routed")
    skipped: list[PlannedLineOut] = Field(
        description="Planned, but routed, regraded or held by a flag before the batch ran: "
        "left as they are now, for the next plan"
    )
