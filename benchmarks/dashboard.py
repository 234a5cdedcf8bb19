"""The console's analytics dashboard over a real merchant's history, as an analyst opens it.

The Online Retail file is imported first (the test slice in a quick run or without
``RECLAIM_ONLINE_RETAIL_FILE``; see benchmarks/online_retail_import.py), then the app runs under
uvicorn in a subprocess and one signed-in browser asks, one request at a time, for the
dashboard over the whole history and over its last 90 days, and for the returns as CSV.

Each dashboard row notes where its time goes, measured in-process over the same database: the
KPIs (this period's and the previous one's, series and breakdowns, all from the rollups), the
findings and product rates, and the inbound forecast.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped, sqlite_scratch
from benchmarks.http_returns import server
from benchmarks.online_retail_import import data_file
from reclaim.analytics import findings_service, overview, service
from reclaim.analytics.filters import Filters
from reclaim.analytics.models import ReturnDay
from reclaim.analytics.retail_import import import_file
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.prediction import forecast_service
from reclaim.users import staff
from reclaim.users.models import StaffUser
from reclaim.web.console.auth import COOKIE

NAME = "dashboard"
WHOLE = "analytics dashboard, whole history (HTTP)"
RECENT = "analytics dashboard, last 90 days (HTTP)"
EXPORT = "returns CSV export, whole history (HTTP)"
TERMS = staff.SessionTerms(idle=timedelta(hours=1), lifetime=timedelta(hours=1))


async def _prepare(url: str, options: Options) -> tuple[str, date, date, int]:
    """The history imported, and an analyst's session: its cookie, the history's first and
    last days, and how many rows of returns per day and slice the rollups hold."""
    engine = create_engine(normalise_database_url(url))
    sessions = session_factory(engine)
    try:
        await import_file(sessions, data_file(options))
        async with transaction(sessions) as session:
            first, last, rows = (
                await session.execute(
                    select(func.min(ReturnDay.day), func.max(ReturnDay.day), func.count())
                )
            ).one()
            user = StaffUser(
                email="bench@staff.test",
                name="Bench Analyst",
                role="analyst",
                password_hash="never used: the session is opened directly",
            )
            session.add(user)
            await session.flush()
            opened = await staff.open_session(session, user, utcnow(), TERMS)
        return opened.token, first, last, rows
    finally:
        await engine.dispose()


async def _timed(body: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await body()
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


async def _split(url: str, filters: Filters) -> str:
    """Where a dashboard's time goes, each part timed once in-process."""
    engine = create_engine(normalise_database_url(url))
    sessions = session_factory(engine)
    parts: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "KPIs": lambda s: _kpis(s, filters),
        "findings and products": lambda s: _findings(s, filters),
        "forecast": lambda s: forecast_service.forecast_inbound(
            s, filters.until + timedelta(days=1), 28
        ),
    }
    spent = []
    try:
        for name, part in parts.items():
            async with transaction(sessions) as session:
                started = time.perf_counter()
                await part(session)
                spent.append(f"{name} {(time.perf_counter() - started) * 1000:,.0f} ms")
    finally:
        await engine.dispose()
    return ", ".join(spent)


async def _findings(session: Any, filters: Filters) -> None:
    # As the page does: the period's counts read once for both.
    read = await findings_service.evidence(session, filters)
    await findings_service.findings(session, filters, read)
    await findings_service.product_rates(session, filters, limit=15, read=read)


async def _kpis(session: Any, filters: Filters) -> None:
    await service.report(session, filters)
    await service.report(session, filters.previous())
    await service.series(session, filters, ["return_rate"], "week")
    await overview.volumes(session, filters, "week")
    await service.breakdown(session, filters, "category", limit=12)
    await service.breakdown(session, filters, "facility")
    await overview.choices(session)


async def _measure(url: str, database: str, options: Options) -> list[Result]:
    token, first, last, rows = await _prepare(url, options)
    whole = Filters.parse(since=first, until=last)
    recent = Filters.parse(since=last - timedelta(days=89), until=last)
    runs = 3 if options.quick else 10
    timings: dict[str, list[float]] = {}
    with server(normalise_database_url(url), 5) as (base, _):
        async with httpx.AsyncClient(
            base_url=base, cookies={COOKIE: token}, timeout=120
        ) as browser:

            def page(filters: Filters, path: str = "/console/analytics") -> Callable[[], Any]:
                query = {"since": filters.since.isoformat(), "until": filters.until.isoformat()}

                async def get() -> None:
                    response = await browser.get(path, params=query)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code}")
                    timings.setdefault(f"{path}:size", []).append(len(response.content))

                return get

            await page(whole)()  # the first request warms the app's caches up: not measured
            timings[WHOLE] = await _timed(page(whole), runs)
            timings[RECENT] = await _timed(page(recent), runs)
            timings[EXPORT] = await _timed(
                page(whole, "/console/analytics/export/returns.csv"), max(2, runs // 3)
            )
    p50 = statistics.median
    export_ms = p50(timings[EXPORT])
    export_bytes = timings["/console/analytics/export/returns.csv:size"][-1]
    return [
        Result(
            WHOLE,
            database,
            p50_ms=round(p50(timings[WHOLE]), 1),
            p99_ms=round(timings[WHOLE][-1], 1),
            notes=f"{whole.days} days; in-process: {await _split(url, whole)}",
        ),
        Result(
            RECENT,
            database,
            p50_ms=round(p50(timings[RECENT]), 1),
            p99_ms=round(timings[RECENT][-1], 1),
            notes=f"in-process: {await _split(url, recent)}",
        ),
        Result(
            EXPORT,
            database,
            throughput=f"{export_bytes / export_ms / 1000:,.1f} MB/s",
            rate=export_bytes / export_ms / 1000,
            p50_ms=round(export_ms, 1),
            notes=f"{export_bytes / 1e6:,.1f} MB of CSV; the page reads {rows:,} rollup rows",
        ),
    ]


async def run(options: Options) -> list[Result]:
    results: list[Result] = []
    async with sqlite_scratch() as url:
        results.extend(await _measure(url, "sqlite", options))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.extend(await _measure(url, "postgresql", options))
    except Skipped as why:
        results.extend(skipped(name, "postgresql", str(why)) for name in (WHOLE, RECENT, EXPORT))
    return results
