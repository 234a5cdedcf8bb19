"""The return leg: a shipment opened when a return is approved, closed when it is called off,
and the label or QR code it travels with, rendered on first request and kept in file storage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from reclaim.errors import Conflict, NotFound, ValidationFailed
from reclaim.files.storage import FileStorage
from reclaim.logistics import labels
from reclaim.logistics.carriers import KIND_BY_METHOD, ShipmentKind, ShipmentRequest, carrier
from reclaim.logistics.models import Facility, Shipment
from reclaim.logistics.rules import Slot
from reclaim.orders.models import Order, OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.rules import normalise_return_number
from reclaim.returns.states import Method, Status

# The kinds that travel with a printed label; every shipment has a QR code of its tracking
# number, which a drop-off point, locker, store or driver scans (and can print a label from).
LABEL_KINDS = frozenset({ShipmentKind.LABEL, ShipmentKind.PICKUP})


@dataclass(frozen=True, slots=True)
class Journey:
    """How an approved return travels: the carrier to ask, and the days to hand it over."""

    carrier: str = "local"
    handover_days: int = 14


async def open_shipment(
    session: AsyncSession,
    *,
    return_id: int,
    return_number: str,
    method: Method,
    pickup_start: datetime | None,
    pickup_end: datetime | None,
    carrier_name: str,
    now: datetime,
) -> Shipment | None:
    """Ask the carrier for a tracking number; a returnless return travels nowhere."""
    kind = KIND_BY_METHOD.get(method)
    if kind is None:
        return None
    chosen = carrier(carrier_name)
    created = await chosen.create_shipment(
        ShipmentRequest(return_number, kind, method, pickup_start, pickup_end)
    )
    shipment = Shipment(
        return_id=return_id,
        carrier=chosen.name,
        kind=kind,
        tracking_number=created.tracking_number,
        pickup_start=pickup_start,
        pickup_end=pickup_end,
        stage="created",
        created_at=now,
    )
    session.add(shipment)
    # The return in this session shows its new shipment at once (the relationship is
    # read-only, and would otherwise still say "none" until the return is loaded again).
    ret = await session.get(Return, return_id)
    if ret is not None:
        set_committed_value(ret, "shipment", shipment)
    return shipment


async def shipment_of(session: AsyncSession, return_id: int) -> Shipment | None:
    shipment: Shipment | None = await session.scalar(
        select(Shipment).where(Shipment.return_id == return_id)
    )
    return shipment


async def close_shipment(session: AsyncSession, return_id: int, now: datetime) -> None:
    """A return called off before it travelled: the carrier voids the label."""
    shipment = await shipment_of(session, return_id)
    if shipment is None or shipment.cancelled_at is not None:
        return
    await carrier(shipment.carrier).cancel(shipment.tracking_number)
    shipment.cancelled_at = now


def handover_deadline(approved_at: datetime, journey: Journey) -> datetime:
    return approved_at + timedelta(days=journey.handover_days)


async def label_pdf(
    session: AsyncSession, storage: FileStorage, number: str, *, merchant_name: str
) -> bytes:
    """The return's label and packing slip as a PDF: rendered and stored the first time it is
    asked for, then always the stored file, so a reprint is the label first printed."""
    ret = await _load(session, number, for_label=True)
    shipment = live_shipment(ret)
    if shipment.kind not in LABEL_KINDS:
        raise Conflict(
            f"Return {ret.number} is handed over with its QR code, without a box or label; "
            "use the QR code instead.",
            number=ret.number,
            kind=shipment.kind,
        )
    stored = _stored(storage, shipment.label_key)
    if stored is not None:
        return stored
    recipient = await _recipient(session, ret, merchant_name)
    data = await asyncio.to_thread(
        labels.render_label, _label(ret, shipment, recipient, merchant_name)
    )
    shipment.label_key = _put(storage, f"shipments/{shipment.id}/label.pdf", data)
    await session.flush()
    return data


async def dropoff_qr_png(session: AsyncSession, storage: FileStorage, number: str) -> bytes:
    """The return's QR code as a PNG, holding its tracking number; stored like the label."""
    ret = await _load(session, number, for_label=False)
    shipment = live_shipment(ret)
    stored = _stored(storage, shipment.qr_key)
    if stored is not None:
        return stored
    data = labels.render_dropoff_qr(shipment.tracking_number)
    shipment.qr_key = _put(storage, f"shipments/{shipment.id}/dropoff.png", data)
    await session.flush()
    return data


