"""The day's batch: every inspected unit still waiting for a disposition, planned together under
the capacity the merchant has today, and (when applied) routed as planned under one batch id.

Planning is slow (an integer programme over every waiting line) and writes nothing: the lines
are read, then solved in a worker thread with no transaction open, the event loop serving other
requests meanwhile. Applying takes a plan made that way and, in the caller's write transaction,
routes the lines still waiting as they were planned: the write lock is held for the routing,
never for the solve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reclaim.catalog.models import Product
from reclaim.config import get_settings
from reclaim.errors import ValidationFailed
from reclaim.orders.models import OrderLine
from reclaim.returns import service as returns
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.service import Actor
from reclaim.returns.states import MOVES, Action, Disposition
from reclaim.warehouse import configured, dispositions, locks, receiving
from reclaim.warehouse.batch import Plan, plan_batch
from reclaim.warehouse.disposition_rules import Unit
from reclaim.warehouse.models import DispositionRecord
from reclaim.warehouse.numbers import new_batch_id
from reclaim.warehouse.recovery import RecoveryTerms


@dataclass(frozen=True, slots=True)
class PendingUnit:
    """A graded line waiting for a disposition; ``unit.key`` is ``<RMA>/<line>``."""

    unit: Unit
    return_id: int
    rma: str
    line_ref: str
    name: str


@dataclass(frozen=True, slots=True)
class RoutedLine:
    pending: PendingUnit
    record: DispositionRecord


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch: str | None  # None when no planned line was still waiting
    plan: Plan
    routed: list[RoutedLine]
    # Planned, but routed, regraded, held by a flag or otherwise changed before the batch ran:
    # left as they are now, for the next plan.
    skipped: list[PendingUnit]


async def pending_units(
    session: AsyncSession,
    *,
    currency: str | None = None,
    return_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[PendingUnit]:
    """Graded lines of inspected returns with no disposition yet and no open receiving flag
    holding them, oldest return first."""
    query = (
        select(ReturnLine, Return.id, Return.number, Product)
        .join(Return, Return.id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(
            Return.status.in_(MOVES[Action.DISPOSITION].sources),
            ReturnLine.grade.is_not(None),
            ReturnLine.disposition.is_(None),
            ReturnLine.received_quantity > 0,
            receiving.not_held(),
        )
        .options(selectinload(ReturnLine.order_line))
        .order_by(Return.id, ReturnLine.id)
        # What another transaction routed since this one first looked must show.
        .execution_options(populate_existing=True)
    )
    if currency is not None:
        query = query.where(Product.currency == currency.upper())
    if return_ids is not None:
        query = query.where(Return.id.in_(return_ids))
    if limit is not None:
        query = query.limit(limit)
    found = []
    for line, return_id, rma, product in (await session.execute(query)).all():
        ref = line.order_line.line_ref
        unit = replace(dispositions.unit_for(line, product), key=f"{rma}/{ref}")
        found.append(PendingUnit(unit, return_id, rma, ref, product.name))
    return found


async def batch_units(
    session: AsyncSession, *, currency: str | None = None, max_lines: int | None = None
) -> list[PendingUnit]:
    """The pending units a batch plans: all of them, refused beyond ``max_lines``
    (RECLAIM_BATCH_MAX_LINES), as the solve grows faster than the batch."""
    most = max_lines if max_lines is not None else get_settings().batch_max_lines
    pending = await pending_units(session, currency=currency, limit=most + 1)
    if len(pending) > most:
        raise ValidationFailed(
            f"A batch plans at most {most:,} line{'s' if most != 1 else ''} at once, and more "
            "are waiting for a disposition. Plan one currency at a time, route some lines at "
            "the station, or raise RECLAIM_BATCH_MAX_LINES.",
            max_lines=most,
        )
    return pending


async def plan_units(
    pending: Sequence[PendingUnit],
    capacity: Mapping[Disposition, int],
    *,
    terms: RecoveryTerms | None = None,
) -> Plan:
    """The plan for ``pending`` under ``capacity`` (units per channel; channels left out are
    unlimited), against the per-unit rule, solved in a worker thread. Call it with no
    transaction open, so no connection or lock waits on the solve."""
    units = [p.unit for p in pending]
    chosen = terms or configured.recovery()
    return await asyncio.to_thread(plan_batch, units, dict(capacity), chosen)


async def apply_plan(
    session: AsyncSession,
    plan: Plan,
    planned: Sequence[PendingUnit],
    actor: Actor,
    *,
    terms: RecoveryTerms | None = None,
) -> BatchResult:
    """Route the ``planned`` lines (:func:`batch_units`) as ``plan`` (:func:`plan_units`)
    assigns them, in this write transaction, under one batch id.

    Only lines still waiting exactly as planned are routed; one routed, regraded or held
    meanwhile is skipped and listed, and capacity is never exceeded, as a skipped line only
    frees its slots. One batch runs at a time, and the returns are locked in id order before
    any line is routed, so a batch never waits on a return while holding a manifest's lock
    that a single routing of that return waits for."""
    terms = terms or configured.recovery()
    if not planned:
        return BatchResult(None, plan, [], [])
    await locks.hold(session, "disposition-batch")
    locked: dict[int, Return] = {}
    for return_id, rma in sorted({(p.return_id, p.rma) for p in planned}):
        locked[return_id] = await returns.load_for_change(session, rma)
    now = {p.unit.key: p.unit for p in await pending_units(session, return_ids=list(locked))}
    still = [p for p in planned if now.get(p.unit.key) == p.unit]
    skipped = [p for p in planned if now.get(p.unit.key) != p.unit]
    if not still:
        return BatchResult(None, plan, [], skipped)
    batch = new_batch_id(actor.now)
    why = f"Batch {batch}: assigned under today's capacity to recover the most in total."
    routed: list[RoutedLine] = []
    for return_id, ret in locked.items():
        mine = [p for p in still if p.return_id == return_id]
        if not mine:
            continue
        choices = [dispositions.Choice(p.line_ref, plan.assignment[p.unit.key], why) for p in mine]
        records = await dispositions.route(session, ret, choices, actor, batch=batch, terms=terms)
        routed.extend(RoutedLine(p, r) for p, r in zip(mine, records, strict=True))
    return BatchResult(batch, plan, routed, skipped)
