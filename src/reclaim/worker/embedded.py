"""The worker inside the web process, for a single-process install such as ``make run``.

A production install runs ``reclaim worker`` processes of its own (any number, on PostgreSQL);
this is the same dispatcher and jobs, started and stopped with the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import Settings
from reclaim.policy.loader import LoadedPolicy
from reclaim.worker.channels import default_channels
from reclaim.worker.dispatcher import Dispatcher, WorkerConfig
from reclaim.worker.jobs import default_jobs


@asynccontextmanager
async def embedded_worker(
    settings: Settings,
    policy: LoadedPolicy,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(
        sessions,
        default_channels(settings, read_sessions),
        WorkerConfig.from_settings(settings),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        dispatcher.run_forever(
            stop, poll_seconds=settings.worker_poll_seconds, jobs=default_jobs(sessions, policy)
        )
    )
    try:
        yield dispatcher
    finally:
        # The delivery in flight finishes and is recorded; the rest waits for the next start.
        stop.set()
        await task
