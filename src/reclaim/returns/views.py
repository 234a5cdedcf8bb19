"""Returns as the API, the CLI and the pages show them."""

from __future__ import annotations

from collections.abc import Sequence

from reclaim.returns.models import Return, ReturnEvent
from reclaim.returns.schemas import ReturnEventOut, ReturnLineOut, ReturnOut
from reclaim.returns.states import FAULT, Disposition, Grade, Method, Reason, Resolution


def return_out(ret: Return, events: Sequence[ReturnEvent] | None = None) -> ReturnOut:
    """The return as shown; with its timeline when ``events`` are given."""
    return ReturnOut(
        number=ret.number,
        order_id=ret.order.external_id,
        status=ret.status,
        method=Method(ret.method),
        currency=ret.currency,
        channel=ret.channel,
        status_reason=ret.status_reason,
        created_at=ret.created_at,
        updated_at=ret.updated_at,
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
            )
            for line in ret.lines
        ],
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
