"""Return-risk labels and features on hand-made histories: the 30-day label rule, values that
can be checked by hand, and the point-in-time promise (nothing at or after a purchase, other
than its own order, can change what the model sees of it)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclaim.prediction import dataset
from reclaim.prediction import features as F

SETTINGS = settings(max_examples=60, derandomize=True, database=None, deadline=None)
T0 = datetime(2024, 1, 1, 10, 0)


def history(lines: list[tuple[Any, ...]], returns: list[tuple[Any, ...]]) -> dataset.History:
    """lines: (ref, order, customer, sku, quantity, price, at); returns: (customer, sku, at)."""
    line_frame = pl.DataFrame(
        [(*row, "United Kingdom") for row in lines], schema=dataset.LINE_SCHEMA, orient="row"
    )
    return_frame = pl.DataFrame(
        [(f"R{i}", c, s, 1, at) for i, (c, s, at) in enumerate(returns)],
        schema=dataset.RETURN_SCHEMA,
        orient="row",
    )
    return dataset.History(line_frame, return_frame)


def labelled(h: dataset.History) -> dict[str, bool]:
    return dict(dataset.labels(h).iter_rows())


# --- labels ---------------------------------------------------------------------------------


def test_a_line_is_returned_when_the_same_customer_returns_the_same_code_within_30_days() -> None:
    h = history(
        [
            ("1", "A", "alice", "MUG", 1, 500, T0),
            ("2", "A", "alice", "CUP", 1, 300, T0),
            ("3", "B", "bob", "MUG", 1, 500, T0),
        ],
        [("alice", "MUG", T0 + timedelta(days=30))],
    )
    assert labelled(h) == {"1": True, "2": False, "3": False}


@pytest.mark.parametrize(
    ("after", "returned"),
    [
        (timedelta(0), False),  # the same minute: not a return of this purchase
        (timedelta(minutes=1), True),
        (timedelta(days=30), True),
        (timedelta(days=30, minutes=1), False),
        (-timedelta(days=1), False),  # before it was bought
    ],
)
def test_the_label_window_is_after_the_purchase_and_30_days_long(
    after: timedelta, returned: bool
) -> None:
    h = history([("1", "A", "alice", "MUG", 1, 500, T0)], [("alice", "MUG", T0 + after)])
    assert labelled(h) == {"1": returned}


def test_one_return_labels_every_purchase_of_that_code_in_the_30_days_before_it() -> None:
    h = history(
        [
            ("1", "A", "alice", "MUG", 1, 500, T0),
            ("2", "B", "alice", "MUG", 2, 500, T0 + timedelta(days=10)),
            ("3", "C", "alice", "MUG", 2, 500, T0 - timedelta(days=40)),
        ],
        [("alice", "MUG", T0 + timedelta(days=20))],
    )
    assert labelled(h) == {"1": True, "2": True, "3": False}


# --- values by hand -------------------------------------------------------------------------


def test_history_features_count_only_what_came_before_the_purchase() -> None:
    day = timedelta(days=1)
    h = history(
        [
            ("1", "A", "alice", "MUG", 2, 500, T0),
            ("2", "A", "alice", "CUP", 1, 300, T0),
            ("3", "B", "alice", "MUG", 1, 500, T0 + 10 * day),
            ("4", "C", "bob", "MUG", 4, 400, T0 + 20 * day),
            ("5", "D", "alice", "PLATE", 1, 900, T0 + 40 * day),
        ],
        [("alice", "MUG", T0 + 5 * day)],
    )
    priors = F.Priors(line_rate=0.1, order_rate=0.2)
    rows = {r["line_ref"]: r for r in F.line_features(h, priors).iter_rows(named=True)}

    first, third, fifth = rows["1"], rows["3"], rows["5"]
    assert first["cust_lines"] == 0 and first["cust_days_since_last"] is None
    assert first["cust_return_rate"] == pytest.approx(0.1)  # the prior, nothing seen
    assert first["order_lines"] == 2 and first["order_value"] == 1300
    assert first["value_share"] == pytest.approx(1000 / 1300)

    assert third["cust_lines"] == 2 and third["cust_orders"] == 1 and third["cust_returns"] == 1
    assert third["cust_return_rate"] == pytest.approx((1 + 20 * 0.1) / (2 + 20))
    assert third["cust_order_return_rate"] == pytest.approx((1 + 5 * 0.2) / (1 + 5))
    assert third["cust_days_since_last"] == pytest.approx(10)
    assert third["cust_days_since_return"] == pytest.approx(5)
    assert third["cust_sku_lines"] == 1 and third["cust_sku_returns"] == 1
    assert third["cust_returns_7d"] == 1 and third["cust_returns_1d"] == 0
    assert third["sku_lines"] == 1 and third["sku_returns"] == 1
    assert third["price_vs_usual"] == pytest.approx(1.0)

    assert rows["4"]["sku_lines"] == 2 and rows["4"]["sku_customers"] == 1
    assert rows["4"]["quantity_vs_usual"] == pytest.approx(4 / 1.5)
    assert fifth["cust_lines_30d"] == 1 and fifth["cust_lines_90d"] == 3
    assert fifth["cust_days_since_first"] == pytest.approx(40)
    assert fifth["sku_lines"] == 0 and fifth["sku_return_rate"] == pytest.approx(0.1)


def test_priors_are_the_shops_average_rates() -> None:
    h = history(
        [("1", "A", "a", "X", 1, 1, T0), ("2", "A", "a", "Y", 1, 1, T0)]
        + [("3", "B", "b", "X", 1, 1, T0), ("4", "C", "c", "X", 1, 1, T0)],
        [("a", "X", T0 + timedelta(days=1))],
    )
    assert F.priors_of(h) == F.Priors(line_rate=0.25, order_rate=1 / 3)
    assert F.priors_of(dataset.History.empty()) == F.Priors(0.0, 0.0)


def test_an_order_is_summed_up_from_its_lines_for_the_order_model() -> None:
    h = history(
        [("1", "A", "a", "X", 2, 100, T0), ("2", "A", "a", "Y", 1, 700, T0)],
        [],
    )
    lines = F.line_features(h, F.Priors(0.05, 0.2))
    orders = F.order_features(lines).row(0, named=True)
    assert orders["order"] == "A" and orders["order_lines"] == 2
    assert orders["max_line_value"] == 700 and orders["order_new_products"] == 2
    assert set(F.ORDER_NAMES) <= set(orders)


# --- point in time ----------------------------------------------------------------------------

CUSTOMERS = ("a", "b", "c")
SKUS = ("W", "X", "Y", "Z")


@st.composite
def histories(draw: st.DrawFn) -> tuple[dataset.History, str]:
    """A few orders and returns over 60 days, and one line to look at."""
    lines: list[tuple[Any, ...]] = []
    for n in range(draw(st.integers(2, 10))):
        at = T0 + timedelta(hours=draw(st.integers(0, 60 * 24)))
        customer = draw(st.sampled_from(CUSTOMERS))
        for _ in range(draw(st.integers(1, 3))):
            sku = draw(st.sampled_from(SKUS))
            quantity, price = draw(st.integers(1, 9)), draw(st.integers(0, 999))
            lines.append((str(len(lines)), f"O{n}", customer, sku, quantity, price, at))
    returns = [
        (
            draw(st.sampled_from(CUSTOMERS)),
            draw(st.sampled_from(SKUS)),
            T0 + timedelta(hours=draw(st.integers(0, 60 * 24))),
        )
        for _ in range(draw(st.integers(0, 6)))
    ]
    target = draw(st.sampled_from([row[0] for row in lines]))
    return history(lines, returns), target


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _features_of(h: dataset.History, ref: str) -> dict[str, Any]:
    frame = F.line_features(h, F.Priors(0.05, 0.2))
    return frame.filter(pl.col("line_ref") == ref).row(0, named=True)


@SETTINGS
@given(histories(), st.data())
def test_nothing_at_or_after_a_purchase_changes_its_features(
    case: tuple[dataset.History, str], data: st.DataObject
) -> None:
    h, ref = case
    target = h.lines.filter(pl.col("line_ref") == ref).row(0, named=True)
    at, order = target["at"], target["order"]
    later_lines = (pl.col("at") >= at) & (pl.col("order") != order)
    # Later rows: some removed, the rest with other quantities and prices; more returns.
    keep = data.draw(st.lists(st.booleans(), min_size=h.lines.height, max_size=h.lines.height))
    changed = h.lines.with_columns(pl.Series("_keep", keep)).filter(~later_lines | pl.col("_keep"))
    changed = changed.with_columns(
        pl.when(later_lines).then(pl.col("quantity") * 7 + 1).otherwise(pl.col("quantity")),
        pl.when(later_lines)
        .then(pl.col("unit_price_minor") + 13)
        .otherwise(pl.col("unit_price_minor")),
    ).drop("_keep")
    extra = pl.DataFrame(
        [
            ("LATE", target["customer"], target["sku"], 3, at),
            ("LATER", target["customer"], "W", 1, at + timedelta(days=1)),
        ],
        schema=dataset.RETURN_SCHEMA,
        orient="row",
    )
    altered = dataset.History(changed, pl.concat([h.returns, extra]))

    before, after = _features_of(h, ref), _features_of(altered, ref)
    differing = [n for n in F.NAMES if not _same(before[n], after[n])]
    assert differing == []


@SETTINGS
@given(histories())
def test_removing_everything_later_changes_no_line_before_it(
    case: tuple[dataset.History, str],
) -> None:
    h, ref = case
    at = h.lines.filter(pl.col("line_ref") == ref).get_column("at")[0]
    earlier = h.lines.filter(pl.col("at") < at).get_column("line_ref").implode()
    whole = F.line_features(h, F.Priors(0.05, 0.2)).filter(pl.col("line_ref").is_in(earlier))
    cut = F.line_features(h.before(at), F.Priors(0.05, 0.2))
    pairs = zip(whole.sort("line_ref").iter_rows(), cut.sort("line_ref").iter_rows(), strict=True)
    assert all(_same(a, b) for left, right in pairs for a, b in zip(left, right, strict=True))
