"""Returns as the API, the CLI and the pages show them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import inspect

from reclaim.logistics.carriers import ShipmentKind
from reclaim.logistics.models import Shipment
from reclaim.policy.schema import RefundTiming
from reclaim.returns.models import Return, ReturnEvent
from reclaim.returns.schemas import (
    DecisionOut,
    ReturnEventOut,
    ReturnLineOut,
    ReturnOut,
    ShipmentOut,
)
from reclaim.returns.states import FAULT, Disposition, Grade, Method, Reason, Resolution

API = "/api/v1/returns"


def shipment_of(ret: Return) -> Shipment | None:
    """The return's shipment, loaded with it.

    Only a return created in this transaction has never been loaded; if approving it opened
    a shipment, opening set it on the return, so "not loaded" means it has none."""
    if "shipment" in inspect(ret).unloaded:
        return None
    return ret.shipment


def shipment_out(ret: Return) -> ShipmentOut | None:
    shipment = shipment_of(ret)
    if shipment is None:
        return None
    live = shipment.cancelled_at is None
    return ShipmentOut(
        kind=ShipmentKind(shipment.kind),
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        stage=shipment.stage,
        created_at=shipment.created_at,
        first_scan_at=shipment.first_scan_at,
        delivered_at=shipment.delivered_at,
        cancelled_at=shipment.cancelled_at,
        pickup_start=shipment.pickup_start,
        pickup_end=shipment.pickup_end,
        handover_by=ret.handover_by,
        label_url=f"{API}/{ret.number}/label.pdf"
        if live and shipment.kind != ShipmentKind.QR
        else None,
        qr_url=f"{API}/{ret.number}/qr.png" if live else None,
    )


def return_out(ret: Return, events: Sequence[ReturnEvent] | None = None) -> ReturnOut:
    """The return as shown; with its timeline when ``events`` are given.

    ``ret.facility`` must be loaded (or set) with the return: its relationship raises."""
    return ReturnOut(
        number=ret.number,
        order_id=ret.order.external_id,
        status=ret.status,
        method=Method(ret.method),
        currency=ret.currency,
        channel=ret.channel,
        status_reason=ret.status_reason,
        attention=ret.attention,
        attention_at=ret.attention_at,
        created_at=ret.created_at,
        updated_at=ret.updated_at,
        policy_version=ret.policy_version,
        refund_timing=RefundTiming(ret.refund_timing) if ret.refund_timing else None,
        # Returns made before the policy engine have no recorded decision.
        decision=DecisionOut.model_validate(ret.decision) if ret.decision else None,
        facility=ret.facility.code if ret.facility else None,
        pickup_start=ret.pickup_start,
        pickup_end=ret.pickup_end,
        lines=[
            ReturnLineOut(
                line_id=line.order_line.line_ref,
                sku=line.order_line.sku,
                quantity=line.quantity,
                reason=Reason(line.reason),
                fault=FAULT[Reason(line.reason)],
                comment=line.comment,
                resolution=Resolution(line.resolution),
                received_quantity=line.received_quantity,
                grade=Grade(line.grade) if line.grade else None,
                disposition=Disposition(line.disposition) if line.disposition else None,
                opened=line.opened,
                fit_size=line.fit_size,
                exchange_sku=line.exchange_sku,
            )
            for line in ret.lines
        ],
        shipment=shipment_out(ret),
        events=[
            ReturnEventOut(
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                actor=event.actor,
                at=event.at,
                data=event.data,
            )
            for event in events
        ]
        if events is not None
        else None,
    )
