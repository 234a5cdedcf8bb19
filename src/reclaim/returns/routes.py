from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.api.deps import AppPolicy, AppSettings, ReadSession, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import documented
from reclaim.kit.clock import utcnow
from reclaim.logistics.shipments import Journey
from reclaim.orders.schemas import WITHOUT_NUL
from reclaim.returns import service
from reclaim.returns.models import Return
from reclaim.returns.schemas import (
    ApproveIn,
    DispositionIn,
    InspectIn,
    ReasonIn,
    ReceiveIn,
    RejectIn,
    ResolveIn,
    ReturnIn,
    ReturnOut,
    ReturnPage,
    TransitIn,
)
from reclaim.returns.states import Status
from reclaim.returns.views import return_out
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey
from reclaim.warehouse import dispositions, inspection, receiving
from reclaim.warehouse.configured import recovery as recovery_terms
from reclaim.warehouse.schemas import CountIn, ParcelIn

router = APIRouter(prefix="/returns", tags=["returns"], responses=documented(401, 403, 422))
CHANGE_ERRORS = documented(400, 404, 409)
Writer = Annotated[ApiKey, Depends(require(Scope.RETURNS_WRITE))]
Reader = Annotated[ApiKey, Depends(require(Scope.RETURNS_READ))]
Change = Callable[[AsyncSession, service.Actor], Awaitable[Return]]


def _actor(key: ApiKey) -> service.Actor:
    return service.Actor(f"api:{key.prefix}", utcnow())


async def _shown(session: AsyncSession, ret: Return) -> ReturnOut:
    """The return just changed, from what the transaction already holds plus its timeline."""
    return return_out(ret, await service.timeline(session, ret))


async def _change(
    request: Request, sessions: Sessions, key: ApiKey, number: str, change: Change
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, ReturnOut]:
        ret = await change(session, _actor(key))
        return 200, await _shown(session, ret)

    return await run_idempotent(request, sessions, key, work)


@router.post(
    "",
    status_code=201,
    response_model=ReturnOut,
    summary="Start a return",
    responses=CHANGE_ERRORS,
)
async def create_return(
    data: ReturnIn,
    request: Request,
    sessions: Sessions,
    policy: AppPolicy,
    settings: AppSettings,
    key: Writer,
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, ReturnOut]:
        ret = await service.create_return(
            session, data, _actor(key), policy=policy, carrier=settings.carrier
        )
        return 201, await _shown(session, ret)

    return await run_idempotent(request, sessions, key, work)


