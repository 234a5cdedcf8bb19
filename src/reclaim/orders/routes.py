from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import documented
from reclaim.orders import service
from reclaim.orders.models import Order
from reclaim.orders.schemas import WITHOUT_NUL, OrderIn, OrderLineOut, OrderOut, PaymentOut
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/orders", tags=["orders"], responses=documented(401, 403, 422))


def order_out(order: Order, customer_email: str) -> OrderOut:
    return OrderOut(
        order_id=order.external_id,
        customer_email=customer_email,
        currency=order.currency,
        placed_at=order.placed_at,
        delivered_at=order.delivered_at,
        shipping_minor=order.shipping_minor,
        discount_minor=order.discount_minor,
        paid_minor=order.paid_minor,
        given_back_minor=order.given_back_minor,
        lines=[
            OrderLineOut(
                line_id=line.line_ref,
                sku=line.sku,
                quantity=line.quantity,
                returned_quantity=line.returned_quantity,
                unit_price_minor=line.unit_price_minor,
                discount_minor=line.discount_minor,
                tax_minor=line.tax_minor,
            )
            for line in order.lines
        ],
        payments=[
            PaymentOut(
                position=payment.position,
                method=payment.method,
                reference=payment.reference,
                last4=payment.last4,
                captured_minor=payment.captured_minor,
                refunded_minor=payment.refunded_minor,
            )
            for payment in order.payments
        ],
    )


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Create or update an order by the shop's order number",
    responses={
        200: {"model": OrderOut, "description": "An existing order was updated"},
        **documented(400, 409),
    },
)
async def upsert_order(
    data: OrderIn,
    request: Request,
    sessions: Sessions,
    key: Annotated[ApiKey, Depends(require(Scope.ORDERS_WRITE))],
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, OrderOut]:
        result = await service.upsert_order(session, data)
        order = await service.get_order(session, data.order_id)
        return (201 if result.created else 200), order_out(order, order.customer.email)

    return await run_idempotent(request, sessions, key, work)


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    summary="An order with its lines and payments",
    responses=documented(404),
)
async def get_order(
    order_id: Annotated[str, Path(pattern=WITHOUT_NUL)],
    session: ReadSession,
    _key: Annotated[ApiKey, Depends(require(Scope.ORDERS_READ))],
) -> OrderOut:
    order = await service.get_order(session, order_id)
    return order_out(order, order.customer.email)
