"""Alembic environment. Reclaim calls it with a live connection (``reclaim db upgrade``, app
start-up, tests); the ``alembic`` command line, used to write new revisions and to downgrade,
gets its own."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from reclaim.config import get_settings
from reclaim.db import create_engine
from reclaim.migrate import migration_transaction
from reclaim.models import metadata

config = context.config


def _run(connection: Connection) -> None:
    # Both callers hand over a connection inside ``migration_transaction``: Alembic then opens
    # no transaction of its own, and SQLite's foreign keys are already off.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_in_transaction(connection: Connection) -> None:
    with migration_transaction(connection):
        _run(connection)


async def _run_with_own_engine() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    async with engine.connect() as connection:
        await connection.run_sync(_run_in_transaction)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Reclaim migrates live databases only; offline SQL generation is not set up.")
shared = config.attributes.get("connection")
if shared is not None:
    _run(shared)
else:
    asyncio.run(_run_with_own_engine())
