"""The one way a return changes: check the move, record it, and tell the outbox.

:func:`move` checks an action against the lifecycle table, appends a ReturnEvent and an outbox
row in the caller's transaction, or raises ``InvalidTransition`` having changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from reclaim.errors import InvalidTransition, NotFound, ValidationFailed
from reclaim.notifications.outbox import enqueue
from reclaim.orders.models import Order, OrderLine
from reclaim.returns import rules
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.returns.states import DONE, MOVES, Action, Method, Note, Status

TOPIC = {
    Action.CREATE: "return.requested",
    Action.SEND_TO_REVIEW: "return.review",
    Action.APPROVE: "return.approved",
    Action.REJECT: "return.rejected",
    Action.CANCEL: "return.cancelled",
    Action.EXPIRE: "return.expired",
    Action.MARK_IN_TRANSIT: "return.in_transit",
    Action.RECEIVE: "return.received",
    Action.INSPECT: "return.inspected",
    Action.DISPOSITION: "return.dispositioned",
    Action.COMPLETE: "return.completed",
}


NOTE_TOPIC = {
    Note.ARRIVED: "return.arrived",
    Note.ATTENTION: "return.attention",
    Note.ATTENTION_RESOLVED: "return.attention_resolved",
    Note.EXPIRING: "return.expiring",
    Note.SETTLED: "return.settled",
}

# Steps of the item's journey back, which a returnless (keep_item) return never takes; nor
# can one be rejected for a parcel that arrived empty (calling it off is a cancellation).
ITEM_COMES_BACK = frozenset({Action.EXPIRE, Action.MARK_IN_TRANSIT, Action.RECEIVE, Action.REJECT})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts (``api:<key prefix>``, ``cli``, ``simulator``, ``customer``) and when."""

    name: str
    now: datetime


def record(
    session: AsyncSession,
    ret: Return,
    action: Action | Note,
    from_status: Status | None,
    actor: Actor,
    data: dict[str, Any],
) -> None:
    session.add(
        ReturnEvent(
            return_id=ret.id,
            action=action,
            from_status=from_status,
            to_status=ret.status,
            actor=actor.name,
            at=actor.now,
            data=data,
        )
    )
    enqueue(
        session,
        TOPIC[action] if isinstance(action, Action) else NOTE_TOPIC[action],
        ret.number,
        {"return": ret.number, "status": ret.status, "from_status": from_status, **data},
        actor.now,
    )


def note(
    session: AsyncSession, ret: Return, what: Note, actor: Actor, data: dict[str, Any]
) -> None:
    """Put something that changes no status on the return's timeline and in the outbox."""
    current = Status(ret.status)
    ret.updated_at = actor.now
    record(session, ret, what, current, actor, data)


def check(ret: Return, action: Action, goes_to: Status | None = None) -> Status:
    """The status the action leads to, or ``InvalidTransition`` if the lifecycle forbids it."""
    current = Status(ret.status)
    if ret.method == Method.KEEP_ITEM and action in ITEM_COMES_BACK:
        raise InvalidTransition(
            f"A returnless return has nothing to send back, so it can't be {DONE[action]}.",
            current_status=current.value,
            action=action.value,
        )
    rule = MOVES[action]
    target = goes_to or rule.target or current
    # MOVES follow TRANSITIONS (checked when states is imported), so this is the table's word.
    if current not in rule.sources or target not in rule.leads(current):
        raise InvalidTransition(
            f"A return that is {current.value.replace('_', ' ')} can't be {DONE[action]}.",
            current_status=current.value,
            action=action.value,
        )
    return target


def move(
    session: AsyncSession,
    ret: Return,
    action: Action,
    actor: Actor,
    data: dict[str, Any] | None = None,
    target: Status | None = None,
) -> None:
    current = Status(ret.status)
    ret.status = check(ret, action, target)
    ret.updated_at = actor.now
    record(session, ret, action, current, actor, data or {})


def canonical_number(number: str) -> str:
    """The canonical number; a text that can't be one names no return, like a wrong one."""
    try:
        return rules.normalise_return_number(number)
    except ValidationFailed as exc:
        raise NotFound(exc.message, number=number) from None


async def load_for_change(session: AsyncSession, number: str) -> Return:
    """The return, locked against concurrent changes until the transaction ends."""
    ret = await session.scalar(
        select(Return)
        .where(Return.number == canonical_number(number))
        .options(
            selectinload(Return.lines).selectinload(ReturnLine.order_line),
            joinedload(Return.order, innerjoin=True),
            selectinload(Return.facility),
        )
        .with_for_update(of=Return)
        .execution_options(populate_existing=True)
    )
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    return ret


async def lock_order(session: AsyncSession, order_id: int) -> None:
    await session.execute(select(Order.id).where(Order.id == order_id).with_for_update())


async def release_units(session: AsyncSession, order_line_id: int, quantity: int) -> None:
    if quantity:
        await session.execute(
            update(OrderLine)
            .where(OrderLine.id == order_line_id)
            .values(returned_quantity=OrderLine.returned_quantity - quantity)
            .execution_options(synchronize_session=False)
        )
