"""Refunds: counted against the order, split over its payments, asked of the provider, and
confirmed, declined or retried.

Locks are taken in one order everywhere: return → refund → order → payments. ``reserve`` and
``release`` (from ``amounts``) are used from here by settlement and exchanges as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from reclaim.errors import Conflict, CurrencyMismatch, NotFound, ValidationFailed
from reclaim.notifications.outbox import enqueue
from reclaim.orders.models import Order
from reclaim.policy.loader import LoadedPolicy
from reclaim.refunds import rules
from reclaim.refunds.amounts import release, release_payment, reserve, take_from_payments
from reclaim.refunds.models import Refund, RefundPart
from reclaim.refunds.provider import BUILTIN, PaymentProvider, names_of, refund_payload
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from reclaim.returns.lifecycle import Actor, canonical_number, note
from reclaim.returns.models import Return
from reclaim.returns.states import Note
from reclaim.warehouse.numbers import canonical, random_chars

PREFIX = "RF-"
# Refund.status and RefundPart.status values.
PENDING_APPROVAL, REQUESTED, SUCCEEDED, FAILED, DECLINED = (
    "pending_approval",
    "requested",
    "succeeded",
    "failed",
    "declined",
)
PENDING = "pending"
KINDS = ("return", "exchange_difference", "manual", "goodwill", "retry")
BY_HAND = ("manual", "goodwill")


def new_number() -> str:
    return f"{PREFIX}{random_chars()}"


def canonical_refund_number(number: str) -> str:
    return canonical(number, PREFIX, "refund")


async def request_refund(
    session: AsyncSession,
    *,
    order: Order,
    ret: Return | None,
    amount_minor: int,
    kind: str,
    actor: Actor,
    reason: str | None = None,
    breakdown: dict[str, Any] | None = None,
    hold_for_approval: bool = False,
    reserved: bool = False,
    provider: PaymentProvider = BUILTIN,
) -> Refund:
    """Count the refund against the order (unless the caller already did: ``reserved``) and
    its payments, and ask the provider for it, or hold it for a second agent's approval.

    A held refund is counted all the same: what waits for approval can't be given twice."""
    return await _create(
        session,
        order=order,
        ret=ret,
        amount_minor=amount_minor,
        kind=kind,
        actor=actor,
        reason=reason,
        breakdown=breakdown or {},
        hold_for_approval=hold_for_approval,
        reserved=reserved,
        provider=provider,
        retry_of=None,
    )


async def _create(
    session: AsyncSession,
    *,
    order: Order,
    ret: Return | None,
    amount_minor: int,
    kind: str,
    actor: Actor,
    reason: str | None,
    breakdown: dict[str, Any],
    hold_for_approval: bool,
    reserved: bool,
    provider: PaymentProvider,
    retry_of: Refund | None,
) -> Refund:
    if kind not in KINDS:
        raise ValidationFailed(f"Unknown refund kind {kind!r}.", kind=kind)
    if amount_minor <= 0:
        raise ValidationFailed("A refund must be more than zero.", amount_minor=amount_minor)
    if not reserved:
        await reserve(session, order.id, amount_minor)
    taken = await take_from_payments(session, order.id, amount_minor)
    status = PENDING_APPROVAL if hold_for_approval else REQUESTED
    refund = Refund(
        number=new_number(),
        order_id=order.id,
        return_id=ret.id if ret is not None else None,
        kind=kind,
        status=status,
        amount_minor=amount_minor,
        currency=order.currency,
        reason=reason,
        breakdown=breakdown,
        provider=provider.name,
        requested_by=actor.name,
        retry_of=retry_of.id if retry_of is not None else None,
        created_at=actor.now,
        requested_at=None if hold_for_approval else actor.now,
    )
    refund.parts = [
        RefundPart(
            payment_id=payment.id,
            payment=payment,
            amount_minor=part,
            status=PENDING if hold_for_approval else REQUESTED,
        )
        for payment, part in taken
    ]
    session.add(refund)
    await session.flush()
    if not hold_for_approval:
        await provider.request(session, refund, refund.parts, actor.now)
    return refund


