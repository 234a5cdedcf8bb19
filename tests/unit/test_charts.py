"""The console's charts: well-formed SVG, drawn to scale, named for screen readers, and honest
about what is missing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from reclaim.web.console import charts
from reclaim.web.console.charts import Bar, Series

SVG = "{http://www.w3.org/2000/svg}"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def whole(value: float) -> str:
    return f"{value:.0f}"


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def all_of(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    return [el for el in root.iter(SVG + tag) if cls is None or el.get("class") == cls]


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(el.itertext()) for el in all_of(root, "text", cls)]


def own_text(el: ET.Element) -> str:
    """A text element's words without its tooltip."""
    return (el.text or "") + "".join(child.tail or "" for child in el)


def test_a_chart_is_an_image_named_and_described_for_screen_readers() -> None:
    chart = charts.bars("mix", "Reason mix", "Share of returned units", [Bar("A", 0.5)], percent)
    root = parse(chart)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "mix-title"
    assert root.get("aria-describedby") == "mix-desc"
    title = root.find(SVG + "title")
    desc = root.find(SVG + "desc")
    assert title is not None and title.get("id") == "mix-title" and title.text == "Reason mix"
    assert desc is not None and desc.get("id") == "mix-desc"
    assert desc.text == "Share of returned units"
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.get("width") is None  # the page decides the size; the viewBox scales it


def test_bar_lengths_are_proportional_to_the_values() -> None:
    chart = charts.bars("b", "t", "d", [Bar("A", 0.1), Bar("B", 0.2), Bar("C", 0.4)], percent)
    widths = [float(el.get("width", "0")) for el in all_of(parse(chart), "rect", "bar")]
    assert len(widths) == 3
    assert widths[1] == pytest.approx(2 * widths[0], rel=0.02)
    assert widths[2] == pytest.approx(4 * widths[0], rel=0.02)


def test_bars_start_at_zero_and_the_axis_is_labelled_in_round_numbers() -> None:
    chart = charts.bars("b", "t", "d", [Bar("A", 0.33), Bar("B", 0.07)], percent)
    root = parse(chart)
    assert texts(root, "tick") == ["0%", "10%", "20%", "30%", "40%"]
    zero_line = all_of(root, "line", "grid")[0]
    starts = {el.get("x") for el in all_of(root, "rect", "bar")}
    assert starts == {zero_line.get("x1")}


def test_each_bar_has_its_label_and_its_value_in_words() -> None:
    chart = charts.bars("b", "t", "d", [Bar("Too small", 0.25), Bar("Defective", 0.125)], percent)
    root = parse(chart)
    assert [own_text(el) for el in all_of(root, "text", "label")] == ["Too small", "Defective"]
    assert texts(root, "value") == ["25%", "12%"]
    assert [row[0].text for row in chart.rows] == ["Too small", "Defective"]
    assert [row[1].text for row in chart.rows] == ["25%", "12%"]


def test_labels_are_escaped_in_the_picture_and_kept_whole_in_the_table() -> None:
    label = 'Mugs <script>alert("x")</script> & "jugs"'
    chart = charts.bars("b", "<t>", "d & e", [Bar(label, 1.0, href="/x?a=1&b=2")], percent)
    assert "<script>" not in str(chart.svg)
    root = parse(chart)  # parses: nothing unescaped broke the XML
    assert root.find(SVG + "title") is not None and root.find(SVG + "title").text == "<t>"  # type: ignore[union-attr]
    tooltip = all_of(root, "text", "label")[0].find(SVG + "title")
    assert tooltip is not None and tooltip.text == label
    shown = own_text(all_of(root, "text", "label")[0])
    assert shown.endswith("…") and len(shown) <= charts.LABEL_CHARS
    assert chart.rows[0][0] == charts.Cell(label, "/x?a=1&b=2")


