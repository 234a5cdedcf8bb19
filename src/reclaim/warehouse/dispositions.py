"""Routing graded lines: the engine's recommendation, the channel chosen (a different one
needs a reason, and must be one the engine finds possible for the unit), the record of what it
is expected to recover, and what the channel sets off: units into stock, a refurbishment work
order, or a line on an end-of-life manifest. A line an open flag holds is not routed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import InvalidTransition, ValidationFailed
from reclaim.returns import service as returns
from reclaim.returns.line_steps import check_routing, line_by_ref, route_lines
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.schemas import DispositionIn
from reclaim.returns.service import Actor
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import configured, inventory, manifests, receiving, refurbishment
from reclaim.warehouse.disposition_rules import (
    ChannelValue,
    Recommendation,
    Unit,
    label_of,
    location_for,
    recommend,
)
from reclaim.warehouse.models import DispositionRecord
from reclaim.warehouse.recovery import RecoveryTerms

# The channels that put units back on a shelf, and the ledger's word for each.
INTO_STOCK = {Disposition.RESTOCK: "restock", Disposition.OPEN_BOX: "open_box"}
END_OF_LIFE = frozenset({Disposition.DONATE, Disposition.RECYCLE, Disposition.DISPOSE})
SET_THROUGH_API = "set through the API"


@dataclass(frozen=True, slots=True)
class Choice:
    """Where one line goes: ``channel`` None takes the engine's recommendation."""

    line_id: str
    channel: Disposition | None = None
    override_reason: str | None = None


def unit_for(line: ReturnLine, product: Product) -> Unit:
    """What the engine values: the line's received units in their grade."""
    if line.grade is None:
        raise InvalidTransition(
            f"Line {line.order_line.line_ref!r} needs a grade before a disposition."
        )
    return Unit(
        key=str(line.id),
        sku=product.sku,
        category=product.category,
        currency=product.currency,
        price_minor=product.price_minor,
        cost_minor=product.cost_minor,
        weight_grams=product.weight_grams,
        grade=Grade(line.grade),
        quantity=line.received_quantity,
        attributes=product.attributes or {},
    )


def option(value: ChannelValue) -> dict[str, Any]:
    return {
        "channel": value.channel.value,
        "feasible": value.feasible,
        "net_minor": value.net_minor,
        "gross_minor": value.gross_minor,
        "cost_minor": value.cost_minor,
        "reasons": list(value.reasons),
    }


@dataclass(frozen=True, slots=True)
class Advice:
    line: ReturnLine
    product: Product
    recommendation: Recommendation
    location: str  # where the recommended channel's units go


async def advise(
    session: AsyncSession, number: str, line_id: str, *, terms: RecoveryTerms | None = None
) -> Advice:
    """The engine's recommendation for a graded line, with the line and product it values."""
    terms = terms or configured.recovery()
    ret = await returns.get_return(session, number)
    line = line_by_ref(ret, line_id)
    product = (await receiving.products_of(session, ret))[line.order_line.product_id]
    advice = recommend(unit_for(line, product), terms)
    return Advice(line, product, advice, location_for(advice.best, terms))


async def recommend_line(
    session: AsyncSession, number: str, line_id: str, *, terms: RecoveryTerms | None = None
) -> Recommendation:
    return (await advise(session, number, line_id, terms=terms)).recommendation


async def route_line(
    session: AsyncSession,
    number: str,
    line_id: str,
    actor: Actor,
    *,
    channel: Disposition | None = None,
    override_reason: str | None = None,
    batch: str | None = None,
    terms: RecoveryTerms | None = None,
) -> DispositionRecord:
    """Send a graded line's units to ``channel`` (None: the recommended one)."""
    ret = await returns.load_for_change(session, number)
    line_by_ref(ret, line_id)
    records = await route(
        session, ret, [Choice(line_id, channel, override_reason)], actor, batch=batch, terms=terms
    )
    return records[0]


