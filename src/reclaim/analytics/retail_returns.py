"""Returns made from matched cancellation lines, against the orders as they stand.

An order the import just created has every unit and penny still to give back; one that was
there before may have less. :class:`OrderState` holds both as numbers, :func:`build_return`
turns one (cancellation invoice, order) pair into the rows of a completed, refunded return
within them, and :meth:`OrderState.save` writes what changed with conditional UPDATEs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.orders.models import Order, OrderLine, OrderPayment
from reclaim.refunds.rules import PaymentRoom, split_refund
from reclaim.refunds.service import SUCCEEDED
from reclaim.refunds.service import new_number as new_refund_number
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


def build_return(
    built: ReturnRows,
    lines: list[dict[str, Any]],
    state: OrderState,
    facility_id: int | None,
) -> None:
    first = lines[0]
    token, at = first["token"], utc(first["returned_at"])
    order = state.orders[first["order"]]
    taken: list[tuple[dict[str, Any], int, int]] = []
    for line in lines:
        held = state.lines.get((order.id, line["line_ref"]))
        units = min(line["quantity"], held.room if held else 0)
        built.conflicting_units += line["quantity"] - units
        if held is None or units == 0:
            continue
        held.returned += units
        # Fewer units than matched: their share of the value.
        taken.append(
            (
                line | {"line_id": held.id},
                units,
                line["value_minor"] * units // line["quantity"],
            )
        )
    if not taken:
        return
    wanted = sum(value for _, _, value in taken)
    asked = sum(line["asked_minor"] * units // line["quantity"] for line, units, _ in taken)
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
    for line, units, value in taken:
        settled = min(value, left)
        left -= settled
        built.lines.append(
            {
                "token": token,
                "order_line_id": line["line_id"],
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
    conflicting_units: int = 0


@dataclass
class _Line:
    id: int
    quantity: int
    returned_before: int
    returned: int

    @property
    def room(self) -> int:
        return self.quantity - self.returned


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

    def __init__(self, orders: dict[str, _Order], lines: dict[tuple[int, str], _Line]) -> None:
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
        lines: dict[tuple[int, str], _Line] = {}
        for chunk in chunks(list(by_id), LOOKUP_CHUNK):
            for id_, order_id, ref, quantity, returned in await session.execute(
                select(
                    OrderLine.id,
                    OrderLine.order_id,
                    OrderLine.line_ref,
                    OrderLine.quantity,
                    OrderLine.returned_quantity,
                ).where(OrderLine.order_id.in_(chunk))
            ):
                lines[(order_id, ref)] = _Line(id_, quantity, returned, returned)
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