@router.get("", response_model=ReturnPage, summary="Returns, newest first")
async def list_returns(
    session: ReadSession,
    _key: Reader,
    status: Status | None = None,
    order_id: Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)] = None,
    attention: Annotated[
        bool | None,
        Query(
            description="true: only returns flagged for a person to look at; false: none of them"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> ReturnPage:
    page, next_cursor = await service.list_returns(
        session, service.ReturnFilter(status, order_id, attention), limit=limit, after=cursor
    )
    return ReturnPage(items=[return_out(ret) for ret in page], next_cursor=next_cursor)


@router.get(
    "/{number}",
    response_model=ReturnOut,
    summary="A return with its timeline",
    responses=documented(404),
)
async def get_return(number: str, session: ReadSession, _key: Reader) -> ReturnOut:
    ret = await service.get_return(session, number, with_events=True)
    return return_out(ret, ret.events)


# Bodies whose fields are all optional may be left out: POST …/approve alone approves.
@router.post(
    "/{number}/review",
    response_model=ReturnOut,
    summary="Send to staff review",
    responses=CHANGE_ERRORS,
)
async def send_to_review(
    number: str, request: Request, sessions: Sessions, key: Writer, data: ReasonIn | None = None
) -> Response:
    why = (data and data.reason) or "Sent to review"
    return await _change(
        request, sessions, key, number, lambda s, a: service.send_to_review(s, number, a, why)
    )


@router.post(
    "/{number}/approve",
    response_model=ReturnOut,
    summary="Approve",
    responses=CHANGE_ERRORS,
)
async def approve(
    number: str,
    request: Request,
    sessions: Sessions,
    policy: AppPolicy,
    settings: AppSettings,
    key: Writer,
    data: ApproveIn | None = None,
) -> Response:
    chosen = data or ApproveIn()
    journey = Journey(settings.carrier, policy.policy.handover.days)
    return await _change(
        request,
        sessions,
        key,
        number,
        lambda s, a: service.approve(
            s, number, a, returnless=chosen.returnless, note=chosen.note, journey=journey
        ),
    )


@router.post(
    "/{number}/reject",
    response_model=ReturnOut,
    summary="Reject, saying why",
    responses=CHANGE_ERRORS,
)
async def reject(
    number: str, data: RejectIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    return await _change(
        request, sessions, key, number, lambda s, a: service.reject(s, number, a, data.reason)
    )


@router.post(
    "/{number}/cancel",
    response_model=ReturnOut,
    summary="Cancel before it ships",
    responses=CHANGE_ERRORS,
)
async def cancel(
    number: str, request: Request, sessions: Sessions, key: Writer, data: ReasonIn | None = None
) -> Response:
    why = data.reason if data else None
    return await _change(
        request, sessions, key, number, lambda s, a: service.cancel(s, number, a, why)
    )


@router.post(
    "/{number}/in-transit",
    response_model=ReturnOut,
    summary="Handed to the carrier",
    responses=CHANGE_ERRORS,
)
async def mark_in_transit(
    number: str, request: Request, sessions: Sessions, key: Writer, data: TransitIn | None = None
) -> Response:
    chosen = data or TransitIn()
    return await _change(
        request,
        sessions,
        key,
        number,
        lambda s, a: service.mark_in_transit(
            s, number, a, tracking_number=chosen.tracking_number, carrier=chosen.carrier
        ),
    )


@router.post(
    "/{number}/receive",
    response_model=ReturnOut,
    summary="Receive units per line",
    responses=CHANGE_ERRORS,
)
async def receive(
    number: str, data: ReceiveIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    # The same receipt the station records, without a weight; more parcels may follow, so
    # nothing is flagged missing here.
    parcel = ParcelIn(
        counts=[CountIn(line_id=line.line_id, quantity=line.quantity) for line in data.lines],
        last_parcel=False,
    )

    async def received(session: AsyncSession, actor: service.Actor) -> Return:
        result = await receiving.receive_parcel(session, number, actor, parcel)
        return result.ret

    return await _change(request, sessions, key, number, received)


@router.post(
    "/{number}/inspect",
    response_model=ReturnOut,
    summary="Grade received lines",
    description="Records each grade as given, without a checklist; "
    "POST /returns/{number}/lines/{line_id}/inspection inspects one line with its checklist.",
    responses=CHANGE_ERRORS,
)
async def inspect(
    number: str, data: InspectIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    return await _change(
        request, sessions, key, number, lambda s, a: inspection.grade_as_given(s, number, data, a)
    )


@router.post(
    "/{number}/disposition",
    response_model=ReturnOut,
    summary="Route graded lines",
    description="Records each line against the disposition engine's recommendation, and sets "
    "off what the channel does (stock, work order, manifest), as "
    "POST /returns/{number}/lines/{line_id}/disposition does. A channel the engine finds "
    "impossible for the unit is refused with its reasons (422), and so is a line an open "
    "receiving flag holds (409); nothing is routed then.",
    responses=CHANGE_ERRORS,
)
async def disposition(
    number: str,
    data: DispositionIn,
    request: Request,
    sessions: Sessions,
    settings: AppSettings,
    key: Writer,
) -> Response:
    terms = recovery_terms(settings)
    return await _change(
        request,
        sessions,
        key,
        number,
        lambda s, a: dispositions.route_as_given(s, number, data, a, terms=terms),
    )


@router.post(
    "/{number}/complete",
    response_model=ReturnOut,
    summary="Close the return",
    responses=CHANGE_ERRORS,
)
async def complete(number: str, request: Request, sessions: Sessions, key: Writer) -> Response:
    return await _change(
        request, sessions, key, number, lambda s, a: service.complete(s, number, a)
    )


@router.post(
    "/{number}/attention/resolve",
    response_model=ReturnOut,
    summary="Clear the flag for attention, saying what was done",
    description="Refused (409) while receiving flags are open: resolve each of them "
    "(POST /receiving-flags/{flag_id}/resolve); the last one clears the flag.",
    responses=CHANGE_ERRORS,
)
async def resolve_attention(
    number: str, data: ResolveIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    return await _change(
        request,
        sessions,
        key,
        number,
        lambda s, a: receiving.resolve_attention(s, number, a, data.note),
    )
