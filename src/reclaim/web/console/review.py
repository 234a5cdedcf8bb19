"""A return as staff see it: lines, parcel, the policy's reasoning, receiving flags, and every
event on its timeline told in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from reclaim.errors import NotFound, ValidationFailed
from reclaim.files.models import ReturnPhoto
from reclaim.kit.money import Money
from reclaim.logistics.models import Shipment, TrackingEvent
from reclaim.orders.models import OrderLine
from reclaim.refunds.views import ReturnMoney, money_of_return
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.returns.rules import normalise_return_number
from reclaim.returns.states import Action, Note, Status
from reclaim.warehouse.models import ReceivingFlag

# Statuses in which staff still decide whether the return is accepted.
UNDECIDED = frozenset({Status.REQUESTED, Status.REVIEW})


@dataclass(frozen=True, slots=True)
class Entry:
    """One event on the timeline: when, who, what, and the details in words."""

    at: datetime
    actor: str
    what: str
    status: str  # "review → approved", or the status it stayed in
    details: list[str]


@dataclass(frozen=True, slots=True)
class Flag:
    flag: ReceivingFlag
    line_ref: str | None


@dataclass(frozen=True, slots=True)
class ReturnView:
    ret: Return
    shipment: Shipment | None
    scans: list[TrackingEvent]
    photos: dict[int, int]  # return line id -> photos
    flags: list[Flag]
    timeline: list[Entry]
    money: ReturnMoney

    @property
    def undecided(self) -> bool:
        return Status(self.ret.status) in UNDECIDED

    @property
    def open_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if flag.flag.resolved_at is None]

    @property
    def decision(self) -> dict[str, Any]:
        return self.ret.decision or {}


def canonical(number: str) -> str:
    """The RMA as stored; text that can't be one names no return, like a wrong number."""
    try:
        return normalise_return_number(number)
    except ValidationFailed:
        raise NotFound(f"No return {number!r}.", number=number) from None


async def load(session: AsyncSession, number: str) -> ReturnView:
    ret = await session.scalar(
        select(Return)
        .where(Return.number == canonical(number))
        .options(
            selectinload(Return.lines)
            .selectinload(ReturnLine.order_line)
            .joinedload(OrderLine.product),
            joinedload(Return.order),
            joinedload(Return.customer),
            selectinload(Return.facility),
            selectinload(Return.events),
        )
    )
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    shipment = ret.shipment
    scans = (
        list(
            await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.shipment_id == shipment.id)
                .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
            )
        )
        if shipment
        else []
    )
    line_ids = [line.id for line in ret.lines]
    counted = await session.execute(
        select(ReturnPhoto.return_line_id, func.count())
        .where(ReturnPhoto.return_line_id.in_(line_ids))
        .group_by(ReturnPhoto.return_line_id)
    )
    photos = {line_id: int(n) for line_id, n in counted}
    refs = {line.id: line.order_line.line_ref for line in ret.lines}
    flags = [
        Flag(flag, refs.get(flag.return_line_id) if flag.return_line_id else None)
        for flag in await session.scalars(
            select(ReceivingFlag)
            .where(ReceivingFlag.return_id == ret.id)
            .order_by(ReceivingFlag.id)
        )
    ]
    timeline = [told(event) for event in ret.events]
    money = await money_of_return(session, ret)
    return ReturnView(ret, shipment, scans, photos, flags, timeline, money)


WHAT: dict[str, str] = {
    Action.CREATE: "Return requested",
    Action.SEND_TO_REVIEW: "Sent to review",
    Action.APPROVE: "Approved",
    Action.REJECT: "Rejected",
    Action.CANCEL: "Cancelled",
    Action.EXPIRE: "Expired: not sent back in time",
    Action.MARK_IN_TRANSIT: "Handed to the carrier",
    Action.RECEIVE: "Received",
    Action.INSPECT: "Inspected",
    Action.DISPOSITION: "Routed",
    Action.COMPLETE: "Completed",
    Note.ARRIVED: "Parcel arrived at the facility",
    Note.ATTENTION: "Flagged for attention",
    Note.ATTENTION_RESOLVED: "Flag resolved",
    Note.EXPIRING: "Reminder sent: the handover deadline is near",
    Note.SETTLED: "Money given back",
}

