"""Writing an Online Retail file into Reclaim's tables, fast: set-based, in one transaction.

The shape of everything is worked out in polars first (:mod:`retail_plan`); here ids are looked
up and rows go in as bulk INSERTs (a few thousand per statement), never ORM objects one by one.
Rows that already exist (customers and orders by external id, products by SKU) are left alone,
and cancellation lines an earlier import made a return of are skipped, so importing the same
file twice adds nothing the second time. Returns are matched once the file's orders are in,
against every order of the customer in the database, so a file of later months finds the
purchases an earlier one brought in.

History isn't news: nothing goes to the outbox, so no shopper is e-mailed and no webhook fires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.analytics.online_retail import (
    PURCHASE_SCHEMA,
    Matching,
    RowProblem,
    cancellations,
    match_returns,
    read_transactions,
)
from reclaim.analytics.retail_plan import conflicting_units, plan, returns_of
from reclaim.analytics.retail_returns import (
    CHUNK,
    LOOKUP_CHUNK,
    CappedRefund,
    OrderState,
    ReturnRows,
    build_return,
    chunks,
    held_purchases,
    imported_cancellation_lines,
    table_of,
    utc,
    with_return_ids,
)
from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.kit.money import check_currency, minor_digits
from reclaim.logistics.models import Facility
from reclaim.logistics.schemas import FacilityKind
from reclaim.orders.models import Customer, Order, OrderLine, OrderPayment
from reclaim.refunds.models import Refund, RefundPart
from reclaim.returns.models import Return, ReturnEvent, ReturnLine

# phase, done, total
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportReport:
    rows: int
    problems: list[RowProblem]
    currency: str
    customers: int
    products: int
    orders: int
    lines: int
    returns: int
    return_units: int
    refunded_minor: int
    # Left as they were: already imported (or created some other way).
    existing_orders: int
    existing_returns: int
    anonymous_rows: int
    charge_rows: int
    orders_without_goods: int
    # Cancellation lines (or the part of one) that became no return, with the reason.
    unmatched: pl.DataFrame
    capped: list[CappedRefund]
    # Units the file bought on orders already in the database that those orders don't hold.
    conflicting_units: int
    facility: str | None
    seconds: float
    rollups: rollups.RefreshReport | None = None


async def import_file(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    currency: str = "GBP",
    facility_code: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the file in one transaction, then bring the dashboards' rollups up to date.

    A file that can't be read (or lacks a required column) raises ``ValidationFailed`` with
    nothing written; malformed rows are skipped and listed in the report."""
    started = time.monotonic()
    tell = progress or (lambda _phase, _done, _total: None)
    currency = check_currency(currency)
    if minor_digits(currency) != 2:
        # The file's prices are read to the penny: pence, cents, öre, not yen or fils.
        raise ValidationFailed(f"{currency} has no two-decimal minor unit; the file's prices do.")
    tell("read", 0, 1)
    transactions = read_transactions(path)
    tell("read", 1, 1)
    shape = plan(transactions.frame)
    async with transaction(sessions) as session:
        writer = _Writer(session, currency, tell)
        facility = await writer.facility(facility_code)
        await writer.customers(shape.customers)
        await writer.products(shape.products)
        existing = await writer.orders(shape.orders, shape.lines)
        matching = await writer.match(transactions.frame, shape.lines, existing)
        await writer.returns(returns_of(matching.allocations), facility[0] if facility else None)
    report = ImportReport(
        rows=transactions.frame.height + len(transactions.problems),
        problems=transactions.problems,
        currency=currency,
        customers=writer.counts["customers"],
        products=writer.counts["products"],
        orders=writer.counts["orders"],
        lines=writer.counts["lines"],
        returns=writer.counts["returns"],
        return_units=writer.counts["return_units"],
        refunded_minor=writer.counts["refunded_minor"],
        existing_orders=writer.counts["existing_orders"],
        existing_returns=writer.counts["existing_returns"],
        anonymous_rows=shape.anonymous_rows,
        charge_rows=shape.charge_rows,
        orders_without_goods=shape.orders_without_goods,
        unmatched=matching.unmatched,
        capped=writer.capped,
        conflicting_units=writer.counts["conflicting_units"],
        facility=facility[1] if facility else None,
        seconds=0.0,
    )
    tell("rollups", 0, 1)
    refreshed = await rollups.refresh(sessions)
    tell("rollups", 1, 1)
    return replace(report, rollups=refreshed, seconds=time.monotonic() - started)


