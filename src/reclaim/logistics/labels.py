"""Rendering what a return travels with: the 4x6 inch label with its packing slip, and the
drop-off QR code. Plain data in, bytes out; nothing here reads the database.

The label is 288 x 432 pt (4 x 6 in), the size thermal label printers take. The packing slip is
the same size, so one print job on one roll gives both; an office printer scales either page to
A4 or Letter by itself.

The PDF uses the standard Helvetica font, which every viewer has and which needs no embedding.
It covers Western European text only; :func:`printable` folds anything else to the nearest
letters it has (``Łódź`` → ``Lodz``) and marks what has no equivalent with ``?``, so a name in
another script never crashes the render nor prints as empty boxes.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import segno
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

WIDTH, HEIGHT = 288.0, 432.0  # 4 x 6 in
MARGIN = 12.0
INNER = WIDTH - 2 * MARGIN
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
QR_SIZE = 84.0  # with its 4-module quiet zone: about 2.3 pt a module, ~10 px at 300 dpi
# Letters Helvetica lacks that Unicode doesn't decompose into one it has.
FOLDS = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "ŀ": "l", "Ŀ": "L"}
)
# Scale of the drop-off PNG: ~14 px a module; a version-1 code with its quiet zone is 406 px,
# big enough for a scanner to read off a phone held at arm's length.
PNG_SCALE = 14


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    name: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class Label:
    """Everything printed on a return's label and packing slip, already in words."""

    return_number: str
    order_number: str
    carrier: str
    tracking_number: str
    sender: Address
    recipient: Address
    items: tuple[Item, ...]
    merchant: str
    pickup: str | None = None  # the booked slot, for a pickup
    send_by: str | None = None  # the handover deadline


def _encodable(char: str) -> bool:
    try:
        char.encode("cp1252")  # what the standard fonts' WinAnsi encoding holds
    except UnicodeEncodeError:
        return False
    return char.isprintable()


def printable(text: str) -> str:
    """The text in letters Helvetica can draw: accents kept where it has them, else dropped."""
    out: list[str] = []
    for char in text.translate(FOLDS):
        if char in "\t\r\n":
            out.append(" ")
        elif _encodable(char):
            out.append(char)
        else:
            folded = [
                part
                for part in unicodedata.normalize("NFKD", char)
                if _encodable(part) and not unicodedata.combining(part)
            ]
            if folded:
                out.append("".join(folded))
            elif not unicodedata.category(char).startswith(("M", "C")):
                out.append("?")
    return " ".join("".join(out).split())


def fit(
    text: str, font: str, size: float, width: float, *, smallest: float | None = None
) -> tuple[str, float]:
    """The text and a font size that fit the width: shrunk down to ``smallest``, then cut."""
    text = printable(text)
    least = size if smallest is None else smallest
    while size > least and stringWidth(text, font, size) > width:
        size = max(least, size - 0.5)
    if stringWidth(text, font, size) <= width:
        return text, size
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…", size


def wrap(text: str, font: str, size: float, width: float, most: int) -> list[str]:
    """The text broken into at most ``most`` lines of the width; the last cut if need be."""
    lines: list[str] = []
    for piece in simpleSplit(printable(text), font, size, width):
        # simpleSplit leaves a word longer than the line whole; cut it into pieces that fit.
        while stringWidth(piece, font, size) > width:
            cut = len(piece)
            while cut > 1 and stringWidth(piece[:cut], font, size) > width:
                cut -= 1
            lines.append(piece[:cut])
            piece = piece[cut:]
        lines.append(piece)
    return _at_most(lines, font, size, width, most)


def _at_most(lines: list[str], font: str, size: float, width: float, most: int) -> list[str]:
    if len(lines) <= most:
        return lines
    return lines[: most - 1] + [fit(" ".join(lines[most - 1 :]), font, size, width)[0]]


