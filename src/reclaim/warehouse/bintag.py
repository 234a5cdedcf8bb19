"""The bin tag the inspection station prints for a routed unit: where it goes, in letters read
from across the floor, and a barcode the next station scans to know which unit it holds.

4 x 6 in like the return label, so the same thermal printer takes it. The barcode holds
``<RMA>/<line>``; the date is the day the unit was routed, so a reprint is the same tag.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.graphics.barcode.code128 import Code128
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import InvalidTransition, NotFound
from reclaim.logistics.labels import BOLD, HEIGHT, INNER, MARGIN, REGULAR, WIDTH, fit, wrap
from reclaim.returns import service as returns
from reclaim.returns.states import Disposition
from reclaim.warehouse.models import DispositionRecord, Manifest, ManifestItem, RefurbWorkOrder

BARCODE_HEIGHT = 70.0


@dataclass(frozen=True, slots=True)
class BinTag:
    """Everything printed on a bin tag, as stored (codes, not words)."""

    rma: str
    line_ref: str
    sku: str
    name: str
    grade: str
    channel: str
    location: str
    quantity: int
    routed_on: date
    work_order: str | None = None
    manifest: str | None = None

    @property
    def barcode(self) -> str:
        return f"{self.rma}/{self.line_ref}"


def words(code: str) -> str:
    """``return_to_vendor`` → ``Return to vendor``."""
    return code.replace("_", " ").capitalize()


def _text(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def _rule(canvas: Canvas, y: float, width: float) -> None:
    canvas.setLineWidth(width)
    canvas.line(MARGIN, y, WIDTH - MARGIN, y)


def _barcode(canvas: Canvas, value: str, bottom: float) -> None:
    """Code128 of the unit's id, as wide as fits with its quiet zones, the text printed under."""
    probe = Code128(value, barWidth=1, barHeight=BARCODE_HEIGHT, quiet=0)
    bar = min(1.6, INNER / (probe.width + 20))
    code = Code128(
        value,
        barWidth=bar,
        barHeight=BARCODE_HEIGHT,
        quiet=1,
        lquiet=10 * bar,
        rquiet=10 * bar,
        humanReadable=1,
        fontName=BOLD,
        fontSize=10,
    )
    code.drawOn(canvas, (WIDTH - code.width) / 2, bottom + 12)


def _draw(canvas: Canvas, tag: BinTag) -> None:
    top = HEIGHT - MARGIN
    _text(canvas, MARGIN, top - 10, "BIN TAG", BOLD, 10)
    canvas.setFont(REGULAR, 10)
    canvas.drawRightString(WIDTH - MARGIN, top - 10, tag.routed_on.isoformat())
    _rule(canvas, top - 16, 2)

    # The destination fills the width: it is read from the end of an aisle.
    location, size = fit(tag.location, BOLD, 64, INNER, smallest=20)
    y = top - 22 - size * 0.75
    _text(canvas, MARGIN, y, location, BOLD, size)
    channel, channel_size = fit(words(tag.channel).upper(), BOLD, 22, INNER, smallest=10)
    y -= channel_size + 8
    _text(canvas, MARGIN, y, channel, BOLD, channel_size)
    y -= 10
    _rule(canvas, y, 2)

    _text(canvas, MARGIN, y - 10, "RMA", BOLD, 7)
    rma, rma_size = fit(tag.rma, BOLD, 20, INNER, smallest=10)
    y -= 12 + rma_size
    _text(canvas, MARGIN, y, rma, BOLD, rma_size)
    line, line_size = fit(
        f"Line {tag.line_ref}  ·  Qty {tag.quantity}", REGULAR, 11, INNER, smallest=7
    )
    y -= line_size + 4
    _text(canvas, MARGIN, y, line, REGULAR, line_size)
    y -= 8
    _rule(canvas, y, 0.75)

    sku, sku_size = fit(tag.sku, BOLD, 13, INNER, smallest=7)
    y -= sku_size + 4
    _text(canvas, MARGIN, y, sku, BOLD, sku_size)
    for piece in wrap(tag.name, REGULAR, 10, INNER, 2):
        y -= 12
        _text(canvas, MARGIN, y, piece, REGULAR, 10)
    grade, grade_size = fit(f"Grade: {words(tag.grade)}", BOLD, 13, INNER, smallest=7)
    y -= grade_size + 8
    _text(canvas, MARGIN, y, grade, BOLD, grade_size)
    for caption, number in (("Work order", tag.work_order), ("Manifest", tag.manifest)):
        if number:
            shown, shown_size = fit(f"{caption} {number}", BOLD, 13, INNER, smallest=7)
            y -= shown_size + 4
            _text(canvas, MARGIN, y, shown, BOLD, shown_size)

    _rule(canvas, MARGIN + BARCODE_HEIGHT + 30, 2)
    _barcode(canvas, tag.barcode, MARGIN)


def render_bin_tag(tag: BinTag) -> bytes:
    """The tag as a one-page PDF; the same tag always renders to the same bytes."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(WIDTH, HEIGHT), invariant=1, pageCompression=0)
    canvas.setTitle(f"Bin tag {tag.barcode}")
    canvas.setCreator("Reclaim")
    _draw(canvas, tag)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


async def bin_tag_for_line(session: AsyncSession, number: str, line_id: str) -> BinTag:
    """The tag of a routed line (``line_id``: the order line's id, as the API names lines)."""
    ret = await returns.get_return(session, number)
    line = next((line for line in ret.lines if line.order_line.line_ref == line_id), None)
    if line is None:
        raise NotFound(f"Return {ret.number} has no line {line_id!r}.", line_id=line_id)
    record = await session.scalar(
        select(DispositionRecord).where(DispositionRecord.return_line_id == line.id)
    )
    if record is None or line.grade is None:
        raise InvalidTransition(
            f"Line {line_id!r} has no disposition yet: route it, then print its tag.",
            line_id=line_id,
        )
    product = await session.get_one(Product, line.order_line.product_id)
    work_order = None
    if record.channel == Disposition.REFURBISH:
        work_order = await session.scalar(
            select(RefurbWorkOrder.number).where(RefurbWorkOrder.return_line_id == line.id)
        )
    manifest = await session.scalar(
        select(Manifest.number)
        .join(ManifestItem, ManifestItem.manifest_id == Manifest.id)
        .where(ManifestItem.return_line_id == line.id)
    )
    return BinTag(
        rma=ret.number,
        line_ref=line_id,
        sku=product.sku,
        name=product.name,
        grade=line.grade,
        channel=record.channel,
        location=record.location,
        quantity=record.quantity,
        routed_on=record.at.date(),
        work_order=work_order,
        manifest=manifest,
    )
