"""Bringing a database to the newest schema: ``reclaim db upgrade`` and app start-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(files("reclaim.migrations") / "alembic.ini"))
    cfg.set_main_option("script_location", str(files("reclaim.migrations")))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's cursor: through SQLAlchemy the statement would begin a transaction first.
    cursor = connection.connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


@contextmanager
def migration_transaction(connection: Connection) -> Iterator[None]:
    """The one transaction a migration run happens in, on a connection not yet in one.

    SQLite alters most things by rebuilding the table (Alembic's batch mode): copy it, DROP
    the old one, rename the copy. With foreign keys on, that DROP deletes every row first,
    which cascades into the child tables or fails on a restricting one. So SQLite migrates
    with them off, switched before BEGIN because SQLite ignores the pragma inside a
    transaction, and checks every reference before committing instead.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            yield
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        "The migration left rows referring to rows that don't exist "
                        f"(table, rowid, parent, constraint): {broken}; nothing was changed."
                    )
    finally:
        # The connection goes back to the pool for the app, which relies on its foreign keys.
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)


# Any constant both sides agree on: processes starting together migrate one at a time.
_MIGRATION_LOCK = 7_326_224_609


def _upgrade(connection: Connection) -> None:
    with migration_transaction(connection):
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


async def upgrade_to_head(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade)
