"""Exchanges over the API: what was sent in place of the returned items, and its shipping."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import documented
from reclaim.kit.clock import utcnow
from reclaim.refunds import exchanges
from reclaim.refunds.exchange_schemas import (
    ExchangeOut,
    ExchangePage,
    ExchangeStatus,
    ShippedIn,
    exchange_out,
)
from reclaim.refunds.models import Exchange
from reclaim.returns.lifecycle import Actor
from reclaim.returns.models import Return
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/exchanges", tags=["exchanges"], responses=documented(401, 403, 422))
Writer = Annotated[ApiKey, Depends(require(Scope.REFUNDS_WRITE))]
Reader = Annotated[ApiKey, Depends(require(Scope.REFUNDS_READ))]


async def _shown(session: AsyncSession, exchange: Exchange) -> ExchangeOut:
    number = await session.scalar(select(Return.number).where(Return.id == exchange.return_id))
    assert number is not None  # an exchange is always made for a return
    return exchange_out(exchange, number)


@router.get("", response_model=ExchangePage, summary="Exchanges, newest first")
async def list_exchanges(
    session: ReadSession,
    _key: Reader,
    return_number: Annotated[
        str | None, Query(alias="return", max_length=32, description="An RMA number")
    ] = None,
    status: ExchangeStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> ExchangePage:
    page, next_cursor = await exchanges.list_exchanges(
        session, return_number=return_number, status=status, limit=limit, after=cursor
    )
    return ExchangePage(
        items=[exchange_out(exchange, number) for exchange, number in page],
        next_cursor=next_cursor,
    )


@router.get(
    "/{number}",
    response_model=ExchangeOut,
    summary="An exchange with its items and price difference",
    responses=documented(404),
)
async def get_exchange(number: str, session: ReadSession, _key: Reader) -> ExchangeOut:
    return await _shown(session, await exchanges.get_exchange(session, number))


@router.post(
    "/{number}/shipped",
    response_model=ExchangeOut,
    summary="The replacement has shipped",
    description="Once per exchange; the shopper is e-mailed the tracking number.",
    responses=documented(400, 404, 409),
)
async def mark_shipped(
    number: str, data: ShippedIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, ExchangeOut]:
        actor = Actor(f"api:{key.prefix}", utcnow())
        exchange = await exchanges.mark_shipped(
            session, number, data.carrier, data.tracking_number, actor
        )
        return 200, await _shown(session, exchange)

    return await run_idempotent(request, sessions, key, work)
