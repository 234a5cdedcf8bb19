"""Fixed-window attempt counters kept in the database, so every process counts the same."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.web.models import RateLimitWindow


def limit_key(kind: str, value: str) -> str:
    """Hashed, so the table holds no e-mail addresses or order numbers."""
    return f"{kind}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]}"


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


async def hit(
    session: AsyncSession, keys: list[str], now: datetime, window: timedelta, limit: int
) -> bool:
    """Count one attempt against every key; False when any key is over its limit.

    One upsert per key, so racing attempts are all counted and none is lost."""
    start = window_start(now, window)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    allowed = True
    for key in sorted(keys):  # one order for every caller: racing upserts never deadlock
        upsert = (
            insert(RateLimitWindow)
            .values(key=key, window_start=start, hits=1)
            .on_conflict_do_update(
                index_elements=["key", "window_start"],
                set_={"hits": RateLimitWindow.hits + 1},
            )
            .returning(RateLimitWindow.hits)
        )
        hits = (await session.execute(upsert)).scalar_one()
        allowed = allowed and hits <= limit
    # Old windows are worth nothing; clearing them as we go keeps the table small.
    await session.execute(
        delete(RateLimitWindow).where(RateLimitWindow.window_start < start - window)
    )
    return allowed
