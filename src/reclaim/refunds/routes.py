"""Refunds over the API: settle a return now, refund by hand, and the shop's confirmations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from reclaim.api.deps import AppPolicy, ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import documented
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Order
from reclaim.orders.schemas import WITHOUT_NUL
from reclaim.refunds import service, settlement
from reclaim.refunds.models import Refund
from reclaim.refunds.schemas import (
    ConfirmationIn,
    CreditOut,
    ExchangeBriefOut,
    ManualRefundIn,
    RefundOut,
    RefundPage,
    RefundPartOut,
    RefundStatus,
    SettleIn,
    SettlementOut,
)
from reclaim.returns.lifecycle import Actor
from reclaim.returns.models import Return
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(tags=["refunds"], responses=documented(401, 403, 422))
CHANGE_ERRORS = documented(400, 404, 409)
Writer = Annotated[ApiKey, Depends(require(Scope.REFUNDS_WRITE))]
Reader = Annotated[ApiKey, Depends(require(Scope.REFUNDS_READ))]


def _actor(key: ApiKey) -> Actor:
    return Actor(f"api:{key.prefix}", utcnow())


async def _names(
    session: AsyncSession,
    key: InstrumentedAttribute[int],
    name: InstrumentedAttribute[str],
    ids: set[int | None],
) -> dict[int, str]:
    wanted = {id_ for id_ in ids if id_ is not None}
    if not wanted:
        return {}
    return {k: v for k, v in (await session.execute(select(key, name).where(key.in_(wanted))))}


async def refunds_out(session: AsyncSession, refunds: Sequence[Refund]) -> list[RefundOut]:
    """Refunds as shown, with the order, return and retried refund named as people know them."""
    if not refunds:
        return []
    orders = await _names(session, Order.id, Order.external_id, {r.order_id for r in refunds})
    returns = await _names(session, Return.id, Return.number, {r.return_id for r in refunds})
    retried = await _names(session, Refund.id, Refund.number, {r.retry_of for r in refunds})
    return [
        RefundOut(
            number=refund.number,
            order_id=orders[refund.order_id],
            return_number=returns.get(refund.return_id) if refund.return_id else None,
            kind=refund.kind,
            status=refund.status,  # type: ignore[arg-type]
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            reason=refund.reason,
            breakdown=refund.breakdown,
            provider=refund.provider,
            requested_by=refund.requested_by,
            approved_by=refund.approved_by,
            retry_of=retried.get(refund.retry_of) if refund.retry_of else None,
            created_at=refund.created_at,
            requested_at=refund.requested_at,
            settled_at=refund.settled_at,
            parts=[
                RefundPartOut(
                    position=part.payment.position,
                    method=part.payment.method,
                    payment_reference=part.payment.reference,
                    last4=part.payment.last4,
                    amount_minor=part.amount_minor,
                    status=part.status,
                    provider_reference=part.provider_reference,
                    failure_reason=part.failure_reason,
                    settled_at=part.settled_at,
                )
                for part in refund.parts
            ],
        )
        for refund in refunds
    ]


async def _one(session: AsyncSession, refund: Refund) -> RefundOut:
    return (await refunds_out(session, [refund]))[0]


@router.post(
    "/returns/{number}/refund",
    response_model=SettlementOut,
    summary="Settle what is due now",
    description="Refunds, credits or exchanges each line of the return whose refund timing "
    "has come (all of them, or the lines named). Nothing due, or a named line not due: 409 "
    "not_due, saying when it will be; nothing is written then.",
    responses=CHANGE_ERRORS,
)
async def settle_now(
    number: str, request: Request, sessions: Sessions, key: Writer, data: SettleIn | None = None
) -> Response:
    lines = data.lines if data else None

    async def work(session: AsyncSession) -> tuple[int, SettlementOut]:
        done = await settlement.settle_now(session, number, _actor(key), lines)
        await session.flush()
        return 200, SettlementOut(
            lines=list(done.lines),
            refunds=await refunds_out(session, done.refunds),
            credit=[
                CreditOut(id=t.id, kind=t.kind, amount_minor=t.amount_minor, currency=t.currency)
                for t in done.credit
            ],
            exchanges=[
                ExchangeBriefOut(
                    number=x.number,
                    status=x.status,
                    value_minor=x.value_minor,
                    price_minor=x.price_minor,
                    difference_minor=x.difference_minor,
                    currency=x.currency,
                )
                for x in done.exchanges
            ],
        )

    return await run_idempotent(request, sessions, key, work)


@router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    summary="Refund by hand: part of an order, or goodwill",
    description="Counted against what the order has left to give back (409 amount_exceeded "
    "when it hasn't enough) and split over its payments in order. Above the policy's "
    "refunds.second_approval_above the refund waits for a second agent (pending_approval).",
    responses=CHANGE_ERRORS,
)
async def manual_refund(
    order_id: Annotated[str, Path(max_length=64, pattern=WITHOUT_NUL)],
    data: ManualRefundIn,
    request: Request,
    sessions: Sessions,
    policy: AppPolicy,
    key: Writer,
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, RefundOut]:
        refund = await service.manual_refund(session, order_id, data, _actor(key), policy)
        return 201, await _one(session, refund)

    return await run_idempotent(request, sessions, key, work)


@router.get("/refunds", response_model=RefundPage, summary="Refunds, newest first")
async def list_refunds(
    session: ReadSession,
    _key: Reader,
    order: Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)] = None,
    return_number: Annotated[
        str | None, Query(alias="return", max_length=64, pattern=WITHOUT_NUL)
    ] = None,
    status: RefundStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=32, pattern=WITHOUT_NUL)] = None,
) -> RefundPage:
    page, next_cursor = await service.list_refunds(
        session, order=order, return_number=return_number, status=status, limit=limit, after=after
    )
    return RefundPage(items=await refunds_out(session, page), next_cursor=next_cursor)


@router.get(
    "/refunds/{number}",
    response_model=RefundOut,
    summary="A refund with its parts per payment",
    responses=documented(404),
)
async def get_refund(number: str, session: ReadSession, _key: Reader) -> RefundOut:
    return await _one(session, await service.get_refund(session, number))


@router.post(
    "/refunds/{number}/confirmation",
    response_model=RefundOut,
    summary="The shop's payment system says what happened",
    description="refund.succeeded or refund.failed, for the whole refund or per payment "
    "position. The same outcome again answers the refund as it is; a contradicting one is "
    "a 409. A failure is no longer counted as refunded, and flags the return for staff.",
    responses=CHANGE_ERRORS,
)
async def confirm(
    number: str, data: ConfirmationIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, RefundOut]:
        refund = await service.confirm(session, number, data, _actor(key))
        return 200, await _one(session, refund)

    return await run_idempotent(request, sessions, key, work)


@router.post(
    "/refunds/{number}/retry",
    status_code=201,
    response_model=RefundOut,
    summary="Try a failed refund again, once",
    description="A new refund (kind retry) of what failed, counted and requested afresh.",
    responses=CHANGE_ERRORS,
)
async def retry(number: str, request: Request, sessions: Sessions, key: Writer) -> Response:
    async def work(session: AsyncSession) -> tuple[int, RefundOut]:
        refund = await service.retry(session, number, _actor(key))
        return 201, await _one(session, refund)

    return await run_idempotent(request, sessions, key, work)
