"""Named locks held until the transaction ends, for work that no row or unique index guards."""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def hold(session: AsyncSession, name: str) -> None:
    """Wait for, then hold, the lock called ``name`` until this transaction commits or rolls back.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs none, as it already runs
    one writer at a time (every write transaction begins IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"reclaim.{name}".encode())
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
