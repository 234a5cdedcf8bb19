"""How fast the warehouse decides: the disposition engine runs for every graded line shown at
the station, and the batch planner routes a whole day's units under capacity limits."""

from __future__ import annotations

import random
import statistics
import time

from benchmarks.common import Options, Result
from reclaim.kit.money import Money
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.batch import plan_batch
from reclaim.warehouse.disposition_rules import Unit, recommend
from reclaim.warehouse.recovery import load_recovery

NAME = "warehouse"
ENGINE = "disposition engine (built-in terms, 8 channels), pure"
BATCH = "batch disposition plan (HiGHS MILP vs per-unit rule), pure"
CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "toys")
# Grades as inspections produce them: mostly resellable, a tail of damaged units.
GRADE_WEIGHTS = (30, 25, 15, 12, 10, 8)


def _units(count: int, seed: int) -> list[Unit]:
    rng = random.Random(seed)
    return [
        Unit(
            key=str(index),
            sku=f"SKU-{rng.randrange(500)}",
            category=rng.choice(CATEGORIES),
            currency="USD",
            price_minor=(price := rng.randrange(800, 45_000)),
            cost_minor=int(price * rng.uniform(0.3, 0.6)),
            weight_grams=rng.randrange(80, 6_000),
            grade=rng.choices(list(Grade), GRADE_WEIGHTS)[0],
            quantity=rng.choices((1, 2, 3), (80, 15, 5))[0],
        )
        for index in range(count)
    ]


def _engine(options: Options) -> Result:
    terms = load_recovery()
    units = _units(5_000 if options.quick else 50_000, seed=11)
    timings = []
    started = time.perf_counter()
    for unit in units:
        begin = time.perf_counter()
        recommend(unit, terms)
        timings.append((time.perf_counter() - begin) * 1000)
    seconds = time.perf_counter() - started
    quantiles = statistics.quantiles(timings, n=100)
    rate = len(units) / seconds
    return Result(
        benchmark=ENGINE,
        database="none",
        throughput=f"{rate:,.0f} recommendations/s",
        p50_ms=round(quantiles[49], 3),
        p99_ms=round(quantiles[98], 3),
        errors=0,
        notes=f"{len(units):,} random units",
        rate=rate,
    )


def _batch(options: Options) -> Result:
    terms = load_recovery()
    size = 300 if options.quick else 2_000
    rounds = 3 if options.quick else 5
    timings, gains = [], []
    for seed in range(rounds):
        units = _units(size, seed=100 + seed)
        # Tight enough that the scarce slots matter: about a third of what would want them.
        capacity = {Disposition.OPEN_BOX: size // 12, Disposition.REFURBISH: size // 40}
        begin = time.perf_counter()
        plan = plan_batch(units, capacity, terms)
        timings.append((time.perf_counter() - begin) * 1000)
        gains.append(plan.total_net_minor - plan.baseline_net_minor)
    timings.sort()
    median = statistics.median(timings)
    gain = Money(int(statistics.mean(gains)), "USD").format()
    return Result(
        benchmark=BATCH,
        database="none",
        throughput=f"{size * 1000 / median:,.0f} units/s",
        p50_ms=round(median, 1),
        p99_ms=round(timings[-1], 1),
        errors=0,
        notes=f"{rounds} plans of {size:,} units (p50: median plan, p99: slowest), open box "
        f"and refurbish limited; mean gain over the per-unit rule {gain}",
        rate=size * 1000 / median,
    )


async def run(options: Options) -> list[Result]:
    return [_engine(options), _batch(options)]