def _text(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def _block(
    canvas: Canvas,
    top: float,
    caption: str,
    address: Address,
    *,
    name_size: float,
    line_size: float,
    most_lines: int,
) -> None:
    """A FROM or TO block: a small caption, the name in bold, then the address lines."""
    _text(canvas, MARGIN, top - 7, caption, BOLD, 7)
    name, size = fit(address.name, BOLD, name_size, INNER, smallest=7)
    y = top - 9 - size
    _text(canvas, MARGIN, y, name, BOLD, size)
    lines: list[str] = []
    for line in address.lines:
        lines.extend(wrap(line, REGULAR, line_size, INNER, most_lines))
    for line in _at_most(lines, REGULAR, line_size, INNER, most_lines):
        y -= line_size + 2
        _text(canvas, MARGIN, y, line, REGULAR, line_size)


def _rule(canvas: Canvas, y: float, width: float = 1.5) -> None:
    canvas.setLineWidth(width)
    canvas.line(MARGIN, y, WIDTH - MARGIN, y)


def _qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M", barWidth=size, barHeight=size, barBorder=4)
    drawing = Drawing(size, size)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def _barcode(canvas: Canvas, value: str, bottom: float, top: float) -> None:
    """Code128 of the tracking number, as wide as fits, its digits printed under it."""
    height = top - bottom - 14
    probe = Code128(value, barWidth=1, barHeight=height, quiet=1)
    bar = min(1.8, INNER / probe.width)
    code = Code128(
        value,
        barWidth=bar,
        barHeight=height,
        quiet=1,
        lquiet=10 * bar,
        rquiet=10 * bar,
        humanReadable=1,
        fontName=BOLD,
        fontSize=11,
    )
    code.drawOn(canvas, (WIDTH - code.width) / 2, bottom + 14)


def _draw_label(canvas: Canvas, label: Label) -> None:
    canvas.saveState()
    canvas.setFillColor(colors.black)
    top = HEIGHT - MARGIN
    # Header: what this is and who carries it.
    _text(canvas, MARGIN, top - 16, "PREPAID RETURN", BOLD, 16)
    carrier, size = fit(label.carrier.upper(), BOLD, 12, 100, smallest=7)
    canvas.setFont(BOLD, size)
    canvas.drawRightString(WIDTH - MARGIN, top - 15, carrier)
    _rule(canvas, top - 24, 2)

    # Three lines from: street, town, postcode; a pickup driver finds the parcel by them.
    _block(canvas, top - 28, "FROM", label.sender, name_size=9, line_size=8, most_lines=3)
    _rule(canvas, top - 80, 0.75)
    _block(canvas, top - 84, "TO", label.recipient, name_size=15, line_size=12, most_lines=4)
    _rule(canvas, top - 170, 2)

    # The RMA number, for the people who open the box; its QR code, for the station scanner.
    rma_top = top - 176
    text_width = INNER - QR_SIZE - 6
    _text(canvas, MARGIN, rma_top - 8, "RMA", BOLD, 8)
    number, size = fit(label.return_number, BOLD, 22, text_width, smallest=10)
    _text(canvas, MARGIN, rma_top - 10 - size, number, BOLD, size)
    y = rma_top - 14 - size
    order, order_size = fit(f"Order {label.order_number}", REGULAR, 9, text_width, smallest=6)
    y -= order_size + 2
    _text(canvas, MARGIN, y, order, REGULAR, order_size)
    if label.pickup:
        y -= 13
        _text(canvas, MARGIN, y, "PICKUP", BOLD, 8)
        slot, slot_size = fit(label.pickup, BOLD, 11, text_width, smallest=7)
        y -= slot_size + 2
        _text(canvas, MARGIN, y, slot, BOLD, slot_size)
    _qr(canvas, label.return_number, WIDTH - MARGIN - QR_SIZE + 4, rma_top - QR_SIZE, QR_SIZE)
    _rule(canvas, rma_top - QR_SIZE - 4, 2)

    # The tracking barcode fills the bottom: it's what every scan along the way reads.
    tracking_top = rma_top - QR_SIZE - 4
    _text(canvas, MARGIN, tracking_top - 11, "TRACKING", BOLD, 7)
    _barcode(canvas, label.tracking_number, MARGIN, tracking_top - 18)
    canvas.restoreState()


STYLES = {
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=14, leading=17, spaceAfter=2),
    "rma": ParagraphStyle("rma", fontName=BOLD, fontSize=18, leading=21),
    "body": ParagraphStyle("body", fontName=REGULAR, fontSize=8.5, leading=10.5, spaceAfter=3),
    "cell": ParagraphStyle("cell", fontName=REGULAR, fontSize=8, leading=9.5),
    "head": ParagraphStyle("head", fontName=BOLD, fontSize=8, leading=9.5),
}


