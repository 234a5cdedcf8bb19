"""Orders and an API key for the return-creation workloads, written through the real services.

Both the HTTP and the raw-driver workloads seed the same orders, so they do the same work.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from datetime import timedelta

from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.users.apikeys import IssuedKey, create_api_key

ORDER_PREFIX = "BENCH-"
LINE_REF = "1"
# Orders are written by a few concurrent tasks, each committing batches: seeding is setup, not
# the thing measured, and 2000 one-order transactions in a row would take longer than the test.
SEED_TASKS = 4
SEED_BATCH = 50


@dataclass(frozen=True)
class Workload:
    """``requests`` return creations spread round-robin over ``orders`` seeded orders."""

    orders: int
    requests: int
    concurrency: int
    seconds: float

    @property
    def units_per_line(self) -> int:
        # Enough units that every request, warm-up included, finds one left to return.
        return math.ceil((self.requests + self.concurrency) / self.orders) + 1

    def order_id(self, index: int) -> str:
        return f"{ORDER_PREFIX}{index % self.orders:06d}"


def workload(quick: bool) -> Workload:
    """The HTTP and raw workloads share one shape, so their rows compare."""
    if quick:
        return Workload(orders=300, requests=300, concurrency=64, seconds=20)
    return Workload(orders=2000, requests=2000, concurrency=64, seconds=60)


def order_in(order_id: str, units: int) -> OrderIn:
    now = utcnow()
    return OrderIn.model_validate(
        {
            "order_id": order_id,
            "customer": {"id": f"cust-{order_id}", "email": f"{order_id.lower()}@example.com"},
            "currency": "USD",
            "placed_at": (now - timedelta(days=6)).isoformat(),
            "delivered_at": (now - timedelta(days=3)).isoformat(),
            "lines": [
                {
                    "line_id": LINE_REF,
                    "sku": "BENCH-TEE-M",
                    "quantity": units,
                    "unit_price_minor": 2500,
                    "product": {"name": "Tee (M)", "category": "apparel", "weight_grams": 200},
                }
            ],
        }
    )


def return_body(order_id: str) -> bytes:
    """One unit of the order's line back, as a shopper's integration would send it."""
    body = {
        "order_id": order_id,
        "method": "prepaid_label",
        "lines": [
            {"line_id": LINE_REF, "quantity": 1, "reason": "too_small", "resolution": "refund"}
        ],
    }
    return json.dumps(body).encode()


async def seed(url: str, workload: Workload) -> IssuedKey:
    """Seed the orders and return a fresh API key with every scope."""
    engine = create_engine(normalise_database_url(url), pool_size=SEED_TASKS)
    sessions = session_factory(engine)
    try:
        # The product row is shared by every order: create it once so the tasks don't race.
        async with transaction(sessions) as session:
            await upsert_order(session, order_in(workload.order_id(0), workload.units_per_line))
            key = await create_api_key(session, "benchmark", [])

        async def seed_range(start: int) -> None:
            for first in range(start, workload.orders, SEED_TASKS * SEED_BATCH):
                last = min(first + SEED_BATCH, workload.orders)
                async with transaction(sessions) as session:
                    for index in range(max(first, 1), last):
                        data = order_in(workload.order_id(index), workload.units_per_line)
                        await upsert_order(session, data)

        starts = range(0, SEED_TASKS * SEED_BATCH, SEED_BATCH)
        await asyncio.gather(*(seed_range(start) for start in starts))
        return key
    finally:
        await engine.dispose()