async def route_as_given(
    session: AsyncSession,
    number: str,
    data: DispositionIn,
    actor: Actor,
    *,
    terms: RecoveryTerms | None = None,
) -> Return:
    """Channels set through the API's disposition: recorded against the engine's
    recommendation, "set through the API" standing in for a reason not given."""
    ret = await returns.load_for_change(session, number)
    # A reason is kept only where the channel differs from the recommended one.
    choices = [
        Choice(item.line_id, item.disposition, item.reason or SET_THROUGH_API)
        for item in data.lines
    ]
    await route(session, ret, choices, actor, terms=terms)
    return ret


async def route(
    session: AsyncSession,
    ret: Return,
    choices: list[Choice],
    actor: Actor,
    *,
    batch: str | None = None,
    terms: RecoveryTerms | None = None,
) -> list[DispositionRecord]:
    """Route lines of a return the caller has locked, all checked before anything is written:
    refused while a flag holds a line, or for a channel the unit can't go to."""
    terms = terms or configured.recovery()
    by_ref = check_routing(ret, (choice.line_id for choice in choices))
    await receiving.check_not_held(session, ret, [by_ref[choice.line_id] for choice in choices])
    products = await receiving.products_of(session, ret)
    planned = []
    for choice in choices:
        line = by_ref[choice.line_id]
        product = products[line.order_line.product_id]
        advice = recommend(unit_for(line, product), terms)
        chosen = choice.channel or advice.best
        reason = (choice.override_reason or "").strip() or None
        _check_possible(choice.line_id, advice.option(chosen), terms)
        if chosen != advice.best and reason is None:
            raise ValidationFailed(
                f"Say why line {choice.line_id!r} goes to {chosen.value} rather than "
                f"{advice.best.value}, which the engine recommends.",
                line_id=choice.line_id,
                recommended=advice.best.value,
            )
        record = _record(line, product, advice, chosen, reason, batch, actor, terms)
        planned.append((line, product, record, chosen))
    route_lines(
        session,
        ret,
        {line.order_line.line_ref: chosen for line, _, _, chosen in planned},
        actor,
        {"batch": batch} if batch else None,
    )
    for line, product, record, chosen in planned:
        session.add(record)
        await session.flush()
        await _set_off(session, line, product, record, chosen, actor)
    return [record for _, _, record, _ in planned]


def _check_possible(line_id: str, value: ChannelValue, terms: RecoveryTerms) -> None:
    """A reason explains a choice; it can't make a channel take a unit it doesn't take."""
    if value.feasible:
        return
    raise ValidationFailed(
        f"Line {line_id!r} can't go to {label_of(value.channel, terms)}: "
        + " ".join(value.reasons),
        line_id=line_id,
        channel=value.channel.value,
        reasons=list(value.reasons),
    )


def _record(
    line: ReturnLine,
    product: Product,
    advice: Recommendation,
    chosen: Disposition,
    reason: str | None,
    batch: str | None,
    actor: Actor,
    terms: RecoveryTerms,
) -> DispositionRecord:
    value = advice.option(chosen)
    quantity = line.received_quantity
    return DispositionRecord(
        return_line_id=line.id,
        channel=chosen.value,
        recommended=advice.best.value,
        override_reason=reason if chosen != advice.best else None,
        quantity=quantity,
        currency=product.currency,
        expected_value_minor=value.gross_minor * quantity,
        expected_cost_minor=value.cost_minor * quantity,
        expected_net_minor=value.net_minor * quantity,
        options=[option(each) for each in advice.options],
        explanation=list(advice.explanation),
        location=location_for(chosen, terms),
        batch=batch,
        actor=actor.name,
        at=actor.now,
    )


async def _set_off(
    session: AsyncSession,
    line: ReturnLine,
    product: Product,
    record: DispositionRecord,
    chosen: Disposition,
    actor: Actor,
) -> None:
    if chosen in INTO_STOCK:
        inventory.record(
            session,
            product=product,
            condition=str(line.grade),
            location=record.location,
            quantity=record.quantity,
            kind=INTO_STOCK[chosen],
            actor=actor,
            return_line_id=line.id,
            value_minor=record.expected_value_minor,
            currency=record.currency,
        )
    elif chosen is Disposition.REFURBISH:
        await refurbishment.open_work_order(session, line, record, product, actor)
    elif chosen in END_OF_LIFE:
        await manifests.add_line(session, chosen, line, product, record.quantity, actor)