def _para(text: str, style: str) -> Paragraph:
    return Paragraph(escape(printable(text)), STYLES[style])


def _items_table(items: Sequence[Item]) -> Table:
    head = [_para(text, "head") for text in ("SKU", "Item", "Qty", "Reason")]
    rows = [
        [
            _para(item.sku, "cell"),
            _para(item.name, "cell"),
            _para(str(item.quantity), "cell"),
            _para(item.reason, "cell"),
        ]
        for item in items
    ]
    table = Table([head, *rows], colWidths=[72, 100, 24, 68], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _slip(label: Label) -> list[object]:
    steps = [
        "1. Put the items listed here and this slip in the box.",
        "2. Seal the box and stick the label (page 1) on top, over any old labels or barcodes.",
        (
            f"3. Have it ready for the pickup: {label.pickup}."
            if label.pickup
            else "3. Hand it to the carrier at any of its drop-off points."
        ),
    ]
    if label.pickup and label.sender.lines:
        steps.append(f"The driver collects it from {', '.join(label.sender.lines)}.")
    if label.send_by:
        steps.append(f"Please send it by {label.send_by}, or the return expires.")
    total = sum(item.quantity for item in label.items)
    return [
        _para("Packing slip: put this slip in the box", "title"),
        _para(label.return_number, "rma"),
        _para(f"Order {label.order_number} · {total} item{'s' if total != 1 else ''}", "body"),
        Spacer(1, 4),
        _items_table(label.items),
        Spacer(1, 8),
        *(_para(step, "body") for step in steps),
        Spacer(1, 4),
        _para(f"Returns to {label.merchant}. Questions? Quote {label.return_number}.", "body"),
    ]


def render_label(label: Label) -> bytes:
    """The label (page 1) and its packing slip (page 2, more if the list is long), as a PDF.

    The same label renders to the same bytes: the PDF carries no creation time or random id."""
    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=(WIDTH, HEIGHT),
        invariant=1,
        title=printable(f"Return label {label.return_number}"),
        author=printable(label.merchant),
        subject=printable(f"Tracking number {label.tracking_number}"),
        creator="Reclaim",
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
    )
    document.addPageTemplates(
        [
            PageTemplate(
                id="label",
                frames=[Frame(0, 0, WIDTH, HEIGHT, id="label")],  # drawn by onPage, holds nothing
                onPage=lambda canvas, _doc: _draw_label(canvas, label),
            ),
            PageTemplate(
                id="slip",
                frames=[
                    Frame(
                        MARGIN,
                        MARGIN,
                        INNER,
                        HEIGHT - 2 * MARGIN,
                        id="slip",
                        leftPadding=0,
                        rightPadding=0,
                        topPadding=0,
                        bottomPadding=0,
                    )
                ],
            ),
        ]
    )
    document.build([NextPageTemplate("slip"), PageBreak(), *_slip(label)])
    return buffer.getvalue()


def render_dropoff_qr(tracking_number: str) -> bytes:
    """A PNG QR code of the tracking number: what a drop-off point, locker or store scans."""
    buffer = io.BytesIO()
    # A full QR code with its 4-module quiet zone: phone cameras and hand scanners need both.
    segno.make_qr(tracking_number, error="m").save(
        buffer, kind="png", scale=PNG_SCALE, border=4, dark="#000", light="#fff"
    )
    return buffer.getvalue()
