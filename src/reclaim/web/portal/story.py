"""A return's timeline and next steps in the shopper's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reclaim.kit.money import Money
from reclaim.logistics.carriers import ShipmentKind
from reclaim.logistics.models import Shipment
from reclaim.logistics.rules import Slot
from reclaim.returns.models import Return, ReturnEvent
from reclaim.returns.states import Action, Method, Note, Status

HEADLINE = {
    Status.REQUESTED: "Waiting for approval",
    Status.REVIEW: "Being checked by our team",
    Status.APPROVED: "Approved: ready to send back",
    Status.REJECTED: "Not accepted",
    Status.CANCELLED: "Cancelled",
    Status.EXPIRED: "Expired",
    Status.IN_TRANSIT: "On its way to us",
    Status.RECEIVED: "Received",
    Status.INSPECTED: "Checked",
    Status.COMPLETED: "Complete",
}


@dataclass(frozen=True, slots=True)
class Moment:
    at: datetime
    text: str


NOTED = {
    Note.ARRIVED: "Your parcel reached our warehouse.",
    Note.ATTENTION: "There's a problem with the delivery; we're looking into it.",
    # What staff wrote is for staff; the shopper hears only that the problem was looked at.
    Note.ATTENTION_RESOLVED: "We've looked into the delivery problem.",
    Note.EXPIRING: "Reminder: please send your return soon, before it expires.",
}


def _settled(data: dict[str, Any]) -> str:
    """What a settlement gave, from the amounts the timeline event recorded."""
    currency = str(data.get("currency") or "")

    def money(key: str) -> str:
        return Money(int(data[key]), currency).format()

    said = []
    if data.get("refund_minor"):
        said.append(f"We've refunded {money('refund_minor')} to your original payment method.")
    if data.get("credit_minor"):
        bonus = f", including a {money('bonus_minor')} bonus" if data.get("bonus_minor") else ""
        said.append(f"{money('credit_minor')} store credit is in your account{bonus}.")
    if data.get("exchange"):
        said.append(
            "Your exchange is being sent now, before your return reaches us."
            if data.get("instant")
            else "We're preparing your exchange."
        )
        difference = int(data.get("difference_minor") or 0)
        if difference > 0:
            left = Money(difference, currency).format()
            said.append(f"The {left} left over is refunded to your original payment method.")
        elif difference < 0:
            more = Money(-difference, currency).format()
            said.append(f"The new items cost {more} more; we'll ask you to pay the difference.")
    return " ".join(said) or "We've settled your return."


def _said(event: ReturnEvent) -> str | None:
    data = event.data or {}
    if event.action == Note.SETTLED:
        return _settled(data)
    if event.action == Note.ATTENTION and data.get("refund"):
        # The reason is for staff; the shopper hears that their money is being looked at.
        return "There's a problem with your refund; we're looking into it."
    if event.action == Note.EXPIRING and data.get("handover_by"):
        by = datetime.fromisoformat(data["handover_by"])
        return f"Reminder: please send your return by {by.day} {by:%b %Y}, or it expires."
    if event.action in NOTED:
        return NOTED[Note(event.action)]
    action = Action(event.action)
    if action is Action.CREATE:
        return "You started the return."
    if action is Action.SEND_TO_REVIEW:
        return "We're checking your return before approving it."
    if action is Action.APPROVE:
        if data.get("returnless"):
            return "Approved: keep the item, there's no need to send it back."
        return "Approved: you can send it back now."
    if action is Action.REJECT:
        return f"We couldn't accept this return: {data.get('reason') or 'see our e-mail'}."
    if action is Action.CANCEL:
        return "The return was cancelled."
    if action is Action.EXPIRE:
        return "The return expired because it wasn't sent back in time."
    if action is Action.MARK_IN_TRANSIT:
        tracking = data.get("tracking_number")
        return "Your parcel is on its way to us" + (f" (tracking {tracking})." if tracking else ".")
    if action is Action.RECEIVE:
        return "We received your return."
    if action is Action.INSPECT:
        return "We checked your items." if event.to_status == Status.INSPECTED else None
    if action is Action.COMPLETE:
        return "Your return is complete."
    return None  # warehouse routing is ours to worry about


def story(ret: Return) -> list[Moment]:
    moments = []
    for event in ret.events:
        text = _said(event)
        if text:
            moments.append(Moment(event.at, text))
    return moments


def next_steps(ret: Return) -> list[str]:
    status, method = Status(ret.status), Method(ret.method)
    place = ret.facility.name if ret.facility else None
    if status is Status.REQUESTED:
        return ["We'll look at your request and e-mail you as soon as it's approved."]
    if status is Status.REVIEW:
        return [
            "Someone from our team is checking your return. "
            "We'll e-mail you within one working day."
        ]
    if status is Status.APPROVED:
        if method is Method.KEEP_ITEM:
            return ["There's nothing to send back: keep, recycle or donate the item."]
        pack = "Pack the items you're returning; keep your RMA number to hand."
        steps = {
            Method.PREPAID_LABEL: [
                pack + " Put the packing slip (page 2 of the label) in the box.",
                "Print your label, stick it on the parcel and take it to any drop-off point of "
                "our carrier.",
                "No printer? Show the QR code below at any drop-off point of our carrier: they "
                "print the label for you.",
            ],
            Method.BOX_FREE_DROPOFF: [
                "No box or printer needed: bring the items and show the QR code below at "
                + (place or "a drop-off point")
                + ".",
            ],
            Method.LOCKER: [
                pack,
                "At " + (place or "the locker") + ", scan the QR code below and put the parcel "
                "in the door that opens.",
            ],
            Method.IN_STORE: [
                "Bring the items and the QR code below to "
                + (place or "one of our stores")
                + ". Staff check them in on the spot.",
            ],
            Method.SCHEDULED_PICKUP: [
                pack + " Put the packing slip (page 2 of the label) in the box.",
                "Have the parcel ready "
                + (
                    Slot(ret.pickup_start, ret.pickup_end).label
                    if ret.pickup_start and ret.pickup_end
                    else "on your pickup day"
                )
                + ". Stick your label on it or, if you have no printer, the driver scans the "
                "QR code below and brings one.",
            ],
        }
        return steps.get(method, [pack])
    if status is Status.IN_TRANSIT:
        return ["Your parcel is on its way. We'll e-mail you when it arrives."]
    if status in (Status.RECEIVED, Status.INSPECTED):
        return ["We have your return and are checking it. We'll e-mail you when it's done."]
    return []


@dataclass(frozen=True, slots=True)
class Leg:
    """A step of the parcel's journey back; ``at`` is when it happened, None until then."""

    text: str
    at: datetime | None


