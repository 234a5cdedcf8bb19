"""Refurbishment work orders: units sent to a repair partner, then closed one way or the other.

Back regraded, the units enter stock through the ledger at the bin their new grade sells from,
and what they are now worth is the line's realised recovery. Scrapped (or back unsellable), they
join the open recycling manifest and recover nothing. A work order closes once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import InvalidTransition, NotFound, ValidationFailed
from reclaim.logistics.models import Facility
from reclaim.orders.models import OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.service import Actor
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import configured, dispositions, inventory, manifests
from reclaim.warehouse.disposition_rules import ChannelValue, location_for, ranked, value_channels
from reclaim.warehouse.models import DispositionRecord, RefurbWorkOrder
from reclaim.warehouse.numbers import WORK_ORDER, canonical, new_work_order_number
from reclaim.warehouse.recovery import RecoveryTerms

SENT, RETURNED, SCRAPPED = "sent", "returned", "scrapped"
STATUSES = (SENT, RETURNED, SCRAPPED)
# Where refurbished units can be sold from; the one that nets most for the new grade wins.
RESALE = frozenset({Disposition.RESTOCK, Disposition.OPEN_BOX, Disposition.LIQUIDATE})
MAX_COST_MINOR = 10**12


@dataclass(frozen=True, slots=True)
class WorkOrderContext:
    """What a work order is about, for people: the return line, the product, the partner."""

    rma: str
    line_ref: str
    sku: str
    name: str
    partner_code: str | None


async def _first_partner(session: AsyncSession) -> Facility | None:
    return await session.scalar(
        select(Facility)
        .where(Facility.kind == "refurbisher", Facility.active.is_(True))
        .order_by(Facility.id)
        .limit(1)
    )


async def open_work_order(
    session: AsyncSession,
    line: ReturnLine,
    record: DispositionRecord,
    product: Product,
    actor: Actor,
) -> RefurbWorkOrder:
    """Send a line's units to the refurbishment partner, expecting what the engine valued."""
    refurbish = next(
        option for option in record.options if option["channel"] == Disposition.REFURBISH.value
    )
    partner = await _first_partner(session)
    order = RefurbWorkOrder(
        number=new_work_order_number(),
        return_line_id=line.id,
        partner_id=partner.id if partner is not None else None,
        quantity=record.quantity,
        status=SENT,
        grade_in=str(line.grade),
        currency=record.currency,
        expected_cost_minor=int(refurbish["cost_minor"]) * record.quantity,
        expected_recovery_minor=int(refurbish["gross_minor"]) * record.quantity,
        sent_by=actor.name,
        sent_at=actor.now,
    )
    session.add(order)
    await session.flush()
    return order


