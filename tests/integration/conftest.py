from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from reclaim.config import get_settings
from reclaim.db import create_engine

# The PostgreSQL server is shared with the web suite and benchmarks running alongside, and
# max_connections is finite; 10 + 10 connections still let 50 racing transactions overlap.
POOL_SIZE = 10


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url, pool_size=POOL_SIZE)
    yield engine
    await engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at this test's database; settings are cached, so clear them both ways."""
    monkeypatch.setenv("RECLAIM_DATABASE_URL", db_url)
    monkeypatch.setenv("RECLAIM_DB_POOL_SIZE", str(POOL_SIZE))
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
