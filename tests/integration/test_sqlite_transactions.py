"""SQLite's locking as Reclaim sets it up: writers queue, readers never wait for them."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reclaim.db import create_engine, session_factory, transaction
from reclaim.orders.models import Customer


@pytest.fixture
async def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[AsyncEngine]:
    path = tmp_path / "locks.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield engine
    await engine.dispose()


async def test_a_second_writer_waits_for_the_first_instead_of_failing(
    sqlite_engine: AsyncEngine,
) -> None:
    sessions = session_factory(sqlite_engine)
    first_inserted = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with transaction(sessions) as session:
            session.add(Customer(email="first@example.com"))
            await session.flush()
            first_inserted.set()
            await release_first.wait()

    async def second() -> None:
        async with transaction(sessions) as session:
            session.add(Customer(email="second@example.com"))

    holder = asyncio.create_task(first())
    await first_inserted.wait()
    waiter = asyncio.create_task(second())
    await asyncio.sleep(0.3)
    assert not waiter.done(), "BEGIN IMMEDIATE should make the second writer queue"
    release_first.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), timeout=30)

    async with transaction(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 2


async def test_a_reader_does_not_wait_while_a_writer_holds_the_lock(
    sqlite_engine: AsyncEngine,
) -> None:
    writers = session_factory(sqlite_engine)
    readers = session_factory(sqlite_engine, read_only=True)
    inserted = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with transaction(writers) as session:
            session.add(Customer(email="pending@example.com"))
            await session.flush()
            inserted.set()
            await release.wait()

    holder = asyncio.create_task(writer())
    await inserted.wait()
    async with transaction(readers) as session:
        # Answers at once, and sees only what was committed.
        seen = await asyncio.wait_for(
            session.scalar(select(func.count()).select_from(Customer)), timeout=2
        )
    assert seen == 0
    release.set()
    await holder