def test_a_negative_value_is_drawn_left_of_zero() -> None:
    chart = charts.bars("b", "t", "d", [Bar("Up", 2.0), Bar("Down", -1.0)], whole)
    root = parse(chart)
    zero = float(
        all_of(root, "line", "grid")[[t for t in texts(root, "tick")].index("0")].get("x1", "")
    )
    up, down = all_of(root, "rect", "bar")
    assert float(up.get("x", "")) == pytest.approx(zero)
    assert float(down.get("x", "")) + float(down.get("width", "")) == pytest.approx(zero)
    assert float(up.get("width", "")) == pytest.approx(2 * float(down.get("width", "")), rel=0.02)


def test_a_missing_value_draws_no_bar_and_says_so() -> None:
    chart = charts.bars("b", "t", "d", [Bar("Known", 0.5), Bar("Unknown", None)], percent)
    root = parse(chart)
    assert len(all_of(root, "rect", "bar")) == 1
    assert texts(root, "none") == ["no data"]
    assert texts(root, "value") == ["50%", "—"]
    assert chart.rows[1][1].text == "—"


def test_no_data_at_all_is_a_small_picture_that_says_so_and_an_empty_table() -> None:
    for chart in (
        charts.bars("b", "t", "d", [], percent),
        charts.columns("c", "t", "d", [], [], whole),
        charts.lines("l", "t", "d", [], [Series("Rate", [])], percent),
        charts.lines("m", "t", "d", ["W1", "W2"], [Series("Rate", [None, None])], percent),
    ):
        root = parse(chart)
        assert "No data in this period" in "".join(root.itertext()), chart.key
        assert not all_of(root, "rect", "bar") and not all_of(root, "path", "line")
    assert charts.bars("b", "t", "d", [], percent).empty
    assert not charts.bars("b", "t", "d", [Bar("A", 1)], percent).empty


def test_bars_that_all_lack_a_value_draw_nothing_but_still_list_each() -> None:
    chart = charts.bars("b", "t", "d", [Bar("Sellable", None), Bar("Recovered", None)], percent)
    root = parse(chart)
    assert "No data in this period" in "".join(root.itertext())
    assert [[c.text for c in row][:2] for row in chart.rows] == [
        ["Sellable", "—"],
        ["Recovered", "—"],
    ]
    assert not chart.empty


def test_an_interval_is_an_error_bar_spanning_low_to_high() -> None:
    chart = charts.bars(
        "p", "t", "d", [Bar("SKU-1", 0.2, low=0.1, high=0.4), Bar("SKU-2", 0.1)], percent
    )
    root = parse(chart)
    (interval,) = all_of(root, "path", "interval")
    bar = all_of(root, "rect", "bar")[0]
    zero = float(bar.get("x", ""))
    per_unit = float(bar.get("width", "")) / 0.2
    start, end = interval.get("d", "").split("M")[1].split("H")
    assert float(start.split()[0]) == pytest.approx(zero + 0.1 * per_unit, abs=0.2)
    assert float(end) == pytest.approx(zero + 0.4 * per_unit, abs=0.2)
    assert chart.columns == ("", "Value", "90% interval", "")
    assert chart.rows[0][2].text == "10% – 40%" and chart.rows[1][2].text == "— – —"


def test_a_reference_line_is_dashed_and_named_in_the_legend() -> None:
    chart = charts.bars(
        "c", "t", "d", [Bar("A", 0.3)], percent, reference=0.1, reference_label="All categories"
    )
    (line,) = all_of(parse(chart), "line", "reference")
    assert line.get("stroke-dasharray")
    assert chart.legend[-1] == charts.Swatch("All categories 10%", charts.INK, "dash")


def test_column_heights_are_proportional_and_sit_on_the_zero_line() -> None:
    chart = charts.columns("w", "t", "d", ["W1", "W2", "W3"], [10, 5, None], whole)
    root = parse(chart)
    rects = all_of(root, "rect", "bar")
    assert len(rects) == 2  # the week with no value has no column
    heights = [float(r.get("height", "")) for r in rects]
    assert heights[0] == pytest.approx(2 * heights[1], rel=0.02)
    bottoms = {round(float(r.get("y", "")) + float(r.get("height", "")), 1) for r in rects}
    assert len(bottoms) == 1
    assert texts(root, "x") == ["W1", "W2", "W3"]
    assert [tuple(c.text for c in row) for row in chart.rows] == [
        ("W1", "10"),
        ("W2", "5"),
        ("W3", "—"),
    ]


