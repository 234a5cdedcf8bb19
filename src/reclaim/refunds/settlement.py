"""Settling a return's lines when the policy's refund timing says so: refund, credit, exchange.

Every lifecycle step that can make money due (approval, the first carrier scan, receipt,
grading, a hold resolved, completion) calls :func:`settle_due` in its own transaction, with the
return locked. The amounts come from the same quote the shopper was shown, re-made under the
policy version the return recorded; each line is settled once, by a conditional update.

A return held for a person (``attention`` set, or an open receiving flag) settles nothing: the
money waits until someone has looked. Order of work follows the lock order everywhere: the
return, then the order, then payments (refunds and exchange differences), then credit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from reclaim.errors import AmountExceeded, InvalidTransition, NotDue, ValidationFailed
from reclaim.logistics.models import Shipment
from reclaim.orders.models import Order, OrderLine
from reclaim.policy import service as policy_service
from reclaim.policy.facts import Ask, OrderFacts, money
from reclaim.policy.pricing import Quote, quote
from reclaim.policy.rules import options, refund_timing
from reclaim.policy.schema import Policy, RefundTiming
from reclaim.refunds import credit, exchanges, service
from reclaim.refunds.models import CreditTransaction, Exchange, Refund
from reclaim.refunds.rules import (
    LineSettlement,
    LineState,
    effective_timing,
    not_due_reason,
    settle_lines,
    units_due,
)
from reclaim.returns.lifecycle import Actor, load_for_change, note
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.returns.states import (
    DONE,
    Action,
    Grade,
    Method,
    Note,
    Reason,
    Resolution,
    Status,
)
from reclaim.warehouse.models import ReceivingFlag

# Before approval nothing is owed; after the return ended or completed nothing more is.
SETTLING = frozenset({Status.APPROVED, Status.IN_TRANSIT, Status.RECEIVED, Status.INSPECTED})
# The parcel has been with the carrier, whatever the tracking feed said.
PAST_HANDOVER = frozenset({Status.IN_TRANSIT, Status.RECEIVED, Status.INSPECTED, Status.COMPLETED})
REFUNDED = frozenset({Resolution.REFUND, Resolution.KEEP_ITEM})


@dataclass(frozen=True, slots=True)
class Settled:
    lines: tuple[str, ...] = ()
    refunds: tuple[Refund, ...] = ()
    credit: tuple[CreditTransaction, ...] = ()
    exchanges: tuple[Exchange, ...] = ()


NOTHING = Settled()


@dataclass(frozen=True, slots=True)
class DueLine:
    line: ReturnLine
    state: LineState
    timing: RefundTiming
    units: int
    # Due ahead of the item because the shopper gets instant exchanges.
    instant: bool


@dataclass(frozen=True, slots=True)
class Due:
    """What the return owes now, line by line, and the policy it was decided under."""

    policy: Policy
    facts: OrderFacts
    scanned: bool
    lines: tuple[DueLine, ...]

    def why_not(self, due: DueLine) -> str:
        return not_due_reason(due.timing, due.state, scanned=self.scanned)


async def held_because(session: AsyncSession, ret: Return) -> str | None:
    """Why a person must look before any money moves, or ``None``."""
    if ret.attention:
        return f"Nothing is paid while return {ret.number} waits for a person: {ret.attention}"
    flags = await session.scalar(
        select(func.count(ReceivingFlag.id)).where(
            ReceivingFlag.return_id == ret.id, ReceivingFlag.resolved_at.is_(None)
        )
    )
    if flags:
        return (
            f"Nothing is paid while return {ret.number} waits for a person: {flags} "
            f"receiving flag{'s are' if flags != 1 else ' is'} still open."
        )
    return None


async def check_can_cancel(session: AsyncSession, ret: Return) -> None:
    """A shopper can't call off a return whose lines were already refunded or credited, or
    whose replacement has shipped: the money went out for it."""
    given = [
        line.order_line.line_ref
        for line in ret.lines
        if line.settled_at is not None and line.resolution != Resolution.EXCHANGE
    ]
    shipped = await session.scalar(
        select(
            exists().where(
                Exchange.return_id == ret.id,
                Exchange.status == exchanges.ExchangeStatus.SHIPPED,
            )
        )
    )
    if given or shipped:
        what = (
            f"line{'s' if len(given) > 1 else ''} {', '.join(map(repr, given))} "
            "already refunded or credited"
            if given
            else "its exchange already shipped"
        )
        raise InvalidTransition(
            f"Return {ret.number} has {what}, so it can't be {DONE[Action.CANCEL]}.",
            current_status=ret.status,
            action=Action.CANCEL.value,
        )


async def units_paid_for(session: AsyncSession, ret: Return) -> dict[int, int]:
    """Units of each line (by id) that money already went out for, which stay taken on the
    order whatever becomes of the return: freeing them would let them be paid for again.

    An exchange line counts once its replacement shipped or its difference was refunded;
    one whose replacement was never sent (and nothing refunded) is taken back."""
    standing = await session.scalars(
        select(Exchange.items).where(
            Exchange.return_id == ret.id,
            (Exchange.status == exchanges.ExchangeStatus.SHIPPED) | Exchange.refund_id.is_not(None),
        )
    )
    exchanged = {str(item["line_id"]) for items in standing for item in items}
    return {
        line.id: line.settled_quantity
        for line in ret.lines
        if line.settled_at is not None
        and (line.resolution != Resolution.EXCHANGE or line.order_line.line_ref in exchanged)
    }


async def _risky(session: AsyncSession, ret: Return) -> bool:
    """A return the policy or a person sent to review is never paid before inspection."""
    if ret.decision and ret.decision.get("review_reasons"):
        return True
    reviewed = await session.scalar(
        select(
            exists().where(
                ReturnEvent.return_id == ret.id, ReturnEvent.action == Action.SEND_TO_REVIEW
            )
        )
    )
    return bool(reviewed)


async def _order(session: AsyncSession, order_id: int) -> Order:
    """The order with what the policy reads of it: lines, products and the customer."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(
            selectinload(Order.lines).joinedload(OrderLine.product, innerjoin=True),
            joinedload(Order.customer, innerjoin=True),
        )
    )
    assert order is not None  # a return always has its order
    return order