def live_shipment(ret: Return) -> Shipment:
    """The shipment the return travels with, or a Conflict that says why there is none."""
    shipment = ret.shipment
    if shipment is not None and shipment.cancelled_at is None:
        return shipment
    raise no_shipment(ret)


def no_shipment(ret: Return) -> Conflict:
    """Why the return has no shipment (or only a void one), and what to do about it."""
    status = Status(ret.status)
    if ret.method == Method.KEEP_ITEM:
        why = "is returnless: the shopper keeps the item, so nothing is sent back"
    elif status in (Status.REQUESTED, Status.REVIEW):
        why = "isn't approved yet; its label and QR code are made when it is approved"
    elif ret.shipment is not None or status in (
        Status.REJECTED,
        Status.CANCELLED,
        Status.EXPIRED,
    ):
        why = (
            f"was {status.value}, so nothing is sent back and any label is void; "
            "start a new return if the items should still come back"
        )
    else:
        why = "was approved before labels were issued, so it has no tracking number"
    return Conflict(f"Return {ret.number} {why}.", number=ret.number, status=status.value)


async def _load(session: AsyncSession, number: str, *, for_label: bool) -> Return:
    try:
        canonical = normalise_return_number(number)
    except ValidationFailed as exc:
        raise NotFound(exc.message, number=number) from None
    query = select(Return).where(Return.number == canonical)
    if for_label:
        query = query.options(
            selectinload(Return.lines)
            .joinedload(ReturnLine.order_line, innerjoin=True)
            .joinedload(OrderLine.product, innerjoin=True),
            joinedload(Return.order, innerjoin=True).joinedload(Order.customer, innerjoin=True),
            joinedload(Return.facility),
        )
    ret = await session.scalar(query)
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    return ret


async def _recipient(session: AsyncSession, ret: Return, merchant_name: str) -> labels.Address:
    """Where the parcel goes: the return's own warehouse, else the first active one, else the
    shop by name (a carrier's account knows the shop's returns address)."""
    warehouse = ret.facility if ret.facility and ret.facility.kind == "warehouse" else None
    if warehouse is None:
        warehouse = await session.scalar(
            select(Facility)
            .where(Facility.kind == "warehouse", Facility.active.is_(True))
            .order_by(Facility.code)
            .limit(1)
        )
    if warehouse is None:
        return labels.Address(f"{merchant_name} Returns")
    lines = [line for line in warehouse.address.splitlines() if line.strip()]
    lines += [part for part in (warehouse.postcode, warehouse.country) if part]
    return labels.Address(warehouse.name, tuple(lines))


def shipped_to(order: Order) -> tuple[str, ...]:
    """The order's address as the label prints it, and a pickup driver reads it: the street,
    the town, then the postcode and country; whatever the shop didn't send left out."""
    lines = (
        ", ".join(part for part in (order.ship_line1, order.ship_line2) if part),
        ", ".join(part for part in (order.ship_city, order.ship_region) if part),
        " ".join(part for part in (order.ship_postcode, order.ship_country) if part),
    )
    return tuple(line for line in lines if line)


def _label(
    ret: Return, shipment: Shipment, recipient: labels.Address, merchant_name: str
) -> labels.Label:
    order, customer = ret.order, ret.order.customer
    pickup = (
        Slot(shipment.pickup_start, shipment.pickup_end).label
        if shipment.pickup_start and shipment.pickup_end
        else None
    )
    due = ret.handover_by
    return labels.Label(
        return_number=ret.number,
        order_number=order.external_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        sender=labels.Address(customer.name or customer.email, shipped_to(order)),
        recipient=recipient,
        items=tuple(
            labels.Item(
                sku=line.order_line.sku,
                name=line.order_line.product.name,
                quantity=line.quantity,
                reason=line.reason.replace("_", " ").capitalize(),
            )
            for line in ret.lines
        ),
        merchant=merchant_name,
        pickup=pickup if shipment.kind == ShipmentKind.PICKUP else None,
        send_by=f"{due:%a} {due.day} {due:%b %Y}" if due else None,
    )


def _stored(storage: FileStorage, key: str | None) -> bytes | None:
    if key is None:
        return None
    try:
        return storage.get(key)
    except FileNotFoundError:
        # A file lost from storage (a volume wiped or restored) is rendered again, not a 500.
        return None


def _put(storage: FileStorage, key: str, data: bytes) -> str:
    # The key depends only on the shipment: two first requests racing write the same bytes to
    # the same key, so neither leaves an orphan file behind.
    storage.put(key, data)
    return key
