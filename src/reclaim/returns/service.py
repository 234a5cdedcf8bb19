"""Creating returns and moving them through the lifecycle, up to the warehouse.

Every change goes through :func:`reclaim.returns.lifecycle.move`. The warehouse steps of a
return's lines live in ``line_steps``; they are importable from here too, where callers
always found them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from reclaim.catalog.models import Product
from reclaim.errors import (
    Conflict,
    NotFound,
    NotReturnable,
    QuantityExceeded,
    ValidationFailed,
)
from reclaim.kit.clock import as_utc
from reclaim.logistics import service as logistics
from reclaim.logistics.models import Facility
from reclaim.logistics.rules import FACILITY_METHODS, Slot, pickup_slots
from reclaim.logistics.shipments import Journey, close_shipment, handover_deadline, open_shipment
from reclaim.orders.models import Order, OrderLine
from reclaim.policy import service as policy_service
from reclaim.policy.facts import Ask
from reclaim.policy.loader import LoadedPolicy
from reclaim.policy.rules import Decision, Outcome, decide
from reclaim.refunds.exchanges import on_return_ended
from reclaim.refunds.settlement import check_can_cancel, settle_due, units_paid_for
from reclaim.returns import rules
from reclaim.returns.lifecycle import (
    NOTE_TOPIC,
    TOPIC,
    Actor,
    canonical_number,
    check,
    load_for_change,
    lock_order,
    move,
    note,
    record,
    release_units,
)
from reclaim.returns.line_steps import complete, disposition, inspect, receive
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.returns.schemas import ReturnIn
from reclaim.returns.states import (
    RELEASED,
    SHOPPER_REASONS,
    Action,
    Method,
    Note,
    Resolution,
    Status,
)

# The lifecycle's pieces and the line steps are part of this module's interface as well.
__all__ = [
    "DEFAULT_JOURNEY",
    "NOTE_TOPIC",
    "TOPIC",
    "Actor",
    "Note",
    "ReturnFilter",
    "approve",
    "cancel",
    "complete",
    "create_return",
    "disposition",
    "expire",
    "get_return",
    "inspect",
    "list_returns",
    "load_for_change",
    "mark_in_transit",
    "note",
    "receive",
    "reject",
    "resolve_attention",
    "send_to_review",
    "timeline",
]

DEFAULT_JOURNEY = Journey()


async def create_return(
    session: AsyncSession,
    data: ReturnIn,
    actor: Actor,
    *,
    policy: LoadedPolicy,
    channel: str = "api",
    client_token: str | None = None,
    carrier: str = "local",
) -> Return:
    """Check the request, hold its units, and apply the policy's decision in one transaction.

    The policy approves it, sends it to review, lets the shopper keep the items, or (when it
    approves nothing by itself) leaves it requested for staff."""
    if data.method is Method.KEEP_ITEM:
        raise ValidationFailed("keep_item is decided by the merchant, not requested.")
    if any(line.reason not in SHOPPER_REASONS for line in data.lines):
        raise ValidationFailed(
            "Give the reason for each line; 'unspecified' is only for imported history."
        )
    order = await session.scalar(
        select(Order)
        .where(Order.external_id == data.order_id)
        .options(
            selectinload(Order.lines).joinedload(OrderLine.product, innerjoin=True),
            joinedload(Order.customer, innerjoin=True),
        )
        # Every change to an order's held units locks the order first: one lock order, so
        # racing returns, cancellations and order updates queue instead of deadlocking.
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(f"No order {data.order_id!r}.", order_id=data.order_id)
    by_ref = {line.line_ref: line for line in order.lines}
    rules.check_requested_lines(
        [rules.RequestedLine(line.line_id, line.quantity, line.resolution) for line in data.lines],
        [
            rules.LineStock(ref, ol.quantity, ol.returned_quantity, ol.product.returnable)
            for ref, ol in by_ref.items()
        ],
    )
    facts = await policy_service.order_facts(session, order, policy, actor.now)
    asks = [
        Ask(line.line_id, line.quantity, line.reason, line.resolution, line.opened)
        for line in data.lines
    ]
    decision = decide(policy.policy, facts, asks, data.method, actor.now)
    if not decision.eligible:
        raise NotReturnable(
            " ".join(problem.text for problem in decision.problems),
            problems=[{"code": p.code, "text": p.text} for p in decision.problems],
        )
    await _check_exchanges(session, data, by_ref)
    facility, pickup = await _handover(session, data, policy, actor.now)
    for line in sorted(data.lines, key=lambda item: by_ref[item.line_id].id):
        await _hold_units(session, by_ref[line.line_id], line.quantity)
    await policy_service.register(session, policy, actor.now)
    ret = Return(
        # 50 random bits: a clash is unlikely enough that the unique constraint alone guards it.
        number=rules.new_return_number(),
        order=order,
        customer_id=order.customer_id,
        status=Status.REQUESTED,
        method=data.method,
        currency=order.currency,
        channel=channel,
        client_token=client_token,
        policy_version=policy.version,
        decision=decision.record(policy.version),
        refund_timing=decision.refund_timing.value,
        facility=facility,
        pickup_start=pickup.start if pickup else None,
        pickup_end=pickup.end if pickup else None,
        created_at=actor.now,
        updated_at=actor.now,
    )
    ret.lines = [
        ReturnLine(
            order_line=by_ref[line.line_id],
            quantity=line.quantity,
            reason=line.reason,
            comment=line.comment,
            resolution=line.resolution,
            opened=line.opened,
            fit_size=line.fit_size,
            exchange_sku=line.exchange_sku,
            photos=[],
        )
        for line in data.lines
    ]
    session.add(ret)
    await session.flush()
    record(
        session,
        ret,
        Action.CREATE,
        None,
        actor,
        {
            "order_id": order.external_id,
            "policy_version": policy.version,
            "outcome": decision.outcome.value,
        },
    )
    journey = Journey(carrier, policy.policy.handover.days)
    await _apply(session, ret, decision, Actor("policy", actor.now), journey)
    return ret


async def _apply(
    session: AsyncSession, ret: Return, decision: Decision, actor: Actor, journey: Journey
) -> None:
    said = [note.text for note in decision.explanations]
    if decision.outcome is Outcome.REVIEW:
        why = "; ".join(decision.review_reasons)
        move(session, ret, Action.SEND_TO_REVIEW, actor, {"reason": why, "explanations": said})
        ret.status_reason = why
    elif decision.outcome is Outcome.APPROVE:
        move(
            session,
            ret,
            Action.APPROVE,
            actor,
            {"returnless": decision.returnless, "explanations": said},
        )
        if decision.returnless:
            ret.method = Method.KEEP_ITEM
        else:
            await _start_journey(session, ret, journey, actor.now)
        # A kept item is refunded now, an instant exchange made now.
        await settle_due(session, ret, actor)


async def _start_journey(
    session: AsyncSession, ret: Return, journey: Journey, now: datetime
) -> None:
    """An approved return gets its tracking number, label or QR code, and a handover deadline."""
    await open_shipment(
        session,
        return_id=ret.id,
        return_number=ret.number,
        method=Method(ret.method),
        pickup_start=ret.pickup_start,
        pickup_end=ret.pickup_end,
        carrier_name=journey.carrier,
        now=now,
    )
    ret.handover_by = handover_deadline(now, journey)


async def _check_exchanges(
    session: AsyncSession, data: ReturnIn, by_ref: dict[str, OrderLine]
) -> None:
    """An exchange names a variant of the same product; other lines name none."""
    for line in data.lines:
        if line.exchange_sku is None:
            continue
        if line.resolution is not Resolution.EXCHANGE:
            raise ValidationFailed(
                f"Line {line.line_id!r} names an exchange item but asks for {line.resolution}.",
                line_id=line.line_id,
            )
        sold = by_ref[line.line_id].product
        wanted = await session.scalar(select(Product).where(Product.sku == line.exchange_sku))
        if (
            wanted is None
            or sold.product_group is None
            or wanted.product_group != (sold.product_group)
        ):
            raise ValidationFailed(
                f"{line.exchange_sku!r} is not another variant of {sold.name}.",
                line_id=line.line_id,
                exchange_sku=line.exchange_sku,
            )


async def _handover(
    session: AsyncSession, data: ReturnIn, policy: LoadedPolicy, now: datetime
) -> tuple[Facility | None, Slot | None]:
    """The drop-off place or pickup slot the method needs, checked against what is offered."""
    facility = pickup = None
    if data.facility is not None:
        if data.method not in FACILITY_METHODS:
            raise ValidationFailed(f"A {data.method} return has no drop-off place to choose.")
        facility = await logistics.facility_for(session, data.facility, data.method)
    if data.pickup_start is not None:
        if data.method is not Method.SCHEDULED_PICKUP:
            raise ValidationFailed("Only a scheduled pickup has a pickup slot.")
        offered = {slot.start: slot for slot in pickup_slots(policy.policy.pickup, now)}
        pickup = offered.get(as_utc(data.pickup_start))
        if pickup is None:
            raise ValidationFailed(
                "That pickup slot isn't offered; choose one of the next working days' slots.",
                pickup_start=data.pickup_start.isoformat(),
            )
    return facility, pickup


async def _hold_units(session: AsyncSession, line: OrderLine, quantity: int) -> None:
    """Hold units of an order line with one conditional update: racing returns can't both win."""
    result = await session.execute(
        update(OrderLine)
        .where(
            OrderLine.id == line.id,
            OrderLine.returned_quantity + quantity <= OrderLine.quantity,
        )
        .values(returned_quantity=OrderLine.returned_quantity + quantity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise QuantityExceeded(
            f"Order line {line.line_ref!r} has no more units to return.", line_ref=line.line_ref
        )


async def send_to_review(session: AsyncSession, number: str, actor: Actor, why: str) -> Return:
    ret = await load_for_change(session, number)
    move(session, ret, Action.SEND_TO_REVIEW, actor, {"reason": why})
    ret.status_reason = why
    return ret


async def approve(
    session: AsyncSession,
    number: str,
    actor: Actor,
    *,
    returnless: bool = False,
    note: str | None = None,
    journey: Journey = DEFAULT_JOURNEY,
) -> Return:
    ret = await load_for_change(session, number)
    data: dict[str, Any] = {"returnless": returnless}
    if note:
        data["note"] = note
    move(session, ret, Action.APPROVE, actor, data)
    if returnless:
        ret.method = Method.KEEP_ITEM
    else:
        await _start_journey(session, ret, journey, actor.now)
    ret.status_reason = note
    await settle_due(session, ret, actor)
    return ret


async def _end_holding(
    session: AsyncSession,
    ret: Return,
    action: Action,
    actor: Actor,
    why: str | None,
    data: dict[str, Any] | None = None,
) -> Return:
    check(ret, action)
    if action is Action.CANCEL:
        await check_can_cancel(session, ret)
    move(session, ret, action, actor, {**({"reason": why} if why else {}), **(data or {})})
    assert ret.status in RELEASED
    ret.status_reason = why
    ret.handover_by = None
    await close_shipment(session, ret.id, actor.now)
    await on_return_ended(session, ret, actor)
    # Units already paid for (refunded at the first scan, say, before the box came back
    # empty) stay taken: the money went out for them.
    paid = await units_paid_for(session, ret)
    await lock_order(session, ret.order_id)
    for line in sorted(ret.lines, key=lambda line: line.order_line_id):
        await release_units(session, line.order_line_id, line.quantity - paid.get(line.id, 0))
    return ret


async def reject(session: AsyncSession, number: str, actor: Actor, why: str | None) -> Return:
    if not why:
        raise ValidationFailed("Say why the return is rejected: the shopper is told.")
    return await _end_holding(
        session, await load_for_change(session, number), Action.REJECT, actor, why
    )


async def cancel(session: AsyncSession, number: str, actor: Actor, why: str | None) -> Return:
    return await _end_holding(
        session, await load_for_change(session, number), Action.CANCEL, actor, why
    )


async def expire(session: AsyncSession, number: str, actor: Actor) -> Return:
    ret = await load_for_change(session, number)
    # The deadline goes with the event: the shopper's e-mail says which day was missed.
    deadline = {"handover_by": ret.handover_by.isoformat()} if ret.handover_by else {}
    return await _end_holding(
        session, ret, Action.EXPIRE, actor, "Not sent back in time.", deadline
    )


async def mark_in_transit(
    session: AsyncSession,
    number: str,
    actor: Actor,
    *,
    tracking_number: str | None = None,
    carrier: str | None = None,
) -> Return:
    ret = await load_for_change(session, number)
    data = {k: v for k, v in {"tracking_number": tracking_number, "carrier": carrier}.items() if v}
    move(session, ret, Action.MARK_IN_TRANSIT, actor, data)
    await settle_due(session, ret, actor)
    return ret


async def resolve_attention(
    session: AsyncSession, number: str, actor: Actor, remark: str
) -> Return:
    """Staff have looked at what was flagged: the flag goes, the timeline keeps what they did."""
    if not remark.strip():
        raise ValidationFailed("Say what was done about it: the note stays on the timeline.")
    ret = await load_for_change(session, number)
    if ret.attention is None:
        raise Conflict(
            f"Return {ret.number} has nothing flagged for attention; nothing to resolve.",
            number=ret.number,
        )
    flagged = {"attention": ret.attention, "note": remark}
    if ret.attention_at is not None:
        flagged["flagged_at"] = as_utc(ret.attention_at).isoformat()
    ret.attention = ret.attention_at = None
    note(session, ret, Note.ATTENTION_RESOLVED, actor, flagged)
    # Money held while it was flagged is paid now, if its time has come.
    await settle_due(session, ret, actor)
    return ret


async def timeline(session: AsyncSession, ret: Return) -> list[ReturnEvent]:
    """The return's events, oldest first, including those this transaction just added."""
    await session.flush()
    return list(
        await session.scalars(
            select(ReturnEvent).where(ReturnEvent.return_id == ret.id).order_by(ReturnEvent.id)
        )
    )


async def get_return(session: AsyncSession, number: str, *, with_events: bool = False) -> Return:
    options = [
        selectinload(Return.lines).selectinload(ReturnLine.order_line),
        selectinload(Return.order),
        selectinload(Return.facility),
    ]
    if with_events:
        options.append(selectinload(Return.events))
    ret = await session.scalar(
        select(Return).where(Return.number == canonical_number(number)).options(*options)
    )
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    return ret


@dataclass(frozen=True, slots=True)
class ReturnFilter:
    status: Status | None = None
    order_id: str | None = None
    # True: only returns flagged for a person (the exceptions queue); False: only unflagged.
    attention: bool | None = None


async def list_returns(
    session: AsyncSession, filters: ReturnFilter, *, limit: int = 50, after: str | None = None
) -> tuple[list[Return], str | None]:
    """Newest first, a page at a time; the cursor is the last return number seen."""
    query = (
        select(Return)
        .options(
            selectinload(Return.lines).selectinload(ReturnLine.order_line),
            selectinload(Return.order),
            selectinload(Return.facility),
        )
        .order_by(Return.id.desc())
        .limit(limit + 1)
    )
    if filters.status:
        query = query.where(Return.status == filters.status)
    if filters.order_id:
        query = query.join(Order).where(Order.external_id == filters.order_id)
    if filters.attention is not None:
        flagged = Return.attention.is_not(None)
        query = query.where(flagged if filters.attention else ~flagged)
    if after:
        anchor = await session.scalar(
            select(Return.id).where(Return.number == rules.normalise_return_number(after))
        )
        if anchor is None:  # else the page would be empty and the client think it had all
            raise ValidationFailed(f"Unknown cursor {after!r}.", cursor=after)
        query = query.where(Return.id < anchor)
    rows = list(await session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    return page, (page[-1].number if more and page else None)