def test_a_long_time_axis_labels_only_some_periods_so_they_never_overlap() -> None:
    labels = [f"W{i}" for i in range(52)]
    chart = charts.columns("w", "t", "d", labels, [1.0] * 52, whole)
    shown = texts(parse(chart), "x")
    assert 1 < len(shown) <= charts.X_LABELS and shown[0] == "W0"
    assert len(chart.rows) == 52  # the table has every period


def test_a_line_breaks_where_a_value_is_missing() -> None:
    chart = charts.lines(
        "l", "t", "d", ["a", "b", "c", "d", "e"], [Series("Rate", [1, 2, None, 3, 4])], whole
    )
    root = parse(chart)
    paths = all_of(root, "path", "line")
    assert len(paths) == 2
    assert len(all_of(root, "circle", "point")) == 4
    heights = [float(c.get("cy", "")) for c in all_of(root, "circle", "point")]
    assert heights == sorted(heights, reverse=True)  # higher values are drawn higher up


def test_a_forecast_band_is_shaded_between_low_and_high_and_tabled() -> None:
    labels = ["1 Sep", "2 Sep", "3 Sep"]
    series = Series("Expected", [5, 6, 7], low=[3, 4, 5], high=[8, 9, 10])
    chart = charts.lines("f", "t", "d", labels, [series], whole)
    root = parse(chart)
    (band,) = all_of(root, "polygon", "band")
    ys = [float(point.split(",")[1]) for point in band.get("points", "").split()]
    assert len(ys) == 6
    point_ys = [float(c.get("cy", "")) for c in all_of(root, "circle", "point")]
    # The line runs inside its band: each low edge is below the point, each high edge above.
    assert all(low > y > high for low, y, high in zip(ys[:3], point_ys, ys[:2:-1], strict=True))
    assert chart.columns == ("", "Expected", "Range")
    assert [c.text for c in chart.rows[0]] == ["1 Sep", "5", "3 – 8"]
    assert [(s.label, s.shape) for s in chart.legend] == [("Expected: range", "band")]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 0.33, [0, 0.1, 0.2, 0.3, 0.4]),
        (0, 7, [0, 2, 4, 6, 8]),
        (-3, 5, [-4, -2, 0, 2, 4, 6]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (120, 480, [0, 100, 200, 300, 400, 500]),
    ],
)
def test_axis_ticks_are_round_numbers_that_include_zero(
    low: float, high: float, expected: list[float]
) -> None:
    assert charts.nice_ticks(low, high) == pytest.approx(expected)


def test_a_strip_places_the_estimate_its_interval_and_its_category_on_a_shared_scale() -> None:
    svg = charts.strip("s-1", "Mug <big>", 0.2, 0.1, 0.3, 0.05, 0.4, percent)
    root = ET.fromstring(str(svg))
    assert root.get("role") == "img"
    title = root.find(SVG + "title")
    assert title is not None
    assert title.text == "Mug <big>: 20%, 90% interval 10% to 30%; its category 5%"
    (interval,) = all_of(root, "line", "interval")
    (dot,) = all_of(root, "circle", "estimate")
    (tick,) = all_of(root, "line", "reference")
    start, end = float(interval.get("x1", "")), float(interval.get("x2", ""))
    # 0.1 to 0.3 of a scale to 0.4: the dot halfway along the interval, the tick at 0.05.
    assert float(dot.get("cx", "")) == pytest.approx((start + end) / 2)
    assert float(tick.get("x1", "")) < start
    assert (end - start) == pytest.approx(4 * (start - float(tick.get("x1", ""))), rel=0.01)