def journey(shipment: Shipment) -> list[Leg]:
    return [
        Leg("Ready to send back", shipment.created_at),
        Leg("Handed over: the carrier has it", shipment.first_scan_at),
        Leg("Arrived at our returns centre", shipment.delivered_at),
    ]


def live(shipment: Shipment | None) -> Shipment | None:
    """The shipment if it can still be used: a cancelled return's label is void."""
    return shipment if shipment is not None and shipment.cancelled_at is None else None


def no_download(ret: Return, shipment: Shipment | None, *, label: bool) -> str | None:
    """Why there's no label (or QR code) to download, in the shopper's words; None if there is."""
    status = Status(ret.status)
    if Method(ret.method) is Method.KEEP_ITEM:
        return "There's nothing to send back: keep, recycle or donate the item."
    if status in (Status.REQUESTED, Status.REVIEW):
        return "Your return isn't approved yet. Once it is, you can download it from this page."
    if status in (Status.CANCELLED, Status.REJECTED, Status.EXPIRED):
        return (
            f"This return was {status.value}, so there's nothing to send back. "
            "Start a new return if you still want to send the items back."
        )
    if shipment is None:
        return "We don't have a label for this return. Reply to your order e-mail and we'll help."
    if label and ShipmentKind(shipment.kind) is ShipmentKind.QR:
        return "This return needs no label: show the QR code on your return's page instead."
    return None
