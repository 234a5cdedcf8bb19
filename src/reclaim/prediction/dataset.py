"""What the return-risk model learns from: sale lines and returns, from a file or the database.

Both sources become one :class:`History` (two Polars frames with fixed columns), so the
backtest on a transaction file and the live model on the database share every feature and
label definition. A sale line counts as returned when the same customer returns the same SKU
within :data:`LABEL_WINDOW_DAYS` after buying it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics.online_retail import Transactions
from reclaim.kit.clock import as_utc
from reclaim.orders.models import Order, OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import Status

LABEL_WINDOW_DAYS = 30
LABEL_WINDOW = timedelta(days=LABEL_WINDOW_DAYS)

LINE_SCHEMA = pl.Schema(
    {
        "line_ref": pl.String(),
        "order": pl.String(),
        "customer": pl.String(),
        "sku": pl.String(),
        "quantity": pl.Int64(),
        "unit_price_minor": pl.Int64(),
        "at": pl.Datetime("us"),
        "country": pl.String(),
    }
)
RETURN_SCHEMA = pl.Schema(
    {
        "ret": pl.String(),
        "customer": pl.String(),
        "sku": pl.String(),
        "quantity": pl.Int64(),
        "at": pl.Datetime("us"),
    }
)


@dataclass(frozen=True)
class History:
    """Sale lines (one per order line, a named customer, quantity > 0) and returns (one per
    returned line: who gave back which SKU when); times are naive UTC."""

    lines: pl.DataFrame
    returns: pl.DataFrame

    @classmethod
    def of(cls, lines: pl.DataFrame, returns: pl.DataFrame) -> History:
        return cls(
            lines.select(LINE_SCHEMA.names()).cast(dict(LINE_SCHEMA)),  # type: ignore[arg-type]
            returns.select(RETURN_SCHEMA.names()).cast(dict(RETURN_SCHEMA)),  # type: ignore[arg-type]
        )

    @classmethod
    def empty(cls) -> History:
        return cls(pl.DataFrame(schema=LINE_SCHEMA), pl.DataFrame(schema=RETURN_SCHEMA))

    def before(self, moment: datetime) -> History:
        """Only what had happened before ``moment``."""
        return History(
            self.lines.filter(pl.col("at") < moment), self.returns.filter(pl.col("at") < moment)
        )


def labels(history: History, window: timedelta = LABEL_WINDOW) -> pl.DataFrame:
    """``line_ref`` → ``returned``: a return of the same SKU by the same customer in
    (bought, bought + window]. A return in the same minute as the sale is not one of it."""
    pairs = history.lines.select("line_ref", "customer", "sku", "at").join(
        history.returns.select("customer", "sku", pl.col("at").alias("returned_at")),
        on=["customer", "sku"],
    )
    hit = pairs.filter(
        (pl.col("returned_at") > pl.col("at")) & (pl.col("returned_at") <= pl.col("at") + window)
    )
    returned = hit.get_column("line_ref").unique().implode()
    return history.lines.select("line_ref", pl.col("line_ref").is_in(returned).alias("returned"))


def from_transactions(transactions: Transactions) -> History:
    """Sale lines and returns of a transaction file: goods only, named customers only."""
    rows = transactions.frame.filter(pl.col("is_product") & pl.col("customer").is_not_null())
    lines = rows.filter(~pl.col("cancellation") & (pl.col("quantity") > 0)).select(
        pl.col("row").cast(pl.String).alias("line_ref"),
        pl.col("invoice").alias("order"),
        "customer",
        pl.col("stock_code").alias("sku"),
        "quantity",
        "unit_price_minor",
        pl.col("invoiced_at").alias("at"),
        "country",
    )
    returns = rows.filter(pl.col("cancellation")).select(
        pl.col("invoice").alias("ret"),
        "customer",
        pl.col("stock_code").alias("sku"),
        (-pl.col("quantity")).alias("quantity"),
        pl.col("invoiced_at").alias("at"),
    )
    return History.of(lines, returns)


def naive_utc(moment: datetime) -> datetime:
    """The frames hold naive UTC times, whichever database (or caller) gave the time."""
    return as_utc(moment).replace(tzinfo=None)


def line_query() -> Select[int, str, int, str, int, int, datetime, str | None]:
    return select(
        OrderLine.id,
        Order.external_id,
        Order.customer_id,
        OrderLine.sku,
        OrderLine.quantity,
        OrderLine.unit_price_minor,
        Order.placed_at,
        Order.ship_country,
    ).join(Order, Order.id == OrderLine.order_id)


def return_query() -> Select[int, int, str, int, datetime]:
    """Every return request but a rejected one: a shopper who asked to send it back."""
    return (
        select(Return.id, Return.customer_id, OrderLine.sku, ReturnLine.quantity, Return.created_at)
        .join(ReturnLine, ReturnLine.return_id == Return.id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(Return.status != Status.REJECTED.value)
    )


async def read_history(
    session: AsyncSession,
    *,
    until: datetime | None = None,
    customer_id: int | None = None,
    skus: list[str] | None = None,
    currency: str | None = None,
) -> History:
    """Order lines and returns from the database: everything, or only one customer's and those
    SKUs' (what scoring one order needs), only before ``until`` and only of orders in
    ``currency`` when given (prices in different minor units don't compare)."""
    lines_q, returns_q = line_query(), return_query()
    if currency is not None:
        lines_q = lines_q.where(Order.currency == currency)
        returns_q = returns_q.join(Order, Order.id == OrderLine.order_id).where(
            Order.currency == currency
        )
    if until is not None:
        lines_q = lines_q.where(Order.placed_at < as_utc(until))
        returns_q = returns_q.where(Return.created_at < as_utc(until))
    if customer_id is not None or skus is not None:
        wanted_lines = []
        wanted_returns = []
        if customer_id is not None:
            wanted_lines.append(Order.customer_id == customer_id)
            wanted_returns.append(Return.customer_id == customer_id)
        if skus:
            wanted_lines.append(OrderLine.sku.in_(skus))
            wanted_returns.append(OrderLine.sku.in_(skus))
        lines_q = lines_q.where(or_(*wanted_lines) if wanted_lines else false())
        returns_q = returns_q.where(or_(*wanted_returns) if wanted_returns else false())
    line_rows = (await session.execute(lines_q)).all()
    return_rows = (await session.execute(returns_q)).all()
    lines = pl.DataFrame(
        [
            (str(i), order, str(cust), sku, qty, price, naive_utc(at), country)
            for i, order, cust, sku, qty, price, at, country in line_rows
        ],
        schema=LINE_SCHEMA,
        orient="row",
    )
    returns = pl.DataFrame(
        [(str(i), str(cust), sku, qty, naive_utc(at)) for i, cust, sku, qty, at in return_rows],
        schema=RETURN_SCHEMA,
        orient="row",
    )
    return History(lines, returns)
