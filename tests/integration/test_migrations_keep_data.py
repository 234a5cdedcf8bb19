"""Migrations keep the data: on SQLite a table rebuild must not cascade into its children.

Alembic's batch mode rebuilds a SQLite table by copying it and dropping the old one; with
foreign keys on, that DROP deletes the child rows through ON DELETE CASCADE or fails on a
restricting child. These tests migrate populated databases both ways, through the paths the
product uses: ``upgrade_to_head`` (start-up, ``reclaim db upgrade``) and the Alembic command
line's own engine (``alembic_config`` without a connection, as for a downgrade).
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from reclaim.db import create_engine, session_factory
from reclaim.migrate import alembic_config, upgrade_to_head
from tests.factories import seed_order, seed_return
from tests.integration.helpers import rows, scalar, table_counts

# The tables the first revision creates that the tests fill: their rows must outlive any trip.
FIRST_REVISION_TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "returns",
    "return_lines",
    "return_events",
)


async def _alembic(action: str, url: str, revision: str) -> None:
    """What ``alembic upgrade|downgrade`` runs: env.py with an engine of its own."""
    migrate = getattr(command, action)
    await asyncio.to_thread(migrate, alembic_config(url), revision)


async def _counts(url: str, *tables: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        return await table_counts(session_factory(engine), *tables)
    finally:
        await engine.dispose()


async def _sqlite_foreign_keys(engine: AsyncEngine) -> tuple[int, list[tuple[object, ...]]]:
    """Whether the engine's connection enforces foreign keys, and the rows that break them."""
    sessions = session_factory(engine)
    return (
        int(await scalar(sessions, "PRAGMA foreign_keys")),
        await rows(sessions, "PRAGMA foreign_key_check"),
    )


async def _migrate_to_head(url: str) -> AsyncEngine:
    """Start-up's migration, on an engine whose one connection the caller then checks."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    return engine


async def test_downgrading_to_the_first_revision_and_upgrading_again_keeps_every_row(
    db_url: str,
) -> None:
    app = create_engine(db_url)
    sessions = session_factory(app)
    for number in ("1001", "1002", "1003"):
        await seed_order(sessions, order_id=number, email=f"{number}@example.com")
        await seed_return(sessions, number)
    await seed_return(sessions, "1003", line_id="2")
    await app.dispose()
    before = await _counts(db_url, *FIRST_REVISION_TABLES, "order_payments")
    assert before["return_lines"] == 4 and before["order_payments"] == 3

    # 0008's downgrade rebuilds orders, the parent of order lines and payments.
    await _alembic("downgrade", db_url, "0007")
    assert await _counts(db_url, *FIRST_REVISION_TABLES, "order_payments") == before

    await _alembic("downgrade", db_url, "0001")
    assert await _counts(db_url, *FIRST_REVISION_TABLES) == {
        table: before[table] for table in FIRST_REVISION_TABLES
    }

    engine = await _migrate_to_head(db_url)
    try:
        after = await table_counts(session_factory(engine), *FIRST_REVISION_TABLES)
        assert after == {table: before[table] for table in FIRST_REVISION_TABLES}
        # Re-created by 0005: one payment per order, as for orders imported before payments.
        assert await table_counts(session_factory(engine), "order_payments") == {
            "order_payments": before["orders"]
        }
        if make_url(db_url).get_backend_name() == "sqlite":
            assert await _sqlite_foreign_keys(engine) == (1, [])
    finally:
        await engine.dispose()


FIRST_REVISION_ROWS = """
INSERT INTO customers (id, external_id, email, name, tier, created_at)
VALUES (1, 'c-1', 'ann@example.com', 'Ann', 'standard', '2026-01-01 00:00:00.000000');
INSERT INTO products (id, sku, name, category, product_group, price_minor, cost_minor, currency,
                      weight_grams, returnable, attributes, created_at, updated_at)
VALUES (1, 'TEE-M', 'Tee', 'apparel', NULL, 2500, 900, 'USD', 200, 1, '{}',
        '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'),
       (2, 'MUG', 'Mug', 'home', NULL, 1200, 400, 'USD', 400, 1, '{}',
        '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000');
