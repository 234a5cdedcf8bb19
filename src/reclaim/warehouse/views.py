"""Warehouse records as the API shows them; lines are named by their order line's id."""

from __future__ import annotations

from typing import Any

from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.dispositions import Advice, option
from reclaim.warehouse.grading import Checklist
from reclaim.warehouse.inventory import StockRow
from reclaim.warehouse.models import (
    DispositionRecord,
    Inspection,
    InventoryMovement,
    Receipt,
    ReceivingFlag,
)
from reclaim.warehouse.schemas import (
    ChannelOut,
    ChecklistOut,
    DispositionOut,
    FlagKind,
    FlagOut,
    InspectionOut,
    MovementOut,
    QuestionOut,
    ReceiptOut,
    RecommendationOut,
    StockRowOut,
)


def receipt_out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=receipt.id,
        lines=dict(receipt.lines),
        weight_grams=receipt.weight_grams,
        expected_weight_grams=receipt.expected_weight_grams,
        actor=receipt.actor,
        received_at=receipt.received_at,
    )


def flag_out(flag: ReceivingFlag, refs: dict[int, str]) -> FlagOut:
    return FlagOut(
        id=flag.id,
        kind=FlagKind(flag.kind),
        line_id=refs.get(flag.return_line_id) if flag.return_line_id is not None else None,
        found=flag.found,
        quantity=flag.quantity,
        detail=flag.detail,
        receipt_id=flag.receipt_id,
        actor=flag.actor,
        at=flag.at,
        resolved_at=flag.resolved_at,
        resolved_by=flag.resolved_by,
        resolution=flag.resolution,
    )


def checklist_out(checklist: Checklist) -> ChecklistOut:
    return ChecklistOut(
        name=checklist.name,
        title=checklist.title,
        categories=list(checklist.categories),
        questions=[
            QuestionOut(
                key=question.key,
                text=question.text,
                kind=question.kind,
                choices=list(question.choices),
                help=question.help,
            )
            for question in checklist.questions
        ],
    )


def inspection_out(inspection: Inspection, line_id: str, status: str) -> InspectionOut:
    return InspectionOut(
        line_id=line_id,
        status=status,
        checklist=inspection.checklist,
        answers=dict(inspection.answers),
        suggested_grade=Grade(inspection.suggested_grade) if inspection.suggested_grade else None,
        reasons=list(inspection.reasons),
        grade=Grade(inspection.grade),
        override_reason=inspection.override_reason,
        note=inspection.note,
        inspector=inspection.inspector,
        at=inspection.at,
    )


def _channel(option: dict[str, Any]) -> ChannelOut:
    return ChannelOut.model_validate(option)


def recommendation_out(advice: Advice) -> RecommendationOut:
    line, recommendation = advice.line, advice.recommendation
    return RecommendationOut(
        line_id=line.order_line.line_ref,
        sku=advice.product.sku,
        grade=Grade(str(line.grade)),
        quantity=line.received_quantity,
        currency=advice.product.currency,
        best=recommendation.best,
        location=advice.location,
        explanation=list(recommendation.explanation),
        options=[_channel(option(value)) for value in recommendation.options],
    )


def disposition_out(record: DispositionRecord, line_id: str, status: str) -> DispositionOut:
    return DispositionOut(
        line_id=line_id,
        status=status,
        channel=Disposition(record.channel),
        recommended=Disposition(record.recommended) if record.recommended else None,
        override_reason=record.override_reason,
        quantity=record.quantity,
        currency=record.currency,
        expected_value_minor=record.expected_value_minor,
        expected_cost_minor=record.expected_cost_minor,
        expected_net_minor=record.expected_net_minor,
        location=record.location,
        batch=record.batch,
        explanation=list(record.explanation),
        options=[_channel(each) for each in record.options],
        actor=record.actor,
        at=record.at,
    )


def stock_row_out(row: StockRow) -> StockRowOut:
    return StockRowOut(
        sku=row.sku, condition=row.condition, location=row.location, quantity=row.quantity
    )


def movement_out(movement: InventoryMovement) -> MovementOut:
    return MovementOut(
        id=movement.id,
        sku=movement.sku,
        condition=movement.condition,
        location=movement.location,
        quantity=movement.quantity,
        kind=movement.kind,
        value_minor=movement.value_minor,
        currency=movement.currency,
        actor=movement.actor,
        note=movement.note,
        at=movement.at,
    )
