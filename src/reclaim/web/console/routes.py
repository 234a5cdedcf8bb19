"""The staff console's pages: the work queue, search, a return's review page, dead deliveries.

Every page and form checks the role on the server (``require`` / ``require_form``). A form
that works redirects (303) to a page that says what happened and what's next; one the domain
refuses shows its page again with the reason, having changed nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from reclaim.api.problems import status_for
from reclaim.errors import NotFound, ReclaimError
from reclaim.kit import clock
from reclaim.logistics.shipments import Journey
from reclaim.notifications import deliveries
from reclaim.notifications.models import Delivery
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.users.roles import Permission
from reclaim.warehouse import receiving
from reclaim.warehouse.models import ReceivingFlag
from reclaim.web.console import login, orders, review, search, worklists
from reclaim.web.console.auth import (
    HOME,
    ConsoleRoute,
    Staff,
    reading,
    redirect,
    render,
    require,
    require_form,
    writing,
)
from reclaim.web.console.forms import whole_number

router = APIRouter(prefix=HOME, include_in_schema=False, route_class=ConsoleRoute)
router.include_router(login.router)

Viewer = Annotated[Staff, Depends(require(Permission.VIEW_RETURNS))]
Decider = Annotated[Staff, Depends(require_form(Permission.DECIDE_REVIEWS))]
Resolver = Annotated[Staff, Depends(require_form(Permission.RESOLVE_EXCEPTIONS))]
DeliveryViewer = Annotated[Staff, Depends(require(Permission.MANAGE_DELIVERIES))]
Replayer = Annotated[Staff, Depends(require_form(Permission.MANAGE_DELIVERIES))]

# Rows per list on the queue page; "show all" pages hold this many at a time.
QUEUE_ROWS = 8
PAGE_ROWS = 50
MAX_TEXT = 2000


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    # U+0000 is never typed, and PostgreSQL refuses to store it.
    return value.replace("\x00", "").strip()[:MAX_TEXT] if isinstance(value, str) else ""


def _cursor(value: str | None) -> int | None:
    return whole_number(value, digits=18) if value else None


def _page_of(number: str) -> str:
    return f"{HOME}/returns/{number}"


# --- the work queue -------------------------------------------------------------------------


@router.get("")
async def queue(request: Request, staff: Viewer) -> Response:
    lists = []
    async with reading(request) as session:
        for worklist in worklists.WORKLISTS:
            rows, _ = await worklists.newest(session, worklist, limit=QUEUE_ROWS)
            lists.append((worklist, await worklists.count(session, worklist), rows))
    return render(request, "console/queue.html", staff, lists=lists, full=False)


@router.get("/queue/{key}")
async def worklist_page(
    request: Request, key: str, staff: Viewer, before: str | None = None
) -> Response:
    worklist = worklists.BY_KEY.get(key)
    if worklist is None:
        raise NotFound(f"There is no work queue called {key!r}.")
    async with reading(request) as session:
        total = await worklists.count(session, worklist)
        rows, older = await worklists.newest(
            session, worklist, limit=PAGE_ROWS, before=_cursor(before)
        )
    return render(
        request,
        "console/queue.html",
        staff,
        lists=[(worklist, total, rows)],
        full=True,
        older=older,
    )


# --- search ---------------------------------------------------------------------------------


@router.get("/search")
async def search_page(request: Request, staff: Viewer, q: str = "") -> Response:
    async with reading(request) as session:
        found = await search.search(session, q)
    if found.exact:
        return RedirectResponse(_page_of(found.exact), status_code=303)
    return render(request, "console/search.html", staff, q=q.strip(), found=found)


# --- a return -------------------------------------------------------------------------------


async def show_return_page(
    request: Request,
    staff: Staff,
    number: str,
    *,
    error: ReclaimError | None = None,
    failed: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    """The return's page; after a refused form, with the reason next to that form and what
    was typed still in it."""
    async with reading(request) as session:
        view = await review.load(session, number)
        panel = await orders.risk_panel(session, view.ret.order.external_id)
    return render(
        request,
        "console/detail.html",
        staff,
        status_code=status_for(error) if error else 200,
        view=view,
        ret=view.ret,
        panel=panel,
        error=error.message if error else None,
        failed=failed,
        typed=typed or {},
    )


@router.get("/returns/{number}")
async def return_page(request: Request, number: str, staff: Viewer) -> Response:
    return await show_return_page(request, staff, number)


@router.post("/returns/{number}/approve")
async def approve(request: Request, number: str, staff: Decider) -> Response:
    form = await request.form()
    note, keep = _text(form, "note"), form.get("returnless") == "yes"
    settings, policy = request.app.state.settings, request.app.state.policy
    journey = Journey(settings.carrier, policy.policy.handover.days)
    try:
        async with writing(request) as session:
            ret = await returns.approve(
                session, number, staff.actor(), returnless=keep, note=note or None, journey=journey
            )
            done = ret.number
    except ReclaimError as error:
        typed = {"note": note, "returnless": keep}
        return await show_return_page(
            request, staff, number, error=error, failed="approve", typed=typed
        )
    nxt = (
        "The shopper keeps the item and is told by e-mail; the return completes once the "
        "refund is settled."
        if keep
        else "The shopper is e-mailed their label; the return now waits under Arriving."
    )
    return redirect(request, _page_of(done), f"Approved {done}. {nxt}")


@router.post("/returns/{number}/reject")
async def reject(request: Request, number: str, staff: Decider) -> Response:
    form = await request.form()
    reason = _text(form, "reason")
    try:
        async with writing(request) as session:
            done = (await returns.reject(session, number, staff.actor(), reason)).number
    except ReclaimError as error:
        typed = {"reason": reason}
        return await show_return_page(
            request, staff, number, error=error, failed="reject", typed=typed
        )
    return redirect(
        request,
        _page_of(done),
        f"Rejected {done}. The shopper is e-mailed your reason; there is nothing more to do.",
    )


@router.post("/returns/{number}/resolve")
async def resolve(request: Request, number: str, staff: Resolver) -> Response:
    form = await request.form()
    remark = _text(form, "note")
    try:
        async with writing(request) as session:
            done = (
                await receiving.resolve_attention(session, number, staff.actor(), remark)
            ).number
    except ReclaimError as error:
        typed = {"note": remark}
        return await show_return_page(
            request, staff, number, error=error, failed="resolve", typed=typed
        )
    return redirect(
        request,
        _page_of(done),
        f"Resolved the flag on {done}; your note is on the timeline and the return has left "
        "the exceptions list.",
    )


async def _flag_of(session: AsyncSession, number: str, flag_id: str) -> int:
    """The receiving flag, if it is one of this return's."""
    wanted = whole_number(flag_id, digits=18)
    found = (
        await session.scalar(
            select(ReceivingFlag.id)
            .join(Return, Return.id == ReceivingFlag.return_id)
            .where(Return.number == review.canonical(number), ReceivingFlag.id == wanted)
        )
        if wanted is not None
        else None
    )
    if found is None:
        raise NotFound(f"Return {number} has no receiving flag {flag_id}.")
    return found


