"""``reclaim warehouse …``: the day's disposition batch, refurbishment work orders, and the
donation, recycling and disposal manifests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, with_database
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.kit.money import Money
from reclaim.returns.service import Actor
from reclaim.returns.states import Disposition
from reclaim.warehouse import batch_service, manifests, refurbishment
from reclaim.warehouse.batch import Plan
from reclaim.warehouse.batch_service import PendingUnit
from reclaim.warehouse.bintag import words
from reclaim.warehouse.operations_schemas import ManifestKind, ManifestStatus, WorkOrderStatus

warehouse_app = typer.Typer(
    help="The warehouse's back office: the disposition batch, work orders, manifests.",
    no_args_is_help=True,
)
manifests_app = typer.Typer(
    help="Donation, recycling and disposal manifests.", no_args_is_help=True
)
work_orders_app = typer.Typer(help="Refurbishment work orders.", no_args_is_help=True)
warehouse_app.add_typer(manifests_app, name="manifests")
warehouse_app.add_typer(work_orders_app, name="work-orders")

SKIPPED_SHOWN = 20
Slots = Annotated[
    int | None, typer.Option(min=0, help="Units the channel can take today (default: no limit)")
]


def _actor() -> Actor:
    return Actor("cli", utcnow())


def _kg(grams: int) -> str:
    return f"{grams / 1000:,.3f} kg"


def _print_plan(plan: Plan, pending: list[PendingUnit]) -> None:
    if not pending:
        console.print("No units are waiting for a disposition.")
        return
    currency = pending[0].unit.currency

    def money(minor: int) -> str:
        return Money(minor, currency).format()

    table = Table("Line", "SKU", "Grade", "Qty", "Per-unit rule", "Plan")
    for item in pending:
        planned, rule = plan.assignment[item.unit.key], plan.baseline[item.unit.key]
        shown = words(planned) if planned == rule else f"[bold]{words(planned)}[/]"
        table.add_row(
            item.unit.key,
            item.unit.sku,
            words(item.unit.grade),
            str(item.unit.quantity),
            words(rule),
            shown,
        )
    console.print(table)
    gain = plan.total_net_minor - plan.baseline_net_minor
    console.print(
        f"Per-unit rule recovers [bold]{money(plan.baseline_net_minor)}[/]; the plan "
        f"[bold]{money(plan.total_net_minor)}[/]; gain [bold green]{money(gain)}[/]."
    )
    for line in plan.explanation:
        console.print(f"  {line}", markup=False, soft_wrap=True)


@warehouse_app.command("plan")
def plan(
    refurbish_slots: Slots = None,
    open_box_slots: Slots = None,
    currency: Annotated[
        str | None, typer.Option(help="Only units sold in this currency (when they mix)")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Route every pending unit as planned, as one batch")
    ] = False,
) -> None:
    """Plan the units waiting for a disposition under today's capacity, against the per-unit
    rule; with --apply, route them."""
    capacity = {
        channel: slots
        for channel, slots in (
            (Disposition.REFURBISH, refurbish_slots),
            (Disposition.OPEN_BOX, open_box_slots),
        )
        if slots is not None
    }

    async def _plan(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            pending = await batch_service.batch_units(session, currency=currency)
        # Solved with no transaction open: the server's writers carry on meanwhile.
        found = await batch_service.plan_units(pending, capacity)
        skipped: list[PendingUnit] = []
        if apply:
            async with transaction(sessions) as session:
                done = await batch_service.apply_plan(session, found, pending, _actor())
            pending, skipped = [routed.pending for routed in done.routed], done.skipped
        if pending or not skipped:
            _print_plan(found, pending)
        if apply and pending:
            console.print(f"Routed {len(pending)} lines as batch [bold]{done.batch}[/].")
        if skipped:
            keys = ", ".join(p.unit.key for p in skipped[:SKIPPED_SHOWN])
            hidden = len(skipped) - SKIPPED_SHOWN
            more = f" and {hidden} more" if hidden > 0 else ""
            console.print(
                f"Left {len(skipped)} planned lines as they are, as they were routed, regraded "
                f"or held by a flag since they were planned: {keys}{more}.",
                markup=False,
                soft_wrap=True,
            )

    with_database(_plan)


@manifests_app.command("list")
def manifests_list(
    kind: Annotated[ManifestKind | None, typer.Option(help="Only this kind")] = None,
    status: Annotated[ManifestStatus | None, typer.Option(help="Only open or shipped")] = None,
) -> None:
    """Manifests, newest first, with what they hold and weigh."""

    async def _list(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            found = await manifests.list_manifests(session, kind=kind, status=status)
        table = Table(
            "Manifest", "Kind", "Status", "Lines", "Units", "Weight", "Partner", "Shipped"
        )
        for summary in found:
            manifest = summary.manifest
            table.add_row(
                manifest.number,
                manifest.kind,
                manifest.status,
                str(summary.items),
                str(summary.units),
                _kg(summary.weight_grams),
                summary.partner_code or "",
                f"{manifest.shipped_at:%Y-%m-%d %H:%M}" if manifest.shipped_at else "",
            )
        console.print(table if found else "No manifests match.")

    with_database(_list)


@manifests_app.command("show")
def manifests_show(number: Annotated[str, typer.Argument(help="MF-… number")]) -> None:
    """One manifest and the units on it."""

    async def _show(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            summary = await manifests.summary(session, number)
            _, items = await manifests.get_manifest(session, number)
            about = await manifests.item_contexts(session, items)
        manifest = summary.manifest
        partner = f"  to {summary.partner_code}" if summary.partner_code else ""
        console.print(
            f"[bold]{manifest.number}[/]  {manifest.kind}  [cyan]{manifest.status}[/]{partner}"
            f"  {summary.units} units  {_kg(summary.weight_grams)}"
        )
        table = Table("Return", "Line", "SKU", "Category", "Qty", "Weight", "Work order")
        for item in items:
            table.add_row(
                about[item.id].rma or "",
                about[item.id].line_ref or "",
                item.sku,
                item.category,
                str(item.quantity),
                _kg(item.weight_grams),
                about[item.id].work_order or "",
            )
        console.print(table)

    with_database(_show)


@manifests_app.command("ship")
def manifests_ship(
    number: Annotated[str, typer.Argument(help="MF-… number")],
    partner: Annotated[str | None, typer.Option(help="Code of the facility taking it")] = None,
) -> None:
    """Hand a manifest over; the next unit of its kind starts a new one."""

    async def _ship(sessions: async_sessionmaker[AsyncSession]) -> str:
        async with transaction(sessions) as session:
            manifest = await manifests.ship(session, number, _actor(), partner_code=partner)
            return manifest.number

    shipped = with_database(_ship)
    console.print(f"Shipped manifest {shipped}" + (f" to {partner}." if partner else "."))


@work_orders_app.command("list")
def work_orders_list(
    status: Annotated[WorkOrderStatus | None, typer.Option(help="Only in this status")] = None,
) -> None:
    """Refurbishment work orders, newest first."""

    async def _list(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            orders = await refurbishment.list_work_orders(session, status=status)
            about = await refurbishment.contexts(session, orders)
        table = Table(
            "Work order", "Status", "Line", "SKU", "Qty", "Partner", "Grade", "Expected", "Actual"
        )
        for order in orders:
            context = about[order.id]

            def money(minor: int | None, currency: str = order.currency) -> str:
                return Money(minor, currency).format() if minor is not None else "–"

            grade = words(order.grade_in) + (
                f" → {words(order.grade_out)}" if order.grade_out else ""
            )
            table.add_row(
                order.number,
                order.status,
                f"{context.rma}/{context.line_ref}",
                context.sku,
                str(order.quantity),
                context.partner_code or "",
                grade,
                f"{money(order.expected_recovery_minor)} for {money(order.expected_cost_minor)}",
                f"{money(order.recovery_minor)} for {money(order.cost_minor)}"
                if order.closed_at
                else "",
            )
        console.print(table if orders else "No work orders match.")

    with_database(_list)
