"""The label PDF and the drop-off QR code, read back the way a scanner and a printer would:
pages rendered to pixels and decoded, text extracted, every glyph inside the page."""

from __future__ import annotations

import io
from dataclasses import replace

import pypdf
import pypdfium2
import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from reportlab.pdfbase.pdfmetrics import stringWidth

from reclaim.logistics.carriers import new_tracking_number
from reclaim.logistics.labels import (
    HEIGHT,
    WIDTH,
    Address,
    Item,
    Label,
    fit,
    printable,
    render_dropoff_qr,
    render_label,
)

DPI = 300
CODE128, QR = zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode
TRACKING = "RC1234567890128"
LABEL = Label(
    return_number="RMA-7KQ3X-M9P2D",
    order_number="1001",
    carrier="local",
    tracking_number=TRACKING,
    sender=Address("Ann Example", ("WC2N 5DU", "GB")),
    recipient=Address("Springfield Returns Centre", ("Unit 4, Long Lane", "SP1 2AB", "GB")),
    items=(
        Item("TEE-M", "Tee (M)", 2, "Too small"),
        Item("MUG", "Mug", 1, "Defective"),
        Item("SOCK-3PK", "Socks, three pack", 3, "No longer needed"),
    ),
    merchant="Reclaim demo store",
    send_by="Fri 14 Jun 2024",
)
NASTY = [
    "李小龙",  # a script Helvetica has no glyphs for
    "Мария Иванова",
    "مرحبا بالعالم",
    "Łódź Żółć Ærøskøbing",
    "😀🎉 emoji only",
    "Wolfeschlegelsteinhausenbergerdorff" * 6,  # one word far wider than the label
    "line one\nline two\r\n\tline three",
    "\u200b\u202e\x07 invisible and control characters",
    "<b>&amp; not markup</b> & ' \"",
    "x " * 400,
    "",
]


def pages(pdf: bytes) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(pdf)
    return [page.render(scale=DPI / 72).to_pil() for page in document]


def codes(image: Image.Image) -> dict[zxingcpp.BarcodeFormat, str]:
    return {found.format: found.text for found in zxingcpp.read_barcodes(image)}


def outside_the_page(pdf: bytes) -> list[str]:
    """Every glyph drawn (even in part) beyond the page's edges, as page:character."""
    found = []
    document = pypdfium2.PdfDocument(pdf)
    for number, page in enumerate(document, start=1):
        text = page.get_textpage()
        for index in range(text.count_chars()):
            left, bottom, right, top = text.get_charbox(index)
            if left < 0 or bottom < 0 or right > WIDTH or top > HEIGHT:
                found.append(f"{number}:{text.get_text_range(index, 1)!r}")
    return found


def page_text(pdf: bytes, index: int) -> str:
    return pypdf.PdfReader(io.BytesIO(pdf)).pages[index].extract_text()


def test_the_barcode_reads_back_the_tracking_number_and_the_qr_code_the_rma_number() -> None:
    label = replace(LABEL, tracking_number=new_tracking_number())

    found = codes(pages(render_label(label))[0])

    assert found == {
        CODE128: label.tracking_number,
        QR: label.return_number,
    }


def test_every_page_is_four_by_six_inches() -> None:
    reader = pypdf.PdfReader(io.BytesIO(render_label(LABEL)))

    assert len(reader.pages) == 2
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (288, 432)


def test_the_label_names_sender_recipient_rma_and_tracking_number() -> None:
    text = page_text(render_label(LABEL), 0)

    for expected in (
        "PREPAID RETURN",
        "FROM",
        "Ann Example",
        "WC2N 5DU",
        "TO",
        "Springfield Returns Centre",
        "Unit 4, Long Lane",
        "RMA-7KQ3X-M9P2D",
        "Order 1001",
        TRACKING,
    ):
        assert expected in text
    assert "PICKUP" not in text


def test_the_packing_slip_lists_every_item_with_its_quantity() -> None:
    text = page_text(render_label(LABEL), 1)
    rows = [line.strip() for line in text.splitlines()]

    assert "Packing slip: put this slip in the box" in text
    assert "RMA-7KQ3X-M9P2D" in text and "Order 1001 · 6 items" in text
    for item in LABEL.items:
        at = rows.index(item.sku)
        assert rows[at : at + 4] == [item.sku, item.name, str(item.quantity), item.reason]
    assert "Put the items listed here and this slip in the box." in text
    assert "Please send it by Fri 14 Jun 2024" in text


def test_a_pickup_label_shows_the_booked_slot() -> None:
    pdf = render_label(replace(LABEL, pickup="Mon 3 Jun, 09:00–12:00"))

    assert "PICKUP" in page_text(pdf, 0)
    assert "Mon 3 Jun, 09:00–12:00" in page_text(pdf, 0)
    assert "Have it ready for the pickup: Mon 3 Jun, 09:00–12:00." in page_text(pdf, 1)
    assert codes(pages(pdf)[0])[CODE128] == TRACKING


