"""Returns made from matched cancellation lines, against the orders as they stand.

Cancellation lines are matched to the order lines in the database (:func:`held_purchases`):
the ones this import just wrote, with every unit still to give back, and the customer's
earlier orders, with only what they have left, so a later file's returns find the purchases
an earlier file brought in. :class:`OrderState` holds the money as numbers,
:func:`build_return` turns one (cancellation invoice, order) pair into the rows of a
completed, refunded return, and :meth:`OrderState.save` writes what changed with conditional
UPDATEs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import polars as pl
from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics.online_retail import PURCHASE_SCHEMA
from reclaim.orders.models import Customer, Order, OrderLine, OrderPayment
from reclaim.refunds.rules import PaymentRoom, split_refund
from reclaim.refunds.service import SUCCEEDED
from reclaim.refunds.service import new_number as new_refund_number
from reclaim.returns.models import Return, ReturnEvent
from reclaim.returns.rules import new_return_number
from reclaim.returns.states import Action, Method, Reason, Resolution, Status

ACTOR = "import:online-retail"
CHANNEL = "import"
# The refunds happened long ago, outside Reclaim: no payment provider is asked for them.
PROVIDER = "import"
CHUNK = 5000
# Lookups by key: well under every database's limit on bound parameters.
LOOKUP_CHUNK = 2000


@dataclass(frozen=True)
class CappedRefund:
    """A return credited more than was paid for what it gave back: refunded only that much."""

    return_invoice: str
    order: str
    asked_minor: int
    refunded_minor: int


def utc(moment: datetime) -> datetime:
    """The file's times are naive UTC; the database's columns want them aware."""
    return moment.replace(tzinfo=UTC)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


async def held_purchases(
    session: AsyncSession, pairs: list[tuple[str, str]], currency: str
) -> pl.DataFrame:
    """Order lines in the database that the given (customer external id, SKU) pairs could give
    back: orders in ``currency``, each line with ``room``, the units not yet returned
    (:data:`PURCHASE_SCHEMA` plus ``quantity``). The matcher keeps those bought in time."""
    found: list[tuple[Any, ...]] = []
    statement = (
        select(
            OrderLine.id,
            Order.external_id,
            Customer.external_id,
            OrderLine.sku,
            Order.placed_at,
            OrderLine.unit_price_minor,
            OrderLine.quantity - OrderLine.returned_quantity,
            OrderLine.quantity,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.currency == currency)
    )
    # Two parameters a pair: chunks stay well under every database's limit.
    for chunk in chunks(pairs, LOOKUP_CHUNK // 2):
        rows = await session.execute(
            statement.where(tuple_(Customer.external_id, OrderLine.sku).in_(list(chunk)))
        )
        found.extend(row[:4] + (naive_utc(row[4]),) + row[5:] for row in rows)
    schema = pl.Schema({**PURCHASE_SCHEMA, "quantity": pl.Int64()})
    return pl.DataFrame(found, schema=schema, orient="row")


async def imported_cancellation_lines(session: AsyncSession) -> dict[str, set[int]]:
    """The key of every cancellation line an earlier import made returns of → those returns."""
    rows = await session.execute(
        select(ReturnEvent.return_id, ReturnEvent.data)
        .join(Return, Return.id == ReturnEvent.return_id)
        .where(
            Return.channel == CHANNEL,
            ReturnEvent.actor == ACTOR,
            ReturnEvent.action == Action.CREATE.value,
        )
    )
    made: dict[str, set[int]] = {}
    for id_, data in rows:
        for key in (data or {}).get("lines", ()):
            made.setdefault(key, set()).add(id_)
    return made


def build_return(
    built: ReturnRows,
    lines: list[dict[str, Any]],
    state: OrderState,
    facility_id: int | None,
) -> None:
    first = lines[0]
    token, at = first["token"], utc(first["returned_at"])
    order = state.orders[first["order"]]
    # The matcher took only units the lines had left: the database's checks hold it to that.
    for line in lines:
        state.lines[line["line"]].returned += line["quantity"]
    wanted = sum(line["value_minor"] for line in lines)
    asked = sum(line["asked_minor"] for line in lines)
    amount = min(wanted, order.room, sum(max(p.room, 0) for p in order.payments))
    if amount < asked:
        built.capped.append(CappedRefund(first["return_invoice"], first["order"], asked, amount))
    number = new_return_number(hashlib.sha256(token.encode()).digest()[:7])
    built.returns.append(
        {
            "number": number,
            "order_id": order.id,
            "customer_id": order.customer_id,
            "status": Status.COMPLETED.value,
            "method": Method.PREPAID_LABEL.value,
            "currency": order.currency,
            "channel": CHANNEL,
            "facility_id": facility_id,
            "client_token": token,
            "created_at": at,
            "updated_at": at,
        }
    )
    left = amount
    for line in lines:
        units = line["quantity"]
        settled = min(line["value_minor"], left)
        left -= settled
        built.lines.append(
            {
                "token": token,
                "order_line_id": line["line"],
                "quantity": units,
                "reason": Reason.UNSPECIFIED.value,
                "resolution": Resolution.REFUND.value,
                "received_quantity": units,
                "received_at": at,
                "settled_at": at,
                "settled_quantity": units,
                "settled_minor": settled,
            }
        )
    about = {
        "source": "online-retail",
        "invoice": first["return_invoice"],
        "order_id": order.external_id,
        # What makes a second import skip these cancellation lines.
        "lines": list(first["keys"]),
    }
    for action, before, after in (
        (Action.CREATE, None, Status.REQUESTED),
        (Action.RECEIVE, Status.REQUESTED, Status.RECEIVED),
        (Action.COMPLETE, Status.RECEIVED, Status.COMPLETED),
    ):
        built.events.append(
            {
                "token": token,
                "action": action.value,
                "from_status": before.value if before else None,
                "to_status": after.value,
                "actor": ACTOR,
                "at": at,
                "data": about,
            }
        )
    if amount == 0:
        return
    order.given_back += amount
    built.refunds.append(
        {
            "token": token,
            "number": new_refund_number(),
            "order_id": order.id,
            "kind": "return",
            "status": SUCCEEDED,
            "amount_minor": amount,
            "currency": order.currency,
            "reason": f"Credited on invoice {first['return_invoice']} (imported history).",
            "breakdown": about,
            "provider": PROVIDER,
            "requested_by": ACTOR,
            "created_at": at,
            "requested_at": at,
            "settled_at": at,
        }
    )
    rooms = [PaymentRoom(p.id, p.position, p.room) for p in order.payments]
    by_id = {p.id: p for p in order.payments}
    for payment_id, part in split_refund(amount, rooms):
        by_id[payment_id].refunded += part
        built.parts.append(
            {
                "token": token,
                "payment_id": payment_id,
                "amount_minor": part,
                "status": SUCCEEDED,
                "settled_at": at,
            }
        )


def with_return_ids(rows: list[dict[str, Any]], ids: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in row.items() if key != "token"}
        | {"return_id": ids[row["token"]]}
        for row in rows
    ]


@dataclass
class ReturnRows:
    """Rows to insert, keyed to their return by its client token until it has an id."""

    returns: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    capped: list[CappedRefund] = field(default_factory=list)


@dataclass
class _Line:
    id: int
    returned_before: int
    returned: int


@dataclass
class _Payment:
    id: int
    position: int
    captured: int
    refunded_before: int
    refunded: int

    @property
    def room(self) -> int:
        return self.captured - self.refunded


@dataclass
class _Order:
    id: int
    external_id: str
    customer_id: int
    currency: str
    paid: int
    given_back_before: int
    given_back: int
    payments: list[_Payment]

    @property
    def room(self) -> int:
        return self.paid - self.given_back


class OrderState:
    """The orders returns are made against, as they stand, and what the import adds to them.

    Saved with one conditional UPDATE per changed row: the database's own checks still hold
    the invariants (returned ≤ bought, refunded ≤ captured, given back ≤ paid)."""

    def __init__(self, orders: dict[str, _Order], lines: dict[int, _Line]) -> None:
        self.orders = orders
        self.lines = lines

    @classmethod
    async def load(cls, session: AsyncSession, externals: Sequence[str]) -> OrderState:
        orders: dict[str, _Order] = {}
        for chunk in chunks(externals, LOOKUP_CHUNK):
            rows = await session.execute(
                select(
                    Order.id,
                    Order.external_id,
                    Order.customer_id,
                    Order.currency,
                    Order.paid_minor,
                    Order.given_back_minor,
                ).where(Order.external_id.in_(chunk))
            )
            for id_, external, customer, currency, paid, given in rows:
                orders[external] = _Order(id_, external, customer, currency, paid, given, given, [])
        by_id = {order.id: order for order in orders.values()}
        lines: dict[int, _Line] = {}
        for chunk in chunks(list(by_id), LOOKUP_CHUNK):
            for id_, returned in await session.execute(
                select(OrderLine.id, OrderLine.returned_quantity).where(
                    OrderLine.order_id.in_(chunk)
                )
            ):
                lines[id_] = _Line(id_, returned, returned)
            for id_, order_id, position, captured, refunded in await session.execute(
                select(
                    OrderPayment.id,
                    OrderPayment.order_id,
                    OrderPayment.position,
                    OrderPayment.captured_minor,
                    OrderPayment.refunded_minor,
                )
                .where(OrderPayment.order_id.in_(chunk))
                .order_by(OrderPayment.position)
            ):
                by_id[order_id].payments.append(
                    _Payment(id_, position, captured, refunded, refunded)
                )
        return cls(orders, lines)

    async def save(self, session: AsyncSession) -> None:
        lines = [
            {"b_id": line.id, "b_add": line.returned - line.returned_before}
            for line in self.lines.values()
            if line.returned != line.returned_before
        ]
        orders = [
            {"b_id": order.id, "b_add": order.given_back - order.given_back_before}
            for order in self.orders.values()
            if order.given_back != order.given_back_before
        ]
        payments = [
            {"b_id": payment.id, "b_add": payment.refunded - payment.refunded_before}
            for order in self.orders.values()
            for payment in order.payments
            if payment.refunded != payment.refunded_before
        ]
        for model, column, rows in (
            (OrderLine, "returned_quantity", lines),
            (Order, "given_back_minor", orders),
            (OrderPayment, "refunded_minor", payments),
        ):
            if not rows:
                continue
            table = table_of(model)
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({column: table.c[column] + bindparam("b_add")})
            )
            for chunk in chunks(rows, CHUNK):
                await session.execute(statement, list(chunk))
