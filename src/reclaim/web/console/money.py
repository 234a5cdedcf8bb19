"""The console's money pages: a return's refunds, credit and exchanges, refunds by hand, and
the second agent's approvals.

Agents and admins settle what a return has due, refund by hand (partial or goodwill, with a
reason) and try a failed refund again; a refund above the policy's threshold waits on
``/console/refunds`` for a second agent to approve or decline. Every form carries a one-time
token, claimed in the transaction that moves the money, so a double submit refunds once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import Response

from reclaim.api.problems import status_for
from reclaim.errors import NotFound, ReclaimError, ValidationFailed
from reclaim.kit.money import MAX_MINOR, Money
from reclaim.orders.models import Order
from reclaim.policy.facts import money, to_minor
from reclaim.refunds import service as refunds
from reclaim.refunds import settlement
from reclaim.refunds.models import Refund
from reclaim.refunds.schemas import ManualRefundIn
from reclaim.returns.models import Return
from reclaim.users.roles import Permission
from reclaim.web.console import forms, review, routes
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
from reclaim.web.console.station_view import text, typed
from reclaim.web.pages import templates

router = APIRouter(prefix=HOME, include_in_schema=False, route_class=ConsoleRoute)

Refunder = Annotated[Staff, Depends(require(Permission.ISSUE_REFUNDS))]
RefunderForm = Annotated[Staff, Depends(require_form(Permission.ISSUE_REFUNDS))]
Approver = Annotated[Staff, Depends(require_form(Permission.APPROVE_REFUNDS))]

REFUNDS = f"{HOME}/refunds"
PAGE_ROWS = 30
KINDS = {"manual": "Partial refund", "goodwill": "Goodwill refund"}
REQUESTED = "Requested from the shop's payment system; it confirms within minutes."


def _two_people_above(request: Request, currency: str) -> str:
    """The policy's threshold for a second approval, in the refund's currency."""
    above = request.app.state.policy.policy.refunds.second_approval_above
    return money(to_minor(above, currency), currency)


# The return page and the refunds page both say where the second approval starts.
templates.env.globals["two_people_above"] = _two_people_above


def _return_url(number: str) -> str:
    return f"{HOME}/returns/{number}"


def _held_words(request: Request, refund: Refund) -> str:
    above = _two_people_above(request, refund.currency)
    return (
        f"It waits for a second agent: amounts above {above} need two people. Another agent "
        "approves or declines it under Refunds."
    )


# --- a return's money --------------------------------------------------------------------------


async def _order_of(session: AsyncSession, number: str) -> tuple[str, str, str]:
    """The return's RMA, its order's number at the shop, and the order's currency."""
    found = (
        await session.execute(
            select(Return.number, Order.external_id, Order.currency)
            .join(Order, Order.id == Return.order_id)
            .where(Return.number == review.canonical(number))
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"No return {number!r}.", number=number)
    return str(found.number), str(found.external_id), str(found.currency)


def _manual_from(form: FormData, rma: str, currency: str) -> ManualRefundIn:
    """The "Refund by hand" form: an amount in major units, a kind and a reason."""
    typed_amount = text(form, "amount")
    if not typed_amount:
        raise ValidationFailed(f"Type the amount to refund in {currency}, like 12.50.")
    minor = Money.from_decimal(typed_amount, currency).amount
    if minor <= 0:
        raise ValidationFailed(f"Type an amount above zero, like 12.50 ({typed_amount} isn't).")
    if minor > MAX_MINOR:
        raise ValidationFailed(f"{typed_amount} {currency} is too large to refund.")
    kind = text(form, "kind")
    if kind not in KINDS:
        raise ValidationFailed("Choose whether this is a partial or a goodwill refund.")
    reason = text(form, "reason")
    if not reason:
        raise ValidationFailed("Say why you refund: it stays on the refund for the audit.")
    try:
        return ManualRefundIn.model_validate(
            {
                "amount_minor": minor,
                "currency": currency,
                "kind": kind,
                "reason": reason,
                "return": rma,
            }
        )
    except pydantic.ValidationError as exc:
        said = "; ".join(str(error["msg"]) for error in exc.errors())
        raise ValidationFailed(f"The refund isn't right: {said}.") from None


@router.post("/returns/{number}/refunds")
async def refund_by_hand(request: Request, number: str, staff: RefunderForm) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with reading(request) as session:
            rma, order_id, currency = await _order_of(session, number)
        data = _manual_from(form, rma, currency)
        async with writing(request) as session:
            await once.claim(session, _return_url(rma))
            refund = await refunds.manual_refund(
                session, order_id, data, staff.actor(), request.app.state.policy
            )
            done, amount, held = refund.number, refund.amount_minor, refund.status
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await routes.show_return_page(
            request, staff, number, error=error, failed="refund", typed=typed(form)
        )
    said = f"{KINDS[data.kind]} {done} of {money(amount, currency)}."
    if held == refunds.PENDING_APPROVAL:
        return redirect(request, _return_url(rma), f"{said} {_held_words(request, refund)}")
    return redirect(request, _return_url(rma), f"{said} {REQUESTED}")


def _settled_words(done: settlement.Settled, currency: str) -> str:
    said = [f"Settled line{'s' if len(done.lines) != 1 else ''} {', '.join(done.lines)}."]
    said += [
        f"Refund {refund.number} of {money(refund.amount_minor, refund.currency)}: "
        + (
            "it waits for a second agent's approval."
            if refund.status == refunds.PENDING_APPROVAL
            else REQUESTED
        )
        for refund in done.refunds
    ]
    credited = sum(txn.amount_minor for txn in done.credit)
    if credited:
        said.append(f"{money(credited, currency)} store credit issued; the shopper is e-mailed.")
    said += [
        f"Exchange {exchange.number} created: the shop sends the replacement."
        for exchange in done.exchanges
    ]
    return " ".join(said)


@router.post("/returns/{number}/refund-due")
async def refund_due(request: Request, number: str, staff: RefunderForm) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with reading(request) as session:
            rma, _, currency = await _order_of(session, number)
        async with writing(request) as session:
            await once.claim(session, _return_url(rma))
            done = await settlement.settle_now(session, rma, staff.actor())
            said = _settled_words(done, currency)
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await routes.show_return_page(request, staff, number, error=error, failed="due")
    return redirect(request, _return_url(rma), said)


# --- retries, approvals and the refunds page ---------------------------------------------------


async def _return_of(session: AsyncSession, refund: Refund) -> str | None:
    if refund.return_id is None:
        return None
    return await session.scalar(select(Return.number).where(Return.id == refund.return_id))


async def _back_to(session: AsyncSession, refund: Refund, form: FormData) -> str:
    """The page the form came from: the refund's return, or the refunds page."""
    rma = await _return_of(session, refund) if form.get("from") == "return" else None
    return _return_url(rma) if rma else REFUNDS


@dataclass(frozen=True, slots=True)
class About:
    """What a refund on the refunds page belongs to."""

    order: str
    rma: str | None


async def _about(session: AsyncSession, shown: list[Refund]) -> dict[int, About]:
    if not shown:
        return {}
    rows = await session.execute(
        select(Refund.id, Order.external_id, Return.number)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(Return, Return.id == Refund.return_id)
        .where(Refund.id.in_([refund.id for refund in shown]))
    )
    return {row.id: About(row.external_id, row.number) for row in rows}


async def _retried(session: AsyncSession, failed: list[Refund]) -> frozenset[int]:
    if not failed:
        return frozenset()
    tried = await session.scalars(
        select(Refund.retry_of).where(Refund.retry_of.in_([refund.id for refund in failed]))
    )
    return frozenset(int(refund_id) for refund_id in tried if refund_id is not None)


async def _refunds_page(
    request: Request,
    staff: Staff,
    *,
    after: str | None = None,
    error: ReclaimError | None = None,
    failed: str | None = None,
    shown: dict[str, str] | None = None,
) -> Response:
    async with reading(request) as session:
        waiting, _ = await refunds.list_refunds(
            session,
            order=None,
            return_number=None,
            status=refunds.PENDING_APPROVAL,
            limit=PAGE_ROWS,
            after=None,
        )
        broken, _ = await refunds.list_refunds(
            session,
            order=None,
            return_number=None,
            status=refunds.FAILED,
            limit=PAGE_ROWS,
            after=None,
        )
        latest, older = await refunds.list_refunds(
            session, order=None, return_number=None, status=None, limit=PAGE_ROWS, after=after
        )
        about = await _about(session, waiting + broken + latest)
        retried = await _retried(session, broken)
    listed = {refund.number for refund in waiting + broken}
    return render(
        request,
        "console/money/refunds.html",
        staff,
        status_code=status_for(error) if error else 200,
        waiting=waiting,
        broken=[refund for refund in broken if refund.id not in retried],
        latest=latest,
        older=older,
        after=after,
        about=about,
        me=staff.actor().name,
        error=error.message if error else None,
        failed=failed if failed in listed else None,
        typed=shown or {},
    )


@router.get("/refunds")
async def refunds_page(request: Request, staff: Refunder, after: str | None = None) -> Response:
    cursor = after.strip()[:32] if after else None
    return await _refunds_page(request, staff, after=cursor or None)


async def _refused(
    request: Request, staff: Staff, number: str, form: FormData, error: ReclaimError
) -> Response:
    """A refused retry, approval or decline: the page the form was on, with the reason."""
    if form.get("from") == "return":
        async with reading(request) as session:
            refund = await refunds.get_refund(session, number)
            rma = await _return_of(session, refund)
        if rma:
            return await routes.show_return_page(
                request, staff, rma, error=error, failed=f"retry-{refund.number}"
            )
    return await _refunds_page(request, staff, error=error, failed=number, shown=typed(form))


@router.post("/refunds/{number}/retry")
async def retry(request: Request, number: str, staff: RefunderForm) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, REFUNDS)
            again = await refunds.retry(session, number, staff.actor())
            where = await _back_to(session, again, form)
            await once.lead_to(session, where)
            said = (
                f"Trying again as refund {again.number} of "
                f"{money(again.amount_minor, again.currency)}. {REQUESTED}"
            )
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _refused(request, staff, number, form, error)
    return redirect(request, where, said)


@router.post("/refunds/{number}/approve")
async def approve(request: Request, number: str, staff: Approver) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, REFUNDS)
            refund = await refunds.approve(session, number, staff.actor())
            said = (
                f"Approved refund {refund.number} of "
                f"{money(refund.amount_minor, refund.currency)}. {REQUESTED}"
            )
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _refused(request, staff, number, form, error)
    return redirect(request, REFUNDS, said)


@router.post("/refunds/{number}/decline")
async def decline(request: Request, number: str, staff: Approver) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, REFUNDS)
            refund = await refunds.decline(session, number, staff.actor(), text(form, "why"))
            said = (
                f"Declined refund {refund.number}: nothing is paid, and its "
                f"{money(refund.amount_minor, refund.currency)} is free to give back another way."
            )
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _refused(request, staff, number, form, error)
    return redirect(request, REFUNDS, said)