def test_a_sender_with_a_street_address_shows_all_of_it_in_the_from_block() -> None:
    sender = Address(
        "Ann Example", ("12 Church Street, Flat 3", "London, Greater London", "WC2N 5DU GB")
    )

    pdf = render_label(replace(LABEL, sender=sender))

    text = page_text(pdf, 0)
    start = text.index("FROM")
    from_block = text[start : text.index("\nTO\n", start)]
    assert [line.strip() for line in from_block.splitlines()[1:] if line.strip()] == [
        "Ann Example",
        *sender.lines,
    ]
    assert "Springfield Returns Centre" in text and "Unit 4, Long Lane" in text
    assert not outside_the_page(pdf)


def test_a_pickup_slip_says_where_the_driver_collects_the_parcel() -> None:
    sender = Address("Ann Example", ("12 Church Street", "London", "WC2N 5DU GB"))

    pdf = render_label(replace(LABEL, sender=sender, pickup="Mon 3 Jun, 09:00–12:00"))

    slip = " ".join(page_text(pdf, 1).split())
    assert "The driver collects it from 12 Church Street, London, WC2N 5DU GB." in slip
    assert "driver" not in " ".join(page_text(render_label(LABEL), 1).split())


def test_a_long_list_of_items_runs_onto_more_pages_and_misses_none() -> None:
    items = tuple(Item(f"SKU-{n:03}", f"Item number {n}", n, "Too large") for n in range(1, 81))

    pdf = render_label(replace(LABEL, items=items))

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 2
    slip = "\n".join(page.extract_text() for page in reader.pages[1:])
    assert all(f"SKU-{n:03}" in slip for n in range(1, 81))
    assert "Packing slip" not in page_text(pdf, 0)
    assert not outside_the_page(pdf)


def test_the_same_label_renders_to_the_same_bytes() -> None:
    # No creation date or random document id: a stored label and a re-render match.
    assert render_label(LABEL) == render_label(LABEL)


@pytest.mark.parametrize("nasty", NASTY)
def test_awkward_names_and_addresses_stay_on_the_page_and_the_codes_still_scan(
    nasty: str,
) -> None:
    label = replace(
        LABEL,
        order_number=nasty[:64] or "1001",
        carrier=nasty[:32] or "local",
        sender=Address(nasty, (nasty, nasty)),
        recipient=Address(nasty, (nasty, "SP1 2AB", nasty, nasty, nasty)),
        items=(Item(nasty[:64] or "SKU", nasty, 1, nasty),),
        merchant=nasty,
        pickup=nasty or None,
    )

    pdf = render_label(label)

    assert not outside_the_page(pdf)
    assert codes(pages(pdf)[0]) == {
        CODE128: TRACKING,
        QR: LABEL.return_number,
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Zoë Müller", "Zoë Müller"),  # Helvetica has these: kept
        ("Łódź Żółć", "Lódz Zólc"),  # folded to the nearest letters it has
        ("Dvořák Şahin", "Dvorák Sahin"),
        ("李小龙", "???"),  # no equivalent: marked, never dropped silently
        ("a\nb\tc", "a b c"),
        ("\u200bhidden\u202e", "hidden"),  # invisible and control characters go
    ],
)
def test_text_is_folded_into_letters_the_font_has(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text(max_size=300))
def test_printable_text_is_always_drawable(text: str) -> None:
    shown = printable(text)
    shown.encode("cp1252")  # Helvetica's encoding: every character has a glyph
    assert shown.isprintable()


@given(st.text(max_size=200), st.floats(min_value=20, max_value=280))
def test_fitted_text_is_never_wider_than_its_room(text: str, width: float) -> None:
    fitted, size = fit(text, "Helvetica-Bold", 15, width, smallest=7)

    assert 7 <= size <= 15
    assert stringWidth(fitted, "Helvetica-Bold", size) <= width


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=300),
    address=st.lists(st.text(max_size=200), max_size=6),
    item=st.text(min_size=1, max_size=255),
)
def test_any_text_renders_inside_the_page(name: str, address: list[str], item: str) -> None:
    label = replace(
        LABEL,
        sender=Address(name, tuple(address)),
        recipient=Address(name, tuple(address)),
        items=(Item(item[:64], item, 1, item),),
    )

    assert not outside_the_page(render_label(label))


def test_the_dropoff_code_is_a_big_png_of_the_tracking_number_with_a_quiet_zone() -> None:
    tracking = new_tracking_number()

    png = render_dropoff_qr(tracking)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png)).convert("L")
    assert min(image.size) >= 300  # readable off a phone screen at arm's length
    assert codes(image) == {QR: tracking}
    width, height = image.size
    border = [image.getpixel((x, y)) for x in range(width) for y in (0, 40, height - 1)]
    assert set(border) == {255}  # white all round
    assert render_dropoff_qr(tracking) == png