async def _load_for_change(session: AsyncSession, number: str) -> RefurbWorkOrder:
    order = await session.scalar(
        select(RefurbWorkOrder)
        .where(RefurbWorkOrder.number == canonical(number, WORK_ORDER, "work order"))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(f"No work order {number!r}.", number=number)
    if order.status != SENT:
        raise InvalidTransition(
            f"Work order {order.number} is already {order.status}; it closes once.",
            number=order.number,
            status=order.status,
        )
    return order


def _check_cost(cost_minor: int) -> None:
    if not 0 <= cost_minor <= MAX_COST_MINOR:
        raise ValidationFailed("The cost is a whole, non-negative amount in minor units.")


async def _line_of(
    session: AsyncSession, order: RefurbWorkOrder
) -> tuple[ReturnLine, Product, DispositionRecord]:
    line = await session.get_one(ReturnLine, order.return_line_id)
    product = await session.scalar(
        select(Product)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .where(OrderLine.id == line.order_line_id)
    )
    record = await session.scalar(
        select(DispositionRecord).where(DispositionRecord.return_line_id == line.id)
    )
    assert product is not None and record is not None  # a work order is opened from both
    return line, product, record


def _close(
    order: RefurbWorkOrder, status: str, actor: Actor, cost_minor: int, note: str | None
) -> None:
    order.status = status
    order.cost_minor = cost_minor
    order.note = note
    order.closed_by = actor.name
    order.closed_at = actor.now


async def _scrap(
    session: AsyncSession, order: RefurbWorkOrder, actor: Actor, cost_minor: int, why: str
) -> RefurbWorkOrder:
    line, product, record = await _line_of(session, order)
    _close(order, SCRAPPED, actor, cost_minor, why)
    order.recovery_minor = 0
    record.realized_value_minor = 0
    record.realized_cost_minor = cost_minor
    await manifests.add_line(
        session, Disposition.RECYCLE, line, product, order.quantity, actor, work_order=order
    )
    return order


def _best_resale(values: tuple[ChannelValue, ...]) -> ChannelValue | None:
    sellable = ranked(tuple(value for value in values if value.channel in RESALE))
    return sellable[0] if sellable else None


async def receive_back(
    session: AsyncSession,
    number: str,
    actor: Actor,
    *,
    grade: Grade,
    cost_minor: int,
    note: str | None = None,
    terms: RecoveryTerms | None = None,
) -> RefurbWorkOrder:
    """The units are back from the partner in ``grade``, having cost ``cost_minor`` in all.

    They enter stock at the bin of the sale channel that nets most for that grade; a grade no
    sale channel takes (unsellable) is scrapped instead."""
    _check_cost(cost_minor)
    order = await _load_for_change(session, number)
    terms = terms or configured.recovery()
    line, product, record = await _line_of(session, order)
    unit = replace(dispositions.unit_for(line, product), grade=grade, quantity=order.quantity)
    best = _best_resale(value_channels(unit, terms))
    if best is None:
        why = f"Came back {Grade(grade).value.replace('_', ' ')}: no sale channel takes it."
        return await _scrap(session, order, actor, cost_minor, f"{why} {note or ''}".strip())
    recovered = best.gross_minor * order.quantity
    inventory.record(
        session,
        product=product,
        condition=Grade(grade).value,
        location=location_for(best.channel, terms),
        quantity=order.quantity,
        kind="refurbished",
        actor=actor,
        return_line_id=line.id,
        work_order_id=order.id,
        value_minor=recovered,
        currency=order.currency,
        note=f"Back from refurbishment, work order {order.number}",
    )
    _close(order, RETURNED, actor, cost_minor, note)
    order.grade_out = Grade(grade).value
    order.recovery_minor = recovered
    record.realized_value_minor = recovered
    # The partner's bill, and what selling from that channel costs (fees, handling, waiting).
    record.realized_cost_minor = cost_minor + best.cost_minor * order.quantity
    await session.flush()
    return order


async def scrap(
    session: AsyncSession, number: str, actor: Actor, *, cost_minor: int, reason: str
) -> RefurbWorkOrder:
    """The partner couldn't repair the units: they go for recycling, recovering nothing."""
    if not reason.strip():
        raise ValidationFailed("Say why the units are scrapped: the work order keeps it.")
    _check_cost(cost_minor)
    order = await _load_for_change(session, number)
    await _scrap(session, order, actor, cost_minor, reason.strip())
    await session.flush()
    return order


async def list_work_orders(
    session: AsyncSession, *, status: str | None = None
) -> list[RefurbWorkOrder]:
    """Newest first."""
    query = select(RefurbWorkOrder).order_by(RefurbWorkOrder.id.desc())
    if status is not None:
        if status not in STATUSES:
            raise ValidationFailed(
                f"A work order is {', '.join(STATUSES)}; not {status!r}.", status=status
            )
        query = query.where(RefurbWorkOrder.status == status)
    return list(await session.scalars(query))


async def get_work_order(session: AsyncSession, number: str) -> RefurbWorkOrder:
    order = await session.scalar(
        select(RefurbWorkOrder).where(
            RefurbWorkOrder.number == canonical(number, WORK_ORDER, "work order")
        )
    )
    if order is None:
        raise NotFound(f"No work order {number!r}.", number=number)
    return order


async def contexts(
    session: AsyncSession, orders: list[RefurbWorkOrder]
) -> dict[int, WorkOrderContext]:
    """Each work order's return line, product and partner, by work order id."""
    if not orders:
        return {}
    found = await session.execute(
        select(
            RefurbWorkOrder.id,
            Return.number,
            OrderLine.line_ref,
            Product.sku,
            Product.name,
            Facility.code,
        )
        .join(ReturnLine, ReturnLine.id == RefurbWorkOrder.return_line_id)
        .join(Return, Return.id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .join(Product, Product.id == OrderLine.product_id)
        .outerjoin(Facility, Facility.id == RefurbWorkOrder.partner_id)
        .where(RefurbWorkOrder.id.in_([order.id for order in orders]))
    )
    return {
        order_id: WorkOrderContext(rma, ref, sku, name, code)
        for order_id, rma, ref, sku, name, code in found.all()
    }
