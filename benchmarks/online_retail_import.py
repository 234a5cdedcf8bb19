"""The Online Retail import: a real merchant's nine months (320,705 rows) into an empty database.

Timed end to end as an operator sees it: read and clean the file, match the cancellations,
write customers, products, orders, lines, payments and completed returns with their refunds
in one transaction, then refresh the dashboards' rollups. A second import of the same file
(which must add nothing) is timed too.

The published file is not in the repository: point ``RECLAIM_ONLINE_RETAIL_FILE`` at it
(plain or gzipped CSV). Without it, or in a quick run, the test slice is imported instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped, sqlite_scratch
from reclaim.analytics.retail_import import ImportReport, import_file
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory

NAME = "online-retail"
FILE_ENV = "RECLAIM_ONLINE_RETAIL_FILE"
SLICE = Path(__file__).parents[1] / "tests" / "data" / "online_retail" / "slice.csv"
FIRST = "online-retail import (file to dashboards)"
AGAIN = "online-retail import again (adds nothing)"


def data_file(options: Options) -> Path:
    named = os.environ.get(FILE_ENV)
    return Path(named) if named and not options.quick else SLICE


async def _time(url: str, path: Path) -> tuple[ImportReport, float, ImportReport, float]:
    engine = create_engine(normalise_database_url(url))
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        first = await import_file(sessions, path)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = await import_file(sessions, path)
        return first, first_seconds, again, time.perf_counter() - started
    finally:
        await engine.dispose()


def _results(
    database: str, path: Path, timed: tuple[ImportReport, float, ImportReport, float]
) -> list[Result]:
    first, seconds, again, again_seconds = timed
    rollups = first.rollups.seconds if first.rollups else 0.0
    return [
        Result(
            FIRST,
            database,
            throughput=f"{first.rows / seconds:,.0f} rows/s",
            rate=first.rows / seconds,
            errors=len(first.problems),
            notes=(
                f"{path.name}: {first.rows:,} rows in {seconds:.1f} s; {first.orders:,} orders, "
                f"{first.lines:,} lines, {first.returns:,} returns; rollups {rollups:.1f} s; "
                "errors = malformed rows skipped"
            ),
        ),
        Result(
            AGAIN,
            database,
            throughput=f"{again.rows / again_seconds:,.0f} rows/s",
            rate=again.rows / again_seconds,
            errors=again.orders + again.returns,
            notes=f"{again_seconds:.1f} s; errors = rows written twice",
        ),
    ]


async def run(options: Options) -> list[Result]:
    path = data_file(options)
    results: list[Result] = []
    async with sqlite_scratch() as url:
        results.extend(_results("sqlite", path, await _time(url, path)))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.extend(_results("postgresql", path, await _time(url, path)))
    except Skipped as why:
        results.extend(skipped(name, "postgresql", str(why)) for name in (FIRST, AGAIN))
    return results
