"""The return lifecycle: statuses, the actions that move them, and every legal transition."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    REVIEW = "review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    INSPECTED = "inspected"
    COMPLETED = "completed"


# Every legal change of status. A self-loop means the action may repeat in that status
# (a second partial receipt, a second line inspected) without moving the return on.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REQUESTED: frozenset(
        {Status.REVIEW, Status.APPROVED, Status.REJECTED, Status.CANCELLED}
    ),
    Status.REVIEW: frozenset({Status.APPROVED, Status.REJECTED, Status.CANCELLED}),
    Status.APPROVED: frozenset(
        {
            Status.IN_TRANSIT,
            Status.RECEIVED,
            Status.REJECTED,
            Status.CANCELLED,
            Status.EXPIRED,
            Status.COMPLETED,
        }
    ),
    # Rejected while on its way: the box came back empty, or held only the wrong items.
    Status.IN_TRANSIT: frozenset({Status.IN_TRANSIT, Status.RECEIVED, Status.REJECTED}),
    Status.RECEIVED: frozenset({Status.RECEIVED, Status.INSPECTED}),
    # Back to received: a later parcel brought units of a line that has no grade yet.
    Status.INSPECTED: frozenset({Status.INSPECTED, Status.RECEIVED, Status.COMPLETED}),
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.COMPLETED: frozenset(),
}

TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
# Statuses in which the return no longer holds any units of the order.
RELEASED = frozenset({Status.REJECTED, Status.CANCELLED, Status.EXPIRED})


class Action(StrEnum):
    CREATE = "create"
    SEND_TO_REVIEW = "send_to_review"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    MARK_IN_TRANSIT = "mark_in_transit"
    RECEIVE = "receive"
    INSPECT = "inspect"
    DISPOSITION = "disposition"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Move:
    """Where an action may start, and where it leads: to ``target``, or (``None``) nowhere new
    unless the lines take the return on to ``onward``."""

    sources: frozenset[Status]
    target: Status | None
    onward: Status | None = None

    def leads(self, source: Status) -> frozenset[Status]:
        """Every status the action may leave a return in that was ``source``."""
        if self.target is not None:
            return frozenset({self.target})
        return frozenset({source} if self.onward is None else {source, self.onward})


def _from(*statuses: Status) -> frozenset[Status]:
    return frozenset(statuses)


MOVES: dict[Action, Move] = {
    Action.SEND_TO_REVIEW: Move(_from(Status.REQUESTED), Status.REVIEW),
    Action.APPROVE: Move(_from(Status.REQUESTED, Status.REVIEW), Status.APPROVED),
    # After approval only while nothing has been received: a parcel that arrived empty, or
    # with nothing but the wrong items, leaves the return nowhere else to go.
    Action.REJECT: Move(
        _from(Status.REQUESTED, Status.REVIEW, Status.APPROVED, Status.IN_TRANSIT),
        Status.REJECTED,
    ),
    Action.CANCEL: Move(_from(Status.REQUESTED, Status.REVIEW, Status.APPROVED), Status.CANCELLED),
    Action.EXPIRE: Move(_from(Status.APPROVED), Status.EXPIRED),
    Action.MARK_IN_TRANSIT: Move(_from(Status.APPROVED, Status.IN_TRANSIT), Status.IN_TRANSIT),
    # Parcels may come one after another: a later one reopens an inspected return, since the
    # units it brings need grades before the return can be completed.
    Action.RECEIVE: Move(
        _from(Status.APPROVED, Status.IN_TRANSIT, Status.RECEIVED, Status.INSPECTED),
        Status.RECEIVED,
    ),
    # Inspected only once every received line has a grade; until then it stays received.
    Action.INSPECT: Move(_from(Status.RECEIVED), None, Status.INSPECTED),
    # A graded line may be routed while another line still waits for its grade.
    Action.DISPOSITION: Move(_from(Status.RECEIVED, Status.INSPECTED), None),
    Action.COMPLETE: Move(_from(Status.APPROVED, Status.INSPECTED), Status.COMPLETED),
}


def _check_moves_follow_transitions() -> None:
    for action, move in MOVES.items():
        for source in move.sources:
            illegal = move.leads(source) - TRANSITIONS[source]
            if illegal:
                raise AssertionError(f"{action} from {source} leads outside TRANSITIONS: {illegal}")


_check_moves_follow_transitions()


class Note(StrEnum):
    """Things worth telling that move no status; the timeline and the outbox still hear them."""

    ARRIVED = "arrived"  # the carrier delivered it to the facility
    ATTENTION = "attention"  # the carrier reported a problem; staff should look
    ATTENTION_RESOLVED = "attention_resolved"  # staff looked and cleared the flag
    EXPIRING = "expiring"  # not handed over yet, and the deadline is near
    SETTLED = "settled"  # lines got their resolution: refund requested, credit, exchange


# How an action reads in a sentence: "A return that is received can't be approved."
DONE: dict[Action, str] = {
    Action.CREATE: "created",
    Action.SEND_TO_REVIEW: "sent to review",
    Action.APPROVE: "approved",
    Action.REJECT: "rejected",
    Action.CANCEL: "cancelled",
    Action.EXPIRE: "expired",
    Action.MARK_IN_TRANSIT: "marked in transit",
    Action.RECEIVE: "received",
    Action.INSPECT: "inspected",
    Action.DISPOSITION: "given a disposition",
    Action.COMPLETE: "completed",
}


def can(action: Action, status: Status) -> bool:
    move = MOVES.get(action)
    return move is not None and status in move.sources


class Reason(StrEnum):
    NO_LONGER_NEEDED = "no_longer_needed"
    ORDERED_BY_MISTAKE = "ordered_by_mistake"
    BETTER_PRICE = "better_price"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    STYLE_NOT_AS_EXPECTED = "style_not_as_expected"
    DEFECTIVE = "defective"
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_ITEM = "wrong_item"
    MISSING_PARTS = "missing_parts"
    QUALITY_NOT_AS_EXPECTED = "quality_not_as_expected"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    ARRIVED_TOO_LATE = "arrived_too_late"
    UNAUTHORIZED_PURCHASE = "unauthorized_purchase"
    # Imported history that never said why ("Not stated"); a shopper or integration always
    # gives a reason, so none of them is offered this one.
    UNSPECIFIED = "unspecified"


SHOPPER_REASONS = frozenset(Reason) - {Reason.UNSPECIFIED}


class Fault(StrEnum):
    CUSTOMER = "customer"
    MERCHANT = "merchant"
    CARRIER = "carrier"
    REVIEW = "review"


FAULT: dict[Reason, Fault] = {
    Reason.NO_LONGER_NEEDED: Fault.CUSTOMER,
    Reason.ORDERED_BY_MISTAKE: Fault.CUSTOMER,
    Reason.BETTER_PRICE: Fault.CUSTOMER,
    Reason.TOO_SMALL: Fault.CUSTOMER,
    Reason.TOO_LARGE: Fault.CUSTOMER,
    Reason.STYLE_NOT_AS_EXPECTED: Fault.CUSTOMER,
    Reason.DEFECTIVE: Fault.MERCHANT,
    Reason.NOT_AS_DESCRIBED: Fault.MERCHANT,
    Reason.WRONG_ITEM: Fault.MERCHANT,
    Reason.MISSING_PARTS: Fault.MERCHANT,
    Reason.QUALITY_NOT_AS_EXPECTED: Fault.MERCHANT,
    Reason.DAMAGED_IN_TRANSIT: Fault.CARRIER,
    Reason.ARRIVED_TOO_LATE: Fault.CARRIER,
    Reason.UNAUTHORIZED_PURCHASE: Fault.REVIEW,
    # Nothing says the merchant or the carrier was at fault.
    Reason.UNSPECIFIED: Fault.CUSTOMER,
}

# Amazon's customer-return reason codes, for imports and exports of marketplace data.
AMAZON_CODE: dict[Reason, str] = {
    Reason.NO_LONGER_NEEDED: "CR-UNWANTED_ITEM",
    Reason.ORDERED_BY_MISTAKE: "CR-ORDERED_WRONG_ITEM",
    Reason.BETTER_PRICE: "CR-FOUND_BETTER_PRICE",
    Reason.TOO_SMALL: "AMZ-PG-APP-TOO-SMALL",
    Reason.TOO_LARGE: "AMZ-PG-APP-TOO-LARGE",
    Reason.STYLE_NOT_AS_EXPECTED: "AMZ-PG-APP-STYLE",
    Reason.DEFECTIVE: "CR-DEFECTIVE",
    Reason.NOT_AS_DESCRIBED: "CR-NOT_AS_DESCRIBED",
    Reason.WRONG_ITEM: "CR-SWITCHEROO",
    Reason.MISSING_PARTS: "CR-MISSING_PARTS",
    Reason.QUALITY_NOT_AS_EXPECTED: "CR-QUALITY_UNACCEPTABLE",
    Reason.DAMAGED_IN_TRANSIT: "CR-DAMAGED_BY_CARRIER",
    Reason.ARRIVED_TOO_LATE: "CR-MISSED_ESTIMATED_DELIVERY",
    Reason.UNAUTHORIZED_PURCHASE: "CR-UNAUTHORIZED_PURCHASE",
    Reason.UNSPECIFIED: "NO_REASON_GIVEN",
}
REASON_FROM_AMAZON = {code: reason for reason, code in AMAZON_CODE.items()}


class Resolution(StrEnum):
    REFUND = "refund"
    STORE_CREDIT = "store_credit"
    EXCHANGE = "exchange"
    KEEP_ITEM = "keep_item"


class Method(StrEnum):
    PREPAID_LABEL = "prepaid_label"
    BOX_FREE_DROPOFF = "box_free_dropoff"
    LOCKER = "locker"
    IN_STORE = "in_store"
    SCHEDULED_PICKUP = "scheduled_pickup"
    # Chosen by policy for a returnless refund; a shopper or integration never asks for it.
    KEEP_ITEM = "keep_item"


SHOPPER_METHODS = frozenset(Method) - {Method.KEEP_ITEM}


class Grade(StrEnum):
    NEW = "new"
    LIKE_NEW = "like_new"
    VERY_GOOD = "very_good"
    GOOD = "good"
    ACCEPTABLE = "acceptable"
    UNSELLABLE = "unsellable"


class Disposition(StrEnum):
    RESTOCK = "restock"
    OPEN_BOX = "open_box"
    REFURBISH = "refurbish"
    RETURN_TO_VENDOR = "return_to_vendor"
    LIQUIDATE = "liquidate"
    DONATE = "donate"
    RECYCLE = "recycle"
    DISPOSE = "dispose"