def _state(line: ReturnLine) -> LineState:
    return LineState(
        line_ref=line.order_line.line_ref,
        quantity=line.quantity,
        received=line.received_quantity,
        grade=Grade(line.grade) if line.grade else None,
        reason=Reason(line.reason),
        resolution=Resolution(line.resolution),
        settled=line.settled_at is not None,
    )


def _asks(ret: Return) -> list[Ask]:
    return [
        Ask(
            line.order_line.line_ref,
            line.quantity,
            Reason(line.reason),
            Resolution(line.resolution),
            line.opened,
        )
        for line in ret.lines
    ]


def quote_of(policy: Policy, facts: OrderFacts, ret: Return) -> Quote:
    """The quote the decision recorded, made again: every line as asked, the method used."""
    asks = _asks(ret)
    return quote(policy, facts, asks, Method(ret.method), options(policy, facts, asks).methods)


async def what_is_due(session: AsyncSession, ret: Return, *, completing: bool = False) -> Due:
    loaded = await policy_service.load_version(session, ret.policy_version)
    policy = loaded.policy
    order = await _order(session, ret.order_id)
    facts = policy_service.facts_from(order, order.customer.tier, 0)
    risky = await _risky(session, ret)
    returnless = ret.method == Method.KEEP_ITEM
    recorded = RefundTiming(ret.refund_timing) if ret.refund_timing else None
    if recorded is None or (recorded is RefundTiming.IMMEDIATELY and not returnless):
        # "immediately" was for keeping the item; one that comes back after all waits for it.
        recorded = refund_timing(policy, facts, kept=False, reviewed=risky)
    timing = effective_timing(recorded, returnless=returnless, risky=risky)
    instant = (
        not risky
        and not returnless
        and (policy.exchanges.instant or facts.tier in policy.exchanges.instant_tiers)
    )
    scanned = Status(ret.status) in PAST_HANDOVER or bool(
        await session.scalar(
            select(
                exists().where(Shipment.return_id == ret.id, Shipment.first_scan_at.is_not(None))
            )
        )
    )
    lines = []
    for line in ret.lines:
        state = _state(line)
        early = instant and state.resolution is Resolution.EXCHANGE
        line_timing = RefundTiming.IMMEDIATELY if early else timing
        units = units_due(line_timing, state, scanned=scanned, completing=completing)
        ahead = early and line.received_quantity == 0
        lines.append(DueLine(line, state, line_timing, units, ahead))
    return Due(policy, facts, scanned, tuple(lines))


