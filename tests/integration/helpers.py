"""Reading the database back the plain way, so assertions don't trust the code under test."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from reclaim.cli.app import app
from reclaim.db import transaction


async def scalar(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with transaction(sessions) as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def rows(
    sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any
) -> list[tuple[Any, ...]]:
    async with transaction(sessions) as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


async def count(sessions: async_sessionmaker[AsyncSession], table: str) -> int:
    return int(await scalar(sessions, f"SELECT count(*) FROM {table}"))


async def table_counts(sessions: async_sessionmaker[AsyncSession], *tables: str) -> dict[str, int]:
    return {table: await count(sessions, table) for table in tables}


async def returned_quantity(
    sessions: async_sessionmaker[AsyncSession], order_id: str = "1001", line_ref: str = "1"
) -> int:
    return int(
        await scalar(
            sessions,
            "SELECT ol.returned_quantity FROM order_lines ol JOIN orders o ON o.id = ol.order_id"
            " WHERE o.external_id = :order AND ol.line_ref = :line",
            order=order_id,
            line=line_ref,
        )
    )


async def run_cli(*args: str) -> Result:
    """The ``reclaim`` command, in a worker thread: it runs its own event loop (asyncio.run)."""

    def invoke() -> Result:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return await asyncio.to_thread(invoke)
