"""The console's order page: an order's lines with their return risk, and its returns.

The risk is the live model's score of the order as it stood when it was placed (history before
then only), so staff see what the checkout would have seen. Without a model the page says how
to train one; a model that can't score this order says why, and the rest of the page stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from starlette.responses import Response

from reclaim.errors import NotFound, ValidationFailed
from reclaim.logistics.shipments import shipped_to
from reclaim.orders.models import Order, OrderLine
from reclaim.prediction import service as risk
from reclaim.prediction.service import LineRisk, OrderRisk
from reclaim.returns.models import Return, ReturnLine
from reclaim.users.roles import Permission
from reclaim.web.console.auth import HOME, ConsoleRoute, Staff, reading, render, require

router = APIRouter(prefix=HOME, route_class=ConsoleRoute, include_in_schema=False)
Viewer = Annotated[Staff, Depends(require(Permission.VIEW_RETURNS))]

TRAIN_HINT = "No return-risk model yet. Train one with `reclaim model train`."


@dataclass(frozen=True, slots=True)
class RiskPanel:
    """The order's scores by line ref, or a note saying why there are none."""

    risk: OrderRisk | None
    note: str | None

    def line(self, line_ref: str) -> LineRisk | None:
        if self.risk is None:
            return None
        return next((x for x in self.risk.lines if x.line_ref == line_ref), None)


async def risk_panel(session: AsyncSession, order_external_id: str) -> RiskPanel:
    try:
        scored = await risk.score_order(session, order_external_id)
    except ValidationFailed as refused:
        return RiskPanel(None, refused.message)
    return RiskPanel(scored, None if scored is not None else TRAIN_HINT)


@router.get("/orders/{external_id}")
async def order_page(request: Request, external_id: str, staff: Viewer) -> Response:
    async with reading(request) as session:
        order = await session.scalar(
            select(Order)
            .where(Order.external_id == external_id)
            .options(
                joinedload(Order.customer),
                selectinload(Order.lines).joinedload(OrderLine.product),
                selectinload(Order.payments),
            )
        )
        if order is None:
            raise NotFound(f"No order {external_id!r}.", order_id=external_id)
        returns = list(
            await session.scalars(
                select(Return)
                .where(Return.order_id == order.id)
                .options(selectinload(Return.lines).joinedload(ReturnLine.order_line))
                .order_by(Return.created_at, Return.id)
            )
        )
        panel = await risk_panel(session, external_id)
    return render(
        request,
        "console/order.html",
        staff,
        order=order,
        ships_to=shipped_to(order),
        returns=returns,
        panel=panel,
    )