async def settle_due(
    session: AsyncSession,
    ret: Return,
    actor: Actor,
    *,
    completing: bool = False,
    only: Collection[str] | None = None,
) -> Settled:
    """Settle every unsettled line whose time has come; ``ret`` is locked and loaded by
    ``returns.lifecycle.load_for_change``. With ``only``, each named line must be due, else
    ``NotDue`` and nothing is written."""
    return await _settle(
        session, ret, actor, completing=completing, only=only, explicit=only is not None
    )


async def settle_now(
    session: AsyncSession, number: str, actor: Actor, lines: Collection[str] | None = None
) -> Settled:
    """Settle what is due now, on request (the API, the console): ``NotDue`` saying why when
    nothing is."""
    ret = await load_for_change(session, number)
    return await _settle(session, ret, actor, completing=False, only=lines or None, explicit=True)


def _not_settling(ret: Return) -> str:
    status = Status(ret.status)
    if status in (Status.REQUESTED, Status.REVIEW):
        return f"Return {ret.number} isn't approved yet: nothing is due."
    if status is Status.COMPLETED:
        return f"Return {ret.number} is completed: everything due was settled."
    return f"Return {ret.number} was {status.value}: nothing is given back."


def _chosen(due: Due, ret: Return, only: Collection[str] | None) -> list[DueLine]:
    """The lines to settle now; any named line that isn't due refuses the lot."""
    if only is None:
        return [line for line in due.lines if line.units > 0]
    named = list(only)
    by_ref = {line.state.line_ref: line for line in due.lines}
    for ref in named:
        if ref not in by_ref:
            raise ValidationFailed(f"Return {ret.number} has no line {ref!r}.", line_id=ref)
    if len(set(named)) != len(named):
        raise ValidationFailed("A line is named twice.", lines=named)
    for ref in named:
        if by_ref[ref].units == 0:
            raise NotDue(due.why_not(by_ref[ref]), number=ret.number, line_id=ref)
    return [by_ref[ref] for ref in named]


def _nothing_due(due: Due, ret: Return) -> str:
    waiting = [line for line in due.lines if not line.state.settled]
    if not waiting:
        return f"Return {ret.number} is already settled."
    return "Nothing is due yet: " + " ".join(due.why_not(line) for line in waiting)


async def _room(session: AsyncSession, order_id: int) -> tuple[int, str, str]:
    """What the order may still give back (its row locked), its number and currency."""
    row = (
        await session.execute(
            select(Order.paid_minor - Order.given_back_minor, Order.external_id, Order.currency)
            .where(Order.id == order_id)
            .with_for_update()
        )
    ).one()
    return int(row[0]), row[1], row[2]


def _flag_short(session: AsyncSession, ret: Return, actor: Actor, why: str) -> None:
    """A step at the warehouse isn't refused for want of room: the return waits for a person."""
    ret.attention, ret.attention_at = why, actor.now
    note(session, ret, Note.ATTENTION, actor, {"reason": why})


async def _settle(
    session: AsyncSession,
    ret: Return,
    actor: Actor,
    *,
    completing: bool,
    only: Collection[str] | None,
    explicit: bool,
) -> Settled:
    if Status(ret.status) not in SETTLING:
        if explicit:
            raise NotDue(_not_settling(ret), number=ret.number)
        return NOTHING
    held = await held_because(session, ret)
    if held:
        if explicit:
            raise NotDue(held, number=ret.number)
        return NOTHING
    try:
        await exchanges.refund_differences_due(session, ret, actor)
    except AmountExceeded as short:
        if explicit or completing:
            raise
        _flag_short(session, ret, actor, short.message)
        return NOTHING
    due = await what_is_due(session, ret, completing=completing)
    chosen = _chosen(due, ret, only)
    if not chosen:
        if explicit:
            raise NotDue(_nothing_due(due, ret), number=ret.number)
        return NOTHING
    settlements = settle_lines(
        quote_of(due.policy, due.facts, ret),
        [(line.state, line.units) for line in chosen],
        due.policy.refunds,
    )
    needed = sum(settlement.value_minor for settlement in settlements)
    room, order_number, currency = await _room(session, ret.order_id)
    if needed > room:
        why = (
            f"Order {order_number} has {money(room, currency)} left to give back, but "
            f"settling return {ret.number} needs {money(needed, currency)}."
        )
        if explicit or completing:
            raise AmountExceeded(why, number=ret.number, available_minor=room)
        _flag_short(session, ret, actor, why)
        return NOTHING
    won = [
        (due_line, settlement)
        for due_line, settlement in zip(chosen, settlements, strict=True)
        if await _mark_settled(session, due_line.line, settlement, actor)
    ]
    if not won:
        return NOTHING
    return await _give(session, ret, actor, due.policy, won)


