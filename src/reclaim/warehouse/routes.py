"""The warehouse API: parcels and their flags, guided inspection, disposition, and stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import AppSettings, ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import Problem, documented
from reclaim.kit.clock import utcnow
from reclaim.orders.schemas import WITHOUT_NUL
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.service import Actor
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey
from reclaim.warehouse import configured, dispositions, inspection, inventory, receiving
from reclaim.warehouse.grading import Checklists
from reclaim.warehouse.recovery import RecoveryTerms
from reclaim.warehouse.schemas import (
    ChecklistOut,
    DispositionChoiceIn,
    DispositionOut,
    FlagList,
    FlagOut,
    InspectionIn,
    InspectionOut,
    MovementPage,
    ParcelIn,
    ParcelOut,
    ReceiptList,
    RecommendationOut,
    ResolveFlagIn,
    StockOut,
)
from reclaim.warehouse.views import (
    checklist_out,
    disposition_out,
    flag_out,
    inspection_out,
    movement_out,
    receipt_out,
    recommendation_out,
    stock_row_out,
)

router = APIRouter(tags=["warehouse"], responses=documented(401, 403, 422))
Reader = Annotated[ApiKey, Depends(require(Scope.WAREHOUSE_READ))]
Writer = Annotated[ApiKey, Depends(require(Scope.WAREHOUSE_WRITE))]
LineId = Annotated[str, Path(max_length=64, description="The order line's id")]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Sku = Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)]
Location = Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)]
MISSING: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such return, line or flag"}
}
CHANGE_ERRORS = {**documented(400, 409), **MISSING}
LINE = "/returns/{number}/lines/{line_id}"


def _actor(key: ApiKey) -> Actor:
    return Actor(f"api:{key.prefix}", utcnow())


def _terms(settings: AppSettings) -> RecoveryTerms:
    return configured.recovery(settings)


def _checklists(settings: AppSettings) -> Checklists:
    return configured.checklists(settings)


Terms = Annotated[RecoveryTerms, Depends(_terms)]
AppChecklists = Annotated[Checklists, Depends(_checklists)]


async def _status(session: AsyncSession, return_line_id: int) -> str:
    """The return's status after a change to one of its lines, as this transaction sees it."""
    status = await session.scalar(
        select(Return.status)
        .join(ReturnLine, ReturnLine.return_id == Return.id)
        .where(ReturnLine.id == return_line_id)
    )
    assert status is not None
    return status


@router.post(
    "/returns/{number}/receipts",
    status_code=201,
    response_model=ParcelOut,
    summary="Receive a parcel: units per line, its weight, and what was wrong with it",
    description="Counts receive units against their lines. Unexpected and wrong items, lines "
    "still short after the last parcel, and an empty box (nothing counted in a weighed box, or "
    "one far lighter than what was counted) are flagged and put the return in the exceptions "
    "queue; an empty box receives nothing.",
    responses=CHANGE_ERRORS,
)
async def receive_parcel(
    number: str, data: ParcelIn, request: Request, sessions: Sessions, terms: Terms, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, ParcelOut]:
        done = await receiving.receive_parcel(session, number, _actor(key), data, terms=terms)
        refs = receiving.line_refs(done.ret)
        return 201, ParcelOut(
            number=done.ret.number,
            status=done.ret.status,
            attention=done.ret.attention,
            receipt=receipt_out(done.receipt),
            flags=[flag_out(flag, refs) for flag in done.flags],
        )

    return await run_idempotent(request, sessions, key, work)


@router.get(
    "/returns/{number}/receipts",
    response_model=ReceiptList,
    summary="The parcels received for a return, oldest first",
    responses=MISSING,
)
async def list_receipts(number: str, session: ReadSession, _key: Reader) -> ReceiptList:
    found = await receiving.receipts_for(session, number)
    return ReceiptList(items=[receipt_out(receipt) for receipt in found])


@router.get(
    "/returns/{number}/flags",
    response_model=FlagList,
    summary="What receiving flagged for a return, oldest first",
    responses=MISSING,
)
async def list_flags(
    number: str,
    session: ReadSession,
    _key: Reader,
    open_only: Annotated[
        bool, Query(alias="open", description="true: only flags not yet resolved")
    ] = False,
) -> FlagList:
    ret, flags = await receiving.flags_for(session, number, open_only=open_only)
    refs = receiving.line_refs(ret)
    return FlagList(items=[flag_out(flag, refs) for flag in flags])


