"""Return-risk scores for the shop's checkout."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from reclaim.api.deps import ReadSession, require
from reclaim.api.problems import Problem, documented
from reclaim.prediction import service
from reclaim.prediction.schemas import LineRiskOut, ReturnRiskIn, ReturnRiskOut
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/predictions", tags=["predictions"], responses=documented(401, 403, 422))
Scorer = Annotated[ApiKey, Depends(require(Scope.PREDICTIONS_READ))]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **documented(400),
    404: {"model": Problem, "description": "No such order"},
    409: {"model": Problem, "description": "No model has been trained yet (`no-model`)"},
}


def risk_out(risk: service.OrderRisk) -> ReturnRiskOut:
    return ReturnRiskOut(
        order_id=risk.order,
        probability=risk.probability,
        band=risk.band,
        lines=[
            LineRiskOut(
                line_id=line.line_ref,
                sku=line.sku,
                probability=line.probability,
                band=line.band,
                drivers=line.drivers,
            )
            for line in risk.lines
        ],
        model_version=risk.model_version,
    )


@router.post(
    "/return-risk",
    response_model=ReturnRiskOut,
    summary="How likely an order or a cart is to come back, line by line",
    responses=RESPONSES,
)
async def return_risk(data: ReturnRiskIn, session: ReadSession, _key: Scorer) -> ReturnRiskOut:
    """Scores with the live model on the shop's history as it is now: the order's (or cart's)
    chance of at least one return within 30 days, each line's, a band (the riskiest tenth of
    lines or orders the model was checked on are high, the next fifth medium), and each line's
    drivers. Writes nothing; an Idempotency-Key is not needed."""
    if data.order is not None:
        risk = await service.score_order(session, data.order)
        if risk is None:
            raise service.NoModel(service.NO_MODEL)
        return risk_out(risk)
    assert data.lines is not None and data.currency is not None  # the schema's rule
    cart = service.Cart(
        currency=data.currency,
        lines=[service.CartLine(x.sku, x.quantity, x.unit_price_minor) for x in data.lines],
        customer=data.customer,
        country=data.country,
    )
    return risk_out(await service.score_cart(session, cart))
