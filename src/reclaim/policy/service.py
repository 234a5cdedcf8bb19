"""The policy in use: its versions in the database, and the facts it decides on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, joinedload, selectinload

from reclaim.catalog.models import Product
from reclaim.db import insert_ignoring_conflict
from reclaim.errors import NotFound
from reclaim.kit.money import allocate
from reclaim.orders.models import Order, OrderLine
from reclaim.policy.facts import Ask, Item, OrderFacts
from reclaim.policy.loader import LoadedPolicy, load, parse
from reclaim.policy.models import PolicyVersion
from reclaim.policy.whatif import Case, Holding, PastReturn, held_at, holding, past_return
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import Method, Reason, Resolution, Status

# Returns a shopper took back or that were refused don't count as a shopper's returns.
NOT_COUNTED = (Status.CANCELLED, Status.REJECTED)


async def register(session: AsyncSession, loaded: LoadedPolicy, now: datetime) -> None:
    """Keep the policy's text under its version, once, however many processes start together."""
    await insert_ignoring_conflict(
        session,
        PolicyVersion,
        {
            "version": loaded.version,
            "name": loaded.policy.name,
            "content": loaded.text,
            "first_seen_at": now,
        },
        ["version"],
    )


# Policy texts never change under their version, so each is parsed once per process.
_VERSIONS: dict[str | None, LoadedPolicy] = {}


async def load_version(session: AsyncSession, version: str | None) -> LoadedPolicy:
    """The policy a return was decided under; the built-in one for a return that recorded none."""
    loaded = _VERSIONS.get(version)
    if loaded is None:
        if version is None:
            loaded = load(None)
        else:
            text = await session.scalar(
                select(PolicyVersion.content).where(PolicyVersion.version == version)
            )
            if text is None:
                raise NotFound(f"No policy version {version!r}.", version=version)
            loaded = parse(text, f"policy {version}")
        _VERSIONS[version] = loaded
    return loaded


async def recent_returns(
    session: AsyncSession,
    customer_id: int,
    since: datetime,
    until: datetime,
    exclude: int | None = None,
) -> int:
    query = select(func.count(Return.id)).where(
        Return.customer_id == customer_id,
        Return.created_at >= since,
        Return.created_at < until,
        Return.status.not_in(NOT_COUNTED),
    )
    if exclude is not None:
        query = query.where(Return.id != exclude)
    return int(await session.scalar(query) or 0)


def facts_from(order: Order, tier: str, recent: int) -> OrderFacts:
    """The order as the policy sees it: lines must be loaded with their products.

    The order-level discount is spread over lines by what each paid, so a returned line
    gives back only what it really cost."""
    goods = [line.unit_price_minor * line.quantity - line.discount_minor for line in order.lines]
    shares = allocate(order.discount_minor, goods) if sum(goods) else [0] * len(goods)
    return OrderFacts(
        currency=order.currency,
        delivered_at=order.delivered_at,
        tier=tier,
        recent_returns=recent,
        shipping_minor=order.shipping_minor,
        items=tuple(
            Item(
                line_ref=line.line_ref,
                sku=line.sku,
                name=line.product.name,
                category=line.product.category,
                returnable=line.product.returnable,
                quantity=line.quantity,
                held=line.returned_quantity,
                list_minor=line.unit_price_minor * line.quantity,
                paid_minor=paid - share,
                tax_minor=line.tax_minor,
                weight_grams=line.product.weight_grams,
            )
            for line, paid, share in zip(order.lines, goods, shares, strict=True)
        ),
    )


async def order_facts(
    session: AsyncSession, order: Order, loaded: LoadedPolicy, now: datetime
) -> OrderFacts:
    """Facts for an order loaded with its customer, lines and products."""
    days = loaded.policy.review.recent_days
    recent = await recent_returns(session, order.customer_id, now - timedelta(days=days), now)
    return facts_from(order, order.customer.tier, recent)


# What-if replays ---------------------------------------------------------------------------


