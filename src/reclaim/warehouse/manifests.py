"""End-of-life manifests: the consignments of donated, recycled and disposed-of units.

Each kind has at most one open manifest at a time; units are added to it until it is shipped to
a partner, and the next unit starts a new one. What the units weigh goes to the sustainability
reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reclaim.logistics.models import Facility
from reclaim.orders.models import OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.service import Actor
from reclaim.returns.states import Disposition
from reclaim.warehouse import locks
from reclaim.warehouse.models import Manifest, ManifestItem, RefurbWorkOrder
from reclaim.warehouse.numbers import MANIFEST, canonical, new_manifest_number

END_OF_LIFE = (Disposition.DONATE, Disposition.RECYCLE, Disposition.DISPOSE)
# Which partners may take a consignment. There is no charity kind of facility: a donation may
# go to any facility the merchant has registered for it.
PARTNER_KINDS: dict[Disposition, frozenset[str] | None] = {
    Disposition.RECYCLE: frozenset({"recycler"}),
    Disposition.DISPOSE: frozenset({"recycler"}),
    Disposition.DONATE: None,
}
OPEN, SHIPPED = "open", "shipped"


@dataclass(frozen=True, slots=True)
class ManifestSummary:
    manifest: Manifest
    partner_code: str | None
    items: int  # lines on it
    units: int
    weight_grams: int


def _kind(kind: Disposition | str) -> Disposition:
    try:
        chosen = Disposition(kind)
    except ValueError:
        chosen = None
    if chosen not in END_OF_LIFE:
        raise ValidationFailed(
            f"{kind!r} has no manifest; choose from {', '.join(END_OF_LIFE)}.", kind=str(kind)
        )
    assert chosen is not None
    return chosen


async def _lock_kind(session: AsyncSession, kind: Disposition) -> None:
    """Serialise changes to one kind's open manifest: there is no unique index on "the open
    manifest of a kind", so two transactions that both found none would both create one."""
    await locks.hold(session, f"manifest.{kind.value}")


async def _open_manifest(session: AsyncSession, kind: Disposition, actor: Actor) -> Manifest:
    await _lock_kind(session, kind)
    manifest = await session.scalar(
        select(Manifest)
        .where(Manifest.kind == kind.value, Manifest.status == OPEN)
        .order_by(Manifest.id)
        .limit(1)
    )
    if manifest is None:
        manifest = Manifest(
            number=new_manifest_number(), kind=kind.value, status=OPEN, created_at=actor.now
        )
        session.add(manifest)
        await session.flush()
    return manifest


async def add_line(
    session: AsyncSession,
    kind: Disposition,
    line: ReturnLine,
    product: Product,
    quantity: int,
    actor: Actor,
    *,
    work_order: RefurbWorkOrder | None = None,
) -> ManifestItem:
    """Put a line's units on the open manifest of the kind, weighed from the catalogue."""
    chosen = _kind(kind)
    if quantity <= 0:
        raise ValidationFailed("A manifest takes at least one unit.", quantity=quantity)
    on_one = await session.scalar(
        select(Manifest.number)
        .join(ManifestItem, ManifestItem.manifest_id == Manifest.id)
        .where(ManifestItem.return_line_id == line.id)
    )
    if on_one is not None:
        raise Conflict(f"These units are already on manifest {on_one}.", manifest=on_one)
    manifest = await _open_manifest(session, chosen, actor)
    item = ManifestItem(
        manifest_id=manifest.id,
        return_line_id=line.id,
        work_order_id=work_order.id if work_order is not None else None,
        sku=product.sku,
        category=product.category,
        quantity=quantity,
        weight_grams=product.weight_grams * quantity,
        added_at=actor.now,
    )
    session.add(item)
    await session.flush()
    return item


async def _partner(session: AsyncSession, kind: Disposition, code: str) -> Facility:
    partner = await session.scalar(select(Facility).where(Facility.code == code))
    if partner is None:
        raise ValidationFailed(f"No facility {code!r} to ship to.", code=code)
    kinds = PARTNER_KINDS[kind]
    if kinds is not None and partner.kind not in kinds:
        raise ValidationFailed(
            f"{partner.code} is a {partner.kind}; a {kind.value} manifest goes to a "
            f"{' or '.join(sorted(kinds))}.",
            code=code,
        )
    if not partner.active:
        raise ValidationFailed(f"{partner.code} is not active.", code=code)
    return partner