@router.post(
    "/receiving-flags/{flag_id}/resolve",
    response_model=FlagOut,
    summary="Resolve a receiving flag, saying what was done",
    description="When the return has no open flag left, it leaves the exceptions queue.",
    responses=CHANGE_ERRORS,
)
async def resolve_flag(
    flag_id: Id, data: ResolveFlagIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, FlagOut]:
        flag = await receiving.resolve_flag(session, flag_id, _actor(key), data.resolution)
        return 200, flag_out(flag, await receiving.line_refs_of(session, flag.return_id))

    return await run_idempotent(request, sessions, key, work)


@router.get(
    f"{LINE}/checklist",
    response_model=ChecklistOut,
    summary="The checklist the line is inspected with",
    responses=MISSING,
)
async def checklist(
    number: str, line_id: LineId, session: ReadSession, checklists: AppChecklists, _key: Reader
) -> ChecklistOut:
    found = await inspection.checklist_for_line(session, number, line_id, checklists=checklists)
    return checklist_out(found)


@router.post(
    f"{LINE}/inspection",
    status_code=201,
    response_model=InspectionOut,
    summary="Inspect a received line with its checklist",
    description="The answers suggest a grade; leave grade out to take it, or give another "
    "with an override_reason. An answer the checklist flags (a serial number that isn't the "
    "one sold) raises a wrong_item flag on the line: it can't be routed until the flag is "
    "resolved.",
    responses=CHANGE_ERRORS,
)
async def inspect_line(
    number: str,
    line_id: LineId,
    data: InspectionIn,
    request: Request,
    sessions: Sessions,
    checklists: AppChecklists,
    key: Writer,
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, InspectionOut]:
        done = await inspection.inspect_line(
            session,
            number,
            line_id,
            _actor(key),
            answers=data.answers,
            grade=data.grade,
            override_reason=data.override_reason,
            note=data.note,
            checklists=checklists,
        )
        return 201, inspection_out(done, line_id, await _status(session, done.return_line_id))

    return await run_idempotent(request, sessions, key, work)


@router.get(
    f"{LINE}/recommendation",
    response_model=RecommendationOut,
    summary="Every channel's expected recovery for a graded line, and the best one",
    responses={**MISSING, **documented(409)},
)
async def recommendation(
    number: str, line_id: LineId, session: ReadSession, terms: Terms, _key: Reader
) -> RecommendationOut:
    return recommendation_out(await dispositions.advise(session, number, line_id, terms=terms))


@router.post(
    f"{LINE}/disposition",
    status_code=201,
    response_model=DispositionOut,
    summary="Route a graded line: the recommended channel, or another with a reason",
    description="Restock and open box put the units in stock; refurbish opens a work order; "
    "donate, recycle and dispose add them to the open manifest of that kind. A channel the "
    "engine finds impossible for the unit is refused with its reasons (422), and so is any "
    "channel while an open receiving flag holds the line or the whole return (409).",
    responses=CHANGE_ERRORS,
)
async def route_line(
    number: str,
    line_id: LineId,
    request: Request,
    sessions: Sessions,
    terms: Terms,
    key: Writer,
    data: DispositionChoiceIn | None = None,
) -> Response:
    chosen = data or DispositionChoiceIn()

    async def work(session: AsyncSession) -> tuple[int, DispositionOut]:
        record = await dispositions.route_line(
            session,
            number,
            line_id,
            _actor(key),
            channel=chosen.channel,
            override_reason=chosen.override_reason,
            terms=terms,
        )
        return 201, disposition_out(record, line_id, await _status(session, record.return_line_id))

    return await run_idempotent(request, sessions, key, work)


@router.get(
    "/inventory/stock",
    response_model=StockOut,
    tags=["inventory"],
    summary="Units on hand by SKU, condition and location",
)
async def stock(
    session: ReadSession, _key: Reader, sku: Sku = None, location: Location = None
) -> StockOut:
    rows = await inventory.stock(session, sku=sku, location=location)
    return StockOut(items=[stock_row_out(row) for row in rows])


@router.get(
    "/inventory/movements",
    response_model=MovementPage,
    tags=["inventory"],
    summary="The inventory ledger, newest first",
)
async def movements(
    session: ReadSession,
    _key: Reader,
    sku: Sku = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> MovementPage:
    page, next_cursor = await inventory.movements(session, sku=sku, limit=limit, after=cursor)
    return MovementPage(items=[movement_out(row) for row in page], next_cursor=next_cursor)
