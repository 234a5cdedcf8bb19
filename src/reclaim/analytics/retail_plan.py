"""What an Online Retail file becomes in Reclaim, worked out in polars before anything is written.

Pure: cleaned transactions and their matching in, one frame per table out. The writer
(:mod:`reclaim.analytics.retail_import`) only looks up ids and inserts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from reclaim.analytics.retail_catalog import category_of, country_code

# Stock codes that are the order's carriage: they become its shipping, not lines.
SHIPPING_CODES = frozenset({"POST", "DOT", "C2"})
EMAIL_DOMAIN = "online-retail.invalid"


@dataclass(frozen=True)
class Plan:
    """One frame per table, keyed by the file's own ids, plus what was left out and why.

    Returns are shaped apart (:func:`returns_of`): they are matched against the orders as
    they stand in the database once this file's orders are in."""

    customers: pl.DataFrame
    products: pl.DataFrame
    orders: pl.DataFrame
    lines: pl.DataFrame
    anonymous_rows: int
    charge_rows: int
    orders_without_goods: int


def client_token(return_invoice: str, order: str, keys: list[str]) -> str:
    """The return's idempotency key, from the cancellation lines it gives back (``keys``):
    importing the same file again finds it and adds nothing."""
    named = "|".join([return_invoice, order, *sorted(keys)])
    digest = hashlib.sha256(f"online-retail|{named}".encode()).hexdigest()
    return f"or-{digest[:61]}"


def customer_email(customer: str) -> str:
    """A placeholder on the reserved ``.invalid`` domain: nothing can ever be delivered to it."""
    return f"customer-{customer}@{EMAIL_DOMAIN}"


def _half_up(value: pl.Expr) -> pl.Expr:
    return (value + 0.5).floor().cast(pl.Int64)


def plan(frame: pl.DataFrame) -> Plan:
    sales = frame.filter(~pl.col("cancellation"))
    anonymous = sales.filter(pl.col("customer").is_null())
    known = sales.filter(pl.col("customer").is_not_null())
    is_shipping = pl.col("stock_code").is_in(list(SHIPPING_CODES))
    charges = known.filter(~pl.col("is_product") & ~is_shipping)
    goods = known.filter(pl.col("is_product")).with_columns(
        pl.col("row").rank("ordinal").over("invoice").cast(pl.String).alias("line_ref")
    )
    shipping = (
        known.filter(is_shipping)
        .group_by("invoice")
        .agg((pl.col("quantity") * pl.col("unit_price_minor")).sum().alias("shipping_minor"))
    )
    orders = (
        goods.group_by("invoice")
        .agg(
            pl.col("customer").first(),
            pl.col("invoiced_at").min().alias("placed_at"),
            pl.col("country").first(),
            (pl.col("quantity") * pl.col("unit_price_minor")).sum().alias("goods_minor"),
        )
        .join(shipping, on="invoice", how="left")
        .with_columns(pl.col("shipping_minor").fill_null(0))
        .with_columns(
            (pl.col("goods_minor") + pl.col("shipping_minor")).alias("paid_minor"),
            pl.col("country")
            .map_elements(country_code, return_dtype=pl.String)
            .alias("ship_country"),
        )
        .sort("placed_at", "invoice")
    )
    invoices_with_customer = known.select(pl.col("invoice").n_unique()).item()
    customers = (
        orders.select("customer")
        .unique()
        .sort("customer")
        .with_columns(
            pl.col("customer").map_elements(customer_email, return_dtype=pl.String).alias("email")
        )
    )
    products = _products(goods)
    lines = goods.select(
        "row",
        "invoice",
        "customer",
        "line_ref",
        pl.col("stock_code").alias("sku"),
        "quantity",
        "unit_price_minor",
    )
    return Plan(
        customers=customers,
        products=products,
        orders=orders,
        lines=lines,
        anonymous_rows=anonymous.height,
        charge_rows=charges.height,
        orders_without_goods=invoices_with_customer - orders.height,
    )


