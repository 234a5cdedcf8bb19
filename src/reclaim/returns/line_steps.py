"""The steps a return's lines take at the warehouse: received, graded, routed; then completion.

Each step comes in two forms: one that takes a return already locked by the caller (the
warehouse services, which write their own records in the same transaction), and one by number
that locks it itself. Every check runs before anything changes, so a refused step is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import InvalidTransition, NotFound, QuantityExceeded, ValidationFailed
from reclaim.refunds.settlement import held_because, settle_due
from reclaim.returns import rules
from reclaim.returns.lifecycle import (
    Actor,
    check,
    load_for_change,
    lock_order,
    move,
    release_units,
)
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn
from reclaim.returns.states import Action, Disposition, Grade, Method, Status


def lines_by_ref(ret: Return, refs: Iterable[str]) -> dict[str, ReturnLine]:
    """The return's lines by order-line id, having checked that each named one exists once."""
    by_ref = {line.order_line.line_ref: line for line in ret.lines}
    seen: set[str] = set()
    for ref in refs:
        if ref not in by_ref:
            raise ValidationFailed(f"Return {ret.number} has no line {ref!r}.", line_id=ref)
        if ref in seen:
            raise ValidationFailed(f"Line {ref!r} appears twice.", line_id=ref)
        seen.add(ref)
    return by_ref


def line_by_ref(ret: Return, ref: str) -> ReturnLine:
    """The line a URL names: one that isn't there is not found, like a wrong return."""
    for line in ret.lines:
        if line.order_line.line_ref == ref:
            return line
    raise NotFound(f"Return {ret.number} has no line {ref!r}.", number=ret.number, line_id=ref)


def progress(ret: Return) -> list[rules.LineProgress]:
    return [
        rules.LineProgress(
            line.quantity,
            line.received_quantity,
            line.grade is not None,
            line.disposition is not None,
        )
        for line in ret.lines
    ]


def check_receiving(ret: Return, counts: Mapping[str, int]) -> dict[str, ReturnLine]:
    check(ret, Action.RECEIVE)
    by_ref = lines_by_ref(ret, counts)
    for ref, quantity in counts.items():
        line = by_ref[ref]
        if line.received_quantity + quantity > line.quantity:
            raise QuantityExceeded(
                f"Line {ref!r} expects {line.quantity - line.received_quantity} more; "
                f"{quantity} were scanned.",
                line_id=ref,
            )
        if line.grade is not None:
            # A grade speaks for the units it was given to; later ones would go ungraded.
            raise InvalidTransition(
                f"Line {ref!r} was already graded; receive the extra units on a new return.",
                line_id=ref,
            )
    return by_ref


