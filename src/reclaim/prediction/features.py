"""The return-risk features of each sale line: pure Polars, values in, values out.

Point in time: a line bought at ``t`` sees only history strictly before ``t`` (the customer's
earlier lines, orders and returns; the product's earlier sales and returns) plus its own order,
which is what a checkout knows. Every history feature is a cumulative sum per key over rows
grouped by instant, less the instant's own rows, so nothing at or after ``t`` can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import polars as pl

from reclaim.prediction.dataset import History

Format = Literal["count", "rate", "days", "money", "ratio", "share", "hour", "weekday", "text"]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    words: str  # how a driver reads: "the customer's past return rate"
    format: Format


# Recent activity counts for the customer, over these many days before the purchase.
WINDOWS = (1, 7, 30, 90)
# A rate is shrunk toward the shop's average as if this many lines (orders) had been seen at
# it, so a customer's one return of one line is not a 100% return rate.
LINE_PRIOR_WEIGHT = 20.0
ORDER_PRIOR_WEIGHT = 5.0

_WINDOW_COUNTS = {
    "lines": ("lines bought", "count"),
    "value": ("spend", "money"),
    "returns": ("lines returned", "count"),
    "orders": ("orders placed", "count"),
    "return_orders": ("returns made", "count"),
}

FEATURES: tuple[Feature, ...] = (
    Feature("quantity", "the quantity", "count"),
    Feature("unit_price", "the unit price", "money"),
    Feature("line_value", "the line's value", "money"),
    Feature("price_vs_usual", "the price against the product's usual price", "ratio"),
    Feature("quantity_vs_usual", "the quantity against the product's usual quantity", "ratio"),
    Feature("quantity_vs_customer", "the quantity against what the customer buys of it", "ratio"),
    Feature("value_share", "the line's share of the order", "share"),
    Feature("order_lines", "lines in the order", "count"),
    Feature("order_units", "units in the order", "count"),
    Feature("order_value", "the order's value", "money"),
    Feature("order_products", "different products in the order", "count"),
    Feature("order_same_sku_lines", "lines of this product in the order", "count"),
    Feature("order_repeat_1d", "share of the order bought again within a day", "share"),
    Feature("order_repeat_7d", "share of the order bought again within a week", "share"),
    Feature("order_repeat_90d", "share of the order bought again within 90 days", "share"),
    Feature("order_value_vs_usual", "the order's value against the customer's usual", "ratio"),
    Feature("weekday", "the day of the week", "weekday"),
    Feature("hour", "the hour of the day", "hour"),
    Feature("country", "the country", "text"),
    Feature("cust_lines", "the customer's earlier lines", "count"),
    Feature("cust_orders", "the customer's earlier orders", "count"),
    Feature("cust_units", "the customer's earlier units", "count"),
    Feature("cust_value", "the customer's earlier spend", "money"),
    Feature("cust_returns", "the customer's earlier returned lines", "count"),
    Feature("cust_returned_units", "the customer's earlier returned units", "count"),
    Feature("cust_return_orders", "the customer's earlier returns", "count"),
    Feature("cust_return_rate", "the customer's past return rate (lines)", "rate"),
    Feature("cust_order_return_rate", "the customer's past return rate (orders)", "rate"),
    Feature("cust_days_since_first", "days since the customer's first order", "days"),
    Feature("cust_days_since_last", "days since the customer's last order", "days"),
    Feature("cust_days_since_return", "days since the customer's last return", "days"),
    Feature("cust_lines_per_order", "the customer's usual lines per order", "ratio"),
    Feature("cust_lines_per_return", "lines in the customer's usual return", "ratio"),
    Feature("order_lines_vs_usual", "the order's lines against the customer's usual", "ratio"),
    Feature("cust_value_per_order", "the customer's usual order value", "money"),
    *(
        Feature(f"cust_{key}_{days}d", f"the customer's {words} in the last {days} days", fmt)  # type: ignore[arg-type]
        for days in WINDOWS
        for key, (words, fmt) in _WINDOW_COUNTS.items()
    ),
    Feature("cust_sku_lines", "times the customer bought this product before", "count"),
    Feature("cust_sku_returns", "times the customer returned this product before", "count"),
    Feature("cust_sku_days_since_last", "days since the customer last bought it", "days"),
    Feature("sku_lines", "the product's earlier sales (lines)", "count"),
    Feature("sku_units", "the product's earlier units sold", "count"),
    Feature("sku_returns", "the product's earlier returns", "count"),
    Feature("sku_return_rate", "the product's past return rate", "rate"),
    Feature("sku_customers", "customers who bought the product before", "count"),
    Feature("sku_repeat_rate", "the product's earlier lines per customer", "ratio"),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME = {f.name: f for f in FEATURES}
CATEGORICAL = ("country",)
# Whose higher values can only raise the risk: the model is held to that, which keeps it
# sensible for customers with more history than any it was trained on.
INCREASING: frozenset[str] = frozenset(
    {
        "line_value",
        "cust_returns",
        "cust_returned_units",
        "cust_return_orders",
        "cust_return_rate",
        "cust_order_return_rate",
        "cust_sku_returns",
        "sku_returns",
        "sku_return_rate",
        *(f"cust_{key}_{days}d" for days in WINDOWS for key in ("returns", "return_orders")),
    }
)


@dataclass(frozen=True, slots=True)
class Priors:
    """The shop's average return rates the smoothed rates shrink toward: per line (a return
    per line bought) and per order (orders with a return)."""

    line_rate: float
    order_rate: float


def priors_of(history: History) -> Priors:
    """Average rates over all of ``history``: pass only what is known at the cut."""
    lines, orders = history.lines.height, history.lines.get_column("order").n_unique()
    returns, return_orders = history.returns.height, history.returns.get_column("ret").n_unique()
    return Priors(
        line_rate=min(returns / lines, 1.0) if lines else 0.0,
        order_rate=min(return_orders / orders, 1.0) if orders else 0.0,
    )


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(None)


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_seconds(fractional=True) / 86400.0


def _strictly_before(events: pl.DataFrame, keys: list[str], sums: list[str]) -> pl.DataFrame:
    """Per key and instant: each sum over the key's rows at earlier instants only."""
    grouped = events.group_by([*keys, "at"]).agg(pl.col(c).sum() for c in sums)
    grouped = grouped.sort([*keys, "at"])
    return grouped.with_columns(
        (pl.col(c).cum_sum().over(keys) - pl.col(c)).alias(f"before_{c}") for c in sums
    )