INSERT INTO orders (id, external_id, customer_id, currency, placed_at, delivered_at,
                    shipping_minor, discount_minor, created_at, updated_at)
VALUES (1, '1001', 1, 'USD', '2026-01-02 00:00:00.000000', '2026-01-05 00:00:00.000000',
        499, 0, '2026-01-02 00:00:00.000000', '2026-01-05 00:00:00.000000'),
       (2, '1002', 1, 'USD', '2026-01-03 00:00:00.000000', NULL,
        0, 100, '2026-01-03 00:00:00.000000', '2026-01-03 00:00:00.000000');
INSERT INTO order_lines (id, order_id, line_ref, product_id, sku, quantity, unit_price_minor,
                         discount_minor, tax_minor, returned_quantity)
VALUES (1, 1, '1', 1, 'TEE-M', 2, 2500, 0, 0, 1),
       (2, 1, '2', 2, 'MUG', 1, 1200, 0, 0, 1),
       (3, 2, '1', 2, 'MUG', 3, 1200, 0, 0, 0);
INSERT INTO returns (id, number, order_id, customer_id, status, method, currency, channel,
                     created_at, updated_at)
VALUES (1, 'R-0001', 1, 1, 'requested', 'prepaid_label', 'USD', 'api',
        '2026-01-06 00:00:00.000000', '2026-01-06 00:00:00.000000');
INSERT INTO return_lines (id, return_id, order_line_id, quantity, reason, resolution,
                          received_quantity)
VALUES (1, 1, 1, 1, 'too_small', 'refund', 0),
       (2, 1, 2, 1, 'damaged', 'refund', 0);
INSERT INTO return_events (id, return_id, action, from_status, to_status, actor, at, data)
VALUES (1, 1, 'create', NULL, 'requested', 'test', '2026-01-06 00:00:00.000000', '{}');
"""


def _first_revision_database(directory: Path, extra_sql: str = "") -> str:
    """A SQLite database made at revision 0001, holding a few rows of every kind."""
    path = directory / "at-0001.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(FIRST_REVISION_ROWS)
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.executescript(extra_sql)
    return url


async def test_upgrading_a_populated_sqlite_database_from_the_first_revision_keeps_every_row(
    tmp_path: Path,
) -> None:
    url = await asyncio.to_thread(_first_revision_database, tmp_path)
    before = await _counts(url, *FIRST_REVISION_TABLES)
    assert before["order_lines"] == 3 and before["return_lines"] == 2

    engine = await _migrate_to_head(url)
    try:
        sessions = session_factory(engine)
        assert await table_counts(sessions, *FIRST_REVISION_TABLES) == before
        assert await rows(sessions, "SELECT order_id, captured_minor FROM order_payments") == [
            (1, 499 + 2 * 2500 + 1200),
            (2, 3 * 1200 - 100),
        ]
        assert await _sqlite_foreign_keys(engine) == (1, [])
    finally:
        await engine.dispose()


async def test_an_upgrade_that_leaves_a_broken_reference_fails_and_changes_nothing(
    tmp_path: Path,
) -> None:
    # Foreign keys are off while SQLite migrates, so only the final check can catch a
    # reference a migration broke; a row already broken stands in for one here.
    url = await asyncio.to_thread(
        _first_revision_database,
        tmp_path,
        "INSERT INTO return_lines (id, return_id, order_line_id, quantity, reason, resolution,"
        " received_quantity) VALUES (3, 1, 99, 1, 'damaged', 'refund', 0);",
    )

    engine = create_engine(url)
    try:
        with pytest.raises(RuntimeError, match="return_lines"):
            await upgrade_to_head(engine)
        sessions = session_factory(engine)
        assert await rows(sessions, "SELECT version_num FROM alembic_version") == [("0001",)]
        assert int(await scalar(sessions, "PRAGMA foreign_keys")) == 1
    finally:
        await engine.dispose()
