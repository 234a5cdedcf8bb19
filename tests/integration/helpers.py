"""Reading the database back the plain way, so assertions don't trust the code under test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from reclaim.cli.app import app
from reclaim.db import transaction
from tests.conftest import PG_ENV, _pg_admin, _pg_server_url, _skip_pg


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


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the Rich tables a command printed, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


@contextmanager
def unmigrated_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of a database no migration has touched (``db_url`` is cloned at head)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'fresh' / 'reclaim.db'}"
        return
    server = _pg_server_url()
    if server is None:
        _skip_pg(f"{PG_ENV} is not set")
    assert server is not None  # _skip_pg skipped or failed the test
    name = f"reclaim_e_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
