"""Tying cancellation lines to the purchases they give back, and saying why when none is found."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from reclaim.analytics.online_retail import (
    PURCHASE_SCHEMA,
    Matching,
    Unmatched,
    match_returns,
    read_transactions,
    unmatched_rows,
    unmatched_summary,
)

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _line(
    invoice: str, quantity: int, when: str, *, code: str = "22423", customer: str = "12347"
) -> str:
    return (
        f"{invoice},{code},REGENCY CAKESTAND 3 TIER,{quantity},2011-{when},12.75,{customer},France"
    )


def _frame(tmp_path: Path, *lines: str) -> pl.DataFrame:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return read_transactions(path).frame


def _match(tmp_path: Path, *lines: str) -> Matching:
    return match_returns(_frame(tmp_path, *lines))


def _held(*purchases: tuple[int, str, str, str, int]) -> pl.DataFrame:
    """Order lines in the database: (line id, order, code, bought at, units left)."""
    return pl.DataFrame(
        [
            (line, order, "12347", code, datetime.fromisoformat(f"2011-{at}"), 1275, room)
            for line, order, code, at, room in purchases
        ],
        schema=PURCHASE_SCHEMA,
        orient="row",
    )


def _taken(matching: Matching) -> list[tuple[str, str, int]]:
    return [
        (row["return_invoice"], row["purchase_invoice"], row["quantity"])
        for row in matching.allocations.iter_rows(named=True)
    ]


def _why(matching: Matching) -> list[tuple[str, str, int]]:
    return [
        (row["invoice"], row["reason"], row["units"])
        for row in matching.unmatched.iter_rows(named=True)
    ]


def test_a_return_takes_from_the_most_recent_purchase_first(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 5, "01-10 10:00"),
        _line("541001", 5, "02-10 10:00"),
        _line("C542001", -3, "03-10 10:00"),
    )

    assert _taken(matching) == [("C542001", "541001", 3)]
    assert matching.unmatched.is_empty()


def test_a_return_larger_than_the_last_purchase_splits_across_earlier_ones(
    tmp_path: Path,
) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 5, "01-10 10:00"),
        _line("541001", 2, "02-10 10:00"),
        _line("C542001", -6, "03-10 10:00"),
    )

    assert _taken(matching) == [("C542001", "541001", 2), ("C542001", "540001", 4)]


def test_units_already_given_back_are_not_given_back_twice(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 4, "01-10 10:00"),
        _line("541001", 2, "02-10 10:00"),
        _line("C542001", -3, "03-10 10:00"),
        _line("C543001", -3, "04-10 10:00"),
    )

    assert _taken(matching) == [
        ("C542001", "541001", 2),
        ("C542001", "540001", 1),
        ("C543001", "540001", 3),
    ]


def test_more_units_returned_than_bought_match_in_part_and_the_rest_is_reported(
    tmp_path: Path,
) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 2, "01-10 10:00"),
        _line("C542001", -5, "03-10 10:00"),
    )

    assert _taken(matching) == [("C542001", "540001", 2)]
    assert _why(matching) == [("C542001", Unmatched.MORE_THAN_BOUGHT.value, 3)]


def test_a_return_of_what_was_all_given_back_already_is_more_than_bought(
    tmp_path: Path,
) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 2, "01-10 10:00"),
        _line("C541001", -2, "02-10 10:00"),
        _line("C542001", -1, "03-10 10:00"),
    )

    assert _taken(matching) == [("C541001", "540001", 2)]
    assert _why(matching) == [("C542001", Unmatched.MORE_THAN_BOUGHT.value, 1)]


def test_orders_already_held_match_with_only_the_units_they_have_left(tmp_path: Path) -> None:
    frame = _frame(tmp_path, _line("C565001", -5, "09-02 10:00"))
    # An earlier file's orders: the latest had 1 of its units left, the one before 3.
    held = _held(
        (7, "540001", "22423", "01-10 10:00", 3),
        (9, "541001", "22423", "02-10 10:00", 1),
        (11, "541001", "21212", "02-10 10:00", 9),
        (12, "566001", "22423", "09-05 10:00", 9),
    )

    matching = match_returns(frame, held)

    assert [
        (row["purchase_invoice"], row["purchase_line"], row["quantity"])
        for row in matching.allocations.iter_rows(named=True)
    ] == [("541001", 9, 1), ("540001", 7, 3)]
    assert _why(matching) == [("C565001", Unmatched.MORE_THAN_BOUGHT.value, 1)]


def test_cancellation_lines_imported_before_are_skipped(tmp_path: Path) -> None:
    frame = _frame(
        tmp_path,
        _line("540001", 4, "01-10 10:00"),
        _line("C541001", -2, "02-10 10:00"),
        _line("C541001", -2, "02-10 10:00"),
        _line("C542001", -1, "03-10 10:00"),
    )

    matching = match_returns(frame, imported=frozenset({"C541001|22423|-2|1275|1"}))

    assert _taken(matching) == [("C541001", "540001", 2), ("C542001", "540001", 1)]
    assert matching.already_imported == 1
    assert matching.allocations["return_key"].to_list() == [
        "C541001|22423|-2|1275|2",
        "C542001|22423|-1|1275|1",
    ]


def test_a_cancellation_line_keeps_its_key_when_another_row_is_fixed(tmp_path: Path) -> None:
    before = _frame(tmp_path, _line("540001", 4, "01-10 10:00"), _line("C542001", -1, "03-10 1h"))
    after = _frame(
        tmp_path,
        _line("540001", 4, "01-10 10:00"),
        _line("C541001", -2, "02-10 10:00"),
        _line("C542001", -1, "03-10 10:00"),
    )

    assert match_returns(before).allocations["return_key"].to_list() == []
    assert "C542001|22423|-1|1275|1" in match_returns(after).allocations["return_key"]


def test_a_purchase_after_the_return_is_not_what_it_gave_back(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("C542001", -2, "03-10 10:00"),
        _line("543001", 5, "04-10 10:00"),
    )

    assert _taken(matching) == []
    assert _why(matching) == [("C542001", Unmatched.NO_EARLIER_PURCHASE.value, 2)]


def test_in_the_same_minute_the_invoice_sequence_says_which_came_first(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("542000", 1, "03-10 10:00"),
        _line("C542001", -1, "03-10 10:00"),
        _line("542002", 1, "03-10 10:00"),
    )

    assert _taken(matching) == [("C542001", "542000", 1)]


def test_only_the_same_customers_purchases_of_the_same_code_count(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 5, "01-10 10:00", customer="99999"),
        _line("540002", 5, "01-10 11:00", code="21212"),
        _line("C542001", -1, "03-10 10:00"),
    )

    assert _taken(matching) == []
    assert _why(matching) == [("C542001", Unmatched.NO_EARLIER_PURCHASE.value, 1)]


@pytest.mark.parametrize(
    ("code", "customer", "reason"),
    [
        ("D", "12347", Unmatched.PRICE_ADJUSTMENT),
        ("M", "12347", Unmatched.PRICE_ADJUSTMENT),
        ("POST", "12347", Unmatched.NOT_A_PRODUCT),
        ("AMAZONFEE", "12347", Unmatched.NOT_A_PRODUCT),
        ("22423", "", Unmatched.ANONYMOUS),
    ],
)
def test_lines_that_can_give_nothing_back_say_why(
    tmp_path: Path, code: str, customer: str, reason: Unmatched
) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 5, "01-10 10:00", code=code, customer=customer),
        _line("C542001", -1, "03-10 10:00", code=code, customer=customer),
    )

    assert _taken(matching) == []
    assert _why(matching) == [("C542001", reason.value, 1)]


def test_the_summary_counts_each_reason_with_an_example(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("C542001", -2, "03-10 10:00"),
        _line("C542002", -1, "03-10 11:00", code="POST"),
        _line("C542003", -4, "03-10 12:00", code="21212"),
    )

    assert unmatched_summary(matching.unmatched) == [
        (
            "no earlier purchase (bought before the history starts)",
            2,
            6,
            "row 1: 2 × 22423 on C542001",
        ),
        ("not a product (postage, fees, samples, vouchers)", 1, 1, "row 2: 1 × POST on C542002"),
    ]


def test_unmatched_rows_read_back_in_the_files_own_terms(tmp_path: Path) -> None:
    matching = _match(tmp_path, _line("C542001", -2, "03-10 10:00"))

    assert unmatched_rows(matching.unmatched).to_dicts() == [
        {
            "row": 1,
            "InvoiceNo": "C542001",
            "StockCode": "22423",
            "Description": "REGENCY CAKESTAND 3 TIER",
            "UnmatchedUnits": 2,
            "InvoiceDate": "2011-03-10 10:00",
            "UnitPrice": "12.75",
            "CustomerID": "12347",
            "Country": "France",
            "reason": "no_earlier_purchase",
        }
    ]


def test_every_unit_on_a_cancellation_is_either_matched_or_unmatched(tmp_path: Path) -> None:
    matching = _match(
        tmp_path,
        _line("540001", 3, "01-10 10:00"),
        _line("540001", 1, "01-10 10:00", code="POST"),
        _line("C541001", -2, "02-10 10:00"),
        _line("C541002", -4, "02-11 10:00"),
        _line("C541003", -1, "02-12 10:00", code="POST"),
    )

    matched = matching.allocations["quantity"].sum()
    unmatched = matching.unmatched["units"].sum()
    assert matched + unmatched == 7
    assert matching.allocations.schema["returned_at"] == pl.Datetime("us")
