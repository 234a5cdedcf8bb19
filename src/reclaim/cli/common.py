"""What every command shares: the database, and turning domain errors into clear messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import get_settings
from reclaim.db import create_engine, session_factory
from reclaim.errors import ReclaimError
from reclaim.migrate import upgrade_to_head
from reclaim.policy.loader import LoadedPolicy
from reclaim.policy.loader import load as load_policy

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


@asynccontextmanager
async def database(migrate: bool = True) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        if migrate:
            await upgrade_to_head(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a domain error becomes a one-line message and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except ReclaimError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.message}")
        raise typer.Exit(1) from exc


def live_policy() -> LoadedPolicy:
    """The configured policy; a bad file stops the command with every bad rule named."""
    try:
        return load_policy(get_settings().policy_file)
    except ReclaimError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.message}")
        raise typer.Exit(1) from exc


def with_database(
    body: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]],
) -> T:
    async def _main() -> T:
        async with database() as sessions:
            return await body(sessions)

    return run(_main())


MAX_ERRORS_SHOWN = 20


def print_row_errors(errors: Sequence[object]) -> None:
    """The first bad rows of a file, each with its line number and what is wrong."""
    for error in errors[:MAX_ERRORS_SHOWN]:
        err_console.print(f"  {error}", soft_wrap=True, markup=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        err_console.print(f"  … and {len(errors) - MAX_ERRORS_SHOWN} more")