async def ship(
    session: AsyncSession, number: str, actor: Actor, *, partner_code: str | None
) -> Manifest:
    """Hand the manifest over (to the named partner, if given); nothing more is added to it."""
    wanted = canonical(number, MANIFEST, "manifest")
    kind = await session.scalar(select(Manifest.kind).where(Manifest.number == wanted))
    if kind is None:
        raise NotFound(f"No manifest {number!r}.", number=number)
    # The kind's lock first, as add_line takes it: a unit is never added to a shipped manifest.
    await _lock_kind(session, Disposition(kind))
    manifest = await session.scalar(
        select(Manifest)
        .where(Manifest.number == wanted)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert manifest is not None  # manifests are never deleted
    if manifest.status != OPEN:
        raise InvalidTransition(
            f"Manifest {manifest.number} was already shipped.", number=manifest.number
        )
    items, last_added = (
        await session.execute(
            select(func.count(), func.max(ManifestItem.added_at)).where(
                ManifestItem.manifest_id == manifest.id
            )
        )
    ).one()
    if not items:
        raise InvalidTransition(
            f"Manifest {manifest.number} is empty: nothing to ship.", number=manifest.number
        )
    if partner_code is not None:
        manifest.partner_id = (await _partner(session, Disposition(kind), partner_code)).id
    manifest.status = SHIPPED
    # The clock was read before the lock was: a unit added while this waited for it went on
    # first, and the manifest left after it.
    manifest.shipped_at = max(actor.now, last_added)
    manifest.shipped_by = actor.name
    await session.flush()
    return manifest


def _summaries() -> Select[Manifest, str | None, int, int, int]:
    totals = (
        select(
            ManifestItem.manifest_id,
            func.count().label("item_count"),
            func.sum(ManifestItem.quantity).label("units"),
            func.sum(ManifestItem.weight_grams).label("weight"),
        )
        .group_by(ManifestItem.manifest_id)
        .subquery()
    )
    return (
        select(
            Manifest,
            Facility.code,
            func.coalesce(totals.c.item_count, 0),
            func.coalesce(totals.c.units, 0),
            func.coalesce(totals.c.weight, 0),
        )
        .outerjoin(totals, totals.c.manifest_id == Manifest.id)
        .outerjoin(Facility, Facility.id == Manifest.partner_id)
    )


async def list_manifests(
    session: AsyncSession, *, kind: Disposition | str | None = None, status: str | None = None
) -> list[ManifestSummary]:
    """Newest first, with how many lines and units each holds and what they weigh."""
    query = _summaries().order_by(Manifest.id.desc())
    if kind is not None:
        query = query.where(Manifest.kind == _kind(kind).value)
    if status is not None:
        if status not in (OPEN, SHIPPED):
            raise ValidationFailed(f"A manifest is {OPEN} or {SHIPPED}, not {status!r}.")
        query = query.where(Manifest.status == status)
    return [
        ManifestSummary(manifest, code, int(items), int(units), int(weight))
        for manifest, code, items, units, weight in (await session.execute(query)).all()
    ]


async def get_manifest(session: AsyncSession, number: str) -> tuple[Manifest, list[ManifestItem]]:
    wanted = canonical(number, MANIFEST, "manifest")
    manifest = await session.scalar(select(Manifest).where(Manifest.number == wanted))
    if manifest is None:
        raise NotFound(f"No manifest {number!r}.", number=number)
    items = await session.scalars(
        select(ManifestItem)
        .where(ManifestItem.manifest_id == manifest.id)
        .order_by(ManifestItem.id)
    )
    return manifest, list(items)


@dataclass(frozen=True, slots=True)
class ItemContext:
    """Which return line (and work order, for scrapped units) a manifest item came from."""

    rma: str | None
    line_ref: str | None
    work_order: str | None


async def item_contexts(session: AsyncSession, items: list[ManifestItem]) -> dict[int, ItemContext]:
    """By manifest item id."""
    if not items:
        return {}
    found = await session.execute(
        select(ManifestItem.id, Return.number, OrderLine.line_ref, RefurbWorkOrder.number)
        .outerjoin(ReturnLine, ReturnLine.id == ManifestItem.return_line_id)
        .outerjoin(Return, Return.id == ReturnLine.return_id)
        .outerjoin(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .outerjoin(RefurbWorkOrder, RefurbWorkOrder.id == ManifestItem.work_order_id)
        .where(ManifestItem.id.in_([item.id for item in items]))
    )
    return {
        item_id: ItemContext(rma, ref, work_order) for item_id, rma, ref, work_order in found.all()
    }


async def summary(session: AsyncSession, number: str) -> ManifestSummary:
    wanted = canonical(number, MANIFEST, "manifest")
    row = (await session.execute(_summaries().where(Manifest.number == wanted))).one_or_none()
    if row is None:
        raise NotFound(f"No manifest {number!r}.", number=number)
    manifest, code, items, units, weight = row
    return ManifestSummary(manifest, code, int(items), int(units), int(weight))


async def weights(session: AsyncSession, since: datetime, until: datetime) -> dict[str, int]:
    """Grams sent to each end of life, by when the units were put on a manifest: a unit
    leaves the reusable stream when it is routed, not when the consignment is collected.
    Every kind is present, with 0 when nothing went that way."""
    found = await session.execute(
        select(Manifest.kind, func.sum(ManifestItem.weight_grams))
        .join(ManifestItem, ManifestItem.manifest_id == Manifest.id)
        .where(ManifestItem.added_at >= since, ManifestItem.added_at < until)
        .group_by(Manifest.kind)
    )
    grams = {kind.value: 0 for kind in END_OF_LIFE}
    for kind, total in found.all():
        grams[kind] = int(total or 0)
    return grams