async def _move(
    session: AsyncSession, refund: Refund, source: str, target: str, **values: Any
) -> None:
    """Change the refund's status from ``source`` only: a racing change can't apply twice."""
    done = await session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == source)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"Refund {refund.number} changed meanwhile; look at it again.")
    for name, value in {"status": target, **values}.items():
        set_committed_value(refund, name, value)


def _with_parts() -> Any:
    return selectinload(Refund.parts).selectinload(RefundPart.payment)


async def _order_of(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    assert order is not None
    return order


async def load_for_change(session: AsyncSession, number: str) -> tuple[Refund, Return | None]:
    """The refund and its return, both locked (the return first, as everywhere)."""
    wanted = canonical_refund_number(number)
    found = (
        await session.execute(select(Refund.id, Refund.return_id).where(Refund.number == wanted))
    ).one_or_none()
    if found is None:
        raise NotFound(f"No refund {number!r}.", number=number)
    ret = None
    if found.return_id is not None:
        ret = await session.scalar(
            select(Return)
            .where(Return.id == found.return_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    refund = await session.scalar(
        select(Refund)
        .where(Refund.id == found.id)
        .options(_with_parts())
        .with_for_update(of=Refund)
        .execution_options(populate_existing=True)
    )
    assert refund is not None
    return refund, ret


async def manual_refund(
    session: AsyncSession,
    order_external_id: str,
    data: ManualRefundIn,
    actor: Actor,
    policy: LoadedPolicy,
) -> Refund:
    """An agent's partial or goodwill refund, held for a second agent above the threshold."""
    order = await session.scalar(select(Order).where(Order.external_id == order_external_id))
    if order is None:
        raise NotFound(f"No order {order_external_id!r}.", order_id=order_external_id)
    if data.currency != order.currency:
        raise CurrencyMismatch(
            f"Order {order.external_id} was paid in {order.currency}, not {data.currency}.",
            expected=order.currency,
            got=data.currency,
        )
    ret = None
    if data.return_number is not None:
        ret = await session.scalar(
            select(Return)
            .where(Return.number == canonical_number(data.return_number))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if ret is None:
            raise NotFound(f"No return {data.return_number!r}.", number=data.return_number)
        if ret.order_id != order.id:
            raise ValidationFailed(
                f"Return {data.return_number!r} is not a return of order {order.external_id}.",
                field="return",
            )
    hold = rules.needs_second_approval(
        data.amount_minor + await _by_hand_lately(session, order.id, actor),
        order.currency,
        policy.policy.refunds,
    )
    return await request_refund(
        session,
        order=order,
        ret=ret,
        amount_minor=data.amount_minor,
        kind=data.kind,
        actor=actor,
        reason=data.reason,
        breakdown={"by_hand": data.kind, "reason": data.reason},
        hold_for_approval=hold,
    )


async def _by_hand_lately(session: AsyncSession, order_id: int, actor: Actor) -> int:
    """What this person refunded by hand on the order in the last day, still standing: small
    refunds add up, so splitting one large refund doesn't get past the second agent. The
    order is locked first, so two of theirs at once are counted one after the other."""
    await session.execute(select(Order.id).where(Order.id == order_id).with_for_update())
    earlier = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
            Refund.order_id == order_id,
            Refund.kind.in_(BY_HAND),
            Refund.requested_by == actor.name,
            Refund.status.in_((PENDING_APPROVAL, REQUESTED, SUCCEEDED)),
            Refund.created_at >= actor.now - timedelta(days=1),
        )
    )
    return int(earlier or 0)


async def approve(
    session: AsyncSession, number: str, actor: Actor, provider: PaymentProvider = BUILTIN
) -> Refund:
    """A second agent's yes: the held refund is asked of the provider."""
    refund, _ret = await load_for_change(session, number)
    if refund.status != PENDING_APPROVAL:
        raise Conflict(
            f"Refund {refund.number} is {refund.status.replace('_', ' ')}; "
            "only a refund waiting for approval can be approved.",
            status=refund.status,
        )
    if actor.name == refund.requested_by:
        raise Conflict(
            f"A second agent must approve refund {refund.number}: "
            "the agent who asked for it can't approve it too.",
            requested_by=refund.requested_by,
        )
    await _move(
        session,
        refund,
        PENDING_APPROVAL,
        REQUESTED,
        approved_by=actor.name,
        requested_at=actor.now,
    )
    for part in refund.parts:
        part.status = REQUESTED
    await session.flush()
    await provider.request(session, refund, refund.parts, actor.now)
    return refund


async def decline(session: AsyncSession, number: str, actor: Actor, why: str) -> Refund:
    """A second agent's no: nothing is refunded, and the amounts counted are released."""
    why = why.strip()
    if not why:
        raise ValidationFailed("Say why the refund is declined: the agent who asked is told.")
    refund, _ret = await load_for_change(session, number)
    if refund.status != PENDING_APPROVAL:
        raise Conflict(
            f"Refund {refund.number} is {refund.status.replace('_', ' ')}; "
            "only a refund waiting for approval can be declined.",
            status=refund.status,
        )
    await _move(
        session,
        refund,
        PENDING_APPROVAL,
        DECLINED,
        approved_by=actor.name,
        settled_at=actor.now,
    )
    await release(session, refund.order_id, refund.amount_minor)
    for part in refund.parts:
        await release_payment(session, part)
        part.status = DECLINED
        part.failure_reason = f"Declined by {actor.name}: {why}"
        part.settled_at = actor.now
    await session.flush()
    return refund


EVENTS = {"refund.succeeded": SUCCEEDED, "refund.failed": FAILED}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # succeeded | failed
    reference: str | None
    reason: str | None


def _outcomes(refund: Refund, data: ConfirmationIn) -> dict[int, Outcome]:
    """Each part's outcome by part id: as its payment's entry says, else as the whole does."""
    by_position = {part.payment.position: part for part in refund.parts}
    chosen: dict[int, Outcome] = {}
    for given in data.payments or []:
        part = by_position.get(given.position)
        if part is None:
            positions = ", ".join(str(position) for position in sorted(by_position))
            raise ValidationFailed(
                f"Refund {refund.number} takes nothing from payment {given.position}; "
                f"it goes back to payment {positions}.",
                position=given.position,
            )
        if part.id in chosen:
            raise ValidationFailed(
                f"Payment {given.position} is named twice.", position=given.position
            )
        chosen[part.id] = Outcome(
            EVENTS[given.event], given.reference or data.reference, given.reason or data.reason
        )
    for part in refund.parts:
        chosen.setdefault(part.id, Outcome(EVENTS[data.event], data.reference, data.reason))
    return chosen


async def confirm(session: AsyncSession, number: str, data: ConfirmationIn, actor: Actor) -> Refund:
    """What the shop's payment system did: the refund succeeded or failed, whole or per payment.

    The same outcome twice is no news (the refund as it is); an outcome that contradicts the
    one recorded is a conflict. What failed is no longer counted as given back."""
    refund, ret = await load_for_change(session, number)
    outcomes = _outcomes(refund, data)
    if refund.status in (SUCCEEDED, FAILED):
        if all(part.status == outcomes[part.id].status for part in refund.parts):
            return refund
        raise Conflict(
            f"Refund {refund.number} was already confirmed as {refund.status}; "
            "this confirmation says otherwise.",
            status=refund.status,
        )
    if refund.status != REQUESTED:
        raise Conflict(
            f"Refund {refund.number} is {refund.status.replace('_', ' ')}: "
            "nothing was asked of the payment system to confirm.",
            status=refund.status,
        )
    failed = [part for part in refund.parts if outcomes[part.id].status == FAILED]
    status = FAILED if failed else SUCCEEDED
    await _move(session, refund, REQUESTED, status, settled_at=actor.now)
    await release(session, refund.order_id, sum(part.amount_minor for part in failed))
    for part in refund.parts:
        outcome = outcomes[part.id]
        part.status = outcome.status
        part.provider_reference = outcome.reference
        part.settled_at = actor.now
        if outcome.status == FAILED:
            part.failure_reason = outcome.reason or "The payment system gave no reason."
            await release_payment(session, part)
    await session.flush()
    order, return_number = await names_of(session, refund)
    enqueue(
        session,
        f"refund.{status}",
        refund.number,
        refund_payload(refund, refund.parts, order=order, ret=return_number, outcomes=True),
        actor.now,
    )
    if ret is not None:
        _tell_return(session, ret, refund, actor)
    return refund


def _tell_return(session: AsyncSession, ret: Return, refund: Refund, actor: Actor) -> None:
    """The shopper hears of money that came back; staff of money that didn't."""
    paid = [part for part in refund.parts if part.status == SUCCEEDED]
    if paid:
        issued: dict[str, Any] = {
            "return": ret.number,
            "amount_minor": sum(part.amount_minor for part in paid),
            "currency": refund.currency,
        }
        if len(paid) == 1:  # with several, the e-mail says "your original payment method"
            issued["method"] = paid[0].payment.method
            if paid[0].payment.last4:
                issued["last4"] = paid[0].payment.last4
        enqueue(session, "refund.issued", ret.number, issued, actor.now)
    if refund.status == FAILED:
        reasons = "; ".join(
            dict.fromkeys(part.failure_reason or "" for part in refund.parts if part.failure_reason)
        )
        said = f"Refund {refund.number} failed: {reasons}; retry it once the cause is fixed."
        ret.attention = f"{ret.attention} {said}" if ret.attention else said
        ret.attention_at = ret.attention_at or actor.now
        note(session, ret, Note.ATTENTION, actor, {"reason": said, "refund": refund.number})


async def retry(
    session: AsyncSession, number: str, actor: Actor, provider: PaymentProvider = BUILTIN
) -> Refund:
    """Another go at what a failed refund didn't pay, once: a new refund names the failed one."""
    failed, ret = await load_for_change(session, number)
    if failed.status != FAILED:
        raise Conflict(
            f"Refund {failed.number} is {failed.status.replace('_', ' ')}; "
            "only a failed refund can be retried.",
            status=failed.status,
        )
    again = await session.scalar(select(Refund.number).where(Refund.retry_of == failed.id))
    if again is not None:
        raise Conflict(f"Refund {failed.number} was already retried as {again}.", retried_as=again)
    return await _create(
        session,
        order=await _order_of(session, failed.order_id),
        ret=ret,
        amount_minor=sum(part.amount_minor for part in failed.parts if part.status == FAILED),
        kind="retry",
        actor=actor,
        reason=failed.reason,
        breakdown={"retry_of": failed.number, **failed.breakdown},
        hold_for_approval=False,
        reserved=False,
        provider=provider,
        retry_of=failed,
    )


async def get_refund(session: AsyncSession, number: str) -> Refund:
    refund = await session.scalar(
        select(Refund)
        .where(Refund.number == canonical_refund_number(number))
        .options(_with_parts())
    )
    if refund is None:
        raise NotFound(f"No refund {number!r}.", number=number)
    return refund


async def list_refunds(
    session: AsyncSession,
    *,
    order: str | None,
    return_number: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[Refund], str | None]:
    """Newest first, a page at a time; the cursor is the last refund number seen."""
    query = select(Refund).options(_with_parts()).order_by(Refund.id.desc()).limit(limit + 1)
    if order is not None:
        query = query.where(Refund.order_id.in_(select(Order.id).where(Order.external_id == order)))
    if return_number is not None:
        try:
            wanted = canonical_number(return_number)
        except NotFound:
            return [], None
        query = query.where(Refund.return_id.in_(select(Return.id).where(Return.number == wanted)))
    if status is not None:
        query = query.where(Refund.status == status)
    if after:
        try:
            anchor = await session.scalar(
                select(Refund.id).where(Refund.number == canonical_refund_number(after))
            )
        except NotFound:
            anchor = None
        if anchor is None:  # else the page would be empty and the client think it had all
            raise ValidationFailed(f"Unknown cursor {after!r}.", cursor=after)
        query = query.where(Refund.id < anchor)
    found = list(await session.scalars(query))
    page, more = found[:limit], len(found) > limit
    return page, (page[-1].number if more and page else None)


async def refunds_of_return(session: AsyncSession, return_id: int) -> list[Refund]:
    """A return's refunds, oldest first, with their parts and payments."""
    return list(
        await session.scalars(
            select(Refund)
            .where(Refund.return_id == return_id)
            .options(_with_parts())
            .order_by(Refund.id)
        )
    )