async def _mark_settled(
    session: AsyncSession, line: ReturnLine, settlement: LineSettlement, actor: Actor
) -> bool:
    """Claim the line's settlement; ``False`` when someone else already settled it."""
    values = {
        "settled_at": actor.now,
        "settled_quantity": settlement.units,
        "settled_minor": settlement.value_minor,
    }
    claimed = await session.execute(
        update(ReturnLine)
        .where(ReturnLine.id == line.id, ReturnLine.settled_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():
        set_committed_value(line, name, value)
    return True


def _line_record(settlement: LineSettlement) -> dict[str, Any]:
    return {
        "line_id": settlement.line_ref,
        "resolution": settlement.resolution.value,
        "units": settlement.units,
        "paid_minor": settlement.paid_minor,
        "fees_minor": settlement.fees_minor,
        "deduction_minor": settlement.deduction_minor,
        "bonus_minor": settlement.bonus_minor,
        "value_minor": settlement.value_minor,
        "explanations": [
            {"code": said.code, "text": said.text} for said in settlement.explanations
        ],
    }


async def _give(
    session: AsyncSession,
    ret: Return,
    actor: Actor,
    policy: Policy,
    won: Sequence[tuple[DueLine, LineSettlement]],
) -> Settled:
    """Refund, exchange and credit the settled lines, and put it on the timeline once."""
    settled = [settlement for _, settlement in won]
    said: dict[str, Any] = {
        "lines": [_line_record(settlement) for settlement in settled],
        "currency": ret.currency,
    }
    refunds: list[Refund] = []
    refunded = [s for s in settled if s.resolution in REFUNDED]
    refund_minor = sum(settlement.value_minor for settlement in refunded)
    if refund_minor > 0:
        await service.reserve(session, ret.order_id, refund_minor)
        refund = await service.request_refund(
            session,
            order=ret.order,
            ret=ret,
            amount_minor=refund_minor,
            kind="return",
            actor=actor,
            breakdown={"lines": [_line_record(settlement) for settlement in refunded]},
            reserved=True,
        )
        refunds.append(refund)
        said.update(refund=refund.number, refund_minor=refund_minor)
    made: list[Exchange] = []
    swapped = [(d.line, s) for d, s in won if s.resolution is Resolution.EXCHANGE]
    if swapped:
        instant = all(d.instant for d, s in won if s.resolution is Resolution.EXCHANGE)
        exchange = await exchanges.create_exchange(session, ret, swapped, actor, instant=instant)
        made.append(exchange)
        if exchange.refund_id is not None:
            refunds.append(await session.get_one(Refund, exchange.refund_id))
        said.update(
            exchange=exchange.number,
            exchange_minor=exchange.value_minor,
            difference_minor=exchange.difference_minor,
            instant=instant,
        )
    issued: list[CreditTransaction] = []
    credited = [s for s in settled if s.resolution is Resolution.STORE_CREDIT]
    principal = sum(settlement.value_minor for settlement in credited)
    bonus = sum(settlement.bonus_minor for settlement in credited)
    if principal > 0:
        await service.reserve(session, ret.order_id, principal)
        issued = await credit.issue(
            session,
            customer_id=ret.customer_id,
            currency=ret.currency,
            principal_minor=principal,
            bonus_minor=bonus,
            ret=ret,
            actor=actor,
            expires_after_days=policy.store_credit.expires_after_days,
        )
        said.update(credit_minor=principal + bonus, bonus_minor=bonus)
    note(session, ret, Note.SETTLED, actor, said)
    return Settled(
        tuple(settlement.line_ref for settlement in settled),
        tuple(refunds),
        tuple(issued),
        tuple(made),
    )
