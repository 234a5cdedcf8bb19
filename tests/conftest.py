"""Real databases for the tests: a fresh SQLite file and a fresh PostgreSQL database per test.

PostgreSQL comes from ``RECLAIM_TEST_POSTGRES_URL`` (a server URL; each test gets its own
database cloned from a migrated template). Without it the PostgreSQL half is skipped and the
run says so; with ``RECLAIM_REQUIRE_POSTGRES=1`` a skip is a failure instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory
from reclaim.migrate import upgrade_to_head

# Rich sizes tables to the terminal; a fixed, wide one keeps CLI output unwrapped however the
# tests are run (a terminal, CI, or parallel workers with none).
os.environ["COLUMNS"] = "400"

PG_ENV = "RECLAIM_TEST_POSTGRES_URL"
REQUIRE_PG_ENV = "RECLAIM_REQUIRE_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]
_pg_skipped: list[str] = []


def _pg_server_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return normalise_database_url(url) if url else None


def _sync_pg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _pg_admin(sql: str) -> None:
    import psycopg

    server = make_url(_pg_server_url() or "").set(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _migrate(url: str) -> None:
    async def _run() -> None:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(_run())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    server = _pg_server_url()
    if server is None:
        yield ""
        return
    name = f"reclaim_tpl_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    _migrate(make_url(server).set(database=name).render_as_string(hide_password=False))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _skip_pg(reason: str) -> None:
    if os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"PostgreSQL is required here ({REQUIRE_PG_ENV}=1) but {reason}")
    _pg_skipped.append(reason)
    pytest.skip(reason)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database of each kind, dropped after the test."""
    if request.param == "sqlite":
        path = tmp_path / "reclaim.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server = _pg_server_url()
    if server is None:
        _skip_pg(f"{PG_ENV} is not set")
    template = request.getfixturevalue("pg_template")
    name = f"reclaim_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    if _pg_skipped or (skipped and not _pg_server_url()):
        terminalreporter.write_line(
            f"NOTE: the PostgreSQL half of the suite was skipped ({PG_ENV} is not set). "
            "Set it, e.g. postgresql://postgres@127.0.0.1:5432/postgres, to run it.",
            yellow=True,
            bold=True,
        )
