"""Opening a parcel at the station: count units in against the return's lines, weigh it, and
flag what a person must look at (an unexpected, wrong or missing item, or an empty box).

Every flag puts the return in the exceptions queue; it leaves once the last open flag is
resolved, and not before. Inspection raises flags the same way. While a flag is open on a line,
or on the whole return, the line is held: it can't be routed. A parcel is recorded whole or not
at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reclaim.catalog.models import Product
from reclaim.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reclaim.orders.models import OrderLine
from reclaim.refunds.settlement import settle_due
from reclaim.returns import service as returns
from reclaim.returns.lifecycle import canonical_number
from reclaim.returns.line_steps import check_receiving, lines_by_ref, receive_lines
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.service import Actor
from reclaim.returns.states import Note
from reclaim.warehouse import configured
from reclaim.warehouse.models import Receipt, ReceivingFlag
from reclaim.warehouse.receiving_rules import expected_weight_grams, looks_empty
from reclaim.warehouse.recovery import RecoveryTerms
from reclaim.warehouse.schemas import FlagKind, ParcelIn


@dataclass(frozen=True, slots=True)
class ParcelResult:
    ret: Return
    receipt: Receipt
    flags: list[ReceivingFlag]


async def products_of(session: AsyncSession, ret: Return) -> dict[int, Product]:
    """The catalogue entries of the return's lines, by product id."""
    ids = {line.order_line.product_id for line in ret.lines}
    found = await session.scalars(select(Product).where(Product.id.in_(ids)))
    return {product.id: product for product in found}


def line_refs(ret: Return) -> dict[int, str]:
    """Each return line's order-line id (what the API calls ``line_id``), by return line id."""
    return {line.id: line.order_line.line_ref for line in ret.lines}


async def line_refs_of(session: AsyncSession, return_id: int) -> dict[int, str]:
    found = await session.execute(
        select(ReturnLine.id, OrderLine.line_ref)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(ReturnLine.return_id == return_id)
    )
    return {line_id: ref for line_id, ref in found.all()}


def _grams(grams: int) -> str:
    return f"{grams / 1000:.1f} kg" if grams >= 10_000 else f"{grams} g"


async def receive_parcel(
    session: AsyncSession,
    number: str,
    actor: Actor,
    parcel: ParcelIn,
    *,
    terms: RecoveryTerms | None = None,
) -> ParcelResult:
    """Record the parcel, receive what was counted, and flag what needs a person."""
    if not (parcel.counts or parcel.wrong or parcel.unexpected or parcel.weight_grams is not None):
        raise ValidationFailed("Count what the parcel holds, or weigh it to record it empty.")
    ret = await returns.load_for_change(session, number)
    lines_by_ref(ret, (count.line_id for count in parcel.counts))  # each line once
    counts = {count.line_id: count.quantity for count in parcel.counts}
    # Refused whatever the scale says: a return not on its way back, or more than is due.
    by_ref = check_receiving(ret, counts)
    lines_by_ref(ret, dict.fromkeys(wrong.line_id for wrong in parcel.wrong))
    products = await products_of(session, ret)

    def weight(line: ReturnLine) -> int:
        return products[line.order_line.product_id].weight_grams

    due = expected_weight_grams(
        (weight(line), line.quantity - line.received_quantity) for line in ret.lines
    )
    counted = expected_weight_grams((weight(by_ref[ref]), qty) for ref, qty in counts.items())
    empty = _empty_box(parcel, counts, counted, terms or configured.recovery())

    receipt = Receipt(
        return_id=ret.id,
        lines={} if empty else counts,
        weight_grams=parcel.weight_grams,
        expected_weight_grams=due,
        actor=actor.name,
        received_at=actor.now,
    )
    session.add(receipt)
    await session.flush()
    if counts and not empty:
        receive_lines(session, ret, counts, actor, {"receipt": receipt.id})

    flags = _flags(ret, parcel, receipt, actor, empty=empty, counted=counted)
    await raise_flags(session, ret, flags, actor, during="Receiving")
    await settle_due(session, ret, actor)
    return ParcelResult(ret, receipt, flags)


def _empty_box(
    parcel: ParcelIn, counts: dict[str, int], counted: int, terms: RecoveryTerms
) -> bool:
    """Nothing found in a weighed box, or a box far lighter than what was counted in it (the
    retail packaging sent back without the product)."""
    if parcel.weight_grams is None:
        return False
    if counts:
        return looks_empty(parcel.weight_grams, counted, terms)
    return not (parcel.wrong or parcel.unexpected)


