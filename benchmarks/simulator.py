"""Simulator throughput: a merchant's season driven through every stage of the lifecycle.

The simulator runs one transaction at a time through the real services, so this measures the
per-transaction cost of the service layer plus the database's commit latency.
"""

from __future__ import annotations

import time
from datetime import date

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped, sqlite_scratch
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory
from reclaim.simulation.runner import SimulationConfig, Summary, run_simulation

NAME = "simulator"
# Fixed seed and start: every run simulates the same orders and returns, so runs compare.
SEED = 7
START = date(2025, 3, 3)


def _config(quick: bool) -> SimulationConfig:
    if quick:
        # Still 30 days: a return takes two to three simulated weeks to complete, so a shorter
        # season would measure orders and half-finished returns only.
        return SimulationConfig(days=30, orders_per_day=5, seed=SEED, start=START)
    return SimulationConfig(days=30, orders_per_day=20, seed=SEED, start=START)


async def _simulate(url: str, config: SimulationConfig) -> tuple[Summary, float]:
    """The summary and the CPU seconds this process spent (Python and the SQLite driver)."""
    engine = create_engine(normalise_database_url(url))
    try:
        cpu = time.process_time()
        summary = await run_simulation(session_factory(engine), config)
        return summary, time.process_time() - cpu
    finally:
        await engine.dispose()


def _result(database: str, config: SimulationConfig, run: tuple[Summary, float]) -> Result:
    summary, cpu = run
    seconds = max(summary.seconds, 1e-9)
    returns_per_s = summary.completed / seconds
    refused = sum(summary.refused.values())
    notes = (
        f"{config.days} d x {config.orders_per_day} orders/d, seed {config.seed}: "
        f"{summary.orders} orders, {summary.returns} returns, {summary.completed} completed, "
        f"{summary.steps} transactions in {summary.seconds:.1f} s = "
        f"{summary.steps / seconds:.0f} tx/s, {cpu * 1000 / max(summary.steps, 1):.1f} ms of "
        f"our CPU per tx; {refused} steps refused by the rules"
    )
    return Result(
        benchmark="simulator: returns completed through every stage",
        database=database,
        throughput=f"{returns_per_s:.1f} returns/s ({summary.steps / seconds:.0f} tx/s)",
        errors=0,
        notes=notes,
        rate=returns_per_s,
    )


async def run(options: Options) -> list[Result]:
    config = _config(options.quick)
    results: list[Result] = []
    async with sqlite_scratch() as url:
        results.append(_result("SQLite", config, await _simulate(url, config)))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.append(_result("PostgreSQL", config, await _simulate(url, config)))
    except Skipped as why:
        results.append(
            skipped("simulator: returns completed through every stage", "PostgreSQL", str(why))
        )
    return results
