"""How fast the policy decides: every portal page and every new return runs ``decide``."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from benchmarks.common import Options, Result
from reclaim.policy.facts import Ask, Item, OrderFacts
from reclaim.policy.loader import load
from reclaim.policy.rules import decide
from reclaim.returns.states import SHOPPER_METHODS, Reason, Resolution

NAME = "policy"
BENCHMARK = "policy decision (built-in policy, 1-4 lines), pure"
CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "toys")


def _cases(count: int, now: datetime) -> list[tuple[OrderFacts, list[Ask]]]:
    rng = random.Random(7)
    cases = []
    for _ in range(count):
        items = []
        for index in range(rng.randint(1, 4)):
            quantity = rng.randint(1, 3)
            price = rng.randrange(500, 60_000) * quantity
            items.append(
                Item(
                    f"{index + 1}",
                    f"SKU-{rng.randrange(500)}",
                    "Item",
                    rng.choice(CATEGORIES),
                    True,
                    quantity,
                    0,
                    price,
                    price - rng.randrange(0, price // 5 + 1),
                    price // 10,
                    rng.randrange(100, 3000),
                )
            )
        order = OrderFacts(
            "USD",
            now - timedelta(days=rng.randint(1, 40)),
            rng.choice(("standard", "gold")),
            rng.randint(0, 8),
            499,
            tuple(items),
        )
        asks = [
            Ask(
                item.line_ref,
                rng.randint(1, item.quantity),
                rng.choice(list(Reason)),
                rng.choice([Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE]),
                rng.random() < 0.3,
            )
            for item in items
        ]
        cases.append((order, asks))
    return cases


async def run(options: Options) -> list[Result]:
    policy = load(None).policy
    now = datetime(2026, 12, 10, tzinfo=UTC)
    cases = _cases(2_000 if options.quick else 20_000, now)
    methods = sorted(SHOPPER_METHODS)
    timings = []
    started = time.perf_counter()
    for index, (order, asks) in enumerate(cases):
        begin = time.perf_counter()
        decide(policy, order, asks, methods[index % len(methods)], now)
        timings.append((time.perf_counter() - begin) * 1000)
    seconds = time.perf_counter() - started
    quantiles = statistics.quantiles(timings, n=100)
    rate = len(cases) / seconds
    return [
        Result(
            benchmark=BENCHMARK,
            database="none",
            throughput=f"{rate:,.0f} decisions/s",
            p50_ms=round(quantiles[49], 3),
            p99_ms=round(quantiles[98], 3),
            errors=0,
            notes=f"{len(cases):,} random requests",
            rate=rate,
        )
    ]
