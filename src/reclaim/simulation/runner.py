"""Drive a simulated merchant's orders and returns through the real service layer.

Time is simulated: every step runs in its own transaction at the moment it would happen, and
the services are the same ones the API calls, so a simulation exercises the whole lifecycle.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.errors import Conflict, ReclaimError
from reclaim.logistics.carriers import Scan
from reclaim.logistics.shipments import Journey
from reclaim.logistics.tracking_service import record_scans
from reclaim.orders.models import Order, OrderLine
from reclaim.orders.schemas import AddressIn, CustomerIn, OrderIn, OrderLineIn, ProductIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import LoadedPolicy
from reclaim.policy.loader import load as load_policy
from reclaim.returns import service as returns
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.schemas import ReturnIn, ReturnLineIn
from reclaim.returns.states import Grade, Method, Reason, Status
from reclaim.simulation import behaviour
from reclaim.simulation.inspector import Inspector
from reclaim.simulation.merchant import CATEGORIES, PROFILE, Merchant, SimProduct, build_merchant
from reclaim.simulation.shop import Shop
from reclaim.warehouse import configured, dispositions, inspection, receiving
from reclaim.warehouse.schemas import CountIn, FlagKind, ParcelIn, WrongItemIn

NO_SHOW_DAYS = 21
# What the box and packing add to a parcel's contents, in grams.
PACKING_GRAMS = (80, 400)
# How an agent settles each kind of receiving flag in the simulated exceptions queue.
SETTLED = {
    FlagKind.MISSING_ITEM: "Shopper confirmed they kept it; refund reduced to what arrived.",
    FlagKind.WRONG_ITEM: "Shopper sent the wrong unit; refund held until the right one comes.",
    FlagKind.UNEXPECTED_ITEM: "Not ours; shopper asked whether they want it sent back.",
    FlagKind.EMPTY_BOX: "Empty box reported to the carrier; claim opened.",
}
Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class SimulationConfig:
    days: int
    orders_per_day: int
    seed: int = 1
    start: date | None = None
    # The returns policy the merchant runs; the built-in one when not given.
    policy: LoadedPolicy = field(default_factory=lambda: load_policy(None))

    @property
    def first_day(self) -> date:
        return self.start or (datetime.now(UTC).date() - timedelta(days=self.days))

    @property
    def order_prefix(self) -> str:
        return f"SIM{self.seed}-{self.first_day:%y%m%d}-"


@dataclass
class CategoryStats:
    units_sold: int = 0
    units_returned: int = 0

    @property
    def return_rate(self) -> float:
        return self.units_returned / self.units_sold if self.units_sold else 0.0


@dataclass
class Summary:
    orders: int = 0
    units_sold: int = 0
    returns: int = 0
    units_returned: int = 0
    by_category: dict[str, CategoryStats] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def completed(self) -> int:
        return self.by_status.get(Status.COMPLETED, 0)


@dataclass(order=True)
class _Scheduled:
    at: datetime
    seq: int
    step: Step = field(compare=False)
    kind: str = field(compare=False)


class Simulation:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: SimulationConfig,
        *,
        on_day: Callable[[date], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.rng = random.Random(config.seed)
        self.merchant: Merchant = build_merchant(
            self.rng, customers=max(20, config.orders_per_day * config.days // 3)
        )
        self.queue: list[_Scheduled] = []
        self.products = {product.sku: product for product in self.merchant.products}
        self.inspector = Inspector(self.rng, configured.checklists())
        self.terms = configured.recovery()
        self.seq = itertools.count()
        self.on_day = on_day
        self.summary = Summary()
        # When the agent will have settled each return's last flag: a flag holds its line, so
        # routing waits for it.
        self.settled: dict[str, datetime] = {}
        self.end = datetime.combine(config.first_day, datetime.min.time(), UTC) + timedelta(
            days=config.days
        )
        # Its own random stream, so the shop's doings leave the shoppers' behaviour as it was.
        self.shop = Shop(
            sessions, random.Random(config.seed * 7919 + 1), config.order_prefix, self._run_step
        )

    def _at(self, when: datetime, kind: str, step: Step) -> None:
        if when < self.end:
            heapq.heappush(self.queue, _Scheduled(when, next(self.seq), step, kind))

    async def _run_step(self, kind: str, body: Callable[[AsyncSession], Awaitable[object]]) -> bool:
        self.summary.steps += 1
        try:
            async with transaction(self.sessions) as session:
                await body(session)
        except ReclaimError as exc:
            self.summary.refused[f"{kind}: {exc.code}"] += 1
            return False
        return True

    async def run(self) -> Summary:
        started = time.perf_counter()
        await self._refuse_rerun()
        day_start = self.end - timedelta(days=self.config.days)
        counter = itertools.count(1)
        for offset in range(self.config.days):
            day = day_start + timedelta(days=offset)
            volume = self.config.orders_per_day * behaviour.order_volume_factor(day.date())
            for _ in range(_poisson(self.rng, volume)):
                placed = day + timedelta(seconds=self.rng.randrange(86_400))
                number = next(counter)
                self._at(placed, "order", partial(self._place_order, placed, number))
            next_day = day + timedelta(days=1)
            while self.queue and self.queue[0].at < next_day:
                await heapq.heappop(self.queue).step()
            await self.shop.end_of_day(next_day)
            if self.on_day:
                self.on_day(day.date())
        self.summary.seconds = time.perf_counter() - started
        await self._count()
        return self.summary

    async def _refuse_rerun(self) -> None:
        async with transaction(self.sessions) as session:
            taken = await session.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.external_id.startswith(self.config.order_prefix))
            )
        if taken:
            raise Conflict(
                f"A simulation with seed {self.config.seed} starting {self.config.first_day} "
                "already ran in this database; choose another --seed."
            )

    # Orders ------------------------------------------------------------------------------

    def _pick_product(self) -> SimProduct:
        profile = self.rng.choices(CATEGORIES, [c.share for c in CATEGORIES])[0]
        candidates = [p for p in self.merchant.products if p.category == profile.name]
        return self.rng.choice(candidates)

    async def _place_order(self, placed: datetime, number: int) -> None:
        customer = self.rng.choice(self.merchant.customers)
        picked: dict[str, tuple[SimProduct, int]] = {}
        for _ in range(self.rng.choices((1, 2, 3, 4), (55, 28, 12, 5))[0]):
            product = self._pick_product()
            quantity = self.rng.choices((1, 2, 3), (85, 12, 3))[0]
            _, already = picked.get(product.sku, (product, 0))
            picked[product.sku] = (product, already + quantity)
        delivered = placed + timedelta(days=self.rng.uniform(1.5, 5.5))
        coupon = self.rng.random() < 0.15
        goods = sum(p.price_minor * q for p, q in picked.values())
        order = OrderIn(
            order_id=f"{self.config.order_prefix}{number:06d}",
            customer=CustomerIn(
                id=customer.id, email=customer.email, name=customer.name, tier=customer.tier
            ),
            currency="USD",
            placed_at=placed,
            delivered_at=delivered,
            shipping_minor=0 if goods >= 5_000 else 499,
            discount_minor=goods // 10 if coupon else 0,
            shipping_address=AddressIn(
                line1=customer.address.line1,
                line2=customer.address.line2,
                city=customer.address.city,
                postcode=customer.address.postcode,
                country=customer.address.country,
                lat=customer.address.lat,
                lon=customer.address.lon,
            ),
            lines=[
                OrderLineIn(
                    line_id=str(index),
                    sku=product.sku,
                    quantity=quantity,
                    unit_price_minor=product.price_minor,
                    tax_minor=product.price_minor * quantity * 8 // 100,
                    product=ProductIn(
                        name=product.name,
                        category=product.category,
                        product_group=product.group,
                        price_minor=product.price_minor,
                        cost_minor=product.cost_minor,
                        weight_grams=product.weight_grams,
                        attributes={"size": product.size} if product.size else {},
                    ),
                )
                for index, (product, quantity) in enumerate(picked.values(), start=1)
            ],
        )
        if await self._run_step("order", lambda s: upsert_order(s, order)):
            self._plan_return(order, picked, customer.returns_appetite, delivered)

    # Returns -----------------------------------------------------------------------------

    def _plan_return(
        self,
        order: OrderIn,
        picked: dict[str, tuple[SimProduct, int]],
        appetite: float,
        delivered: datetime,
    ) -> None:
        lines: list[ReturnLineIn] = []
        for ref, (product, quantity) in zip(order.line_refs(), picked.values(), strict=True):
            profile = PROFILE[product.category]
            rate = min(
                0.95,
                profile.return_rate
                * appetite
                * behaviour.return_rate_factor(order.placed_at.date()),
            )
            units = sum(self.rng.random() < rate for _ in range(quantity))
            if units:
                reason = behaviour.choose_reason(self.rng, profile, product)
                lines.append(
                    ReturnLineIn(
                        line_id=ref,
                        quantity=units,
                        reason=reason,
                        comment=behaviour.comment_for(self.rng, reason, product),
                        resolution=behaviour.choose_resolution(self.rng, profile, reason),
                    )
                )
        if not lines:
            return
        request = ReturnIn(
            order_id=order.order_id, method=behaviour.choose_method(self.rng), lines=lines
        )
        when = delivered + timedelta(
            days=min(self.rng.gammavariate(2.0, 3.5), self.config.policy.policy.window.days - 1)
        )
        self._at(when, "create", lambda: self._create(request, when))

    async def _create(self, request: ReturnIn, when: datetime) -> None:
        created: list[tuple[str, Status, Method]] = []

        async def body(session: AsyncSession) -> None:
            ret = await returns.create_return(
                session,
                request,
                returns.Actor("simulator", when),
                policy=self.config.policy,
                channel="simulator",
            )
            created.append((ret.number, Status(ret.status), Method(ret.method)))

        if not await self._run_step("create", body):
            return
        number, status, method = created[0]
        if status is Status.REVIEW:
            risky = any(line.reason is Reason.UNAUTHORIZED_PURCHASE for line in request.lines)
            decided = when + timedelta(hours=self.rng.uniform(2, 30))
            self._at(decided, "decide", lambda: self._decide(number, decided, risky))
        elif status is Status.REQUESTED:  # a policy that leaves approval to staff
            decided = when + timedelta(hours=self.rng.uniform(1, 24))
            self._at(decided, "approve", lambda: self._approve(number, decided))
        elif status is Status.APPROVED:
            self._after_approval(number, when, returnless=method is Method.KEEP_ITEM)

    async def _decide(self, number: str, when: datetime, risky: bool) -> None:
        """An agent looks at a return the policy sent to review."""
        if risky and self.rng.random() < 0.4:
            await self._step(
                "reject",
                number,
                when,
                lambda s, a: returns.reject(
                    s, number, a, "Purchase was made by the account owner."
                ),
            )
            return
        await self._approve(number, when)

    async def _step(
        self,
        kind: str,
        number: str,
        when: datetime,
        change: Callable[[AsyncSession, returns.Actor], Awaitable[object]],
    ) -> bool:
        return await self._run_step(kind, lambda s: change(s, returns.Actor("simulator", when)))

    async def _approve(self, number: str, when: datetime) -> None:
        ok = await self._run_step(
            "approve",
            lambda s: returns.approve(
                s,
                number,
                returns.Actor("agent", when),
                journey=Journey(handover_days=self.config.policy.policy.handover.days),
            ),
        )
        if ok:
            self._after_approval(number, when, returnless=False)

    def _after_approval(self, number: str, when: datetime, *, returnless: bool) -> None:
        if returnless:
            done = when + timedelta(minutes=1)
            self._at(
                done,
                "complete",
                lambda: self._step(
                    "complete", number, done, lambda s, a: returns.complete(s, number, a)
                ),
            )
            return
        draw = self.rng.random()
        if draw < 0.03:
            later = when + timedelta(hours=self.rng.uniform(1, 48))
            self._at(
                later,
                "cancel",
                lambda: self._step(
                    "cancel",
                    number,
                    later,
                    lambda s, a: returns.cancel(s, number, a, "Changed my mind; keeping it."),
                ),
            )
        elif draw < 0.09:
            later = when + timedelta(days=NO_SHOW_DAYS)
            self._at(
                later,
                "expire",
                lambda: self._step(
                    "expire", number, later, lambda s, a: returns.expire(s, number, a)
                ),
            )
        else:
            shipped = when + timedelta(days=self.rng.uniform(0.2, 4))
            self._at(shipped, "ship", lambda: self._ship(number, shipped))

    async def _ship(self, number: str, when: datetime) -> None:
        async with transaction(self.sessions) as session:
            ret = await returns.get_return(session, number)
            method = Method(ret.method)
            lines = [
                (line.order_line.line_ref, line.quantity, line.order_line.sku) for line in ret.lines
            ]
            tracking = ret.shipment.tracking_number if ret.shipment else None
        arrives = when + timedelta(days=self.rng.uniform(1.5, 6))
        # The carrier's scans move the return along, as they would for a real shop: handed
        # over (in transit), then delivered to the warehouse shortly before it is unpacked.
        if method is not Method.IN_STORE and tracking:
            if not await self._scan(tracking, "accepted", when):
                return
            delivered = arrives - timedelta(hours=self.rng.uniform(1, 20))
            self._at(delivered, "delivered", lambda: self._scan(tracking, "delivered", delivered))
        self._at(arrives, "receive", lambda: self._receive(number, arrives, lines))

    async def _scan(self, tracking: str, code: str, when: datetime) -> bool:
        scan = Scan(tracking, code, when, location="London")
        return await self._run_step(code, lambda s: record_scans(s, [scan], "simulator", when))

    def _parcel(self, counts: list[tuple[str, int, str]], **found: object) -> ParcelIn:
        """The parcel as the station sees it: what was counted, and what it weighs."""
        grams = sum(self.products[sku].weight_grams * qty for _, qty, sku in counts)
        return ParcelIn.model_validate(
            {
                "counts": [CountIn(line_id=ref, quantity=qty) for ref, qty, _ in counts if qty],
                "weight_grams": grams + self.rng.randint(*PACKING_GRAMS),
                **found,
            }
        )

    async def _open(self, number: str, when: datetime, parcel: ParcelIn) -> Status | None:
        """Receive the parcel; the agent settles its flags later. None if it was refused."""
        opened: list[receiving.ParcelResult] = []

        async def body(session: AsyncSession) -> None:
            actor = returns.Actor("simulator", when)
            opened.append(await receiving.receive_parcel(session, number, actor, parcel))

        if not await self._run_step("receive", body):
            return None
        for flag in opened[0].flags:
            settled = when + timedelta(hours=self.rng.uniform(2, 30))
            self.settled[number] = max(settled, self.settled.get(number, settled))
            self._at(
                settled, "resolve", partial(self._settle, flag.id, FlagKind(flag.kind), settled)
            )
        return Status(opened[0].ret.status)

    async def _settle(self, flag_id: int, kind: FlagKind, when: datetime) -> None:
        await self._run_step(
            "resolve",
            lambda s: receiving.resolve_flag(
                s, flag_id, returns.Actor("agent", when), SETTLED[kind]
            ),
        )

    async def _receive(
        self, number: str, when: datetime, lines: list[tuple[str, int, str]]
    ) -> None:
        draw = self.rng.random()
        if draw < 0.005:  # the shopper's box arrives with nothing in it
            await self._open(number, when, ParcelIn(weight_grams=self.rng.randint(*PACKING_GRAMS)))
            return
        split = [(ref, qty, sku) for ref, qty, sku in lines if qty > 1]
        if split and self.rng.random() < 0.08:
            ref, _, sku = split[0]
            first = self._parcel([(ref, 1, sku)], last_parcel=False)
            if await self._open(number, when, first) is None:
                return
            lines = [(r, q - 1 if r == ref else q, k) for r, q, k in lines]
            when += timedelta(days=self.rng.uniform(1, 3))
        # Now and then a unit the shopper promised is not in the box, or another one is.
        counts = [(ref, qty - (self.rng.random() < 0.02), sku) for ref, qty, sku in lines]
        wrong = []
        if draw > 0.995 and counts[0][1]:
            ref, qty, sku = counts[0]
            counts[0] = (ref, qty - 1, sku)
            wrong = [WrongItemIn(line_id=ref, found="A different model", quantity=1)]
        if not any(qty for _, qty, _ in counts) and not wrong:
            counts = lines[:1]
        status = await self._open(number, when, self._parcel(counts, wrong=wrong))
        if status is Status.RECEIVED:
            inspected = when + timedelta(days=self.rng.uniform(0.2, 3))
            self._at(inspected, "inspect", lambda: self._inspect(number, inspected))

    async def _inspect(self, number: str, when: datetime) -> None:
        async with transaction(self.sessions) as session:
            ret = await returns.get_return(session, number)
            received = [
                (line.order_line.line_ref, Reason(line.reason), line.order_line.sku)
                for line in ret.lines
                if line.received_quantity
            ]
        checks = []
        for ref, reason, sku in received:
            category = self.products[sku].category
            checks.append(
                (ref, self.inspector.check(category, behaviour.choose_grade(self.rng, reason)))
            )

        async def body(session: AsyncSession) -> None:
            actor = returns.Actor("simulator", when)
            for ref, check in checks:
                await inspection.inspect_line(
                    session,
                    number,
                    ref,
                    actor,
                    answers=check.answers,
                    grade=check.grade,
                    override_reason=check.override_reason,
                    note=None,
                )

        if not await self._run_step("inspect", body):
            return
        refs = [ref for ref, _, _ in received]
        routed = when + timedelta(hours=self.rng.uniform(1, 20))
        if number in self.settled:
            routed = max(routed, self.settled[number] + timedelta(hours=1))
        self._at(routed, "disposition", lambda: self._route(number, routed, refs))

    def _condition(self, reason: Reason) -> Grade:
        return behaviour.choose_grade(self.rng, reason)

    async def _route(self, number: str, when: datetime, refs: list[str]) -> None:
        """Each line goes where the disposition engine recommends."""

        async def body(session: AsyncSession) -> None:
            actor = returns.Actor("simulator", when)
            for ref in refs:
                await dispositions.route_line(session, number, ref, actor, terms=self.terms)

        if await self._run_step("disposition", body):
            done = when + timedelta(minutes=30)
            self._at(
                done,
                "complete",
                lambda: self._step(
                    "complete", number, done, lambda s, a: returns.complete(s, number, a)
                ),
            )

    # Summary -----------------------------------------------------------------------------

    async def _count(self) -> None:
        prefix = self.config.order_prefix
        ours = Order.external_id.startswith(prefix)
        async with transaction(self.sessions) as session:
            self.summary.orders = (
                await session.scalar(select(func.count()).select_from(Order).where(ours)) or 0
            )
            sold = await session.execute(
                select(Product.category, func.sum(OrderLine.quantity))
                .join(OrderLine, OrderLine.product_id == Product.id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(ours)
                .group_by(Product.category)
            )
            returned = await session.execute(
                select(Product.category, func.sum(ReturnLine.quantity))
                .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
                .join(Product, Product.id == OrderLine.product_id)
                .join(Return, Return.id == ReturnLine.return_id)
                .join(Order, Order.id == Return.order_id)
                .where(ours)
                .group_by(Product.category)
            )
            statuses = await session.execute(
                select(Return.status, func.count())
                .join(Order, Order.id == Return.order_id)
                .where(ours)
                .group_by(Return.status)
            )
        stats = {name: CategoryStats() for name in PROFILE}
        for category, units in sold.all():
            stats.setdefault(category, CategoryStats()).units_sold = int(units)
        for category, units in returned.all():
            stats.setdefault(category, CategoryStats()).units_returned = int(units)
        self.summary.by_category = stats
        self.summary.by_status = {status: int(count) for status, count in statuses.all()}
        self.summary.units_sold = sum(s.units_sold for s in stats.values())
        self.summary.units_returned = sum(s.units_returned for s in stats.values())
        self.summary.returns = sum(self.summary.by_status.values())


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the tens of orders a simulated day has."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


async def run_simulation(
    sessions: async_sessionmaker[AsyncSession],
    config: SimulationConfig,
    *,
    on_day: Callable[[date], None] | None = None,
) -> Summary:
    return await Simulation(sessions, config, on_day=on_day).run()
