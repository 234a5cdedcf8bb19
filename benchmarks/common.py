"""What every workload shares: options, results, scratch databases and the Markdown table."""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.seeding import order_in, return_body
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, transaction
from reclaim.kit.clock import utcnow
from reclaim.migrate import upgrade_to_head
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import load
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReturnIn
from reclaim.returns.states import Status

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_ENV = "RECLAIM_BENCH_POSTGRES_URL"


@dataclass(frozen=True)
class Options:
    quick: bool
    postgres_url: str


@dataclass(frozen=True)
class Result:
    benchmark: str
    database: str
    throughput: str = ""
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    notes: str = ""
    # The number behind ``throughput``, for ratios between rows.
    rate: float | None = None


class Skipped(Exception):
    """The workload can't run here (e.g. no PostgreSQL); its row says why instead of failing."""


def skipped(benchmark: str, database: str, why: str) -> Result:
    return Result(benchmark, database, notes=f"skipped: {why}")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (no interpolation to hide outliers)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# Scratch databases ------------------------------------------------------------------------


@asynccontextmanager
async def sqlite_scratch() -> AsyncIterator[str]:
    """A migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await migrate(url)
        yield url


def _plain(url: str) -> str:
    """The libpq form of a URL (psycopg and asyncpg both want it without a ``+driver``)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _admin_execute(server_url: str, statement: str, database: str = "") -> None:
    """Run one statement on the server; ``{}`` in it becomes the quoted ``database`` name."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(statement).format(sql.Identifier(database)) if database else sql.SQL(statement)
    # CREATE/DROP DATABASE can't run inside a transaction, hence autocommit.
    with psycopg.connect(_plain(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(query)


def check_postgres(server_url: str) -> None:
    """Raise :class:`Skipped` with the reason when the server can't be reached."""
    try:
        _admin_execute(server_url, "SELECT 1")
    except Exception as exc:  # any failure to connect means "skip", whatever the driver says
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Skipped(
            f"PostgreSQL at {make_url(server_url).host} unreachable ({first_line})"
        ) from exc


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A uniquely named, empty PostgreSQL database (plain URL), dropped afterwards."""
    check_postgres(server_url)
    name = f"reclaim_bench_{uuid.uuid4().hex[:12]}"
    _admin_execute(server_url, "CREATE DATABASE {}", name)
    try:
        yield make_url(_plain(server_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: a crashed workload may leave connections open; they must not keep the DB alive.
        _admin_execute(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@asynccontextmanager
async def postgres_scratch(server_url: str) -> AsyncIterator[str]:
    """A migrated scratch PostgreSQL database; yields the plain ``postgresql://`` URL."""
    with postgres_database(server_url) as url:
        await migrate(url)
        yield url


async def migrate(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


# Seeding ----------------------------------------------------------------------------------

# Returns per seeding transaction: seeding is setup, not the thing measured.
SEED_BATCH = 25


async def seed_approved_returns(
    sessions: async_sessionmaker[AsyncSession],
    count: int,
    prefix: str,
    *,
    in_transit: bool = False,
) -> list[str]:
    """``count`` one-line orders, each with a return the built-in policy approves on the spot
    (so it has a shipment), written through the services; with ``in_transit`` each is then
    marked in transit too. Returns their numbers.

    Every step writes its real outbox message: ``return.requested``, ``return.approved`` and,
    with ``in_transit``, ``return.in_transit``."""
    policy = load(None)
    numbers: list[str] = []
    for first in range(0, count, SEED_BATCH):
        async with transaction(sessions) as session:
            for index in range(first, min(first + SEED_BATCH, count)):
                order_id = f"{prefix}{index:06d}"
                await upsert_order(session, order_in(order_id, 1))
                data = ReturnIn.model_validate_json(return_body(order_id))
                actor = returns.Actor("benchmark", utcnow())
                ret = await returns.create_return(session, data, actor, policy=policy)
                if ret.status != Status.APPROVED:
                    raise RuntimeError(f"the built-in policy left {ret.number} {ret.status}")
                if in_transit:
                    await returns.mark_in_transit(session, ret.number, actor)
                numbers.append(ret.number)
    return numbers


# Output ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def markdown_table(results: Sequence[Result]) -> str:
    header = "| benchmark | database | throughput | p50 ms | p99 ms | errors | notes |"
    rows = [header, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        errors = "" if r.errors is None else str(r.errors)
        notes = r.notes.replace("|", "\\|")
        cells = [r.benchmark, r.database, r.throughput, _ms(r.p50_ms), _ms(r.p99_ms), errors, notes]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