def _flags(
    ret: Return,
    parcel: ParcelIn,
    receipt: Receipt,
    actor: Actor,
    *,
    empty: bool,
    counted: int,
) -> list[ReceivingFlag]:
    by_ref = {line.order_line.line_ref: line for line in ret.lines}

    def flag(kind: FlagKind, **fields: Any) -> ReceivingFlag:
        return new_flag(ret, kind, actor, receipt_id=receipt.id, **fields)

    flags: list[ReceivingFlag] = []
    if empty:
        weighed = _grams(parcel.weight_grams or 0)
        detail = (
            f"Weighs {weighed}; the {sum(c.quantity for c in parcel.counts)} units counted "
            f"in it weigh about {_grams(counted)}. Nothing was received."
            if parcel.counts
            else f"Nothing in it; it weighs {weighed}."
        )
        flags.append(flag(FlagKind.EMPTY_BOX, detail=detail))
    for wrong in parcel.wrong:
        flags.append(
            flag(
                FlagKind.WRONG_ITEM,
                return_line_id=by_ref[wrong.line_id].id,
                found=wrong.found,
                quantity=wrong.quantity,
                detail=wrong.detail,
            )
        )
    for unexpected in parcel.unexpected:
        flags.append(
            flag(
                FlagKind.UNEXPECTED_ITEM,
                found=unexpected.found,
                quantity=unexpected.quantity,
                detail=unexpected.detail,
            )
        )
    if parcel.last_parcel and not empty:
        # Units that came as something else are flagged wrong already, not missing too.
        instead = Counter[str]()
        for wrong in parcel.wrong:
            instead[wrong.line_id] += wrong.quantity
        for ref, line in by_ref.items():
            short = line.quantity - line.received_quantity - instead[ref]
            if short > 0:
                flags.append(
                    flag(
                        FlagKind.MISSING_ITEM,
                        return_line_id=line.id,
                        quantity=short,
                        detail=f"{short} of {line.quantity} never arrived.",
                    )
                )
    return flags


def new_flag(ret: Return, kind: FlagKind, actor: Actor, **fields: Any) -> ReceivingFlag:
    """A flag on the return (or, with ``return_line_id``, on one of its lines), not yet added:
    ``raise_flags`` adds it."""
    return ReceivingFlag(
        return_id=ret.id, kind=kind.value, actor=actor.name, at=actor.now, **fields
    )


async def raise_flags(
    session: AsyncSession, ret: Return, flags: list[ReceivingFlag], actor: Actor, *, during: str
) -> None:
    """Record the flags and put the return in the exceptions queue, saying what ``during``
    (receiving, inspection) found."""
    if not flags:
        return
    session.add_all(flags)
    await session.flush()
    refs = line_refs(ret)
    summary = f"{during}: {_listed(flags, refs)}"
    # Whatever was flagged before stays in the text until everything is resolved.
    ret.attention = f"{ret.attention} {summary}" if ret.attention else summary
    ret.attention_at = ret.attention_at or actor.now
    returns.note(
        session,
        ret,
        Note.ATTENTION,
        actor,
        {"reason": summary, "flags": [describe(flag, refs) for flag in flags]},
    )


def _phrase(flag: ReceivingFlag, refs: dict[int, str]) -> str:
    line = refs.get(flag.return_line_id) if flag.return_line_id is not None else None
    match FlagKind(flag.kind):
        case FlagKind.EMPTY_BOX:
            return f"empty box ({flag.detail})"
        case FlagKind.WRONG_ITEM if flag.found is None:
            return f"wrong item for line {line}: {flag.detail.rstrip('.')}"
        case FlagKind.WRONG_ITEM:
            return f"wrong item for line {line}: {flag.quantity} × {flag.found!r}"
        case FlagKind.UNEXPECTED_ITEM:
            return f"unexpected item: {flag.quantity} × {flag.found!r}"
        case FlagKind.MISSING_ITEM:
            return f"line {line} is {flag.quantity} short"


def describe(flag: ReceivingFlag, refs: dict[int, str]) -> dict[str, Any]:
    return {
        "id": flag.id,
        "kind": flag.kind,
        "line_id": refs.get(flag.return_line_id) if flag.return_line_id is not None else None,
        "found": flag.found,
        "quantity": flag.quantity,
        "detail": flag.detail,
    }


async def open_flags(session: AsyncSession, return_id: int) -> list[ReceivingFlag]:
    return list(
        await session.scalars(
            select(ReceivingFlag)
            .where(ReceivingFlag.return_id == return_id, ReceivingFlag.resolved_at.is_(None))
            .order_by(ReceivingFlag.id)
        )
    )


