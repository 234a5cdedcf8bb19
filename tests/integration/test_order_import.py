"""``reclaim import orders``: all of a file or none of it, and re-importing updates in place."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import Result

from tests.factories import order_payload, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, table_counts

Sessions = async_sessionmaker[AsyncSession]
TABLES = ("orders", "customers", "products", "order_lines")
pytestmark = pytest.mark.usefixtures("cli_env")

HEADER = [
    "order_id",
    "customer_id",
    "customer_email",
    "customer_name",
    "currency",
    "placed_at",
    "delivered_at",
    "shipping",
    "line_id",
    "sku",
    "product_name",
    "category",
    "quantity",
    "unit_price",
]
# Three orders, two customers, three SKUs; order A-1's rows are not next to each other.
GOOD_ROWS = [
    ["A-1", "c1", "ann@example.com", "Ann", "USD", "2024-03-01T10:00:00+00:00",
     "2024-03-04T10:00:00+00:00", "4.99", "1", "TEE-M", "Tee (M)", "apparel", "2", "25.00"],
    ["A-2", "c2", "bob@example.com", "Bob", "USD", "2024-03-02T09:30:00+00:00",
     "", "0", "1", "MUG", "Mug", "home", "1", "12.00"],
    ["A-1", "c1", "ann@example.com", "Ann", "USD", "2024-03-01T10:00:00+00:00",
     "2024-03-04T10:00:00+00:00", "4.99", "2", "MUG", "Mug", "home", "1", "12.00"],
    ["A-3", "c1", "ann@example.com", "Ann", "USD", "2024-03-05T18:00:00+00:00",
     "2024-03-07T12:00:00+00:00", "0", "1", "CAP", "Cap", "accessories", "3", "9.50"],
]  # fmt: skip


def _csv(data_rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(data_rows)
    return out.getvalue()


def _jsonl(payloads: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(p) + "\n" for p in payloads)


def _good_jsonl() -> str:
    return _jsonl([order_payload(f"J-{i}", email=f"j{i % 2}@example.com") for i in range(1, 5)])


async def _import(path: Path) -> Result:
    return await run_cli("import", "orders", str(path))


async def _orders(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT o.external_id, ol.line_ref, ol.sku, ol.quantity, ol.unit_price_minor,"
        " o.shipping_minor FROM orders o JOIN order_lines ol ON ol.order_id = o.id"
        " ORDER BY o.external_id, ol.line_ref",
    )


async def test_good_csv_imports_every_order(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_csv(GOOD_ROWS))

    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert "3 order(s) from 4 row(s): 3 new, 0 updated" in result.output
    assert await table_counts(sessions, *TABLES) == {
        "orders": 3,
        "customers": 2,
        "products": 3,
        "order_lines": 4,
    }
    # Money in the file is in major units; the database holds minor units.
    assert await _orders(sessions) == [
        ("A-1", "1", "TEE-M", 2, 2500, 499),
        ("A-1", "2", "MUG", 1, 1200, 499),
        ("A-2", "1", "MUG", 1, 1200, 0),
        ("A-3", "1", "CAP", 3, 950, 0),
    ]


async def test_csv_address_columns_are_imported_as_the_shipping_address(
    sessions: Sessions, tmp_path: Path
) -> None:
    address = {
        "ship_line1": "12 Church Street",
        "ship_line2": "Flat 3",
        "ship_city": "London",
        "ship_region": "Greater London",
        "ship_postcode": "N1 2AB",
        "ship_country": "gb",
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER + list(address))
    writer.writerows(row + list(address.values()) for row in GOOD_ROWS if row[0] == "A-1")
    path = tmp_path / "orders.csv"
    path.write_text(out.getvalue())

    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert await rows(
        sessions,
        "SELECT external_id, ship_line1, ship_line2, ship_city, ship_region, ship_postcode,"
        " ship_country FROM orders",
    ) == [("A-1", "12 Church Street", "Flat 3", "London", "Greater London", "N1 2AB", "GB")]


async def test_good_jsonl_imports_every_order(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(_good_jsonl())

    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert "4 order(s) from 4 row(s): 4 new, 0 updated" in result.output
    assert await table_counts(sessions, *TABLES) == {
        "orders": 4,
        "customers": 2,
        "products": 2,
        "order_lines": 8,
    }


@pytest.mark.parametrize(
    ("name", "content", "bad_line"),
    [
        (
            "orders.csv",
            _csv(GOOD_ROWS[:2] + [GOOD_ROWS[2][:12] + ["two", "12.00"]] + GOOD_ROWS[3:]),
            4,
        ),
        ("orders.csv", _csv(GOOD_ROWS[:3] + [GOOD_ROWS[3][:4] + ["usd?"] + GOOD_ROWS[3][5:]]), 5),
        ("orders.jsonl", _good_jsonl().replace('"J-3"', '"J-3", "surprise": 1'), 3),
        ("orders.jsonl", "\n".join(_good_jsonl().splitlines()[:1] + ["{not json"]), 2),
    ],
    ids=["csv-quantity", "csv-currency", "jsonl-unknown-field", "jsonl-broken"],
)
async def test_file_with_one_bad_row_names_the_line_and_imports_nothing(
    sessions: Sessions, tmp_path: Path, name: str, content: str, bad_line: int
) -> None:
    # The database is not empty, and the file both updates and adds: nothing may move.
    await seed_order(sessions, order_id="A-1")
    await seed_order(sessions, order_id="J-1")
    before = (await table_counts(sessions, *TABLES), await _orders(sessions))
    path = tmp_path / name
    path.write_text(content)

    result = await _import(path)

    assert result.exit_code == 1
    assert f"line {bad_line}:" in result.output
    assert "nothing was imported" in result.output
    assert (await table_counts(sessions, *TABLES), await _orders(sessions)) == before


async def test_file_refused_by_the_database_midway_imports_nothing(
    sessions: Sessions, tmp_path: Path
) -> None:
    # A-1 has a return holding both tees, so the file's A-1 (one tee) is refused, but only
    # after A-2, earlier in the file, was already written in the same transaction.
    await seed_order(sessions, order_id="A-1", quantity=2)
    await seed_return(sessions, "A-1", quantity=2)
    shrunk = [GOOD_ROWS[1], GOOD_ROWS[0][:12] + ["1", "25.00"], GOOD_ROWS[2]]
    path = tmp_path / "orders.csv"
    path.write_text(_csv(shrunk))
    before = (await table_counts(sessions, *TABLES), await _orders(sessions))

    result = await _import(path)

    assert result.exit_code == 1
    assert "Error:" in result.output and "A-1" in result.output
    assert (await table_counts(sessions, *TABLES), await _orders(sessions)) == before


@pytest.mark.parametrize("name", ["orders.csv", "orders.jsonl"])
async def test_reimporting_a_file_updates_instead_of_duplicating(
    sessions: Sessions, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_text(_csv(GOOD_ROWS) if name.endswith(".csv") else _good_jsonl())
    first = await _import(path)
    assert first.exit_code == 0, first.output
    after_first = (await table_counts(sessions, *TABLES), await _orders(sessions))

    second = await _import(path)

    assert second.exit_code == 0, second.output
    orders = after_first[0]["orders"]
    assert f"{orders} new, 0 updated" in first.output
    assert f"0 new, {orders} updated" in second.output
    assert (await table_counts(sessions, *TABLES), await _orders(sessions)) == after_first


async def test_reimport_with_changes_updates_the_orders(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_csv(GOOD_ROWS))
    assert (await _import(path)).exit_code == 0

    changed = [row.copy() for row in GOOD_ROWS]
    changed[3][12] = "4"
    path.write_text(_csv(changed))
    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert ("A-3", "1", "CAP", 4, 950, 0) in await _orders(sessions)
    assert (await table_counts(sessions, *TABLES))["orders"] == 3
