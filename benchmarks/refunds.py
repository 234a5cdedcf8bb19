"""Money going back: settlement amounts, returns settled on request, and store-credit spends.

Every step of a return that can make money due settles it by itself, in its own transaction.
To time ``settle_now`` on returns whose money is due, each seeded return is received in full
in a parcel holding an unexpected item: the open receiving flag holds the money, as it does
for a real return, and the setup then clears the holds in SQL (resolving a flag through the
service would settle the return on the spot).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.common import (
    Options,
    Result,
    Skipped,
    percentile,
    postgres_scratch,
    skipped,
    sqlite_scratch,
)
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import InsufficientCredit, ReclaimError
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Customer
from reclaim.orders.schemas import CustomerIn, OrderIn
from reclaim.orders.service import upsert_customer, upsert_order
from reclaim.policy.facts import Ask, Item, OrderFacts
from reclaim.policy.loader import load
from reclaim.policy.pricing import quote
from reclaim.policy.rules import options
from reclaim.refunds import credit, settlement
from reclaim.refunds.rules import LineState, order_total, settle_lines
from reclaim.returns import service as returns
from reclaim.returns.lifecycle import Actor
from reclaim.returns.schemas import ReturnIn
from reclaim.returns.states import SHOPPER_REASONS, Grade, Method, Reason, Resolution, Status
from reclaim.warehouse.receiving import receive_parcel
from reclaim.warehouse.schemas import ParcelIn

NAME = "refunds"
PURE = "settlement amounts (settle_lines over quote, built-in policy, 1-4 lines), pure"
SETTLE = "returns settled on request (settle_now: refund, credit, exchange)"
SPEND = "store-credit spends, 64 concurrent (half of them on one customer)"
CONCURRENCY = 64
SHIPPING = 499
# Inspection grades, mostly resellable; no grade is a line settled before inspection.
GRADES = (None, *Grade)
GRADE_WEIGHTS = (30, 15, 15, 12, 12, 10, 6)
RESOLUTIONS = (Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE)
# Reasons the built-in policy approves on the spot (it reviews unauthorised purchases).
REASONS = tuple(r for r in Reason if r in SHOPPER_REASONS and r is not Reason.UNAUTHORIZED_PURCHASE)
# (sku, name, category, unit price): worth sending back (the built-in policy lets the shopper
# keep items under 40.00) and exchangeable; two units of three lines stay under its review bar.
PRODUCTS = (
    ("BENCH-JACKET", "Rain jacket", "apparel", 6900),
    ("BENCH-KNIT", "Wool jumper", "apparel", 5500),
    ("BENCH-SHOE", "Trail shoe", "shoes", 7900),
    ("BENCH-LAMP", "Desk lamp", "home", 4500),
)

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Size:
    cases: int
    returns: int
    spend_rounds: int


def size(quick: bool) -> Size:
    return Size(2_000, 40, 2) if quick else Size(20_000, 400, 10)


def _ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(second * 1000 for second in seconds)
    return percentile(ordered, 0.5), percentile(ordered, 0.99)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{what} {count}" for what, count in sorted(counter.items()))


# Pure ---------------------------------------------------------------------------------------


def _case(rng: random.Random, now: datetime) -> tuple[OrderFacts, list[Ask], list[LineState]]:
    items, asks, states = [], [], []
    for index in range(rng.randint(1, 4)):
        ref, (sku, name, category, unit) = str(index + 1), rng.choice(PRODUCTS)
        quantity = rng.randint(1, 3)
        listed = unit * quantity
        paid = listed - rng.randrange(0, listed // 5 + 1)
        items.append(Item(ref, sku, name, category, True, quantity, 0, listed, paid, paid // 10))
        ask = Ask(ref, rng.randint(1, quantity), rng.choice(REASONS), rng.choice(RESOLUTIONS))
        grade = rng.choices(GRADES, GRADE_WEIGHTS)[0]
        asks.append(ask)
        states.append(
            LineState(ref, ask.quantity, ask.quantity, grade, ask.reason, ask.resolution, False)
        )
    delivered = now - timedelta(days=rng.randint(1, 25))
    return OrderFacts("USD", delivered, "standard", 0, SHIPPING, tuple(items)), asks, states


def pure(count: int) -> Result:
    policy = load(None).policy
    rng = random.Random(7)
    now = datetime(2026, 12, 10, tzinfo=UTC)
    quoting, settling, lines = [], [], 0
    for _ in range(count):
        facts, asks, states = _case(rng, now)
        units = [(state, rng.randint(1, state.quantity)) for state in states]
        begin = time.perf_counter()
        allowed = options(policy, facts, asks).methods
        made = quote(policy, facts, asks, Method.PREPAID_LABEL, allowed)
        middle = time.perf_counter()
        settle_lines(made, units, policy.refunds)
        quoting.append(middle - begin)
        settling.append(time.perf_counter() - middle)
        lines += len(units)
    rate = count / sum(settling)
    p50, p99 = _ms(settling)
    quote_p50, quote_p99 = _ms(quoting)
    notes = (
        f"{count:,} random returns, {lines:,} lines, random units and grades; settle_lines "
        f"{p50 * 1000:.0f}/{p99 * 1000:.0f} µs p50/p99, the quote it needs (made again at "
        f"every settlement) {quote_p50 * 1000:.0f}/{quote_p99 * 1000:.0f} µs"
    )
    return Result(PURE, "none", f"{rate:,.0f} settlements/s", p50, p99, 0, notes, rate)


# Settling returns ---------------------------------------------------------------------------


def _order(rng: random.Random, order_id: str) -> tuple[OrderIn, list[dict[str, Any]]]:
    """A 1-3 line order paid by card, or by gift card then card, and a return of it all."""
    now = utcnow()
    lines, asked = [], []
    for index, (sku, name, category, unit) in enumerate(rng.sample(PRODUCTS, rng.randint(1, 3))):
        ref, quantity = str(index + 1), rng.randint(1, 3)
        product = {"name": name, "category": category, "price_minor": unit, "weight_grams": 300}
        lines.append(
            {
                "line_id": ref,
                "sku": sku,
                "quantity": quantity,
                "unit_price_minor": unit,
                "tax_minor": unit * quantity // 10,
                "product": product,
            }
        )
        asked.append(
            {
                "line_id": ref,
                "quantity": rng.randint(1, min(quantity, 2)),
                "reason": rng.choice(REASONS).value,
                "resolution": rng.choice(RESOLUTIONS).value,
            }
        )
    paid = [(line["unit_price_minor"], line["quantity"], 0, line["tax_minor"]) for line in lines]
    total = order_total(paid, SHIPPING, 0)
    gift = rng.choice((0, 0, total // 3))
    payments = [{"method": "gift_card", "captured_minor": gift}] if gift else []
    payments.append({"method": "card", "captured_minor": total - gift, "last4": "4242"})
    body = {
        "order_id": order_id,
        "customer": {"id": f"cust-{order_id}", "email": f"{order_id.lower()}@example.com"},
        "currency": "USD",
        "placed_at": (now - timedelta(days=8)).isoformat(),
        "delivered_at": (now - timedelta(days=5)).isoformat(),
        "shipping_minor": SHIPPING,
        "lines": lines,
        "payments": payments,
    }
    return OrderIn.model_validate(body), asked


async def _seed_due(sessions: Sessions, count: int) -> list[str]:
    """``count`` returns received in full, held by a receiving flag, then released."""
    policy = load(None)
    rng = random.Random(11)
    actor = Actor("benchmark", utcnow())
    numbers = []
    for index in range(count):
        async with transaction(sessions) as session:
            order, asked = _order(rng, f"RF-BENCH-{index:06d}")
            await upsert_order(session, order)
            data = {"order_id": order.order_id, "method": "prepaid_label", "lines": asked}
            ret = await returns.create_return(
                session, ReturnIn.model_validate(data), actor, policy=policy
            )
            if ret.status != Status.APPROVED:
                raise RuntimeError(f"the built-in policy left {ret.number} {ret.status}")
            counts = [{"line_id": ask["line_id"], "quantity": ask["quantity"]} for ask in asked]
            unexpected = [{"found": "a gift receipt", "quantity": 1}]
            parcel = ParcelIn.model_validate({"counts": counts, "unexpected": unexpected})
            await receive_parcel(session, ret.number, actor, parcel)
            numbers.append(ret.number)
    async with transaction(sessions) as session:
        await session.execute(
            text("UPDATE receiving_flags SET resolved_at = :now, resolved_by = 'benchmark'"),
            {"now": utcnow()},
        )
        await session.execute(text("UPDATE returns SET attention = NULL, attention_at = NULL"))
    return numbers


async def _settle(url: str, database: str, count: int) -> Result:
    engine = create_engine(normalise_database_url(url))
    try:
        sessions = session_factory(engine)
        numbers = await _seed_due(sessions, count)
        timings: list[float] = []
        made: Counter[str] = Counter()
        refused: Counter[str] = Counter()
        for number in numbers:
            begin = time.perf_counter()
            try:
                async with transaction(sessions) as session:
                    done = await settlement.settle_now(session, number, Actor("agent", utcnow()))
                made.update({field.name: len(getattr(done, field.name)) for field in fields(done)})
            except ReclaimError as exc:  # none expected: each is counted as an error
                refused[type(exc).__name__] += 1
            timings.append(time.perf_counter() - begin)
    finally:
        await engine.dispose()
    rate = len(numbers) / sum(timings)
    p50, p99 = _ms(timings)
    notes = (
        f"{len(numbers)} returns of 1-3 lines (refund, credit, exchange at random), one at a "
        f"time, p50/p99 per settlement; written: {_counts(made)}"
    )
    if refused:
        notes += f"; refused: {_counts(refused)}"
    errors = sum(refused.values())
    return Result(SETTLE, database, f"{rate:,.1f} settlements/s", p50, p99, errors, notes, rate)


# Spending store credit ----------------------------------------------------------------------


async def _customers(sessions: Sessions, balances: list[int]) -> list[int]:
    actor = Actor("benchmark", utcnow())
    ids = []
    async with transaction(sessions) as session:
        for index, balance in enumerate(balances):
            who = CustomerIn(id=f"spender-{index}", email=f"spender{index}@example.com")
            customer = await upsert_customer(session, who)
            await credit.issue(
                session,
                customer_id=customer.id,
                currency="USD",
                principal_minor=balance,
                bonus_minor=0,
                ret=None,
                actor=actor,
                expires_after_days=None,
            )
            ids.append(customer.id)
    return ids


async def _spend(url: str, database: str, rounds: int) -> Result:
    rng = random.Random(13)
    half = CONCURRENCY // 2
    # Each round: one spend for each of ``half`` customers, and ``half`` on one hot customer.
    plan = [[rng.randrange(500, 3_000) for _ in range(CONCURRENCY)] for _ in range(rounds)]
    issued = [sum(amounts[slot] for amounts in plan) for slot in range(half)]
    # The hot customer holds three quarters of what is asked of them: the rest is refused.
    issued.append(sum(sum(amounts[half:]) for amounts in plan) * 3 // 4)
    engine = create_engine(normalise_database_url(url), pool_size=half)
    try:
        sessions = session_factory(engine)
        ids = await _customers(sessions, issued)
        owners = [*ids[:half], *[ids[half]] * half]
        timings: list[float] = []
        spent: Counter[int] = Counter()
        outcomes: Counter[str] = Counter()

        async def one(customer_id: int, amount: int, reference: str) -> None:
            begin = time.perf_counter()
            try:
                async with transaction(sessions) as session:
                    customer = await session.get_one(Customer, customer_id)
                    await credit.spend(
                        session,
                        customer=customer,
                        amount_minor=amount,
                        currency="USD",
                        reference=reference,
                        actor=Actor("checkout", utcnow()),
                    )
                spent[customer_id] += amount
            except Exception as exc:  # anything but InsufficientCredit would be a bug: shown
                outcomes[type(exc).__name__] += 1
            timings.append(time.perf_counter() - begin)

        started = time.perf_counter()
        for turn, amounts in enumerate(plan):
            spends = enumerate(zip(owners, amounts, strict=True))
            await asyncio.gather(
                *(one(who, amount, f"order-{turn}-{slot}") for slot, (who, amount) in spends)
            )
        seconds = time.perf_counter() - started
        async with transaction(sessions) as session:
            left = [(await credit.balances(session, who)).get("USD", 0) for who in ids]
    finally:
        await engine.dispose()
    rate = len(timings) / seconds
    p50, p99 = _ms(timings)
    refused = outcomes.pop(InsufficientCredit.__name__, 0)
    off = sum(1 for who, had, now in zip(ids, issued, left, strict=True) if had - spent[who] != now)
    notes = (
        f"{rounds} rounds of {CONCURRENCY} spends, each in its own transaction; the hot "
        f"customer holds 3/4 of what is asked of them, so errors = InsufficientCredit refusals "
        f"(expected); balances that don't match the spends: {off} of {len(ids)}"
    )
    if outcomes:
        notes += f"; FAILED: {_counts(outcomes)}"
    return Result(SPEND, database, f"{rate:,.0f} spends/s", p50, p99, refused, notes, rate)


async def run(options: Options) -> list[Result]:
    chosen = size(options.quick)
    results = [pure(chosen.cases)]
    async with sqlite_scratch() as url:
        results.append(await _settle(url, "SQLite", chosen.returns))
        results.append(await _spend(url, "SQLite", chosen.spend_rounds))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.append(await _settle(url, "PostgreSQL", chosen.returns))
            results.append(await _spend(url, "PostgreSQL", chosen.spend_rounds))
    except Skipped as why:
        results += [skipped(name, "PostgreSQL", str(why)) for name in (SETTLE, SPEND)]
    return results
