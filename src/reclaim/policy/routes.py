"""The policy as the shop's systems see it: what can come back now, and the rules in force."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from reclaim.api.deps import AppPolicy, ReadSession, require
from reclaim.api.problems import Problem, documented
from reclaim.errors import NotFound
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Order, OrderLine
from reclaim.orders.schemas import WITHOUT_NUL
from reclaim.policy import service
from reclaim.policy.rules import item_verdict, options
from reclaim.returns.schemas import ExplanationOut
from reclaim.returns.states import Method, Resolution
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(tags=["policy"], responses=documented(401, 403, 422))


class LineReturnability(BaseModel):
    line_id: str
    sku: str
    name: str
    quantity: int = Field(description="Units ordered")
    returned_quantity: int = Field(description="Units already taken by returns")
    returnable: bool
    returnable_quantity: int = Field(description="Units that can still be returned now")
    deadline: datetime | None = Field(
        description="Last moment to return it; also given when the window has closed"
    )
    explanation: ExplanationOut
    resolutions: list[Resolution] = Field(description="What the shopper may ask for this line")
    methods: list[Method] = Field(description="How this line alone may be sent back")


class ReturnabilityOut(BaseModel):
    order_id: str
    policy_version: str
    checked_at: datetime
    methods: list[Method] = Field(
        description="How the returnable lines may be sent back together (a return of fewer "
        "lines may have more); empty when nothing can be returned"
    )
    explanations: list[ExplanationOut] = Field(description="The rules that narrowed the choices")
    lines: list[LineReturnability]


class PolicyOut(BaseModel):
    name: str
    version: str = Field(description="Recorded on every return decided under it")
    settings: dict[str, Any] = Field(
        description="Every rule, defaults included; amounts in major units as strings"
    )


def _in_order(methods: Iterable[Method]) -> list[Method]:
    chosen = set(methods)
    return [method for method in Method if method in chosen]


def _resolutions(allowed: Iterable[Resolution]) -> list[Resolution]:
    chosen = set(allowed)
    return [resolution for resolution in Resolution if resolution in chosen]


def _plain(value: Any) -> Any:
    """Policy settings as JSON; sets sorted, so the same policy always reads the same."""
    if isinstance(value, dict):
        return {str(_plain(key)): _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):  # dates and datetimes alike
        return value.isoformat()
    return value


@router.get(
    "/orders/{order_id}/returnability",
    response_model=ReturnabilityOut,
    summary="What of an order can be returned now, how, and until when",
    responses={404: {"model": Problem, "description": "No such order"}},
)
async def returnability(
    order_id: Annotated[str, Path(max_length=64, pattern=WITHOUT_NUL)],
    session: ReadSession,
    loaded: AppPolicy,
    _key: Annotated[ApiKey, Depends(require(Scope.ORDERS_READ))],
) -> ReturnabilityOut:
    now = utcnow()
    order = await session.scalar(
        select(Order)
        .where(Order.external_id == order_id)
        .options(
            selectinload(Order.lines).joinedload(OrderLine.product, innerjoin=True),
            joinedload(Order.customer, innerjoin=True),
        )
    )
    if order is None:
        raise NotFound(f"No order {order_id!r}.", order_id=order_id)
    facts = await service.order_facts(session, order, loaded, now)
    policy = loaded.policy
    verdicts = [item_verdict(policy, facts, item, now) for item in facts.items]
    open_items = [
        item for item, verdict in zip(facts.items, verdicts, strict=True) if verdict.returnable
    ]
    together = options(policy, facts, open_items)
    lines = []
    for item, verdict in zip(facts.items, verdicts, strict=True):
        alone = options(policy, facts, [item]) if verdict.returnable else None
        lines.append(
            LineReturnability(
                line_id=item.line_ref,
                sku=item.sku,
                name=item.name,
                quantity=item.quantity,
                returned_quantity=item.held,
                returnable=verdict.returnable,
                returnable_quantity=verdict.quantity,
                deadline=verdict.deadline,
                explanation=ExplanationOut(
                    code=verdict.explanation.code, text=verdict.explanation.text
                ),
                resolutions=_resolutions(alone.resolutions[item.line_ref]) if alone else [],
                methods=_in_order(alone.methods) if alone else [],
            )
        )
    return ReturnabilityOut(
        order_id=order.external_id,
        policy_version=loaded.version,
        checked_at=now,
        methods=_in_order(together.methods) if open_items else [],
        explanations=[
            ExplanationOut(code=note.code, text=note.text) for note in together.explanations
        ],
        lines=lines,
    )


@router.get("/policy", response_model=PolicyOut, summary="The returns policy in force")
async def live_policy(
    loaded: AppPolicy, _key: Annotated[ApiKey, Depends(require(Scope.RETURNS_READ))]
) -> PolicyOut:
    return PolicyOut(
        name=loaded.policy.name,
        version=loaded.version,
        settings=_plain(loaded.policy.model_dump()),
    )