class _Writer:
    """The import's one transaction: looks up what exists, inserts the rest, counts both."""

    def __init__(self, session: AsyncSession, currency: str, tell: Progress) -> None:
        self.session = session
        self.currency = currency
        self.tell = tell
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "customers",
                "products",
                "orders",
                "lines",
                "returns",
                "return_units",
                "refunded_minor",
                "existing_orders",
                "existing_returns",
                "conflicting_units",
            ),
            0,
        )
        self.capped: list[CappedRefund] = []
        self.customer_ids: dict[str, int] = {}
        self.product_ids: dict[str, int] = {}

    async def facility(self, code: str | None) -> tuple[int, str] | None:
        """The ``--facility`` given, else the first active warehouse, else none."""
        query = select(Facility.id, Facility.code)
        if code is not None:
            found = (await self.session.execute(query.where(Facility.code == code))).first()
            if found is None:
                raise NotFound(f"No facility {code!r}: see `reclaim facilities list`.", code=code)
            return found[0], found[1]
        first = (
            await self.session.execute(
                query.where(Facility.kind == FacilityKind.WAREHOUSE, Facility.active.is_(True))
                .order_by(Facility.id)
                .limit(1)
            )
        ).first()
        return (first[0], first[1]) if first else None

    async def _existing(self, key: Any, value: Any, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for chunk in chunks(keys, LOOKUP_CHUNK):
            rows = await self.session.execute(select(key, value).where(key.in_(chunk)))
            found.update({row[0]: row[1] for row in rows})
        return found

    async def _insert(
        self, phase: str, model: type[Any], rows: list[dict[str, Any]], key: str | None = None
    ) -> dict[Any, int]:
        """Insert in chunks; with ``key``, the new rows' ids by that column."""
        table = table_of(model)
        ids: dict[Any, int] = {}
        self.tell(phase, 0, len(rows))
        for done, chunk in enumerate(chunks(rows, CHUNK)):
            if key is None:
                await self.session.execute(insert(table), list(chunk))
            else:
                statement = insert(table).returning(table.c[key], table.c.id)
                ids.update(dict((await self.session.execute(statement, list(chunk))).all()))
            self.tell(phase, min((done + 1) * CHUNK, len(rows)), len(rows))
        return ids

    async def customers(self, frame: pl.DataFrame) -> None:
        wanted = frame["customer"].to_list()
        self.customer_ids = await self._existing(Customer.external_id, Customer.id, wanted)
        new = [
            {"external_id": row["customer"], "email": row["email"]}
            for row in frame.iter_rows(named=True)
            if row["customer"] not in self.customer_ids
        ]
        created = await self._insert("customers", Customer, new, key="external_id")
        self.customer_ids.update(created)
        self.counts["customers"] = len(created)

    async def products(self, frame: pl.DataFrame) -> None:
        self.product_ids = await self._existing(Product.sku, Product.id, frame["sku"].to_list())
        new = [
            {**row, "currency": self.currency}
            for row in frame.iter_rows(named=True)
            if row["sku"] not in self.product_ids
        ]
        created = await self._insert("products", Product, new, key="sku")
        self.product_ids.update(created)
        self.counts["products"] = len(created)

    async def orders(self, orders: pl.DataFrame, lines: pl.DataFrame) -> list[str]:
        """Insert the orders not there yet; the external ids of those that were."""
        existing = await self._existing(Order.external_id, Order.id, orders["invoice"].to_list())
        fresh = orders.filter(~pl.col("invoice").is_in(list(existing)))
        rows = [
            {
                "external_id": row["invoice"],
                "customer_id": self.customer_ids[row["customer"]],
                "currency": self.currency,
                "placed_at": utc(row["placed_at"]),
                "shipping_minor": row["shipping_minor"],
                "ship_country": row["ship_country"],
                "paid_minor": row["paid_minor"],
            }
            for row in fresh.iter_rows(named=True)
        ]
        order_ids = await self._insert("orders", Order, rows, key="external_id")
        await self._insert(
            "payments",
            OrderPayment,
            [
                {
                    "order_id": order_ids[row["external_id"]],
                    "position": 1,
                    "method": "original",
                    "captured_minor": row["paid_minor"],
                }
                for row in rows
            ],
        )
        line_rows = [
            {
                "order_id": order_ids[invoice],
                "line_ref": ref,
                "product_id": self.product_ids[sku],
                "sku": sku,
                "quantity": quantity,
                "unit_price_minor": price,
            }
            for invoice, ref, sku, quantity, price in lines.filter(
                pl.col("invoice").is_in(list(order_ids))
            )
            .select("invoice", "line_ref", "sku", "quantity", "unit_price_minor")
            .iter_rows()
        ]
        await self._insert("lines", OrderLine, line_rows)
        self.counts.update(
            orders=len(order_ids), lines=len(line_rows), existing_orders=len(existing)
        )
        return list(existing)

    async def match(
        self, frame: pl.DataFrame, lines: pl.DataFrame, existing: list[str]
    ) -> Matching:
        """Match the cancellation lines not imported before to the order lines in the database
        (this file's and the customer's earlier ones), in one query per chunk of pairs."""
        self.tell("match", 0, 1)
        imported = await imported_cancellation_lines(self.session)
        lines_given_back = cancellations(frame)
        skipped = lines_given_back.filter(pl.col("key").is_in(list(imported)))["key"]
        self.counts["existing_returns"] = len(set().union(*(imported[key] for key in skipped)))
        wanted = lines_given_back.filter(
            pl.col("reason").is_null() & ~pl.col("key").is_in(list(imported))
        )
        held = pl.DataFrame(schema={**PURCHASE_SCHEMA, "quantity": pl.Int64()})
        if not wanted.is_empty():
            pairs = wanted.select("customer", "stock_code").unique().sort("customer", "stock_code")
            held = await held_purchases(self.session, list(pairs.iter_rows()), self.currency)
            self.counts["conflicting_units"] = conflicting_units(lines, held, existing, pairs)
        matching = match_returns(frame, held.drop("quantity"), frozenset(imported))
        self.tell("match", 1, 1)
        return matching

    async def returns(self, frame: pl.DataFrame, facility_id: int | None) -> None:
        """One completed, refunded return per (cancellation invoice, order) matched now."""
        if frame.is_empty():
            return
        state = await OrderState.load(self.session, frame["order"].unique().to_list())
        built = ReturnRows()
        for group in frame.partition_by("token", maintain_order=True):
            build_return(built, group.to_dicts(), state, facility_id)
        ids = await self._insert("returns", Return, built.returns, key="client_token")
        await self._insert("return lines", ReturnLine, with_return_ids(built.lines, ids))
        await self._insert("return events", ReturnEvent, with_return_ids(built.events, ids))
        refund_ids = await self._insert(
            "refunds", Refund, with_return_ids(built.refunds, ids), key="return_id"
        )
        await self._insert(
            "refund parts",
            RefundPart,
            [
                {key: value for key, value in part.items() if key != "token"}
                | {"refund_id": refund_ids[ids[part["token"]]]}
                for part in built.parts
            ],
        )
        await state.save(self.session)
        self.counts.update(
            returns=len(built.returns),
            return_units=sum(line["quantity"] for line in built.lines),
            refunded_minor=sum(refund["amount_minor"] for refund in built.refunds),
        )
        self.capped = built.capped
