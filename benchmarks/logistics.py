"""Logistics: rendering return labels, and recording carrier scans.

Labels are rendered on demand (the first download of each return's label), so their cost is
paid inside a request. Scans arrive in batches from carriers (the tracking API, a CSV import);
each batch of 100 is one transaction through ``record_scans``, the path both of those take.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from benchmarks.common import (
    Options,
    Result,
    Skipped,
    percentile,
    postgres_scratch,
    seed_approved_returns,
    skipped,
    sqlite_scratch,
)
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics.carriers import Scan, new_tracking_number
from reclaim.logistics.labels import Address, Item, Label, render_dropoff_qr, render_label
from reclaim.logistics.models import Shipment
from reclaim.logistics.tracking import Code
from reclaim.logistics.tracking_service import Outcome, record_scans

NAME = "logistics"
LABEL = "return label PDF (4x6 in label + packing slip), pure"
QR = "drop-off QR code PNG, pure"
SCANS = "tracking scans recorded (batches of 100, one transaction each)"
BATCH = 100
DUPLICATES = 0.10
# Every parcel's journey, in order; the first is the scan that puts its return in transit.
JOURNEY = (Code.ACCEPTED, Code.IN_TRANSIT, Code.OUT_FOR_DELIVERY, Code.DELIVERED)
REASONS = ("too small", "too large", "changed my mind", "damaged", "not as described")
HUBS = ("Leeds hub", "Bristol depot", "Glasgow sort centre", "Cardiff hub")


@dataclass(frozen=True)
class Size:
    labels: int
    qr_codes: int
    shipments: int


def size(quick: bool) -> Size:
    return Size(30, 200, 60) if quick else Size(500, 2000, 600)


# Rendering ----------------------------------------------------------------------------------


def labels(count: int) -> list[Label]:
    """Varied labels: one to four items, some pickups, some long names that must shrink."""
    rng = random.Random(7)
    made = []
    for index in range(count):
        items = tuple(
            Item(
                f"SKU-{rng.randrange(10_000):05d}",
                rng.choice(("Tee", "Merino wool crew-neck jumper", "Trail running shoe")),
                rng.randint(1, 3),
                rng.choice(REASONS),
            )
            for _ in range(rng.randint(1, 4))
        )
        name = rng.choice(("Ann Example", "Zoë Łukasiewicz-Øberg", "Dr. Maximilian Featherstone"))
        made.append(
            Label(
                return_number=f"R-{index:04d}-{rng.randrange(10_000):04d}",
                order_number=f"BENCH-{index:06d}",
                carrier="local",
                tracking_number=new_tracking_number(),
                sender=Address(name, ("12 Orchard Lane, Flat 3", "Bristol BS1 4DJ", "UK")),
                recipient=Address(
                    "Reclaim demo store returns", ("Unit 7, Riverside Park", "Leeds LS10 1AB")
                ),
                items=items,
                merchant="Reclaim demo store",
                pickup="Tue 4 Mar, 09:00-13:00" if index % 3 == 0 else None,
                send_by="Friday 14 March 2025",
            )
        )
    return made


def _timed(benchmark: str, unit: str, calls: list[float], notes: str) -> Result:
    seconds = sum(calls)
    timings = sorted(call * 1000 for call in calls)
    rate = len(calls) / seconds
    return Result(
        benchmark=benchmark,
        database="none",
        throughput=f"{rate:,.1f} {unit}/s",
        p50_ms=percentile(timings, 0.5),
        p99_ms=percentile(timings, 0.99),
        errors=0,
        notes=notes,
        rate=rate,
    )


def render_labels(count: int) -> Result:
    made = labels(count)
    render_label(made[0])  # fonts and barcode tables load once, at the first render
    calls, sizes = [], []
    for label in made:
        started = time.perf_counter()
        pdf = render_label(label)
        calls.append(time.perf_counter() - started)
        sizes.append(len(pdf))
    notes = f"{count} labels, 1-4 items each, PDF {sum(sizes) / len(sizes) / 1024:.1f} KiB avg"
    return _timed(LABEL, "PDFs", calls, notes)


def render_qr_codes(count: int) -> Result:
    numbers = [new_tracking_number() for _ in range(count)]
    render_dropoff_qr(numbers[0])
    calls = []
    for number in numbers:
        started = time.perf_counter()
        render_dropoff_qr(number)
        calls.append(time.perf_counter() - started)
    return _timed(QR, "PNGs", calls, f"{count} tracking numbers")


# Tracking ----------------------------------------------------------------------------------


def scans(tracking_numbers: list[str], start: datetime) -> tuple[list[Scan], int]:
    """Every parcel's journey, interleaved by time, with ~10% of scans reported again later.

    Parcels set off at random over a window as long as a journey, so each batch mixes first
    scans (which move a return to in transit) with progress scans and arrivals. Half the
    parcels' scans carry a carrier event id, half are told apart by their content. Returns
    the scans and how many of them are repeats."""
    rng = random.Random(7)
    hour = timedelta(hours=1)
    timed: list[tuple[datetime, Scan]] = []
    for index, number in enumerate(tracking_numbers):
        set_off = start + rng.uniform(0, len(JOURNEY)) * hour
        for step, code in enumerate(JOURNEY):
            at = (set_off + step * hour).replace(microsecond=0)
            scan = Scan(
                tracking_number=number,
                code=code.value,
                occurred_at=at,
                event_id=f"ev-{index}-{step}" if index % 2 else None,
                location=rng.choice(HUBS),
                facility_code="WH-LEEDS" if code is Code.DELIVERED else None,
            )
            timed.append((at, scan))
    timed.sort(key=lambda pair: pair[0])
    ordered = [scan for _, scan in timed]
    repeats = round(len(ordered) * DUPLICATES / (1 - DUPLICATES))
    for original in sorted(rng.sample(range(len(ordered)), repeats), reverse=True):
        # Reported again a little later: a carrier's retry, or an overlapping CSV export.
        later = rng.randint(original + 1, min(len(ordered), original + 3 * BATCH))
        ordered.insert(later, ordered[original])
    return ordered, repeats


async def _record(url: str, count: int) -> tuple[list[float], Counter[str], int, int]:
    """Per-batch seconds, outcomes, scans sent and repeats among them."""
    engine = create_engine(normalise_database_url(url))
    try:
        sessions = session_factory(engine)
        await seed_approved_returns(sessions, count, "T-")
        async with transaction(sessions) as session:
            numbers = sorted(await session.scalars(select(Shipment.tracking_number)))
        stream, repeats = scans(numbers, utcnow() - timedelta(days=1))
        timings: list[float] = []
        outcomes: Counter[str] = Counter()
        for first in range(0, len(stream), BATCH):
            started = time.perf_counter()
            async with transaction(sessions) as session:
                results = await record_scans(
                    session, stream[first : first + BATCH], "benchmark", utcnow()
                )
            timings.append(time.perf_counter() - started)
            outcomes.update(result.outcome.value for result in results)
        return timings, outcomes, len(stream), repeats
    finally:
        await engine.dispose()


def _scans_result(
    database: str, shipments: int, run: tuple[list[float], Counter[str], int, int]
) -> Result:
    timings, outcomes, sent, repeats = run
    seconds = max(sum(timings), 1e-9)
    rate = sent / seconds
    # Anything but a stored new scan or a recognised repeat is wrong here.
    expected = {Outcome.STORED.value: sent - repeats, Outcome.DUPLICATE.value: repeats}
    wrong = sum(abs(outcomes.get(outcome, 0) - count) for outcome, count in expected.items()) + sum(
        count for outcome, count in outcomes.items() if outcome not in expected
    )
    said = ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items()))
    notes = (
        f"{shipments} shipments x {len(JOURNEY)} scans + {repeats} repeats = {sent} scans in "
        f"{len(timings)} batches, one stream; p50/p99 per batch; outcomes: {said}"
    )
    return Result(
        benchmark=SCANS,
        database=database,
        throughput=f"{rate:,.0f} scans/s",
        p50_ms=percentile(sorted(timings), 0.5) * 1000,
        p99_ms=percentile(sorted(timings), 0.99) * 1000,
        errors=wrong,
        notes=notes,
        rate=rate,
    )


async def run(options: Options) -> list[Result]:
    chosen = size(options.quick)
    results = [render_labels(chosen.labels), render_qr_codes(chosen.qr_codes)]
    async with sqlite_scratch() as url:
        results.append(
            _scans_result("SQLite", chosen.shipments, await _record(url, chosen.shipments))
        )
    try:
        async with postgres_scratch(options.postgres_url) as url:
            recorded = await _record(url, chosen.shipments)
            results.append(_scans_result("PostgreSQL", chosen.shipments, recorded))
    except Skipped as why:
        results.append(skipped(SCANS, "PostgreSQL", str(why)))
    return results
