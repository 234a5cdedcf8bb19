"""``reclaim import online-retail``: a real merchant's history in, on SQLite and PostgreSQL.

The fixture is a slice of the published file: every row of a few dozen customers (with
returns, a return of something bought before the file starts, an over-return, postage,
discount and manual lines) and a few anonymous invoices. The database is read back with plain
SQL.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics.retail_import import ImportReport, import_file
from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility
from tests.integration.helpers import rows, run_cli, scalar, table_counts, table_rows

Sessions = async_sessionmaker[AsyncSession]
DATA = Path(__file__).parents[1] / "data" / "online_retail"
SLICE = DATA / "slice.csv"
TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "order_payments",
    "returns",
    "return_lines",
    "return_events",
    "refunds",
    "refund_parts",
    "outbox",
)
# What the slice holds, counted independently of the importer.
SLICE_COUNTS = {
    "customers": 59,
    "products": 1353,
    "orders": 274,
    "order_lines": 3870,
    "order_payments": 274,
    "returns": 63,
    "return_lines": 141,
    "return_events": 3 * 63,
    "refunds": 63,
    "refund_parts": 63,
    "outbox": 0,
}
NOTHING = dict.fromkeys(TABLES, 0)


async def _import(sessions: Sessions, path: Path = SLICE, **options: str) -> ImportReport:
    return await import_file(sessions, path, **options)  # type: ignore[arg-type]


async def _warehouse(sessions: Sessions, code: str, *, active: bool = True) -> None:
    async with transaction(sessions) as session:
        await upsert_facility(
            session,
            FacilityIn.model_validate(
                {"code": code, "name": code, "kind": "warehouse", "active": active}
            ),
        )


async def test_the_slice_imports_with_exact_counts(sessions: Sessions) -> None:
    report = await _import(sessions)

    assert await table_counts(sessions, *TABLES) == SLICE_COUNTS
    assert (
        report.rows,
        report.problems,
        report.customers,
        report.products,
        report.orders,
        report.lines,
        report.returns,
        report.return_units,
        report.refunded_minor,
    ) == (4148, [], 59, 1353, 274, 3870, 63, 1762, 403528)
    assert (report.anonymous_rows, report.charge_rows, report.orders_without_goods) == (43, 8, 6)
    by_reason = dict(report.unmatched.group_by("reason").len().sort("reason").iter_rows())
    assert by_reason == {
        "anonymous": 20,
        "more_than_bought": 1,
        "no_earlier_purchase": 12,
        "not_a_product": 7,
        "price_adjustment": 14,
    }
    assert len(report.capped) == 3
    assert report.rollups is not None and report.rollups.returns == 63


async def test_a_known_return_is_split_over_the_customers_two_latest_orders(
    sessions: Sessions,
) -> None:
    await _import(sessions)

    # C556293 gave back 72 antique silver t-light glasses: the 66 left of order 555213
    # (6 had gone back already on C555652) and 6 of order 553654, with 18 hearts of 553654
    # and 72 fluted glasses of 555213.
    lines = await rows(
        sessions,
        "SELECT o.external_id, ol.sku, rl.quantity, rl.received_quantity, rl.settled_quantity,"
        " rl.settled_minor, rl.reason, rl.resolution, r.status, r.channel"
        " FROM return_lines rl JOIN returns r ON r.id = rl.return_id"
        " JOIN orders o ON o.id = r.order_id JOIN order_lines ol ON ol.id = rl.order_line_id"
        " JOIN refunds f ON f.return_id = r.id"
        " WHERE f.reason LIKE '%C556293%' ORDER BY o.external_id, ol.line_ref",
    )
    assert lines == [
        ("553654", "85123A", 18, 18, 18, 5310, "unspecified", "refund", "completed", "import"),
        ("553654", "84946", 6, 6, 6, 636, "unspecified", "refund", "completed", "import"),
        ("555213", "84946", 66, 66, 66, 6996, "unspecified", "refund", "completed", "import"),
        ("555213", "22791", 72, 72, 72, 7632, "unspecified", "refund", "completed", "import"),
    ]
    money = await rows(
        sessions,
        "SELECT o.external_id, o.paid_minor, o.given_back_minor, p.captured_minor,"
        " p.refunded_minor FROM orders o JOIN order_payments p ON p.order_id = o.id"
        " WHERE o.external_id IN ('553654', '555213') ORDER BY o.external_id",
    )
    assert money == [("553654", 20574, 5946, 20574, 5946), ("555213", 15264, 15264, 15264, 15264)]
    refunds = await rows(
        sessions,
        "SELECT o.external_id, f.amount_minor, f.status, f.kind, pt.amount_minor, pt.status"
        " FROM refunds f JOIN orders o ON o.id = f.order_id"
        " JOIN refund_parts pt ON pt.refund_id = f.id"
        " WHERE f.reason LIKE '%C556293%' ORDER BY o.external_id",
    )
    assert refunds == [
        ("553654", 5946, "succeeded", "return", 5946, "succeeded"),
        ("555213", 14628, "succeeded", "return", 14628, "succeeded"),
    ]


async def test_every_imported_return_keeps_the_invariants(sessions: Sessions) -> None:
    await _import(sessions)

    checks = {
        "returned more than bought": "SELECT count(*) FROM order_lines"
        " WHERE returned_quantity > quantity",
        "returned units not on a return": "SELECT count(*) FROM order_lines ol"
        " WHERE returned_quantity <> (SELECT coalesce(sum(quantity), 0) FROM return_lines"
        " WHERE order_line_id = ol.id)",
        "refunded more than captured": "SELECT count(*) FROM order_payments"
        " WHERE refunded_minor > captured_minor",
        "given back more than paid": "SELECT count(*) FROM orders"
        " WHERE given_back_minor > paid_minor",
        "given back not refunded": "SELECT count(*) FROM orders o WHERE given_back_minor <>"
        " (SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE order_id = o.id)",
        "refund not its lines' value": "SELECT count(*) FROM refunds f WHERE amount_minor <>"
        " (SELECT sum(settled_minor) FROM return_lines WHERE return_id = f.return_id)",
        "parts not the refund": "SELECT count(*) FROM refunds f WHERE amount_minor <>"
        " (SELECT sum(amount_minor) FROM refund_parts WHERE refund_id = f.id)",
        "payment refunds not its parts": "SELECT count(*) FROM order_payments p"
        " WHERE refunded_minor <> (SELECT coalesce(sum(amount_minor), 0) FROM refund_parts"
        " WHERE payment_id = p.id)",
        "received before ordered": "SELECT count(*) FROM return_lines rl"
        " JOIN returns r ON r.id = rl.return_id JOIN orders o ON o.id = r.order_id"
        " WHERE rl.received_at < o.placed_at",
        "not completed": "SELECT count(*) FROM returns WHERE status <> 'completed'",
        "paid is not lines plus shipping": "SELECT count(*) FROM orders o WHERE paid_minor <>"
        " shipping_minor + (SELECT sum(quantity * unit_price_minor) FROM order_lines"
        " WHERE order_id = o.id)",
    }
    broken = {name: await scalar(sessions, sql) for name, sql in checks.items()}
    assert broken == dict.fromkeys(checks, 0)
    timeline = await rows(
        sessions,
        "SELECT action, from_status, to_status, actor, count(*) FROM return_events"
        " GROUP BY action, from_status, to_status, actor ORDER BY count(*), action",
    )
    assert sorted(timeline) == [
        ("complete", "received", "completed", "import:online-retail", 63),
        ("create", None, "requested", "import:online-retail", 63),
        ("receive", "requested", "received", "import:online-retail", 63),
    ]


async def test_a_second_import_of_the_same_file_adds_nothing(sessions: Sessions) -> None:
    await _import(sessions)
    before = await table_counts(sessions, *TABLES)
    numbers = await rows(sessions, "SELECT number, client_token FROM returns ORDER BY id")

    again = await _import(sessions)

    assert await table_counts(sessions, *TABLES) == before
    assert await rows(sessions, "SELECT number, client_token FROM returns ORDER BY id") == numbers
    assert (again.orders, again.returns, again.customers, again.products) == (0, 0, 0, 0)
    assert (again.existing_orders, again.existing_returns) == (274, 63)


async def test_an_order_already_there_gives_back_only_what_it_has_left(
    sessions: Sessions, tmp_path: Path
) -> None:
    sales = tmp_path / "sales.csv"
    with SLICE.open() as source, sales.open("w") as out:
        csv.writer(out).writerows(row for row in csv.reader(source) if row[0][:1] != "C")
    await _import(sessions, sales)
    # 70 of the 72 fluted glasses of 555213 went back some other way meanwhile.
    async with transaction(sessions) as session:
        await session.execute(
            text(
                "UPDATE order_lines SET returned_quantity = 70 WHERE sku = '22791' AND order_id ="
                " (SELECT id FROM orders WHERE external_id = '555213')"
            )
        )

    report = await _import(sessions)

    assert (report.orders, report.existing_orders, report.returns) == (0, 274, 63)
    assert report.conflicting_units == 0
    # C556293's 72 glasses: the 2 left of 555213, the other 70 from the order before it.
    assert await rows(
        sessions,
        "SELECT o.external_id, rl.quantity FROM return_lines rl"
        " JOIN returns r ON r.id = rl.return_id JOIN orders o ON o.id = r.order_id"
        " JOIN order_lines ol ON ol.id = rl.order_line_id JOIN refunds f ON f.return_id = r.id"
        " WHERE ol.sku = '22791' AND f.reason LIKE '%C556293%' ORDER BY o.external_id",
    ) == [("553654", 70), ("555213", 2)]
    assert await rows(
        sessions,
        "SELECT f.amount_minor, o.given_back_minor, o.paid_minor FROM refunds f"
        " JOIN orders o ON o.id = f.order_id"
        " WHERE o.external_id = '555213' AND f.reason LIKE '%C556293%'",
    ) == [(66 * 106 + 2 * 106, 6 * 106 + 66 * 106 + 2 * 106, 15264)]
    assert (
        await scalar(
            sessions,
            "SELECT returned_quantity FROM order_lines WHERE sku = '22791' AND order_id ="
            " (SELECT id FROM orders WHERE external_id = '555213')",
        )
        == 72
    )


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _write(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def test_a_corrected_file_returns_the_product_given_back_not_the_one_in_its_place(
    sessions: Sessions, tmp_path: Path
) -> None:
    sale = "540001,{},A THING,{},2011-01-03 09:00,{},17850,United Kingdom"
    # The first file's cake stand row was broken, so the order has the hearts as line 1.
    first = _write(
        tmp_path / "first.csv",
        sale.format("22423", 2, "12.75abc"),
        sale.format("85123A", 6, "2.55"),
        sale.format("71053", 6, "3.39"),
    )
    corrected = _write(
        tmp_path / "corrected.csv",
        sale.format("22423", 2, "12.75"),
        sale.format("85123A", 6, "2.55"),
        sale.format("71053", 6, "3.39"),
        "C540002,85123A,A THING,-6,2011-01-04 10:00,2.55,17850,United Kingdom",
    )
    await _import(sessions, first)

    report = await _import(sessions, corrected)

    assert (report.returns, report.return_units, report.refunded_minor) == (1, 6, 6 * 255)
    assert await rows(
        sessions,
        "SELECT ol.sku, ol.returned_quantity FROM order_lines ol ORDER BY ol.line_ref",
    ) == [("85123A", 6), ("71053", 0)]


async def test_units_an_order_already_there_doesnt_hold_are_reported_as_a_conflict(
    sessions: Sessions, tmp_path: Path
) -> None:
    sale = "540001,{},A THING,{},2011-01-03 09:00,{},17850,United Kingdom"
    first = _write(
        tmp_path / "first.csv", sale.format("22423", 2, "12.75abc"), sale.format("71053", 6, "3.39")
    )
    corrected = _write(
        tmp_path / "corrected.csv",
        sale.format("22423", 2, "12.75"),
        sale.format("71053", 6, "3.39"),
        "C540002,22423,A THING,-2,2011-01-04 10:00,12.75,17850,United Kingdom",
    )
    await _import(sessions, first)

    report = await _import(sessions, corrected)

    assert (report.returns, report.conflicting_units) == (0, 2)
    assert report.unmatched.select("invoice", "units", "reason").rows() == [
        ("C540002", 2, "no_earlier_purchase")
    ]
    assert await table_counts(sessions, "returns", "refunds") == {"returns": 0, "refunds": 0}


async def test_a_corrected_file_never_returns_a_cancellation_twice(
    sessions: Sessions, tmp_path: Path
) -> None:
    row = "{},71053,WHITE METAL LANTERN,{},2011-01-{},3.39,17850,United Kingdom"
    sales = [row.format("540010", 2, "01 09:00"), row.format("540020", 2, "05 09:00")]
    first = _write(
        tmp_path / "first.csv",
        *sales,
        row.format("C540030", -2, "06 9h"),
        row.format("C540040", -2, "07 09:00"),
    )
    corrected = _write(
        tmp_path / "corrected.csv",
        *sales,
        row.format("C540030", -2, "06 09:00"),
        row.format("C540040", -2, "07 09:00"),
    )
    await _import(sessions, first)

    report = await _import(sessions, corrected)
    again = await _import(sessions, corrected)

    assert (report.returns, report.existing_returns, report.return_units) == (1, 1, 2)
    assert (again.returns, again.existing_returns) == (0, 2)
    assert await rows(
        sessions,
        "SELECT o.external_id, ol.quantity, ol.returned_quantity FROM order_lines ol"
        " JOIN orders o ON o.id = ol.order_id ORDER BY o.external_id",
    ) == [("540010", 2, 2), ("540020", 2, 2)]
    assert await scalar(sessions, "SELECT sum(quantity) FROM return_lines") == 4


async def test_later_months_return_what_was_bought_in_an_earlier_file(
    sessions: Sessions, tmp_path: Path
) -> None:
    with SLICE.open() as source:
        header, *body = list(csv.reader(source))
    # Split the slice where C556293 falls: its purchases are in the first half only.
    cut = "2011-06-09"
    earlier, later = tmp_path / "earlier.csv", tmp_path / "later.csv"
    for path, keep in ((earlier, lambda r: r[4] < cut), (later, lambda r: r[4] >= cut)):
        with path.open("w") as out:
            csv.writer(out).writerows([header, *(r for r in body if keep(r))])
    await _import(sessions, earlier)
    before = await rows(sessions, "SELECT external_id FROM orders ORDER BY external_id")

    await _import(sessions, later)

    # The same returns as importing the slice in one go: matching saw the earlier file.
    assert await table_counts(sessions, *TABLES) == SLICE_COUNTS
    assert await rows(
        sessions,
        "SELECT o.external_id, sum(rl.quantity) FROM return_lines rl"
        " JOIN returns r ON r.id = rl.return_id JOIN orders o ON o.id = r.order_id"
        " JOIN refunds f ON f.return_id = r.id WHERE f.reason LIKE '%C556293%'"
        " GROUP BY o.external_id ORDER BY o.external_id",
    ) == [("553654", 24), ("555213", 138)]
    assert ("553654",) in before and ("555213",) in before


async def test_a_file_missing_a_column_imports_nothing(sessions: Sessions, tmp_path: Path) -> None:
    bad = tmp_path / "no_customer.csv"
    with SLICE.open() as source, bad.open("w") as out:
        csv.writer(out).writerows(row[:6] + row[7:] for row in list(csv.reader(source))[:50])

    with pytest.raises(ValidationFailed, match="CustomerID"):
        await _import(sessions, bad)

    assert await table_counts(sessions, *TABLES) == NOTHING


async def test_returns_come_back_to_the_first_active_warehouse_or_the_one_named(
    sessions: Sessions,
) -> None:
    await _warehouse(sessions, "OLD", active=False)
    await _warehouse(sessions, "WH1")
    await _warehouse(sessions, "WH2")

    report = await _import(sessions)

    assert report.facility == "WH1"
    assert await rows(
        sessions,
        "SELECT f.code, count(*) FROM returns r JOIN facilities f ON f.id = r.facility_id"
        " GROUP BY f.code",
    ) == [("WH1", 63)]


@pytest.mark.parametrize(("currency", "why"), [("XYZ", "Unknown currency"), ("JPY", "two-decimal")])
async def test_a_currency_the_prices_cant_be_in_imports_nothing(
    sessions: Sessions, currency: str, why: str
) -> None:
    with pytest.raises(ValidationFailed, match=why):
        await _import(sessions, currency=currency)

    assert await table_counts(sessions, *TABLES) == NOTHING


async def test_the_prices_are_in_the_currency_given(sessions: Sessions) -> None:
    await _import(sessions, DATA / "retail_ii.csv", currency="eur")

    assert await rows(sessions, "SELECT DISTINCT currency FROM orders") == [("EUR",)]
    assert await rows(sessions, "SELECT DISTINCT currency FROM products") == [("EUR",)]


async def test_an_unknown_facility_imports_nothing(sessions: Sessions) -> None:
    with pytest.raises(NotFound, match="NOWHERE"):
        await _import(sessions, facility_code="NOWHERE")

    assert await table_counts(sessions, *TABLES) == NOTHING


async def test_products_already_in_the_catalogue_are_left_alone(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        session.add(
            Product(
                sku="85123A",
                name="Our own heart",
                category="decor",
                price_minor=100,
                currency="GBP",
            )
        )

    report = await _import(sessions)

    assert report.products == 1352
    assert await rows(
        sessions, "SELECT name, category, price_minor FROM products WHERE sku = '85123A'"
    ) == [("Our own heart", "decor", 100)]


# --- the command ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.mark.usefixtures("cli_env")
async def test_the_command_prints_a_summary_and_writes_the_unmatched_lines(
    sessions: Sessions, tmp_path: Path
) -> None:
    out = tmp_path / "unmatched.csv"

    result = await run_cli("import", "online-retail", str(SLICE), "--unmatched", str(out))

    assert result.exit_code == 0, result.output
    table = {row[0]: row[1:] for row in table_rows(result.output)}
    assert table["rows read"] == ["4148", "0 malformed, skipped"]
    assert table["orders"][0] == "274"
    assert table["returns"][0] == "63"
    assert table["unmatched: anonymous (no customer id)"] == [
        "20",
        "103 units; e.g. row 199: 2 × 22429 on C537251",
    ]
    with out.open() as written:
        unmatched = list(csv.DictReader(written))
    assert len(unmatched) == 54
    assert {row["reason"] for row in unmatched} == {
        "anonymous",
        "more_than_bought",
        "no_earlier_purchase",
        "not_a_product",
        "price_adjustment",
    }
    assert await table_counts(sessions, *TABLES) == SLICE_COUNTS


@pytest.mark.usefixtures("cli_env")
async def test_the_command_lists_malformed_rows_and_imports_the_rest(
    sessions: Sessions,
) -> None:
    result = await run_cli("import", "online-retail", str(DATA / "malformed.csv"))

    assert result.exit_code == 0, result.output
    assert "11 malformed row(s) skipped:" in result.output
    assert "row 3: quantity 'eight' is not a whole number" in result.output
    assert await table_counts(sessions, "orders", "returns") == {"orders": 1, "returns": 1}


@pytest.mark.usefixtures("cli_env")
async def test_the_command_names_a_missing_column_and_writes_nothing(
    sessions: Sessions, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("InvoiceNo,StockCode,Quantity\n536365,85123A,6\n")

    result = await run_cli("import", "online-retail", str(bad))

    assert result.exit_code == 1
    assert "InvoiceDate, UnitPrice, CustomerID" in " ".join(result.output.split())
    assert await table_counts(sessions, *TABLES) == NOTHING
