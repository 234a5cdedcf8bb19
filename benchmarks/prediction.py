"""The return-risk model: the backtest on a transaction file, training from the database, and
scoring an order and a checkout cart (what the API and the console pay per request).

The backtest and the database use the published file when ``RECLAIM_ONLINE_RETAIL_FILE``
names it (and the run isn't quick), the test slice otherwise.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import (
    Options,
    Result,
    Skipped,
    percentile,
    postgres_scratch,
    skipped,
    sqlite_scratch,
)
from benchmarks.online_retail_import import data_file
from reclaim.analytics.online_retail import read_transactions
from reclaim.analytics.retail_import import import_file
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.prediction import backtest, dataset, service

NAME = "prediction"
BACKTEST = "return-risk backtest (read, features, train, baselines, score)"
TRAIN = "return-risk training from the database"
ORDER = "return-risk score of an order"
CART = "return-risk score of a 20-line cart"
# The cut the README reports, and the end of the file's labels.
TRAIN_UNTIL, TEST_FROM, TEST_UNTIL = date(2011, 6, 1), date(2011, 6, 1), date(2011, 8, 1)
LIVE_UNTIL = datetime(2011, 9, 1, tzinfo=UTC)
CART_LINES = 20


def _backtest(path: Path) -> Result:
    started = time.perf_counter()
    history = dataset.from_transactions(read_transactions(path))
    result = backtest.run(history, TRAIN_UNTIL, TEST_FROM, TEST_UNTIL)
    seconds = time.perf_counter() - started
    line = result.score("line", "lightgbm")
    order = result.score("order", "lightgbm")

    def shown(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    return Result(
        BACKTEST,
        "none (file)",
        throughput=f"{history.lines.height / seconds:,.0f} lines/s",
        rate=history.lines.height / seconds,
        notes=(
            f"{path.name}: {seconds:.1f} s for {history.lines.height:,} lines; "
            f"line ROC-AUC {shown(line.roc_auc)} PR-AUC {shown(line.pr_auc)}, order ROC-AUC "
            f"{shown(order.roc_auc)} PR-AUC {shown(order.pr_auc)}; beats both baselines: "
            f"{'yes' if result.beats_baselines() else 'no'}"
        ),
    )


async def _live(url: str, path: Path, database: str, rounds: int) -> list[Result]:
    engine = create_engine(normalise_database_url(url))
    sessions = session_factory(engine)
    try:
        await import_file(sessions, path)
        started = time.perf_counter()
        record = await service.train(sessions, LIVE_UNTIL)
        train_seconds = time.perf_counter() - started
        async with transaction(sessions) as session:
            orders = list(await session.scalars(select(Order.external_id)))
            skus = list(await session.scalars(select(OrderLine.sku).distinct()))
            customers = [
                c
                for c in await session.scalars(select(Customer.external_id).limit(200))
                if c is not None
            ]
        rng = random.Random(7)
        order_ms, cart_ms = [], []
        for _ in range(rounds):
            async with transaction(sessions) as session:
                started = time.perf_counter()
                await service.score_order(session, rng.choice(orders))
                order_ms.append((time.perf_counter() - started) * 1000)
            lines = [
                service.CartLine(rng.choice(skus), rng.randint(1, 24), rng.randint(50, 2000))
                for _ in range(CART_LINES)
            ]
            # Half the carts from a known customer, half from a new one.
            who = rng.choice(customers) if customers and rng.random() < 0.5 else None
            cart = service.Cart("GBP", lines, customer=who)
            async with transaction(sessions) as session:
                started = time.perf_counter()
                await service.score_cart(session, cart, LIVE_UNTIL)
                cart_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()

    def timed(name: str, samples: list[float]) -> Result:
        ordered = sorted(samples)
        return Result(
            name,
            database,
            throughput=f"{1000 / statistics.fmean(samples):,.1f} /s",
            rate=1000 / statistics.fmean(samples),
            p50_ms=percentile(ordered, 0.5),
            p99_ms=percentile(ordered, 0.99),
            errors=0,
            notes=f"{len(samples)} requests, one at a time, model v{record.version}",
        )

    return [
        Result(
            TRAIN,
            database,
            throughput=f"{record.rows / train_seconds:,.0f} lines/s",
            rate=record.rows / train_seconds,
            notes=f"{record.rows:,} lines in {train_seconds:.1f} s ({path.name})",
        ),
        timed(ORDER, order_ms),
        timed(CART, cart_ms),
    ]


async def run(options: Options) -> list[Result]:
    path = data_file(options)
    rounds = 20 if options.quick else 200
    results = [_backtest(path)]
    async with sqlite_scratch() as url:
        results.extend(await _live(url, path, "sqlite", rounds))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.extend(await _live(url, path, "postgresql", rounds))
    except Skipped as why:
        results.extend(skipped(name, "postgresql", str(why)) for name in (TRAIN, ORDER, CART))
    return results
