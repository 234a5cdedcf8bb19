"""A return's timeline and next steps in the shopper's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reclaim.logistics.rules import Slot
from reclaim.returns.models import Return, ReturnEvent
from reclaim.returns.states import Action, Method, Status

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


def _said(event: ReturnEvent) -> str | None:
    data = event.data or {}
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
                pack,
                "Show the QR code below at any drop-off point of our carrier: they print the "
                "label for you. Your prepaid label will also be e-mailed to you.",
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
                pack,
                "Have the parcel ready "
                + (
                    Slot(ret.pickup_start, ret.pickup_end).label
                    if ret.pickup_start and ret.pickup_end
                    else "on your pickup day"
                )
                + ". The driver scans the QR code below.",
            ],
        }
        return steps.get(method, [pack])
    if status is Status.IN_TRANSIT:
        return ["Your parcel is on its way. We'll e-mail you when it arrives."]
    if status in (Status.RECEIVED, Status.INSPECTED):
        return ["We have your return and are checking it. We'll e-mail you when it's done."]
    return []