def _products(goods: pl.DataFrame) -> pl.DataFrame:
    """Name: the description used most (ties: the first alphabetically); price: the median."""
    names = (
        goods.filter(pl.col("description").is_not_null())
        .group_by("stock_code", "description")
        .len()
        .sort(["stock_code", "len", "description"], descending=[False, True, False])
        .group_by("stock_code", maintain_order=True)
        .first()
        .select("stock_code", pl.col("description").alias("name"))
    )
    return (
        goods.group_by("stock_code")
        .agg(_half_up(pl.col("unit_price_minor").median()).alias("price_minor"))
        .join(names, on="stock_code", how="left")
        .with_columns(pl.col("name").fill_null(pl.col("stock_code")).str.slice(0, 255))
        .with_columns(
            pl.col("name").map_elements(category_of, return_dtype=pl.String).alias("category")
        )
        .select(pl.col("stock_code").alias("sku"), "name", "category", "price_minor")
        .sort("sku")
    )


def returns_of(allocations: pl.DataFrame) -> pl.DataFrame:
    """One row per return line from the matcher's allocations: the cancellation invoice and the
    order it gives back to (one Reclaim return per pair, named by ``token``; ``keys`` are the
    cancellation lines it holds), the purchase line, the units and their value (what the
    cancellation credited, never more than was paid for those units: ``asked_minor`` is the
    credit before that cap)."""
    grouped = (
        allocations.group_by("return_invoice", "purchase_invoice", "purchase_line")
        .agg(
            pl.col("returned_at").first(),
            pl.col("customer").first(),
            pl.col("stock_code").first().alias("sku"),
            pl.col("quantity").sum(),
            (pl.col("quantity") * pl.col("return_unit_price_minor")).sum().alias("asked_minor"),
            (
                pl.col("quantity")
                * pl.min_horizontal("return_unit_price_minor", "purchase_unit_price_minor")
            )
            .sum()
            .alias("value_minor"),
        )
        .rename({"purchase_invoice": "order", "purchase_line": "line"})
    )
    tokens = (
        allocations.group_by("return_invoice", pl.col("purchase_invoice").alias("order"))
        .agg(pl.col("return_key").unique().sort().alias("keys"))
        .with_columns(
            pl.struct("return_invoice", "order", "keys")
            .map_elements(
                lambda group: client_token(group["return_invoice"], group["order"], group["keys"]),
                return_dtype=pl.String,
            )
            .alias("token")
        )
    )
    return grouped.join(tokens, on=["return_invoice", "order"]).sort(
        "returned_at", "return_invoice", "order", "line"
    )


def conflicting_units(
    lines: pl.DataFrame, held: pl.DataFrame, existing: list[str], cancelled: pl.DataFrame
) -> int:
    """Units the file bought on orders the database already had that those orders don't hold
    (a line the file has and the order never got, or fewer units), counted for the stock
    codes customers gave back: a return of them can't be taken from there.

    ``lines``: the file's order lines (invoice, customer, sku, quantity); ``held``: the database's
    purchases (:data:`~reclaim.analytics.online_retail.PURCHASE_SCHEMA` plus ``quantity``);
    ``cancelled``: the (customer, stock_code) pairs given back."""
    if not existing or cancelled.is_empty():
        return 0
    pairs = cancelled.select("customer", pl.col("stock_code").alias("sku")).unique()
    in_file = (
        lines.filter(pl.col("invoice").is_in(existing))
        .join(pairs, on=["customer", "sku"])
        .group_by("invoice", "sku")
        .agg(pl.col("quantity").sum().alias("bought"))
    )
    in_db = held.group_by(pl.col("order").alias("invoice"), pl.col("stock_code").alias("sku")).agg(
        pl.col("quantity").sum().alias("held")
    )
    missing = in_file.join(in_db, on=["invoice", "sku"], how="left").select(
        (pl.col("bought") - pl.col("held").fill_null(0)).clip(lower_bound=0).sum()
    )
    return int(missing.item() or 0)