def receive_lines(
    session: AsyncSession,
    ret: Return,
    counts: Mapping[str, int],
    actor: Actor,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Count units in against their lines; any receipt makes the return received, an
    inspected one included: what arrived needs a grade before the return completes."""
    by_ref = check_receiving(ret, counts)
    move(session, ret, Action.RECEIVE, actor, {"lines": dict(counts), **(extra or {})})
    for ref, quantity in counts.items():
        by_ref[ref].received_quantity += quantity
        by_ref[ref].received_at = actor.now


async def receive(session: AsyncSession, number: str, data: ReceiveIn, actor: Actor) -> Return:
    ret = await load_for_change(session, number)
    check(ret, Action.RECEIVE)
    lines_by_ref(ret, (item.line_id for item in data.lines))
    receive_lines(session, ret, {item.line_id: item.quantity for item in data.lines}, actor)
    await settle_due(session, ret, actor)
    return ret


def check_grading(ret: Return, refs: Iterable[str]) -> dict[str, ReturnLine]:
    check(ret, Action.INSPECT, Status.RECEIVED)
    chosen = list(refs)
    by_ref = lines_by_ref(ret, chosen)
    for ref in chosen:
        if by_ref[ref].received_quantity == 0:
            raise InvalidTransition(f"Line {ref!r} hasn't been received yet.")
        if by_ref[ref].grade is not None:
            raise InvalidTransition(f"Line {ref!r} already has a grade.")
    return by_ref


def grade_lines(
    session: AsyncSession,
    ret: Return,
    grades: Mapping[str, Grade],
    actor: Actor,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Give received lines their grades; the return is inspected once every one has one."""
    by_ref = check_grading(ret, grades)
    for ref, grade in grades.items():
        by_ref[ref].grade = grade
        by_ref[ref].inspected_at = actor.now
    done = rules.all_received_graded(progress(ret))
    graded: dict[str, Any] = {"grades": {ref: Grade(grade).value for ref, grade in grades.items()}}
    if notes:
        graded["notes"] = dict(notes)
    target = Status.INSPECTED if done else Status.RECEIVED
    move(session, ret, Action.INSPECT, actor, graded, target)


async def inspect(session: AsyncSession, number: str, data: InspectIn, actor: Actor) -> Return:
    ret = await load_for_change(session, number)
    check(ret, Action.INSPECT, Status.RECEIVED)
    lines_by_ref(ret, (item.line_id for item in data.lines))
    grade_lines(
        session,
        ret,
        {item.line_id: item.grade for item in data.lines},
        actor,
        {item.line_id: item.note for item in data.lines if item.note},
    )
    await settle_due(session, ret, actor)
    return ret


def check_routing(ret: Return, refs: Iterable[str]) -> dict[str, ReturnLine]:
    check(ret, Action.DISPOSITION)
    chosen = list(refs)
    by_ref = lines_by_ref(ret, chosen)
    for ref in chosen:
        line = by_ref[ref]
        if line.grade is None:
            raise InvalidTransition(f"Line {ref!r} needs a grade before a disposition.")
        if line.disposition is not None:
            raise InvalidTransition(f"Line {ref!r} already has a disposition.")
    return by_ref


def route_lines(
    session: AsyncSession,
    ret: Return,
    channels: Mapping[str, Disposition],
    actor: Actor,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Record where graded lines go; the return stays in its status (received while other
    lines still wait for a grade)."""
    by_ref = check_routing(ret, channels)
    routed = {ref: Disposition(channel).value for ref, channel in channels.items()}
    move(session, ret, Action.DISPOSITION, actor, {"dispositions": routed, **(extra or {})})
    for ref, channel in channels.items():
        by_ref[ref].disposition = channel
        by_ref[ref].dispositioned_at = actor.now


async def disposition(
    session: AsyncSession, number: str, data: DispositionIn, actor: Actor
) -> Return:
    ret = await load_for_change(session, number)
    check(ret, Action.DISPOSITION)
    lines_by_ref(ret, (item.line_id for item in data.lines))
    route_lines(session, ret, {item.line_id: item.disposition for item in data.lines}, actor)
    return ret


async def complete(session: AsyncSession, number: str, actor: Actor) -> Return:
    ret = await load_for_change(session, number)
    returnless = ret.method == Method.KEEP_ITEM
    if Status(ret.status) is Status.APPROVED and not returnless:
        raise InvalidTransition("Only a returnless return completes before it is received.")
    if Status(ret.status) is Status.INSPECTED and not rules.ready_to_complete(progress(ret)):
        raise InvalidTransition("Every received line needs a disposition before completion.")
    check(ret, Action.COMPLETE)
    # A return completes with its resolution given: what arrived (or, kept, all) is settled
    # now, which a return waiting for a person can't be.
    unsettled = [
        line.order_line.line_ref
        for line in ret.lines
        if line.settled_at is None and (returnless or line.received_quantity > 0)
    ]
    held = await held_because(session, ret) if unsettled else None
    if held:
        raise InvalidTransition(
            f"Line{'s' if len(unsettled) > 1 else ''} {', '.join(map(repr, unsettled))} "
            f"can't be settled yet, so the return can't be completed. {held}",
            number=ret.number,
            lines=unsettled,
        )
    await settle_due(session, ret, actor, completing=True)
    move(session, ret, Action.COMPLETE, actor, {"returnless": returnless})
    if not returnless:
        # Units that never arrived go back to being returnable on the order, unless they
        # were paid for before they came (at the first scan): then they stay taken.
        await lock_order(session, ret.order_id)
        for line in sorted(ret.lines, key=lambda line: line.order_line_id):
            kept = max(line.received_quantity, line.settled_quantity)
            await release_units(session, line.order_line_id, line.quantity - kept)
    return ret
