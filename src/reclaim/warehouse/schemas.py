"""What the warehouse API takes and shows: parcels and their flags, inspections against a
checklist, the disposition engine's recommendation and the route taken, and stock."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from reclaim.orders.schemas import Strict
from reclaim.returns.schemas import Quantity
from reclaim.returns.states import Disposition, Grade

LineId = Annotated[str, Field(min_length=1, max_length=64, description="The order line's id")]
Found = Annotated[
    str,
    Field(min_length=1, max_length=200, description="A scanned SKU, or what it looks like"),
]
Detail = Annotated[str, Field(max_length=2000)]
MAX_PARCEL_LINES = 1000


class FlagKind(StrEnum):
    """What at receipt needs a person."""

    UNEXPECTED_ITEM = "unexpected_item"  # something in the box that isn't on the return
    WRONG_ITEM = "wrong_item"  # a line's unit is not what was sold
    MISSING_ITEM = "missing_item"  # the last parcel came and a line is still short
    EMPTY_BOX = "empty_box"  # nothing in it, or it weighs far less than its contents should


class CountIn(Strict):
    line_id: LineId
    quantity: int = Quantity


class UnexpectedIn(Strict):
    found: Found
    quantity: int = Quantity
    detail: Detail = ""


class WrongItemIn(Strict):
    line_id: LineId = Field(description="The line whose item should have been in the box")
    found: Found
    quantity: int = Quantity
    detail: Detail = ""


class ParcelIn(Strict):
    """One parcel opened at the station."""

    counts: list[CountIn] = Field(
        default_factory=list,
        max_length=MAX_PARCEL_LINES,
        description="Units found per line; empty for an empty box",
    )
    weight_grams: int | None = Field(
        default=None, ge=0, le=1_000_000, strict=True, description="What the parcel weighs"
    )
    unexpected: list[UnexpectedIn] = Field(
        default_factory=list,
        max_length=MAX_PARCEL_LINES,
        description="Things in the box that are on no line of the return",
    )
    wrong: list[WrongItemIn] = Field(
        default_factory=list,
        max_length=MAX_PARCEL_LINES,
        description="Units that came instead of a line's item; not received as that line",
    )
    last_parcel: bool = Field(
        default=True,
        strict=True,
        description="No more parcels are coming: lines still short are flagged missing",
    )


class ResolveFlagIn(Strict):
    resolution: str = Field(
        min_length=1, max_length=2000, description="What was done about it; kept on the flag"
    )


class ReceiptOut(BaseModel):
    id: int
    lines: dict[str, int] = Field(description="Units received per line in this parcel")
    weight_grams: int | None
    expected_weight_grams: int | None = Field(
        description="What the units still due weighed, from the catalogue"
    )
    actor: str
    received_at: datetime


class FlagOut(BaseModel):
    id: int
    kind: FlagKind
    line_id: str | None
    found: str | None
    quantity: int | None
    detail: str
    receipt_id: int | None
    actor: str
    at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


class ParcelOut(BaseModel):
    number: str
    status: str
    attention: str | None = Field(description="Set while a flag of this return is open")
    receipt: ReceiptOut
    flags: list[FlagOut] = Field(description="Flags this parcel raised")


class QuestionOut(BaseModel):
    key: str
    text: str
    kind: str = Field(description="yes_no, choice or text")
    choices: list[str]
    help: str


class ChecklistOut(BaseModel):
    name: str
    title: str
    categories: list[str]
    questions: list[QuestionOut]


Answer = Annotated[str, StringConstraints(max_length=2000)] | bool
AnswerKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class InspectionIn(Strict):
    answers: dict[AnswerKey, Answer] = Field(
        default_factory=dict,
        max_length=100,
        description="The checklist's answers by question key: true/false or yes/no for "
        "yes_no questions, one of the choices for choice questions",
    )
    grade: Grade | None = Field(default=None, description="Left out: the grade the answers suggest")
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Needed when the grade differs from the one suggested",
    )
    note: str | None = Field(default=None, max_length=2000)


class InspectionOut(BaseModel):
    line_id: str
    status: str = Field(description="The return's status afterwards")
    checklist: str | None
    answers: dict[str, Any]
    suggested_grade: Grade | None
    reasons: list[str] = Field(description="Why the answers suggest that grade")
    grade: Grade
    override_reason: str | None
    note: str | None
    inspector: str
    at: datetime


class ChannelOut(BaseModel):
    """One channel's expected recovery for a unit, in minor units."""

    channel: Disposition
    feasible: bool
    gross_minor: int
    cost_minor: int
    net_minor: int
    reasons: list[str]


class RecommendationOut(BaseModel):
    line_id: str
    sku: str
    grade: Grade
    quantity: int = Field(description="Units received, all routed together")
    currency: str
    best: Disposition
    location: str = Field(description="Where the best channel's units go")
    explanation: list[str]
    options: list[ChannelOut] = Field(description="Every channel per unit, best first")


class DispositionChoiceIn(Strict):
    channel: Disposition | None = Field(
        default=None, description="Left out: the channel the engine recommends"
    )
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Needed when the channel differs from the recommended one",
    )


class DispositionOut(BaseModel):
    line_id: str
    status: str = Field(description="The return's status afterwards")
    channel: Disposition
    recommended: Disposition | None
    override_reason: str | None
    quantity: int
    currency: str
    expected_value_minor: int
    expected_cost_minor: int
    expected_net_minor: int
    location: str
    batch: str | None
    explanation: list[str]
    options: list[ChannelOut]
    actor: str
    at: datetime


class StockRowOut(BaseModel):
    sku: str
    condition: str = Field(description="The grade the units are stocked in")
    location: str
    quantity: int


class StockOut(BaseModel):
    items: list[StockRowOut]


class MovementOut(BaseModel):
    id: int
    sku: str
    condition: str
    location: str
    quantity: int = Field(description="Units in (+) or out (-)")
    kind: str
    value_minor: int | None
    currency: str | None
    actor: str
    note: str | None
    at: datetime


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_cursor: int | None = Field(description="Pass as cursor for the next, older page")


class ReceiptList(BaseModel):
    items: list[ReceiptOut]


class FlagList(BaseModel):
    items: list[FlagOut]
