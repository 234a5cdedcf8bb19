"""The warehouse's back office over the API: refurbishment work orders, end-of-life manifests,
the capacity-limited disposition batch, and a routed line's bin tag."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.api.deps import AppSettings, ReadSession, ReadSessions, Sessions, require
from reclaim.api.idempotency import run_idempotent
from reclaim.api.problems import Problem, documented
from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics.label_routes import file_response
from reclaim.returns.service import Actor
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey
from reclaim.warehouse import batch_service, bintag, configured, manifests, refurbishment
from reclaim.warehouse.batch import Plan
from reclaim.warehouse.batch_service import PendingUnit
from reclaim.warehouse.models import Manifest, ManifestItem, RefurbWorkOrder
from reclaim.warehouse.operations_schemas import (
    BatchOut,
    CapacityIn,
    ManifestDetailOut,
    ManifestItemOut,
    ManifestKind,
    ManifestList,
    ManifestOut,
    ManifestStatus,
    PlannedLineOut,
    PlanOut,
    ReceiveBackIn,
    ScrapIn,
    ShipIn,
    WorkOrderList,
    WorkOrderOut,
    WorkOrderStatus,
)
from reclaim.warehouse.recovery import RecoveryTerms

router = APIRouter(tags=["warehouse operations"], responses=documented(401, 403, 422))
Reader = Annotated[ApiKey, Depends(require(Scope.WAREHOUSE_READ))]
Writer = Annotated[ApiKey, Depends(require(Scope.WAREHOUSE_WRITE))]
Number = Annotated[str, Path(max_length=32)]
LineId = Annotated[str, Path(max_length=64, description="The order line's id")]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


Responses = dict[int | str, dict[str, Any]]
WORK_ORDER_MISSING: Responses = {404: _problem("No such work order")}
MANIFEST_MISSING: Responses = {404: _problem("No such manifest")}
CLOSED: Responses = {409: _problem("Already closed: a work order closes once")}


def _terms(settings: AppSettings) -> RecoveryTerms:
    return configured.recovery(settings)


Terms = Annotated[RecoveryTerms, Depends(_terms)]


def _actor(key: ApiKey) -> Actor:
    return Actor(f"api:{key.prefix}", utcnow())


async def _work_orders_out(
    session: AsyncSession, orders: list[RefurbWorkOrder]
) -> list[WorkOrderOut]:
    about = await refurbishment.contexts(session, orders)
    return [
        WorkOrderOut(
            number=order.number,
            status=WorkOrderStatus(order.status),
            return_number=about[order.id].rma,
            line_id=about[order.id].line_ref,
            sku=about[order.id].sku,
            name=about[order.id].name,
            quantity=order.quantity,
            partner=about[order.id].partner_code,
            grade_in=order.grade_in,
            grade_out=order.grade_out,
            currency=order.currency,
            expected_cost_minor=order.expected_cost_minor,
            expected_recovery_minor=order.expected_recovery_minor,
            cost_minor=order.cost_minor,
            recovery_minor=order.recovery_minor,
            note=order.note,
            sent_by=order.sent_by,
            sent_at=order.sent_at,
            closed_by=order.closed_by,
            closed_at=order.closed_at,
        )
        for order in orders
    ]


def _manifest_out(summary: manifests.ManifestSummary) -> ManifestOut:
    manifest = summary.manifest
    return ManifestOut(
        number=manifest.number,
        kind=ManifestKind(manifest.kind),
        status=ManifestStatus(manifest.status),
        partner=summary.partner_code,
        items=summary.items,
        units=summary.units,
        weight_grams=summary.weight_grams,
        created_at=manifest.created_at,
        shipped_at=manifest.shipped_at,
        shipped_by=manifest.shipped_by,
    )


async def _manifest_detail(
    session: AsyncSession, manifest: Manifest, items: list[ManifestItem]
) -> ManifestDetailOut:
    summary = await manifests.summary(session, manifest.number)
    about = await manifests.item_contexts(session, items)
    return ManifestDetailOut(
        **_manifest_out(summary).model_dump(),
        lines=[
            ManifestItemOut(
                return_number=about[item.id].rma,
                line_id=about[item.id].line_ref,
                work_order=about[item.id].work_order,
                sku=item.sku,
                category=item.category,
                quantity=item.quantity,
                weight_grams=item.weight_grams,
                added_at=item.added_at,
            )
            for item in items
        ],
    )


def _plan_out(plan: Plan, pending: list[PendingUnit]) -> dict[str, Any]:
    return {
        "currency": pending[0].unit.currency if pending else None,
        "total_net_minor": plan.total_net_minor,
        "baseline_net_minor": plan.baseline_net_minor,
        "gain_minor": plan.total_net_minor - plan.baseline_net_minor,
        "explanation": list(plan.explanation),
        "lines": [_planned_line(plan, p) for p in pending],
    }


def _planned_line(plan: Plan, p: PendingUnit) -> PlannedLineOut:
    return PlannedLineOut(
        return_number=p.rma,
        line_id=p.line_ref,
        sku=p.unit.sku,
        name=p.name,
        grade=p.unit.grade,
        quantity=p.unit.quantity,
        channel=plan.assignment[p.unit.key],
        baseline=plan.baseline[p.unit.key],
    )


@router.get("/work-orders", response_model=WorkOrderList, summary="Refurbishment work orders")
async def list_work_orders(
    session: ReadSession, _key: Reader, status: WorkOrderStatus | None = None
) -> WorkOrderList:
    orders = await refurbishment.list_work_orders(session, status=status)
    return WorkOrderList(items=await _work_orders_out(session, orders))


@router.get(
    "/work-orders/{number}",
    response_model=WorkOrderOut,
    summary="A refurbishment work order",
    responses=WORK_ORDER_MISSING,
)
async def get_work_order(number: Number, session: ReadSession, _key: Reader) -> WorkOrderOut:
    order = await refurbishment.get_work_order(session, number)
    return (await _work_orders_out(session, [order]))[0]


@router.post(
    "/work-orders/{number}/receive",
    response_model=WorkOrderOut,
    summary="Units back from the partner: their new grade and the cost",
    description="The units enter stock (a 'refurbished' ledger row) at the bin of the sale "
    "channel that nets most for the new grade; their value is the line's realised recovery. "
    "Back unsellable, they are scrapped: recycled, recovering nothing.",
    responses={**WORK_ORDER_MISSING, **CLOSED, **documented(400)},
)
async def receive_work_order(
    number: Number,
    data: ReceiveBackIn,
    request: Request,
    sessions: Sessions,
    terms: Terms,
    key: Writer,
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, WorkOrderOut]:
        order = await refurbishment.receive_back(
            session,
            number,
            _actor(key),
            grade=data.grade,
            cost_minor=data.cost_minor,
            note=data.note,
            terms=terms,
        )
        return 200, (await _work_orders_out(session, [order]))[0]

    return await run_idempotent(request, sessions, key, work)


@router.post(
    "/work-orders/{number}/scrap",
    response_model=WorkOrderOut,
    summary="The partner couldn't repair the units: recycle them",
    responses={**WORK_ORDER_MISSING, **CLOSED, **documented(400)},
)
async def scrap_work_order(
    number: Number, data: ScrapIn, request: Request, sessions: Sessions, key: Writer
) -> Response:
    async def work(session: AsyncSession) -> tuple[int, WorkOrderOut]:
        order = await refurbishment.scrap(
            session, number, _actor(key), cost_minor=data.cost_minor, reason=data.reason
        )
        return 200, (await _work_orders_out(session, [order]))[0]

    return await run_idempotent(request, sessions, key, work)


@router.get(
    "/manifests",
    response_model=ManifestList,
    summary="Donation, recycling and disposal manifests, newest first",
)
async def list_manifests(
    session: ReadSession,
    _key: Reader,
    kind: ManifestKind | None = None,
    status: ManifestStatus | None = None,
) -> ManifestList:
    found = await manifests.list_manifests(session, kind=kind, status=status)
    return ManifestList(items=[_manifest_out(summary) for summary in found])


@router.get(
    "/manifests/{number}",
    response_model=ManifestDetailOut,
    summary="A manifest and the units on it",
    responses=MANIFEST_MISSING,
)
async def get_manifest(number: Number, session: ReadSession, _key: Reader) -> ManifestDetailOut:
    manifest, items = await manifests.get_manifest(session, number)
    return await _manifest_detail(session, manifest, items)


@router.post(
    "/manifests/{number}/ship",
    response_model=ManifestDetailOut,
    summary="Hand a manifest over; the next unit of its kind starts a new one",
    responses={
        **MANIFEST_MISSING,
        409: _problem("Already shipped, or empty"),
        **documented(400),
    },
)
async def ship_manifest(
    number: Number,
    request: Request,
    sessions: Sessions,
    key: Writer,
    data: ShipIn | None = None,
) -> Response:
    partner = data.partner if data else None

    async def work(session: AsyncSession) -> tuple[int, ManifestDetailOut]:
        manifest = await manifests.ship(session, number, _actor(key), partner_code=partner)
        _, items = await manifests.get_manifest(session, manifest.number)
        return 200, await _manifest_detail(session, manifest, items)

    return await run_idempotent(request, sessions, key, work)


async def _plan(
    read_sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    terms: RecoveryTerms,
    chosen: CapacityIn,
) -> tuple[Plan, list[PendingUnit]]:
    async with transaction(read_sessions) as session:
        pending = await batch_service.batch_units(
            session, currency=chosen.currency, max_lines=settings.batch_max_lines
        )
    return await batch_service.plan_units(pending, chosen.capacity, terms=terms), pending


@router.post(
    "/dispositions/plan",
    response_model=PlanOut,
    summary="Plan the pending units under today's capacity, against the per-unit rule",
    description="Every graded line of an inspected return without a disposition, assigned a "
    "channel to recover the most in total under the capacity given. Changes nothing, so it "
    "needs no Idempotency-Key (one sent is ignored): ask again for a fresh plan. At most "
    "RECLAIM_BATCH_MAX_LINES lines (5,000 by default) are planned at once; more answers 422.",
    responses=documented(400),
)
async def plan_dispositions(
    read_sessions: ReadSessions,
    settings: AppSettings,
    terms: Terms,
    _key: Reader,
    data: CapacityIn | None = None,
) -> PlanOut:
    chosen = data or CapacityIn()
    found, pending = await _plan(read_sessions, settings, terms, chosen)
    return PlanOut(**_plan_out(found, pending))


@router.post(
    "/dispositions/apply",
    response_model=BatchOut,
    summary="Plan the pending units and route every one as planned, as one batch",
    description="Planned first, without holding up other writers; then each planned line "
    "still waiting as it was is routed as planned, with the batch id. A line routed, "
    "regraded or held by a flag meanwhile is left as it is and listed under `skipped`; a line "
    "already routed is never routed again. At most RECLAIM_BATCH_MAX_LINES lines at once.",
    responses=documented(400, 409),
)
async def apply_dispositions(
    request: Request,
    sessions: Sessions,
    read_sessions: ReadSessions,
    settings: AppSettings,
    terms: Terms,
    key: Writer,
    data: CapacityIn | None = None,
) -> Response:
    chosen = data or CapacityIn()

    async def work(session: AsyncSession) -> tuple[int, BatchOut]:
        # Planned before ``session`` runs its first statement, which is when its write
        # transaction (on SQLite, the database's one write lock) begins.
        plan, pending = await _plan(read_sessions, settings, terms, chosen)
        done = await batch_service.apply_plan(session, plan, pending, _actor(key), terms=terms)
        routed = [line.pending for line in done.routed]
        return 200, BatchOut(
            batch=done.batch,
            **_plan_out(done.plan, routed),
            skipped=[_planned_line(done.plan, p) for p in done.skipped],
        )

    return await run_idempotent(request, sessions, key, work)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


@router.get(
    "/returns/{number}/lines/{line_id}/bin-tag.pdf",
    response_class=Response,
    summary="The routed line's 4x6 in bin tag (PDF): where the unit goes, and its barcode",
    responses={
        200: {
            "description": "The bin tag; its Code128 holds '<RMA>/<line_id>'",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        404: _problem("No such return or line"),
        409: _problem("The line has no disposition yet"),
    },
)
async def get_bin_tag(number: str, line_id: LineId, session: ReadSession, _key: Reader) -> Response:
    tag = await bintag.bin_tag_for_line(session, number, line_id)
    name = f"{tag.rma}-{_safe(tag.line_ref)}-bin-tag.pdf"
    return file_response(bintag.render_bin_tag(tag), "application/pdf", name, inline=True)
