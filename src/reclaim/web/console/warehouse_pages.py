"""The warehouse beyond the station: stock and its ledger, refurbishment work orders, end-of-life
manifests, and the day's batch planned under capacity limits.

Anyone with inventory access reads these pages; receiving work orders back, shipping manifests
and applying a batch each need their own permission. A form that works redirects (303) to its
page, saying what happened; one the domain refuses shows the page again with the reason next to
the form, having changed nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import Response

from reclaim.api.problems import status_for
from reclaim.errors import ReclaimError, ValidationFailed
from reclaim.kit.money import Money
from reclaim.logistics.models import Facility
from reclaim.returns.states import Disposition, Grade
from reclaim.users.roles import Permission
from reclaim.warehouse import batch_service, configured, inventory, manifests, refurbishment
from reclaim.warehouse.batch import Plan
from reclaim.warehouse.disposition_rules import label_of, recommend
from reclaim.warehouse.grading import grade_words
from reclaim.warehouse.recovery import RecoveryTerms
from reclaim.web.console import forms
from reclaim.web.console.auth import (
    ConsoleRoute,
    Staff,
    reading,
    redirect,
    render,
    require,
    require_form,
    writing,
)
from reclaim.web.console.station_view import text, typed, whole

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

Viewer = Annotated[Staff, Depends(require(Permission.VIEW_INVENTORY))]
Refurbisher = Annotated[Staff, Depends(require_form(Permission.MANAGE_REFURBISHMENT))]
Shipper = Annotated[Staff, Depends(require_form(Permission.MANAGE_MANIFESTS))]
Planner = Annotated[Staff, Depends(require(Permission.PLAN_BATCH))]
PlannerForm = Annotated[Staff, Depends(require_form(Permission.PLAN_BATCH))]

WORK_ORDERS = "/console/work-orders"
MANIFESTS = "/console/manifests"
BATCH = "/console/batch"
MOVEMENTS_PER_PAGE = 50
# The capacity the batch page asks for: the channels whose slots run out in a day.
LIMITED = (Disposition.REFURBISH, Disposition.OPEN_BOX)
MAX_SLOTS = 100_000


def _terms(request: Request) -> RecoveryTerms:
    return configured.recovery(request.app.state.settings)


def _cursor(value: str | None) -> int | None:
    return forms.whole_number(value, digits=18) if value else None


def _amount(form: FormData, key: str, currency: str) -> int:
    """An amount typed in major units ("12.50"); blank is nothing."""
    typed_amount = text(form, key)
    return Money.from_decimal(typed_amount, currency).amount if typed_amount else 0


# --- inventory -----------------------------------------------------------------------------------


@router.get("/inventory")
async def inventory_page(
    request: Request, staff: Viewer, sku: str = "", after: str | None = None
) -> Response:
    wanted = sku.strip()[:64] or None
    async with reading(request) as session:
        stock = await inventory.stock(session, sku=wanted)
        moves, older = await inventory.movements(
            session, sku=wanted, limit=MOVEMENTS_PER_PAGE, after=_cursor(after)
        )
    return render(
        request,
        "console/inventory.html",
        staff,
        sku=wanted or "",
        stock=stock,
        moves=moves,
        older=f"?{urlencode({'sku': wanted or '', 'after': older})}" if older else None,
    )


# --- refurbishment work orders -------------------------------------------------------------------


async def _work_orders_page(
    request: Request,
    staff: Staff,
    status: str,
    *,
    error: ReclaimError | None = None,
    failed: str | None = None,
    shown: dict[str, str] | None = None,
) -> Response:
    chosen = status if status in refurbishment.STATUSES else ""
    async with reading(request) as session:
        orders = await refurbishment.list_work_orders(session, status=chosen or None)
        about = await refurbishment.contexts(session, orders)
    if failed not in {order.number for order in orders}:
        failed = None  # not listed (or no such work order): the error goes at the top
    return render(
        request,
        "console/work_orders.html",
        staff,
        status_code=status_for(error) if error else 200,
        orders=orders,
        about=about,
        status=chosen,
        statuses=refurbishment.STATUSES,
        grades=list(Grade),
        words=grade_words,
        error=error.message if error else None,
        failed=failed,
        typed=shown or {},
    )


@router.get("/work-orders")
async def work_orders_page(request: Request, staff: Viewer, status: str = "") -> Response:
    return await _work_orders_page(request, staff, status)


async def _currency_of(request: Request, number: str) -> str:
    async with reading(request) as session:
        return (await refurbishment.get_work_order(session, number)).currency


@router.post("/work-orders/{number}/receive-back")
async def receive_back(request: Request, number: str, staff: Refurbisher) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        chosen = text(form, "grade")
        if chosen not in {grade.value for grade in Grade}:
            raise ValidationFailed("Choose the grade the units came back in.")
        cost = _amount(form, "cost", await _currency_of(request, number))
        async with writing(request) as session:
            await once.claim(session, WORK_ORDERS)
            order = await refurbishment.receive_back(
                session,
                number,
                staff.actor(),
                grade=Grade(chosen),
                cost_minor=cost,
                note=text(form, "note") or None,
                terms=_terms(request),
            )
            done, state = order.number, order.status
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _work_orders_page(
            request, staff, text(form, "status"), error=error, failed=number, shown=typed(form)
        )
    said = (
        f"{done} is back as {grade_words(Grade(chosen))}: its units are in stock."
        if state == refurbishment.RETURNED
        else f"{done} came back unsellable, so it was scrapped: its units go for recycling."
    )
    return redirect(request, WORK_ORDERS, said)


@router.post("/work-orders/{number}/scrap")
async def scrap(request: Request, number: str, staff: Refurbisher) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        cost = _amount(form, "cost", await _currency_of(request, number))
        async with writing(request) as session:
            await once.claim(session, WORK_ORDERS)
            done = (
                await refurbishment.scrap(
                    session, number, staff.actor(), cost_minor=cost, reason=text(form, "reason")
                )
            ).number
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _work_orders_page(
            request, staff, text(form, "status"), error=error, failed=number, shown=typed(form)
        )
    return redirect(
        request, WORK_ORDERS, f"Scrapped {done}: its units join the open recycling manifest."
    )


# --- end-of-life manifests -----------------------------------------------------------------------


@router.get("/manifests")
async def manifests_page(request: Request, staff: Viewer, status: str = "") -> Response:
    chosen = status if status in (manifests.OPEN, manifests.SHIPPED) else ""
    async with reading(request) as session:
        found = await manifests.list_manifests(session, status=chosen or None)
    return render(request, "console/manifests.html", staff, found=found, status=chosen)


async def _partners(session: AsyncSession, kind: Disposition) -> list[Facility]:
    """The active facilities a manifest of this kind may go to."""
    kinds = manifests.PARTNER_KINDS[kind]
    query = select(Facility).where(Facility.active.is_(True)).order_by(Facility.code)
    if kinds is not None:
        query = query.where(Facility.kind.in_(sorted(kinds)))
    return list(await session.scalars(query))


async def _manifest_page(
    request: Request,
    staff: Staff,
    number: str,
    *,
    error: ReclaimError | None = None,
    shown: dict[str, str] | None = None,
) -> Response:
    async with reading(request) as session:
        summary = await manifests.summary(session, number)
        manifest, items = await manifests.get_manifest(session, number)
        about = await manifests.item_contexts(session, items)
        partners = await _partners(session, Disposition(manifest.kind))
    return render(
        request,
        "console/manifest.html",
        staff,
        status_code=status_for(error) if error else 200,
        summary=summary,
        manifest=manifest,
        items=items,
        about=about,
        partners=partners,
        label=label_of(Disposition(manifest.kind), _terms(request)),
        error=error.message if error else None,
        typed=shown or {},
    )


@router.get("/manifests/{number}")
async def manifest_page(request: Request, number: str, staff: Viewer) -> Response:
    return await _manifest_page(request, staff, number)


@router.post("/manifests/{number}/ship")
async def ship(request: Request, number: str, staff: Shipper) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, f"{MANIFESTS}/{number}")
            shipped = await manifests.ship(
                session, number, staff.actor(), partner_code=text(form, "partner") or None
            )
            done = shipped.number
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _manifest_page(request, staff, number, error=error, shown=typed(form))
    return redirect(request, f"{MANIFESTS}/{done}", f"Shipped {done}: nothing more is added to it.")


# --- the day's batch -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedLine:
    """One pending line: where the per-unit rule and the plan send it, and what each nets."""

    pending: batch_service.PendingUnit
    rule: Disposition
    rule_net_minor: int
    planned: Disposition
    planned_net_minor: int

    @property
    def moved(self) -> bool:
        return self.rule is not self.planned


def _capacity(source: Mapping[str, Any]) -> tuple[dict[Disposition, int], dict[str, str]]:
    """Slots per limited channel (blank: unlimited), and the fields as typed."""
    fields = {channel.value: text(source, channel.value) for channel in LIMITED}
    capacity = {
        channel: whole(source, channel.value, "Slots", empty=-1, low=0, high=MAX_SLOTS)
        for channel in LIMITED
    }
    return {channel: n for channel, n in capacity.items() if n >= 0}, fields


def _lines(
    plan: Plan, pending: list[batch_service.PendingUnit], terms: RecoveryTerms
) -> list[PlannedLine]:
    lines = []
    for unit in pending:
        options = recommend(unit.unit, terms)
        rule, planned = plan.baseline[unit.unit.key], plan.assignment[unit.unit.key]
        each = unit.unit.quantity
        lines.append(
            PlannedLine(
                unit,
                rule,
                options.option(rule).net_minor * each,
                planned,
                options.option(planned).net_minor * each,
            )
        )
    return lines


async def _plan(
    request: Request, capacity: Mapping[Disposition, int], terms: RecoveryTerms
) -> tuple[Plan, list[batch_service.PendingUnit]]:
    """The plan for what is waiting now, solved after the read: no transaction waits on it."""
    async with reading(request) as session:
        pending = await batch_service.batch_units(
            session, max_lines=request.app.state.settings.batch_max_lines
        )
    return await batch_service.plan_units(pending, capacity, terms=terms), pending


async def _batch_page(
    request: Request,
    staff: Staff,
    source: Mapping[str, Any],
    *,
    error: ReclaimError | None = None,
) -> Response:
    terms = _terms(request)
    plan: Plan | None = None
    lines: list[PlannedLine] = []
    fields = {channel.value: "" for channel in LIMITED}
    try:
        capacity, fields = _capacity(source)
        plan, pending = await _plan(request, capacity, terms)
        lines = _lines(plan, pending, terms)
    except ReclaimError as refused:
        error = error or refused
    return render(
        request,
        "console/batch.html",
        staff,
        status_code=status_for(error) if error else 200,
        plan=plan,
        lines=lines,
        fields=fields,
        limited=LIMITED,
        labels={channel: label_of(channel, terms) for channel in Disposition},
        currency=lines[0].pending.unit.currency if lines else None,
        words=grade_words,
        error=error.message if error else None,
    )


@router.get("/batch")
async def batch_page(request: Request, staff: Planner) -> Response:
    return await _batch_page(request, staff, dict(request.query_params))


@router.post("/batch/apply")
async def apply_batch(request: Request, staff: PlannerForm) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    terms = _terms(request)
    try:
        capacity, fields = _capacity(form)
        plan, pending = await _plan(request, capacity, terms)
        async with writing(request) as session:
            await once.claim(session, BATCH)
            result = await batch_service.apply_plan(
                session, plan, pending, staff.actor(), terms=terms
            )
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _batch_page(request, staff, form, error=error)
    back = f"{BATCH}?{urlencode(fields)}"
    routed, skipped = len(result.routed), len(result.skipped)
    if not routed:
        said = (
            f"Nothing was routed: {_changed(skipped)}. Plan again."
            if skipped
            else "Nothing was waiting for a disposition; nothing changed."
        )
        return redirect(request, back, said)
    currency = result.routed[0].pending.unit.currency
    gain = result.plan.total_net_minor - result.plan.baseline_net_minor
    said = (
        f"Batch {result.batch}: routed {routed} line{'s' if routed != 1 else ''}, expected to "
        f"net {Money(result.plan.total_net_minor, currency).format()}"
        f" ({Money(gain, currency).format()} more than routing each unit on its own)."
    )
    if skipped:
        said += f" Left as they are now: {_changed(skipped)}."
    return redirect(request, back, said)


def _changed(skipped: int) -> str:
    lines = "1 planned line" if skipped == 1 else f"{skipped} planned lines"
    return f"{lines} changed meanwhile (routed, regraded or held by a flag)"