def _customer(lines: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    sums = ["lines", "units", "value", "returns", "returned_units", "orders", "return_orders"]
    events = pl.concat(
        [
            lines.select(
                "customer",
                "at",
                pl.lit(1).alias("lines"),
                pl.col("quantity").alias("units"),
                "value",
            ),
            returns.select(
                "customer",
                "at",
                pl.lit(1).alias("returns"),
                pl.col("quantity").alias("returned_units"),
            ),
            lines.group_by("customer", "order")
            .agg(pl.col("at").min())
            .select("customer", "at", pl.lit(1).alias("orders")),
            returns.group_by("customer", "ret")
            .agg(pl.col("at").min())
            .select("customer", "at", pl.lit(1).alias("return_orders")),
        ],
        how="diagonal_relaxed",
    ).with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in sums)
    table = _strictly_before(events, ["customer"], sums)
    sale_at = pl.when(pl.col("lines") > 0).then(pl.col("at"))
    return_at = pl.when(pl.col("returns") > 0).then(pl.col("at"))
    table = table.with_columns(
        sale_at.shift(1).forward_fill().over("customer").alias("last_sale"),
        return_at.shift(1).forward_fill().over("customer").alias("last_return"),
        # The first sale ever is before t exactly when there is any sale before t.
        pl.when(pl.col("before_lines") > 0)
        .then(sale_at.min().over("customer"))
        .alias("first_sale"),
    )
    # Rows in [t - days, t): everything before t less everything before t - days.
    inclusive = table.select(
        "customer",
        pl.col("at").alias("_edge"),
        *(pl.col(c).cum_sum().over("customer").alias(f"_inc_{c}") for c in sums),
    ).sort("_edge")
    window_sums = {"lines", "value", "returns", "orders", "return_orders"}
    for days in WINDOWS:
        edges = table.select(
            "customer", "at", (pl.col("at") - timedelta(days=days)).alias("_edge")
        ).sort("_edge")
        earlier = edges.join_asof(
            inclusive,
            on="_edge",
            by="customer",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        table = table.join(
            earlier.select(
                "customer",
                "at",
                *(pl.col(f"_inc_{c}").fill_null(0).alias(f"_old_{c}") for c in window_sums),
            ),
            on=["customer", "at"],
        ).with_columns(
            (pl.col(f"before_{c}") - pl.col(f"_old_{c}")).alias(f"cust_{c}_{days}d")
            for c in window_sums
        )
        table = table.drop(f"_old_{c}" for c in window_sums)
    return table.drop(sums).rename({f"before_{c}": f"c_{c}" for c in sums})


def _pair(lines: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    """The customer's history with this one SKU."""
    events = pl.concat(
        [
            lines.select("customer", "sku", "at", pl.lit(1).alias("lines"), "quantity"),
            returns.select("customer", "sku", "at", pl.lit(1).alias("returns")),
        ],
        how="diagonal_relaxed",
    ).with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in ("lines", "quantity", "returns"))
    table = _strictly_before(events, ["customer", "sku"], ["lines", "quantity", "returns"])
    return table.with_columns(
        pl.when(pl.col("lines") > 0)
        .then(pl.col("at"))
        .shift(1)
        .forward_fill()
        .over("customer", "sku")
        .alias("pair_last_sale")
    ).select(
        "customer",
        "sku",
        "at",
        pl.col("before_lines").alias("cust_sku_lines"),
        pl.col("before_quantity").alias("pair_units"),
        pl.col("before_returns").alias("cust_sku_returns"),
        "pair_last_sale",
    )


def _product(lines: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    first_buys = lines.group_by("sku", "customer").agg(pl.col("at").min())
    sums = ["lines", "units", "value", "returns", "customers"]
    events = pl.concat(
        [
            lines.select(
                "sku", "at", pl.lit(1).alias("lines"), pl.col("quantity").alias("units"), "value"
            ),
            returns.select("sku", "at", pl.lit(1).alias("returns")),
            first_buys.select("sku", "at", pl.lit(1).alias("customers")),
        ],
        how="diagonal_relaxed",
    ).with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in sums)
    table = _strictly_before(events, ["sku"], sums)
    return table.select("sku", "at", *(pl.col(f"before_{c}").alias(f"p_{c}") for c in sums))


def _orders(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.group_by("order").agg(
        pl.len().alias("order_lines"),
        pl.col("quantity").sum().alias("order_units"),
        pl.col("value").sum().alias("order_value"),
        pl.col("sku").n_unique().alias("order_products"),
    )


def line_features(history: History, priors: Priors) -> pl.DataFrame:
    """One row per sale line of ``history``: ``line_ref``, ``order``, then :data:`NAMES`."""
    lines = history.lines.with_columns(
        (pl.col("quantity") * pl.col("unit_price_minor")).alias("value")
    )
    returns = history.returns
    frame = (
        lines.join(_customer(lines, returns), on=["customer", "at"], how="left")
        .join(_pair(lines, returns), on=["customer", "sku", "at"], how="left")
        .join(_product(lines, returns), on=["sku", "at"], how="left")
        .join(_orders(lines), on="order", how="left")
        .with_columns(pl.len().over("order", "sku").alias("order_same_sku_lines"))
    )
    since_pair = _days(pl.col("at"), pl.col("pair_last_sale"))
    frame = frame.with_columns(
        pl.col("unit_price_minor").alias("unit_price"),
        pl.col("value").alias("line_value"),
        _ratio(
            pl.col("unit_price_minor").cast(pl.Float64),
            _ratio(pl.col("p_value"), pl.col("p_units")),
        ).alias("price_vs_usual"),
        _ratio(
            pl.col("quantity").cast(pl.Float64), _ratio(pl.col("p_units"), pl.col("p_lines"))
        ).alias("quantity_vs_usual"),
        _ratio(
            pl.col("quantity").cast(pl.Float64),
            _ratio(pl.col("pair_units"), pl.col("cust_sku_lines")),
        ).alias("quantity_vs_customer"),
        _ratio(pl.col("value"), pl.col("order_value")).alias("value_share"),
        *(
            (since_pair < days).fill_null(False).mean().over("order").alias(f"order_repeat_{days}d")
            for days in (1, 7, 90)
        ),
        _ratio(
            pl.col("order_value").cast(pl.Float64), _ratio(pl.col("c_value"), pl.col("c_orders"))
        ).alias("order_value_vs_usual"),
        pl.col("at").dt.weekday().alias("weekday"),
        pl.col("at").dt.hour().alias("hour"),
        pl.col("c_lines").alias("cust_lines"),
        pl.col("c_orders").alias("cust_orders"),
        pl.col("c_units").alias("cust_units"),
        pl.col("c_value").alias("cust_value"),
        pl.col("c_returns").alias("cust_returns"),
        pl.col("c_returned_units").alias("cust_returned_units"),
        pl.col("c_return_orders").alias("cust_return_orders"),
        (
            (pl.col("c_returns") + LINE_PRIOR_WEIGHT * priors.line_rate)
            / (pl.col("c_lines") + LINE_PRIOR_WEIGHT)
        ).alias("cust_return_rate"),
        (
            (pl.col("c_return_orders") + ORDER_PRIOR_WEIGHT * priors.order_rate)
            / (pl.col("c_orders") + ORDER_PRIOR_WEIGHT)
        ).alias("cust_order_return_rate"),
        _days(pl.col("at"), pl.col("first_sale")).alias("cust_days_since_first"),
        _days(pl.col("at"), pl.col("last_sale")).alias("cust_days_since_last"),
        _days(pl.col("at"), pl.col("last_return")).alias("cust_days_since_return"),
        _ratio(pl.col("c_lines"), pl.col("c_orders")).alias("cust_lines_per_order"),
        _ratio(pl.col("c_value"), pl.col("c_orders")).alias("cust_value_per_order"),
        _ratio(pl.col("c_returns"), pl.col("c_return_orders")).alias("cust_lines_per_return"),
        _ratio(
            pl.col("order_lines").cast(pl.Float64), _ratio(pl.col("c_lines"), pl.col("c_orders"))
        ).alias("order_lines_vs_usual"),
        _ratio(pl.col("p_lines"), pl.col("p_customers")).alias("sku_repeat_rate"),
        since_pair.alias("cust_sku_days_since_last"),
        pl.col("p_lines").alias("sku_lines"),
        pl.col("p_units").alias("sku_units"),
        pl.col("p_returns").alias("sku_returns"),
        (
            (pl.col("p_returns") + LINE_PRIOR_WEIGHT * priors.line_rate)
            / (pl.col("p_lines") + LINE_PRIOR_WEIGHT)
        ).alias("sku_return_rate"),
        pl.col("p_customers").alias("sku_customers"),
    )
    numeric = [n for n in NAMES if n not in CATEGORICAL]
    return frame.select(
        "line_ref",
        "order",
        *(pl.col(n).cast(pl.Float64).fill_nan(None).alias(n) for n in numeric),
        *(pl.col(n) for n in CATEGORICAL),
    ).select("line_ref", "order", *NAMES)


# The order model sees the order as a whole: what the customer and the order are (the same on
# every line), and the riskiest or summed figures of its lines.
ORDER_LEVEL: tuple[str, ...] = tuple(
    n for n in NAMES if n.startswith(("cust_", "order_")) and not n.startswith("cust_sku_")
) + ("weekday", "hour", "country")
_ORDER_AGGREGATES: tuple[tuple[Feature, pl.Expr], ...] = (
    (
        Feature("max_sku_return_rate", "the return rate of the order's riskiest product", "rate"),
        pl.col("sku_return_rate").max(),
    ),
    (
        Feature("mean_sku_return_rate", "the order's products' average return rate", "rate"),
        pl.col("sku_return_rate").mean(),
    ),
    (
        Feature("max_line_value", "the order's most valuable line", "money"),
        pl.col("line_value").max(),
    ),
    (
        Feature("max_unit_price", "the order's dearest unit price", "money"),
        pl.col("unit_price").max(),
    ),
    (
        Feature("max_price_vs_usual", "the order's highest price against usual", "ratio"),
        pl.col("price_vs_usual").max(),
    ),
    (
        Feature("max_quantity_vs_usual", "the order's largest quantity against usual", "ratio"),
        pl.col("quantity_vs_usual").max(),
    ),
    (
        Feature(
            "order_sku_returns", "the customer's earlier returns of the order's products", "count"
        ),
        pl.col("cust_sku_returns").sum(),
    ),
    (
        Feature(
            "order_sku_lines", "the customer's earlier purchases of the order's products", "count"
        ),
        pl.col("cust_sku_lines").sum(),
    ),
    (
        Feature("order_new_products", "products in the order never sold before", "count"),
        (pl.col("sku_lines") == 0).sum(),
    ),
)
ORDER_FEATURES: tuple[Feature, ...] = tuple(BY_NAME[n] for n in ORDER_LEVEL) + tuple(
    f for f, _ in _ORDER_AGGREGATES
)
ORDER_NAMES: tuple[str, ...] = tuple(f.name for f in ORDER_FEATURES)
ALL_NAMES: frozenset[str] = frozenset(NAMES) | frozenset(ORDER_NAMES)
ALL_BY_NAME = {f.name: f for f in (*FEATURES, *ORDER_FEATURES)}
ORDER_INCREASING = (INCREASING & set(ORDER_NAMES)) | {"max_sku_return_rate", "order_sku_returns"}


def order_features(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per ``order`` of line features (``order`` plus :data:`NAMES`)."""
    return (
        lines.group_by("order", maintain_order=True)
        .agg(
            *(pl.col(n).first() for n in ORDER_LEVEL),
            *(expr.cast(pl.Float64).alias(f.name) for f, expr in _ORDER_AGGREGATES),
        )
        .select("order", *ORDER_NAMES)
    )
