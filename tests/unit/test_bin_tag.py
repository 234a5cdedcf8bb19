"""The bin tag, read back the way the next station and a person would: the page rendered to
pixels and its barcode decoded, its text extracted, every glyph inside the page."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

import pypdf
import pypdfium2
import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from reclaim.logistics.labels import HEIGHT, WIDTH
from reclaim.warehouse.bintag import BinTag, render_bin_tag

DPI = 300
TAG = BinTag(
    rma="RMA-7KQ3X-M9P2D",
    line_ref="2",
    sku="PHONE-X-128",
    name="Phone X 128 GB, midnight blue",
    grade="very_good",
    channel="refurbish",
    location="REFURB-OUT",
    quantity=3,
    routed_on=date(2024, 6, 14),
    work_order="WO-7KQ3XM9P",
)


def page(pdf: bytes) -> Image.Image:
    [only] = pypdfium2.PdfDocument(pdf)
    return only.render(scale=DPI / 72).to_pil()


def barcodes(pdf: bytes) -> list[tuple[zxingcpp.BarcodeFormat, str]]:
    return [(found.format, found.text) for found in zxingcpp.read_barcodes(page(pdf))]


def text(pdf: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def outside_the_page(pdf: bytes) -> list[str]:
    found = []
    for number, each in enumerate(pypdfium2.PdfDocument(pdf), start=1):
        chars = each.get_textpage()
        for index in range(chars.count_chars()):
            left, bottom, right, top = chars.get_charbox(index)
            if left < 0 or bottom < 0 or right > WIDTH or top > HEIGHT:
                found.append(f"{number}:{chars.get_text_range(index, 1)!r}")
    return found


def test_the_barcode_reads_back_the_rma_and_line() -> None:
    assert barcodes(render_bin_tag(TAG)) == [(zxingcpp.BarcodeFormat.Code128, "RMA-7KQ3X-M9P2D/2")]


@pytest.mark.parametrize("line_ref", ["1", "10", "A-17", "line-0042", "1234567890123456"])
def test_shop_line_ids_of_any_usual_length_scan(line_ref: str) -> None:
    tag = replace(TAG, line_ref=line_ref)

    assert barcodes(render_bin_tag(tag)) == [
        (zxingcpp.BarcodeFormat.Code128, f"{TAG.rma}/{line_ref}")
    ]


def test_the_tag_is_one_four_by_six_inch_page() -> None:
    reader = pypdf.PdfReader(io.BytesIO(render_bin_tag(TAG)))

    assert len(reader.pages) == 1
    assert (float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)) == (
        288,
        432,
    )


def test_the_tag_says_where_the_unit_goes_and_what_it_is() -> None:
    shown = text(render_bin_tag(TAG))

    for expected in (
        "REFURB-OUT",
        "REFURBISH",
        "RMA-7KQ3X-M9P2D",
        "Line 2",
        "Qty 3",
        "PHONE-X-128",
        "Phone X 128 GB, midnight blue",
        "Grade: Very good",
        "Work order WO-7KQ3XM9P",
        "2024-06-14",
    ):
        assert expected in shown
    assert "Manifest" not in shown


def test_the_destination_is_printed_larger_than_anything_else() -> None:
    sizes: dict[str, float] = {}

    def seen(text: str, _cm: object, matrix: list[float], _font: object, size: float) -> None:
        if text.strip():
            sizes[text.strip()] = size * matrix[3]

    pypdf.PdfReader(io.BytesIO(render_bin_tag(TAG))).pages[0].extract_text(visitor_text=seen)

    assert max(sizes, key=lambda shown: sizes[shown]) == "REFURB-OUT"
    assert sizes["REFURB-OUT"] >= 1.5 * sizes["RMA-7KQ3X-M9P2D"] >= 30


def test_an_end_of_life_tag_names_its_manifest() -> None:
    tag = replace(
        TAG, channel="recycle", location="RECYCLING", work_order=None, manifest="MF-3YTYQMGG"
    )

    shown = text(render_bin_tag(tag))

    assert "RECYCLING" in shown and "RECYCLE" in shown
    assert "Manifest MF-3YTYQMGG" in shown and "Work order" not in shown


def test_the_same_tag_renders_to_the_same_bytes() -> None:
    assert render_bin_tag(TAG) == render_bin_tag(replace(TAG))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=300),
    sku=st.text(min_size=1, max_size=64),
    location=st.text(min_size=1, max_size=64),
)
def test_any_name_sku_or_location_stays_on_the_page_and_the_barcode_still_scans(
    name: str, sku: str, location: str
) -> None:
    pdf = render_bin_tag(replace(TAG, name=name, sku=sku, location=location))

    assert not outside_the_page(pdf)
    assert barcodes(pdf) == [(zxingcpp.BarcodeFormat.Code128, "RMA-7KQ3X-M9P2D/2")]