async def read_snapshot(session: AsyncSession) -> None:
    """Make the transaction one consistent, read-only view: call it before any query.

    A replay reads in many batches while the shop keeps working; SQLite's read transaction
    already sees one snapshot, PostgreSQL's default (read committed) would not."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


async def count_returns(session: AsyncSession, since: datetime, until: datetime) -> int:
    query = select(func.count(Return.id)).where(
        Return.created_at >= since, Return.created_at < until
    )
    return int(await session.scalar(query) or 0)


async def whatif_cases(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    lookback_days: int,
    batch: int = 500,
) -> AsyncIterator[list[Case]]:
    """Every return created in [since, until), oldest first, a batch at a time, as a replay
    needs it: the order, held units and the customer's recent returns as at its creation.

    ``lookback_days`` is the longest review window the replay will count recent returns in.
    Each batch costs a fixed handful of queries, however many returns and lines it holds."""
    after: tuple[datetime, int] | None = None
    while True:
        query = (
            select(Return)
            .where(Return.created_at >= since, Return.created_at < until)
            .options(
                # JSON a replay never reads; decoding it was a fifth of the loading time.
                defer(Return.decision, raiseload=True),
                selectinload(Return.lines),
                selectinload(Return.order).options(
                    selectinload(Order.lines)
                    .joinedload(OrderLine.product, innerjoin=True)
                    .defer(Product.attributes, raiseload=True),
                    joinedload(Order.customer, innerjoin=True),
                ),
            )
            .order_by(Return.created_at, Return.id)
            .limit(batch)
        )
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(Return.created_at > at, and_(Return.created_at == at, Return.id > last_id))
            )
        returns = list(await session.scalars(query))
        if not returns:
            return
        after = (returns[-1].created_at, returns[-1].id)
        cases = await _cases(session, returns, lookback_days)
        # The cases are plain values now; dropping the rows keeps a long replay's memory flat.
        session.expunge_all()
        yield cases
        if len(returns) < batch:
            return


async def _cases(session: AsyncSession, returns: list[Return], lookback_days: int) -> list[Case]:
    # Other returns of the same orders, whenever they were made: the units they held.
    held_rows = await session.execute(
        select(
            Return.id,
            Return.created_at,
            Return.status,
            Return.method,
            Return.updated_at,
            ReturnLine.order_line_id,
            ReturnLine.quantity,
            ReturnLine.received_quantity,
        )
        .join(ReturnLine, ReturnLine.return_id == Return.id)
        .where(Return.order_id.in_({ret.order_id for ret in returns}))
    )
    holdings: dict[int, list[Holding]] = defaultdict(list)
    for row in held_rows:
        holdings[row.order_line_id].append(holding(*row))
    # The customers' returns within the longest review window before any return here.
    since = returns[0].created_at - timedelta(days=lookback_days)
    past_rows = await session.execute(
        select(Return.id, Return.customer_id, Return.created_at, Return.status, Return.updated_at)
        .where(
            Return.customer_id.in_({ret.customer_id for ret in returns}),
            Return.created_at >= since,
            Return.created_at < returns[-1].created_at,
        )
        .order_by(Return.created_at, Return.id)
    )
    history: dict[int, list[PastReturn]] = defaultdict(list)
    for past in past_rows:
        history[past.customer_id].append(
            past_return(past.id, past.created_at, past.status, past.updated_at)
        )
    shared = {customer: tuple(earlier) for customer, earlier in history.items()}
    return [_case(ret, holdings, shared.get(ret.customer_id, ())) for ret in returns]


def _case(
    ret: Return, holdings: dict[int, list[Holding]], customer_returns: tuple[PastReturn, ...]
) -> Case:
    """The order is read as it is now, its lines and products included: orders are rarely
    changed after delivery, and an older copy isn't kept. The customer's tier is today's too."""
    order = ret.order
    base = facts_from(order, order.customer.tier, 0)
    held = {
        line.line_ref: held_at(holdings[line.id], line.id, ret.id, ret.created_at)
        for line in order.lines
    }
    facts = replace(base, items=tuple(replace(i, held=held[i.line_ref]) for i in base.items))
    refs = {line.id: line.line_ref for line in order.lines}
    return Case(
        return_id=ret.id,
        number=ret.number,
        created_at=ret.created_at,
        recorded_version=ret.policy_version,
        facts=facts,
        asks=tuple(
            Ask(
                refs[line.order_line_id],
                line.quantity,
                Reason(line.reason),
                Resolution(line.resolution),
                line.opened,
            )
            for line in ret.lines
        ),
        # A returnless return records keep_item in place of the method the shopper chose.
        method=None if ret.method == Method.KEEP_ITEM else Method(ret.method),
        customer_returns=customer_returns,
    )
