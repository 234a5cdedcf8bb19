"""Store credit over the API: a customer's balance and statement, and spending at checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import documented
from reclaim.kit.clock import utcnow
from reclaim.orders.schemas import WITHOUT_NUL, Currency
from reclaim.refunds import credit
from reclaim.refunds.credit_schemas import (
    BalanceOut,
    SpendIn,
    SpendOut,
    StoreCreditOut,
    entry_out,
)
from reclaim.returns.lifecycle import Actor
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(
    prefix="/customers/{customer}/store-credit",
    tags=["store credit"],
    responses=documented(401, 403, 404, 422),
)
Writer = Annotated[ApiKey, Depends(require(Scope.CREDIT_WRITE))]
Reader = Annotated[ApiKey, Depends(require(Scope.CREDIT_READ))]
CustomerRef = Annotated[
    str,
    Path(
        max_length=credit.MAX_LOOKUP,
        pattern=WITHOUT_NUL,
        description="The shop's customer id, or the e-mail of a customer it gave no id",
    ),
]


@router.get("", response_model=StoreCreditOut, summary="Balances and the latest entries")
async def store_credit(
    customer: CustomerRef,
    session: ReadSession,
    _key: Reader,
    currency: Annotated[Currency | None, Query(description="Only entries in this currency")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    after: Annotated[int | None, Query(ge=1, description="next_cursor of the page before")] = None,
) -> StoreCreditOut:
    found = await credit.find_customer(session, customer)
    totals = await credit.balances(session, found.id)
    entries, cursor = await credit.statement(session, found.id, currency, limit, after)
    return StoreCreditOut(
        customer=found.external_id or found.email,
        balances=[BalanceOut(currency=cur, balance_minor=minor) for cur, minor in totals.items()],
        entries=[entry_out(entry.transaction, entry.return_number) for entry in entries],
        next_cursor=cursor,
    )


@router.post(
    "/spend",
    status_code=201,
    response_model=SpendOut,
    summary="Spend credit at checkout, once per reference",
    responses={
        200: {"model": SpendOut, "description": "This reference was spent before: that spend"},
        **documented(400, 409),
    },
)
async def spend(
    customer: CustomerRef, data: SpendIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, SpendOut]:
        found = await credit.find_customer(session, customer)
        spent = await credit.spend(
            session,
            customer=found,
            amount_minor=data.amount_minor,
            currency=data.currency,
            reference=data.reference,
            actor=Actor(f"api:{key.prefix}", utcnow()),
        )
        shown = SpendOut(spend=entry_out(spent.transaction), balance_minor=spent.balance_minor)
        return (200 if spent.repeated else 201), shown

    return await run_idempotent(request, sessions, key, work)
