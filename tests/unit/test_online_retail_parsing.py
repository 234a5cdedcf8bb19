"""Reading the Online Retail file: both published headers, money in pence, every bad row named.

Rows are numbered from 1 for the first data row (the header is not counted).
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from reclaim.analytics.online_retail import (
    RowProblem,
    is_product_code,
    read_transactions,
)
from reclaim.errors import ValidationFailed

DATA = Path(__file__).parents[1] / "data" / "online_retail"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
GOOD = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26,2.55,17850,United Kingdom"
)


def _file(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "retail.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _row(
    invoice: str = "536365",
    code: str = "85123A",
    quantity: str = "6",
    date: str = "2010-12-01 08:26",
    price: str = "2.55",
    customer: str = "17850",
) -> str:
    return f"{invoice},{code},A THING,{quantity},{date},{price},{customer},United Kingdom"


def test_a_row_of_the_published_file_becomes_typed_columns(tmp_path: Path) -> None:
    read = read_transactions(_file(tmp_path, GOOD))

    assert read.problems == []
    assert read.frame.to_dicts() == [
        {
            "row": 1,
            "invoice": "536365",
            "stock_code": "85123A",
            "description": "WHITE HANGING HEART T-LIGHT HOLDER",
            "quantity": 6,
            "invoiced_at": datetime(2010, 12, 1, 8, 26),
            "unit_price_minor": 255,
            "customer": "17850",
            "country": "United Kingdom",
            "cancellation": False,
            "is_product": True,
        }
    ]


def test_the_online_retail_ii_header_reads_the_same(tmp_path: Path) -> None:
    read = read_transactions(DATA / "retail_ii.csv")

    assert read.problems == []
    first = read.frame.row(0, named=True)
    assert (first["invoice"], first["customer"], first["invoiced_at"]) == (
        "489434",
        "13085",
        datetime(2009, 12, 1, 7, 45),
    )
    assert read.frame["stock_code"].to_list()[1] == "79323P"
    assert read.frame.filter(pl.col("cancellation"))["quantity"].to_list() == [-12]


def test_a_gzipped_file_reads_like_the_plain_one(tmp_path: Path) -> None:
    plain = _file(tmp_path, GOOD, _row(invoice="C536379", quantity="-1"))
    zipped = tmp_path / "retail.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))

    assert read_transactions(zipped).frame.equals(read_transactions(plain).frame)


@pytest.mark.parametrize(
    ("price", "pence"),
    [
        ("2.55", 255),
        ("2.1", 210),
        ("7", 700),
        (".5", 50),
        ("0.655", 66),  # half-up on the third decimal
        ("0.654", 65),
        ("1.995", 200),
        ("0.001", 0),
        ("0", 0),
        ("38970.00", 3897000),
    ],
)
def test_prices_become_pence_rounded_half_up(tmp_path: Path, price: str, pence: int) -> None:
    read = read_transactions(_file(tmp_path, _row(price=price)))

    assert read.frame["unit_price_minor"].to_list() == [pence]


@pytest.mark.parametrize(("written", "customer"), [("12346.0", "12346"), ("12346", "12346")])
def test_customer_ids_lose_a_spreadsheets_decimal(
    tmp_path: Path, written: str, customer: str
) -> None:
    read = read_transactions(_file(tmp_path, _row(customer=written)))

    assert read.frame["customer"].to_list() == [customer]


def test_a_row_without_customer_is_kept_as_anonymous(tmp_path: Path) -> None:
    read = read_transactions(_file(tmp_path, _row(customer="")))

    assert read.problems == []
    assert read.frame["customer"].to_list() == [None]


@pytest.mark.parametrize(
    "written",
    ["2010-12-01 08:26", "2010-12-01 08:26:00", "2010-12-01T08:26:00", "12/1/2010 8:26"],
)
def test_dates_in_each_exported_form_read_as_the_same_moment(tmp_path: Path, written: str) -> None:
    read = read_transactions(_file(tmp_path, _row(date=written)))

    assert read.frame["invoiced_at"].to_list() == [datetime(2010, 12, 1, 8, 26)]


def test_stock_codes_are_trimmed_and_upper_cased(tmp_path: Path) -> None:
    read = read_transactions(_file(tmp_path, _row(code=" 15056bl ")))

    assert read.frame["stock_code"].to_list() == ["15056BL"]


def test_every_malformed_kind_is_skipped_and_named_by_its_row() -> None:
    read = read_transactions(DATA / "malformed.csv")

    assert read.problems == [
        RowProblem(2, "invoice date '2010-12-32 08:26' is not a date and time"),
        RowProblem(3, "quantity 'eight' is not a whole number"),
        RowProblem(4, "unit price '3.39p' is not a number"),
        RowProblem(5, "invoice number is empty"),
        RowProblem(6, "stock code is empty"),
        RowProblem(7, "quantity is zero"),
        RowProblem(8, "unit price -1.85 is negative"),
        RowProblem(9, "quantity 6 is positive on cancellation C536379"),
        RowProblem(10, "quantity -32 is negative on sale invoice 536367"),
        RowProblem(12, "unit price 99999999999999999.55 is not below 10,000,000.00"),
        RowProblem(13, "quantity 99999999999 is beyond ±10,000,000"),
    ]
    assert read.frame["row"].to_list() == [1, 11]
    assert str(read.problems[0]) == "row 2: invoice date '2010-12-32 08:26' is not a date and time"


@pytest.mark.parametrize(
    ("quantity", "price", "problem"),
    [
        ("6", "10000000.00", "unit price 10000000.00 is not below 10,000,000.00"),
        ("6", "9999999.995", "unit price 9999999.995 is not below 10,000,000.00"),
        ("6", "123456789012345678901.5", "is not below 10,000,000.00"),
        ("10000001", "2.55", "quantity 10000001 is beyond ±10,000,000"),
        ("12345678901234567890123", "2.55", "is beyond ±10,000,000"),
    ],
)
def test_a_price_or_quantity_too_large_to_hold_is_a_malformed_row(
    tmp_path: Path, quantity: str, price: str, problem: str
) -> None:
    read = read_transactions(_file(tmp_path, _row(quantity=quantity, price=price)))

    assert read.frame.is_empty()
    assert len(read.problems) == 1 and problem in read.problems[0].message


def test_the_largest_price_and_quantity_allowed_still_read(tmp_path: Path) -> None:
    read = read_transactions(
        _file(
            tmp_path,
            _row(price="0009999999.99", quantity="10000000"),
            _row(invoice="C536366", quantity="-10000000", price="1"),
        )
    )

    assert read.problems == []
    assert read.frame.select("quantity", "unit_price_minor").rows() == [
        (10_000_000, 999_999_999),
        (-10_000_000, 100),
    ]


def test_a_file_missing_required_columns_names_them(tmp_path: Path) -> None:
    path = _file(tmp_path, "536365,85123A,6", header="InvoiceNo,StockCode,Quantity")

    with pytest.raises(ValidationFailed) as raised:
        read_transactions(path)

    assert "InvoiceDate, UnitPrice, CustomerID" in raised.value.message
    assert raised.value.details["missing"] == ["InvoiceDate", "UnitPrice", "CustomerID"]


def test_description_and_country_may_be_missing(tmp_path: Path) -> None:
    header = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID"
    read = read_transactions(
        _file(tmp_path, "536365,85123A,6,2010-12-01 08:26,2.55,17850", header=header)
    )

    assert read.problems == []
    assert read.frame.select("description", "country").row(0) == (None, None)


def test_a_file_that_is_not_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress(b"") + b"\x00garbage")

    with pytest.raises(ValidationFailed):
        read_transactions(path)


@pytest.mark.parametrize(
    "code",
    [
        "POST",
        "DOT",
        "M",
        "D",
        "C2",
        "S",
        "B",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "PADS",
        "GIFT_0001_20",
        "ADJUST",
        "TEST001",
        "NEWFEE",
    ],
)
def test_charges_fees_and_adjustments_are_not_products(code: str) -> None:
    assert not is_product_code(code)


@pytest.mark.parametrize("code", ["85123A", "22423", "15056BL", "DCGS0003", "DCGSSGIRL", "79323P"])
def test_goods_are_products(code: str) -> None:
    assert is_product_code(code)


def test_the_frame_agrees_with_the_product_rule(tmp_path: Path) -> None:
    codes = ["POST", "85123A", "DCGSSBOY", "GIFT_0001_10", "M"]
    read = read_transactions(_file(tmp_path, *(_row(code=code) for code in codes)))

    assert read.frame["is_product"].to_list() == [is_product_code(code) for code in codes]
