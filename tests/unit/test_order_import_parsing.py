"""Order files in, ParsedFile out: every good order kept, every bad row named by its file line.

Line numbers are 1-based and count the CSV header as line 1, as an editor shows them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from reclaim.orders.importer import CSV_COLUMNS, parse_csv, parse_jsonl

HEADER = "order_id,customer_email,currency,placed_at,delivered_at,line_id,sku,quantity,unit_price"
PLACED = "2025-01-02T10:00:00Z"
DELIVERED = "2025-01-05T16:30:00Z"


def _row(
    order_id: str = "A1",
    *,
    email: str = "ann@example.com",
    currency: str = "USD",
    placed: str = PLACED,
    delivered: str = DELIVERED,
    line_id: str = "1",
    sku: str = "SKU-1",
    quantity: str = "1",
    unit_price: str = "10.00",
) -> str:
    return ",".join(
        [order_id, email, currency, placed, delivered, line_id, sku, quantity, unit_price]
    )


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _lines_of(parsed_errors: list[Any]) -> list[int]:
    return [error.line for error in parsed_errors]


# --- CSV: good files -------------------------------------------------------------------------


def test_rows_of_one_order_become_one_order_with_several_lines() -> None:
    parsed = parse_csv(
        _csv(
            _row("A1", line_id="1", sku="SHIRT-M", quantity="2", unit_price="12.99"),
            _row("A1", line_id="2", sku="SOCKS", quantity="1", unit_price="5"),
            _row("B7", line_id="1", sku="LAMP", quantity="1", unit_price="40.50"),
        )
    )
    assert parsed.errors == []
    assert parsed.rows == 3
    assert [order.order_id for order in parsed.orders] == ["A1", "B7"]
    first = parsed.orders[0]
    assert [(ln.line_id, ln.sku, ln.quantity, ln.unit_price_minor) for ln in first.lines] == [
        ("1", "SHIRT-M", 2, 1299),
        ("2", "SOCKS", 1, 500),
    ]
    assert first.currency == "USD"
    assert first.placed_at == datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    assert first.delivered_at == datetime(2025, 1, 5, 16, 30, tzinfo=UTC)


def test_rows_of_one_order_may_be_apart_in_the_file() -> None:
    parsed = parse_csv(
        _csv(_row("A1", line_id="1"), _row("B7", line_id="1"), _row("A1", line_id="2"))
    )
    assert parsed.errors == []
    assert [(o.order_id, len(o.lines)) for o in parsed.orders] == [("A1", 2), ("B7", 1)]


def test_every_column_reaches_the_order() -> None:
    values = {
        "order_id": "A1",
        "customer_id": "C-9",
        "customer_email": "ann@example.com",
        "customer_name": "Ann Lee",
        "customer_tier": "gold",
        "currency": "eur",
        "placed_at": PLACED,
        "delivered_at": DELIVERED,
        "shipping": "4.95",
        "order_discount": "2.00",
        "ship_line1": "Invalidenstraße 117",
        "ship_line2": "Hinterhaus",
        "ship_city": "Berlin",
        "ship_region": "Berlin",
        "ship_postcode": "10115",
        "ship_country": "DE",
        "ship_lat": "52.53",
        "ship_lon": "13.38",
        "line_id": "L1",
        "sku": "SHIRT-M",
        "product_name": "Linen Shirt",
        "category": "apparel",
        "product_group": "APP-001",
        "weight_grams": "320",
        "cost": "9.10",
        "returnable": "yes",
        "quantity": "2",
        "unit_price": "29.90",
        "discount": "3.00",
        "tax": "4.77",
        "payment_method": "card",
        "payment_captured": "64.52",
        "payment_reference": "ch_9",
        "payment_last4": "4242",
    }
    assert set(values) == set(CSV_COLUMNS)
    parsed = parse_csv(_csv(",".join(values.values()), header=",".join(values)))
    assert parsed.errors == []
    order = parsed.orders[0]
    assert order.currency == "EUR"
    assert (order.customer.id, order.customer.name, order.customer.tier) == (
        "C-9",
        "Ann Lee",
        "gold",
    )
    assert (order.shipping_minor, order.discount_minor) == (495, 200)
    assert order.shipping_address is not None
    assert order.shipping_address.country == "DE"
    assert order.shipping_address.line1 == "Invalidenstraße 117"
    assert (order.shipping_address.line2, order.shipping_address.city) == ("Hinterhaus", "Berlin")
    assert order.shipping_address.lat == pytest.approx(52.53)
    line = order.lines[0]
    assert (line.line_id, line.unit_price_minor, line.discount_minor, line.tax_minor) == (
        "L1",
        2990,
        300,
        477,
    )
    assert line.product is not None
    assert (line.product.name, line.product.weight_grams, line.product.cost_minor) == (
        "Linen Shirt",
        320,
        910,
    )
    assert line.product.returnable is True
    assert [(p.method, p.captured_minor, p.reference, p.last4) for p in order.payments or []] == [
        ("card", 6452, "ch_9", "4242")
    ]


def test_prices_are_read_in_the_currencys_own_decimals() -> None:
    parsed = parse_csv(
        _csv(
            _row("J1", currency="JPY", unit_price="1299"),
            _row("K1", currency="KWD", unit_price="1.234"),
        )
    )
    assert parsed.errors == []
    assert [o.lines[0].unit_price_minor for o in parsed.orders] == [1299, 1234]


def test_an_error_free_file_reports_no_errors() -> None:
    parsed = parse_csv(_csv(*(_row(f"A{i}") for i in range(20))))
    assert parsed.errors == []
    assert len(parsed.orders) == 20


def test_an_undelivered_order_has_no_delivery_date() -> None:
    parsed = parse_csv(_csv(_row(delivered="")))
    assert parsed.errors == []
    assert parsed.orders[0].delivered_at is None


# --- CSV: the header -------------------------------------------------------------------------


def test_a_missing_required_column_is_reported_on_line_one() -> None:
    header = HEADER.replace(",unit_price", "")
    parsed = parse_csv(
        _csv("A1,ann@example.com,USD,2025-01-02T10:00:00Z,,1,SKU-1,1", header=header)
    )
    assert _lines_of(parsed.errors) == [1]
    assert "missing column(s) unit_price" in parsed.errors[0].message
    assert parsed.orders == []


def test_an_unknown_column_is_reported_on_line_one() -> None:
    parsed = parse_csv(_csv(_row() + ",blue", header=HEADER + ",colour"))
    assert _lines_of(parsed.errors) == [1]
    assert "unknown column(s) colour" in parsed.errors[0].message
    assert parsed.orders == []


def test_an_empty_file_is_reported_not_accepted() -> None:
    parsed = parse_csv("")
    assert _lines_of(parsed.errors) == [1]
    assert parsed.orders == []


# --- CSV: bad rows, each on its own line -----------------------------------------------------


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        (_row(quantity="two"), "quantity: 'two' is not a whole number"),
        (_row(quantity="1.5"), "quantity: '1.5' is not a whole number"),
        (_row(quantity="-1"), "quantity"),
        (_row(quantity="0"), "quantity"),
        (_row(currency="XYZ"), "Unknown currency 'XYZ'"),
        (_row(unit_price="12.999"), "unit_price: 12.999 has more decimals than USD allows"),
        (_row(currency="JPY", unit_price="12.5"), "more decimals than JPY allows"),
        (_row(unit_price="cheap"), "unit_price"),
        (_row(email=""), "customer_email must not be empty"),
        (_row(sku=""), "sku must not be empty"),
        (_row(placed="2025-01-02T10:00:00"), "placed_at"),
        (_row(placed="yesterday"), "placed_at"),
        (_row(email="not-an-email"), "email"),
    ],
    ids=[
        "quantity-text",
        "quantity-fraction",
        "quantity-negative",
        "quantity-zero",
        "unknown-currency",
        "price-too-many-decimals",
        "yen-with-decimals",
        "price-text",
        "empty-email",
        "empty-sku",
        "naive-placed-at",
        "placed-at-text",
        "bad-email",
    ],
)
def test_a_bad_row_is_reported_on_its_own_line(row: str, fragment: str) -> None:
    parsed = parse_csv(_csv(_row("OK1"), _row("OK2"), row, _row("OK3")))
    assert _lines_of(parsed.errors) == [4]
    assert fragment in parsed.errors[0].message
    assert str(parsed.errors[0]).startswith("line 4: ")


def test_blank_lines_still_count_towards_line_numbers() -> None:
    parsed = parse_csv(_csv("", _row("A1"), "", _row("B7", quantity="x")))
    assert _lines_of(parsed.errors) == [5]
    assert parsed.rows == 2


def test_a_quoted_value_spanning_two_lines_does_not_shift_later_line_numbers() -> None:
    header = HEADER + ",product_name"
    parsed = parse_csv(
        _csv(
            _row("A1") + ',"Shirt\nwith a long name"',
            _row("B7", quantity="x") + ",Lamp",
            header=header,
        )
    )
    assert _lines_of(parsed.errors) == [4]


def test_every_bad_row_is_reported_in_file_order() -> None:
    parsed = parse_csv(
        _csv(
            _row("A1", quantity="x"),
            _row("A2"),
            _row("A3", currency="ABC"),
            _row("A4", unit_price="1.001"),
        )
    )
    assert _lines_of(parsed.errors) == [2, 4, 5]
    assert [o.order_id for o in parsed.orders] == ["A2"]


def test_rows_of_one_order_that_disagree_on_the_order_are_reported() -> None:
    parsed = parse_csv(
        _csv(
            _row("A1", line_id="1"),
            _row("A1", line_id="2", email="bob@example.com"),
            _row("A1", line_id="3", currency="EUR"),
        )
    )
    assert _lines_of(parsed.errors) == [3, 4]
    assert all("order A1 differs from its first row (line 2)" in e.message for e in parsed.errors)


def test_a_problem_spanning_several_rows_names_them_all() -> None:
    parsed = parse_csv(_csv(_row("A1", line_id="1"), _row("A9"), _row("A1", line_id="1")))
    assert _lines_of(parsed.errors) == [2]
    assert "line ids must be unique" in parsed.errors[0].message
    assert "lines [2, 4]" in parsed.errors[0].message


def test_a_bad_value_in_the_second_row_of_an_order_is_reported_on_that_row() -> None:
    parsed = parse_csv(_csv(_row("A1", line_id="1"), _row("A1", line_id="2", quantity="-2")))
    assert _lines_of(parsed.errors) == [3]


def test_a_row_with_more_values_than_columns_is_reported() -> None:
    parsed = parse_csv(_csv(_row(unit_price="12,99")))
    assert _lines_of(parsed.errors) == [2]


def test_an_absurd_exponent_in_a_price_is_a_row_error_not_a_crash() -> None:
    parsed = parse_csv(_csv(_row("A1"), _row("A2", unit_price="1e999999999")))
    assert _lines_of(parsed.errors) == [3]


# --- JSON Lines ------------------------------------------------------------------------------


def _order(order_id: str = "A1", **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": order_id,
        "customer": {"email": "ann@example.com"},
        "currency": "USD",
        "placed_at": PLACED,
        "delivered_at": DELIVERED,
        "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "unit_price_minor": 1299}],
    }
    order.update(changes)
    return order


def _jsonl(*lines: dict[str, Any] | str) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


def test_an_error_free_jsonl_file_gives_every_order() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), _order("A2"), _order("A3")))
    assert parsed.errors == []
    assert parsed.rows == 3
    assert [o.order_id for o in parsed.orders] == ["A1", "A2", "A3"]
    assert parsed.orders[0].lines[0].unit_price_minor == 1299


def test_a_malformed_json_line_is_reported_on_its_line() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), '{"order_id": "A2",', _order("A3")))
    assert _lines_of(parsed.errors) == [2]
    assert "not valid JSON" in parsed.errors[0].message
    assert [o.order_id for o in parsed.orders] == ["A1", "A3"]


def test_a_json_line_failing_validation_names_the_field() -> None:
    bad = _order("A2", lines=[{"sku": "S", "quantity": 0, "unit_price_minor": 100}])
    parsed = parse_jsonl(_jsonl(_order("A1"), bad))
    assert _lines_of(parsed.errors) == [2]
    assert "lines.0.quantity" in parsed.errors[0].message


def test_a_json_line_with_an_unknown_currency_is_reported_on_its_line() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), _order("A2", currency="XYZ"), _order("A3")))
    assert _lines_of(parsed.errors) == [2]
    assert [o.order_id for o in parsed.orders] == ["A1", "A3"]


def test_a_json_value_that_is_not_an_object_is_reported() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), "[1, 2]"))
    assert _lines_of(parsed.errors) == [2]


def test_an_order_repeated_in_jsonl_is_reported_naming_its_first_line() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), _order("A2"), _order("A1")))
    assert _lines_of(parsed.errors) == [3]
    assert "order A1 already on line 1" in parsed.errors[0].message
    assert [o.order_id for o in parsed.orders] == ["A1", "A2"]


def test_blank_jsonl_lines_are_skipped_but_counted() -> None:
    parsed = parse_jsonl(_jsonl(_order("A1"), "", "   ", '{"broken"'))
    assert _lines_of(parsed.errors) == [4]
    assert parsed.rows == 2


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_a_unicode_line_separator_inside_a_json_string_is_not_a_new_line(separator: str) -> None:
    named = _order("A1", customer={"email": "ann@example.com", "name": f"Ann{separator}Lee"})
    text = json.dumps(named, ensure_ascii=False) + "\n" + json.dumps(_order("A2")) + "\n"
    parsed = parse_jsonl(text)
    assert parsed.errors == []
    assert [o.order_id for o in parsed.orders] == ["A1", "A2"]
