"""What the file becomes, table by table, before anything is written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from reclaim.analytics.online_retail import match_returns, read_transactions
from reclaim.analytics.retail_plan import (
    Plan,
    client_token,
    conflicting_units,
    customer_email,
    plan,
    returns_of,
)

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROWS = [
    "540001,22423,REGENCY CAKESTAND 3 TIER,2,2011-01-10 10:00,12.75,12347,Iceland",
    "540001,POST,POSTAGE,1,2011-01-10 10:00,40.00,12347,Iceland",
    "540001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-01-10 10:00,2.55,12347,Iceland",
    "540001,M,Manual,1,2011-01-10 10:00,3.00,12347,Iceland",
    "540002,85123A,CREAM HANGING HEART T-LIGHT HOLDER,12,2011-01-11 09:00,2.95,12348,Finland",
    "540003,85123A,WHITE HANGING HEART T-LIGHT HOLDER,1,2011-01-12 09:00,3.15,12348,Finland",
    "540003,DOT,DOTCOM POSTAGE,1,2011-01-12 09:00,5.00,12348,Finland",
    "540004,POST,POSTAGE,1,2011-01-12 10:00,18.00,12349,Italy",
    "540005,22423,REGENCY CAKESTAND 3 TIER,1,2011-01-12 11:00,12.75,,United Kingdom",
    "C540006,22423,REGENCY CAKESTAND 3 TIER,-1,2011-02-01 10:00,14.95,12347,Iceland",
    "C540006,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-6,2011-02-01 10:00,2.55,12347,Iceland",
    "C540007,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-4,2011-02-02 10:00,2.95,12348,Finland",
]


@pytest.fixture
def frame(tmp_path: Path) -> pl.DataFrame:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return read_transactions(path).frame


@pytest.fixture
def shaped(frame: pl.DataFrame) -> Plan:
    return plan(frame)


@pytest.fixture
def returns(frame: pl.DataFrame) -> pl.DataFrame:
    return returns_of(match_returns(frame).allocations)


def test_postage_becomes_the_orders_shipping_and_it_was_all_paid(shaped: Plan) -> None:
    orders = {row["invoice"]: row for row in shaped.orders.iter_rows(named=True)}

    assert set(orders) == {"540001", "540002", "540003"}
    first = orders["540001"]
    assert (first["goods_minor"], first["shipping_minor"], first["paid_minor"]) == (
        2 * 1275 + 6 * 255,
        4000,
        2 * 1275 + 6 * 255 + 4000,
    )
    assert (first["customer"], first["placed_at"], first["ship_country"]) == (
        "12347",
        datetime(2011, 1, 10, 10, 0),
        "IS",
    )
    assert orders["540003"]["shipping_minor"] == 500


def test_what_cant_be_an_order_is_skipped_and_counted(shaped: Plan) -> None:
    # The manual line is a charge, the anonymous sale has no customer, and the invoice of
    # postage alone has no goods.
    assert (shaped.charge_rows, shaped.anonymous_rows, shaped.orders_without_goods) == (1, 1, 1)


def test_lines_are_the_goods_numbered_within_their_invoice(shaped: Plan) -> None:
    lines = shaped.lines.filter(shaped.lines["invoice"] == "540001")

    assert lines.select("line_ref", "sku", "quantity", "unit_price_minor").rows() == [
        ("1", "22423", 2, 1275),
        ("2", "85123A", 6, 255),
    ]


def test_a_product_is_named_by_its_usual_description_and_priced_at_the_median(
    shaped: Plan,
) -> None:
    products = {row["sku"]: row for row in shaped.products.iter_rows(named=True)}

    assert set(products) == {"22423", "85123A"}
    heart = products["85123A"]
    # Descriptions seen: white twice, cream once; prices 2.55, 2.95, 3.15.
    assert (heart["name"], heart["price_minor"], heart["category"]) == (
        "WHITE HANGING HEART T-LIGHT HOLDER",
        295,
        "candles & holders",
    )
    assert products["22423"]["category"] == "kitchen & tableware"


def test_customers_get_an_address_nothing_can_be_delivered_to(shaped: Plan) -> None:
    assert shaped.customers.rows() == [
        ("12347", "customer-12347@online-retail.invalid"),
        ("12348", "customer-12348@online-retail.invalid"),
    ]
    assert customer_email("1").endswith(".invalid")


def test_each_return_line_is_valued_at_no_more_than_was_paid(returns: pl.DataFrame) -> None:
    rows = returns.select(
        "return_invoice", "order", "line", "quantity", "asked_minor", "value_minor"
    ).rows()

    assert rows == [
        # Credited at 14.95 a cake stand bought at 12.75: valued at what was paid.
        ("C540006", "540001", 1, 1, 1495, 1275),
        ("C540006", "540001", 3, 6, 6 * 255, 6 * 255),
        # The most recent purchase (one heart) first, the rest from the order before it.
        ("C540007", "540002", 5, 3, 3 * 295, 3 * 295),
        ("C540007", "540003", 6, 1, 295, 295),
    ]


def test_one_return_per_cancellation_and_order_named_by_its_lines(returns: pl.DataFrame) -> None:
    tokens = {
        (invoice, order): (token, list(keys))
        for invoice, order, token, keys in returns.select(
            "return_invoice", "order", "token", "keys"
        ).iter_rows()
    }

    assert tokens == {
        ("C540006", "540001"): (
            client_token(
                "C540006", "540001", ["C540006|22423|-1|1495|1", "C540006|85123A|-6|255|1"]
            ),
            ["C540006|22423|-1|1495|1", "C540006|85123A|-6|255|1"],
        ),
        ("C540007", "540002"): (
            client_token("C540007", "540002", ["C540007|85123A|-4|295|1"]),
            ["C540007|85123A|-4|295|1"],
        ),
        ("C540007", "540003"): (
            client_token("C540007", "540003", ["C540007|85123A|-4|295|1"]),
            ["C540007|85123A|-4|295|1"],
        ),
    }
    assert len({token for token, _ in tokens.values()}) == 3
    assert all(len(token) <= 64 for token, _ in tokens.values())


def test_units_an_existing_order_doesnt_hold_are_a_conflict(shaped: Plan) -> None:
    # 540002 was already in the database with 10 of the file's 12 hearts; 540001 as the file.
    held = pl.DataFrame(
        {
            "order": ["540002", "540001"],
            "customer": ["12348", "12347"],
            "stock_code": ["85123A", "85123A"],
            "quantity": [10, 6],
        }
    )
    given_back = pl.DataFrame({"customer": ["12348", "12347"], "stock_code": ["85123A"] * 2})

    assert conflicting_units(shaped.lines, held, ["540001", "540002"], given_back) == 2
    assert conflicting_units(shaped.lines, held, [], given_back) == 0