@router.post("/returns/{number}/flags/{flag_id}/resolve")
async def resolve_flag(request: Request, number: str, flag_id: str, staff: Resolver) -> Response:
    form = await request.form()
    remark = _text(form, f"resolution-{flag_id}")
    try:
        async with writing(request) as session:
            flag = await receiving.resolve_flag(
                session, await _flag_of(session, number, flag_id), staff.actor(), remark
            )
            left = len(await receiving.open_flags(session, flag.return_id))
    except ReclaimError as error:
        typed = {f"resolution-{flag_id}": remark}
        failed = f"flag-{flag_id}"
        return await show_return_page(
            request, staff, number, error=error, failed=failed, typed=typed
        )
    after = (
        f"{left} receiving flag{'s' if left != 1 else ''} still open."
        if left
        else "No receiving flags are left open, so the return has left the exceptions list."
    )
    return redirect(request, _page_of(review.canonical(number)), f"Resolved the flag. {after}")


# --- dead deliveries ------------------------------------------------------------------------


def recipient(delivery: Delivery) -> str:
    """Who a delivery is for: an e-mail address, or the webhook endpoint by its id."""
    return delivery.target if delivery.channel == "email" else f"webhook endpoint {delivery.target}"


@router.get("/deliveries")
async def deliveries_page(
    request: Request, staff: DeliveryViewer, after: str | None = None
) -> Response:
    async with reading(request) as session:
        dead, older = await deliveries.list_deliveries(
            session,
            deliveries.DeliveryFilter(status=deliveries.DeliveryStatus.DEAD),
            limit=PAGE_ROWS,
            after=_cursor(after),
        )
    return render(
        request, "console/deliveries.html", staff, dead=dead, older=older, recipient=recipient
    )


@router.post("/deliveries/{delivery_id}/replay")
async def replay(request: Request, delivery_id: str, staff: Replayer) -> Response:
    chosen = _cursor(delivery_id)
    if chosen is None:
        raise NotFound(f"No delivery {delivery_id}.")
    try:
        async with writing(request) as session:
            logged = await deliveries.replay(session, chosen, clock.utcnow())
    except ReclaimError as error:
        return redirect(request, f"{HOME}/deliveries", error.message, error=True)
    what = f"{logged.topic} to {recipient(logged.delivery)}"
    return redirect(
        request,
        f"{HOME}/deliveries",
        f"Delivery {chosen} ({what}) will be sent again by the worker within a minute; "
        "it leaves this list, and comes back here only if it fails again.",
    )


@router.post("/deliveries/replay-all")
async def replay_all(request: Request, staff: Replayer) -> Response:
    async with writing(request) as session:
        revived = await deliveries.replay_dead(session, clock.utcnow())
    return redirect(
        request,
        f"{HOME}/deliveries",
        f"{revived} dead deliver{'ies' if revived != 1 else 'y'} will be sent again by the "
        "worker; any that fail again come back to this list.",
    )