# How the usual facts in an event's data read; anything else reads as "Key: value".
LABEL: dict[str, str] = {
    "reason": "Why",
    "note": "Note",
    "order_id": "Order",
    "policy_version": "Policy version",
    "outcome": "Policy outcome",
    "lines": "Units received",
    "grades": "Grades",
    "notes": "Inspector's notes",
    "dispositions": "Routed to",
    "tracking_number": "Tracking number",
    "carrier": "Carrier",
    "attention": "Flag",
    "flagged_at": "Flagged at",
    "handover_by": "Send back by",
    "receipt": "Receipt",
    "batch": "Batch",
    "code": "Scan",
    "occurred_at": "Scanned at",
    "location": "Where",
    "facility_code": "Facility",
}
TIMES = frozenset({"flagged_at", "handover_by", "occurred_at"})
# Said by the headline already, or a list told line by line below.
UNSAID = frozenset({"returnless", "explanations", "flags"})


def _words(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"line {key}: {_words(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_words(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.isidentifier():
        return value.replace("_", " ")  # a code such as too_small or like_new
    return str(value)


def _when(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{moment.day} {moment:%b %Y, %H:%M}"


def _flag_words(flag: Mapping[str, Any]) -> str:
    said = [str(flag.get("kind", "flag")).replace("_", " ")]
    if flag.get("line_id"):
        said.append(f"line {flag['line_id']}")
    if flag.get("found"):
        said.append(f"found {flag.get('quantity') or ''} × {flag['found']}".replace("  ", " "))
    if flag.get("detail"):
        said.append(str(flag["detail"]))
    return ", ".join(said)


GIVEN = {"refund": "refunded", "store_credit": "credited", "exchange": "put toward the exchange"}


def _settled_words(data: Mapping[str, Any]) -> list[str]:
    """A settlement's lines and what they became, with amounts in the return's currency."""
    currency = str(data.get("currency") or "")

    def amount(key: str) -> str:
        return Money(int(data.get(key) or 0), currency).format()

    said = []
    for line in data.get("lines") or []:
        if not isinstance(line, Mapping):
            continue
        units = int(line.get("units") or 0)
        verb = GIVEN.get(str(line.get("resolution")), "settled")
        value = Money(int(line.get("value_minor") or 0), currency).format()
        notes = " ".join(
            str(note.get("text"))
            for note in line.get("explanations") or []
            if isinstance(note, Mapping)
        )
        said.append(
            f"Line {line.get('line_id')}: {units} unit{'s' if units != 1 else ''} {verb}, "
            f"{value}" + (f". {notes}" if notes else "")
        )
    if data.get("refund"):
        said.append(f"Refund {data['refund']}: {amount('refund_minor')}")
    if data.get("credit_minor"):
        bonus = f", of which {amount('bonus_minor')} bonus" if data.get("bonus_minor") else ""
        said.append(f"Store credit: {amount('credit_minor')}{bonus}")
    if data.get("exchange"):
        said.append(f"Exchange {data['exchange']}: worth {amount('exchange_minor')}")
    return said


def told(event: ReturnEvent) -> Entry:
    data: dict[str, Any] = dict(event.data or {})
    what = WHAT.get(event.action, event.action.replace("_", " ").capitalize())
    if event.action == Note.SETTLED:
        return Entry(
            event.at, event.actor, what, event.to_status.replace("_", " "), _settled_words(data)
        )
    if event.action == Action.APPROVE and data.get("returnless"):
        what = "Approved without a return: the shopper keeps the item"
    if event.action == Action.INSPECT and event.to_status == Status.RECEIVED:
        what = "Inspected (some lines still to grade)"
    details = [
        f"{LABEL.get(key, key.replace('_', ' ').capitalize())}: "
        + (_when(value) if key in TIMES else _words(value))
        for key, value in data.items()
        if key not in UNSAID and value not in (None, "", [], {})
    ]
    details += [
        f"Policy: {note['text'] if isinstance(note, Mapping) else note}"
        for note in data.get("explanations") or []
    ]
    details += [
        f"Receiving flag: {_flag_words(flag)}"
        for flag in data.get("flags") or []
        if isinstance(flag, Mapping)
    ]
    moved = event.from_status != event.to_status and event.from_status is not None
    status = f"{event.from_status} → {event.to_status}" if moved else event.to_status
    return Entry(event.at, event.actor, what, status.replace("_", " "), details)