def _listed(flags: list[ReceivingFlag], refs: dict[int, str]) -> str:
    return "; ".join(_phrase(flag, refs) for flag in flags) + "."


async def check_not_held(session: AsyncSession, ret: Return, lines: list[ReturnLine]) -> None:
    """Refuses while an open flag holds any of ``lines``: one on the line, or on the whole
    return (an empty box, an unexpected item)."""
    ids = {line.id for line in lines}
    holding = [
        flag
        for flag in await open_flags(session, ret.id)
        if flag.return_line_id is None or flag.return_line_id in ids
    ]
    if holding:
        raise InvalidTransition(
            f"Resolve the flags first: {_listed(holding, line_refs(ret))}",
            number=ret.number,
            flags=[flag.id for flag in holding],
        )


def not_held() -> ColumnElement[bool]:
    """For a query over return lines: no open flag holds the line (as ``check_not_held``)."""
    return ~exists().where(
        ReceivingFlag.return_id == ReturnLine.return_id,
        ReceivingFlag.resolved_at.is_(None),
        or_(ReceivingFlag.return_line_id.is_(None), ReceivingFlag.return_line_id == ReturnLine.id),
    )


async def resolve_attention(
    session: AsyncSession, number: str, actor: Actor, remark: str
) -> Return:
    """Take the return off the exceptions queue, refused while a flag is still open: those are
    resolved one by one, each saying what was done, and the last one clears the queue."""
    ret = await returns.load_for_change(session, number)
    still_open = await open_flags(session, ret.id)
    if still_open:
        count = len(still_open)
        raise Conflict(
            f"Resolve the {count} open flag{'s' if count != 1 else ''} first: "
            f"{_listed(still_open, line_refs(ret))}",
            number=ret.number,
            flags=[flag.id for flag in still_open],
        )
    return await returns.resolve_attention(session, number, actor, remark)


async def resolve_flag(
    session: AsyncSession, flag_id: int, actor: Actor, resolution: str
) -> ReceivingFlag:
    """Close a flag saying what was done; the last one closed takes the return off the queue."""
    said = resolution.strip()
    if not said:
        raise ValidationFailed("Say what was done about it: the resolution stays on the flag.")
    number = await session.scalar(
        select(Return.number)
        .join(ReceivingFlag, ReceivingFlag.return_id == Return.id)
        .where(ReceivingFlag.id == flag_id)
    )
    if number is None:
        raise NotFound(f"No receiving flag {flag_id}.", flag_id=flag_id)
    # The return first, as every change to it does: resolvers of one return's flags queue.
    ret = await returns.load_for_change(session, number)
    flag = await session.scalar(
        select(ReceivingFlag)
        .where(ReceivingFlag.id == flag_id)
        .execution_options(populate_existing=True)
    )
    assert flag is not None  # flags go only with their return
    if flag.resolved_at is not None:
        raise Conflict(
            f"Receiving flag {flag_id} was already resolved by {flag.resolved_by}.",
            flag_id=flag_id,
        )
    flag.resolved_at = actor.now
    flag.resolved_by = actor.name
    flag.resolution = said
    await session.flush()
    if not await open_flags(session, ret.id):
        if ret.attention is not None:
            await returns.resolve_attention(session, ret.number, actor, said)
        else:
            await settle_due(session, ret, actor)
    return flag


async def return_with_lines(session: AsyncSession, number: str) -> Return:
    ret = await session.scalar(
        select(Return)
        .where(Return.number == canonical_number(number))
        .options(selectinload(Return.lines).selectinload(ReturnLine.order_line))
    )
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    return ret


async def receipts_for(session: AsyncSession, number: str) -> list[Receipt]:
    ret = await return_with_lines(session, number)
    return list(
        await session.scalars(
            select(Receipt).where(Receipt.return_id == ret.id).order_by(Receipt.id)
        )
    )


async def flags_for(
    session: AsyncSession, number: str, *, open_only: bool = False
) -> tuple[Return, list[ReceivingFlag]]:
    """The return's flags, oldest first, with the return (to name their lines)."""
    ret = await return_with_lines(session, number)
    query = select(ReceivingFlag).where(ReceivingFlag.return_id == ret.id)
    if open_only:
        query = query.where(ReceivingFlag.resolved_at.is_(None))
    return ret, list(await session.scalars(query.order_by(ReceivingFlag.id)))
