"""Charts for the console, drawn on the server as inline SVG: no script, no external asset.

Every chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``,
scaled by its viewBox to whatever width the page gives it. It also carries its numbers as table
rows, for screen readers and print. Links (drilling into a category, a SKU, a reason) belong in
that table and never inside the picture: ``role="img"`` hides its children from assistive
technology, so a link in there would take the keyboard's focus and tell nobody where it goes.

Pure: values in, markup out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from markupsafe import Markup, escape

T = TypeVar("T")
Format = Callable[[float], str]

# Each at least 4.5:1 against white, so a bar reads as well as its label; the legend and the
# table name every colour, so none carries meaning alone.
TONES = {
    "primary": "#0b5f4a",
    "secondary": "#5b6570",
    "customer": "#2f64a8",
    "merchant": "#b03a2e",
    "carrier": "#8a5a00",
    "review": "#6b4f9a",
}
INK = "#1b1f24"
MUTED = "#5b6570"
GRID = "#d5dbe1"
FONT = 13
# A label longer than this is cut with an ellipsis; its whole text stays in a tooltip.
LABEL_CHARS = 24
# At most this many labels along a time axis; the others would overlap.
X_LABELS = 8
# A chart's width in its viewBox: about a half-page card's, where text is FONT px tall.
WIDTH = 440


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    tone: str = "primary"
    # An interval around the value (a credible interval), drawn as an error bar.
    low: float | None = None
    high: float | None = None
    # Where the label links in the table: the page, filtered by what the bar stands for.
    href: str | None = None
    # More words for the table, e.g. "12 of 340 units".
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]
    tone: str = "primary"
    # A band around the line (a forecast's range), drawn shaded where both ends are known.
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Swatch:
    """A legend entry: what a colour means."""

    label: str
    colour: str
    shape: str = "box"  # "box" (bars), "line", "band" or "dash" (a reference line)


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # unique on the page: the SVG's ids and the table's come from it
    title: str
    description: str
    svg: Markup
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    legend: tuple[Swatch, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.rows


def tone(name: str) -> str:
    return TONES.get(name, TONES["primary"])


# --- scales ------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float) -> list[float]:
    """Round numbers (steps of 1, 2 or 5 times a power of ten) from at or below ``low`` to at
    or above ``high``, in three to six steps, as tight as they can be, always including zero:
    bars start there, and a scale that hides it misleads."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1.0
    power = math.floor(math.log10(high - low))
    best: tuple[float, int, float] | None = None  # (span covered, steps, step)
    for exponent in (power - 2, power - 1, power):
        for multiple in (1, 2, 5):
            step = multiple * 10.0**exponent
            first = math.floor(low / step + 1e-9)
            last = math.ceil(high / step - 1e-9)
            steps = last - first
            if 3 <= steps <= 6 and (best is None or steps * step < best[0] - 1e-12):
                best = (steps * step, steps, step)
    assert best is not None  # a span of 10^p to 10^(p+1) always fits 3-6 steps of some size
    _, steps, step = best
    first = math.floor(low / step + 1e-9)
    return [round((first + n) * step, 12) + 0.0 for n in range(steps + 1)]


def _known(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _svg(key: str, title: str, description: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {width} '
        f'{height}" role="img" aria-labelledby="{key}-title" aria-describedby="{key}-desc" '
        f'font-family="system-ui, sans-serif" font-size="{FONT}" fill="{INK}">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _nothing(key: str, title: str, description: str) -> Markup:
    body = [
        f'<text x="{WIDTH // 2}" y="40" text-anchor="middle" fill="{MUTED}">'
        "No data in this period</text>"
    ]
    return Markup(_svg(key, title, description, WIDTH, 72, body))


def _text(value: float | None, fmt: Format) -> str:
    return "—" if value is None else fmt(value)


# --- horizontal bars ---------------------------------------------------------------------------


def bars(
    key: str,
    title: str,
    description: str,
    items: Sequence[Bar],
    fmt: Format,
    *,
    reference: float | None = None,
    reference_label: str = "",
    legend: Sequence[Swatch] = (),
) -> Chart:
    """One horizontal bar per item, its value at the right; an item's interval, if any, as an
    error bar over it; ``reference`` (an average to compare with) as a dashed line."""
    width, label_w, value_w, row, top, axis = WIDTH, 160, 58, 26, 6, 24
    x0, x1 = label_w + 8, width - value_w
    intervals = any(item.low is not None or item.high is not None for item in items)
    columns = ("", "Value") + (("90% interval",) if intervals else ()) + ("",)
    rows = tuple(
        (
            Cell(item.label, item.href),
            Cell(_text(item.value, fmt)),
            *((Cell(f"{_text(item.low, fmt)} – {_text(item.high, fmt)}"),) if intervals else ()),
            Cell(item.detail),
        )
        for item in items
    )
    swatches = tuple(legend)
    if reference is not None:
        swatches += (Swatch(f"{reference_label} {fmt(reference)}".strip(), INK, "dash"),)
    known = _known(v for item in items for v in (item.value, item.low, item.high))
    if not known:
        # Nothing to draw; the table still lists each item, with its dash.
        return Chart(key, title, description, _nothing(key, title, description), columns, rows)
    ticks = nice_ticks(min(known + [reference or 0.0]), max(known + [reference or 0.0]))
    lo, hi = ticks[0], ticks[-1]

    def x(value: float) -> float:
        return x0 + (value - lo) / (hi - lo) * (x1 - x0)

    bottom = top + row * len(items)
    height = bottom + axis
    body = []
    for tick in ticks:
        body.append(
            f'<line x1="{_n(x(tick))}" x2="{_n(x(tick))}" y1="{top}" y2="{bottom}" '
            f'stroke="{INK if tick == 0 else GRID}" class="grid"/>'
            f'<text x="{_n(x(tick))}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}" '
            f'class="tick">{escape(fmt(tick))}</text>'
        )
    for i, item in enumerate(items):
        y = top + i * row
        middle = y + row / 2
        label = escape(item.label)
        body.append(
            f'<text x="{label_w}" y="{_n(middle)}" dy="0.35em" text-anchor="end" class="label">'
            f"<title>{label}</title>{escape(_short(item.label))}</text>"
        )
        body.append(
            f'<text x="{width - 2}" y="{_n(middle)}" dy="0.35em" text-anchor="end" '
            f'class="value">{escape(_text(item.value, fmt))}</text>'
        )
        if item.value is None or not math.isfinite(item.value):
            body.append(
                f'<text x="{_n(x(0) + 4)}" y="{_n(middle)}" dy="0.35em" fill="{MUTED}" '
                f'class="none">no data</text>'
            )
        else:
            start, end = sorted((x(0), x(item.value)))
            body.append(
                f'<rect class="bar" x="{_n(start)}" y="{y + 5}" width="{_n(end - start)}" '
                f'height="{row - 10}" fill="{tone(item.tone)}" rx="2">'
                f"<title>{label}: {escape(fmt(item.value))}</title></rect>"
            )
        if item.low is not None and item.high is not None:
            a, b = x(item.low), x(item.high)
            body.append(
                f'<path class="interval" d="M{_n(a)} {_n(middle)}H{_n(b)}M{_n(a)} {y + 8}'
                f'V{y + row - 8}M{_n(b)} {y + 8}V{y + row - 8}" stroke="{INK}" '
                f'stroke-width="1.5" fill="none"/>'
            )
    if reference is not None:
        body.append(
            f'<line class="reference" x1="{_n(x(reference))}" x2="{_n(x(reference))}" '
            f'y1="{top}" y2="{bottom}" stroke="{INK}" stroke-width="1.5" '
            f'stroke-dasharray="4 3"/>'
        )
    svg = Markup(_svg(key, title, description, width, height, body))
    return Chart(key, title, description, svg, columns, rows, swatches)


# --- vertical bars over time -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    """The plotting area of a chart over time, and its value scale."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    ticks: list[float]

    def y(self, value: float) -> float:
        lo, hi = self.ticks[0], self.ticks[-1]
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)

    def axes(self, labels: Sequence[str], centres: Sequence[float], fmt: Format) -> list[str]:
        body = []
        for tick in self.ticks:
            y = _n(self.y(tick))
            body.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y}" y2="{y}" '
                f'stroke="{INK if tick == 0 else GRID}" class="grid"/>'
                f'<text x="{self.left - 6}" y="{y}" dy="0.35em" text-anchor="end" '
                f'fill="{MUTED}" class="tick">{escape(fmt(tick))}</text>'
            )
        every = max(1, math.ceil(len(labels) / X_LABELS))
        for i in range(0, len(labels), every):
            body.append(
                f'<text x="{_n(centres[i])}" y="{self.bottom + 18}" text-anchor="middle" '
                f'fill="{MUTED}" class="x">{escape(labels[i])}</text>'
            )
        return body


def _frame(values: Sequence[float]) -> _Frame:
    ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0))
    return _Frame(WIDTH, 210, 44, WIDTH - 8, 10, 182, ticks)


def columns(
    key: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    fmt: Format,
    *,
    colour: str = "primary",
    heading: str = "Value",
) -> Chart:
    """A column per period (returns per week), from zero up (or down, if negative)."""
    rows = tuple(
        (Cell(label), Cell(_text(value, fmt))) for label, value in zip(labels, values, strict=True)
    )
    if not _known(values):
        svg = _nothing(key, title, description)
        return Chart(key, title, description, svg, ("", heading), rows)
    frame = _frame(_known(values))
    slot = (frame.right - frame.left) / len(labels)
    centres = [frame.left + slot * (i + 0.5) for i in range(len(labels))]
    body = frame.axes(labels, centres, fmt)
    for label, value, centre in zip(labels, values, centres, strict=True):
        if value is None or not math.isfinite(value):
            continue
        top, bottom = sorted((frame.y(value), frame.y(0)))
        body.append(
            f'<rect class="bar" x="{_n(centre - slot * 0.35)}" y="{_n(top)}" '
            f'width="{_n(slot * 0.7)}" height="{_n(bottom - top)}" fill="{tone(colour)}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
    svg = Markup(_svg(key, title, description, frame.width, frame.height, body))
    return Chart(key, title, description, svg, ("", heading), rows)


# --- lines over time ---------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _runs(points: Iterable[tuple[float, T | None]]) -> list[list[tuple[float, T]]]:
    """The unbroken stretches of a line or band: a missing value breaks it rather than
    inventing one."""
    runs: list[list[tuple[float, T]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def lines(
    key: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
) -> Chart:
    """A line per series over the labelled periods, with its band shaded where it has one."""
    heads = tuple(
        head
        for line in series
        for head in ((line.label,) + (("Range",) if line.low is not None else ()))
    )
    rows = tuple(
        (Cell(label),) + tuple(cell for line in series for cell in _cells(line, i, fmt))
        for i, label in enumerate(labels)
    )
    # One line alone needs no legend: the title names it. Its band still does.
    lines_named = series if len(series) > 1 else ()
    legend = tuple(Swatch(line.label, tone(line.tone), "line") for line in lines_named) + tuple(
        Swatch(f"{line.label}: range", tone(line.tone), "band")
        for line in series
        if line.low is not None
    )
    if not labels or not any(_known(line.values) for line in series):
        svg = _nothing(key, title, description)
        return Chart(key, title, description, svg, ("",) + heads, rows if labels else (), legend)
    known = [
        v for line in series for v in _known([*line.values, *(line.low or ()), *(line.high or ())])
    ]
    frame = _frame(known)
    step = (frame.right - frame.left) / max(1, len(labels) - 1)
    xs = [
        frame.left + step * i if len(labels) > 1 else (frame.left + frame.right) / 2
        for i in range(len(labels))
    ]
    body = frame.axes(labels, xs, fmt)
    for line in series:
        colour = tone(line.tone)
        if line.low is not None and line.high is not None:
            ends = [(_at(line.low, i), _at(line.high, i)) for i in range(len(xs))]
            pairs = [
                (x, None if lo is None or hi is None else (lo, hi))
                for x, (lo, hi) in zip(xs, ends, strict=True)
            ]
            for stretch in (found for found in _runs(pairs) if len(found) > 1):
                edge = [(x, lo) for x, (lo, _) in stretch]
                edge += [(x, hi) for x, (_, hi) in reversed(stretch)]
                body.append(
                    '<polygon class="band" points="'
                    + " ".join(f"{_n(x)},{_n(frame.y(v))}" for x, v in edge)
                    + f'" fill="{colour}" fill-opacity="0.18"/>'
                )
        for run in _runs((x, _at(line.values, i)) for i, x in enumerate(xs)):
            path = "M" + "L".join(f"{_n(x)} {_n(frame.y(v))}" for x, v in run)
            body.append(
                f'<path class="line" d="{path}" stroke="{colour}" stroke-width="2.5" '
                f'fill="none" stroke-linejoin="round"/>'
            )
        for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
            value = _at(line.values, i)
            if value is not None:
                body.append(
                    f'<circle class="point" cx="{_n(x)}" cy="{_n(frame.y(value))}" r="3" '
                    f'fill="{colour}"><title>{escape(line.label)}, {escape(label)}: '
                    f"{escape(fmt(value))}</title></circle>"
                )
    svg = Markup(_svg(key, title, description, frame.width, frame.height, body))
    return Chart(key, title, description, svg, ("",) + heads, rows, legend)


def _cells(line: Series, i: int, fmt: Format) -> tuple[Cell, ...]:
    """A series' cells in the table's row for period ``i``: its value, and its range."""
    value = Cell(_text(_at(line.values, i), fmt))
    if line.low is None:
        return (value,)
    return value, Cell(f"{_text(_at(line.low, i), fmt)} – {_text(_at(line.high, i), fmt)}")


def _at(values: Sequence[float | None] | None, i: int) -> float | None:
    return _finite(values[i]) if values is not None and i < len(values) else None


# --- an estimate in a table row ----------------------------------------------------------------


def strip(
    key: str,
    label: str,
    value: float,
    low: float,
    high: float,
    reference: float | None,
    top: float,
    fmt: Format,
) -> Markup:
    """One estimate in a table row: a dot at ``value``, a line from ``low`` to ``high`` and a
    tick at ``reference``, on a scale from 0 to ``top`` shared by the rows, so they compare."""
    width, height, pad = 120, 20, 4
    span = top if top > 0 else 1.0

    def x(v: float) -> float:
        return pad + max(0.0, min(v, span)) / span * (width - 2 * pad)

    said = f"{label}: {fmt(value)}, 90% interval {fmt(low)} to {fmt(high)}"
    if reference is not None:
        said += f"; its category {fmt(reference)}"
    body = [
        f'<line class="axis" x1="{pad}" x2="{width - pad}" y1="{height - 3}" y2="{height - 3}" '
        f'stroke="{GRID}"/>',
        f'<line class="interval" x1="{_n(x(low))}" x2="{_n(x(high))}" y1="10" y2="10" '
        f'stroke="{TONES["primary"]}" stroke-width="3" stroke-linecap="round" '
        f'stroke-opacity="0.45"/>',
    ]
    if reference is not None:
        body.append(
            f'<line class="reference" x1="{_n(x(reference))}" x2="{_n(x(reference))}" y1="3" '
            f'y2="{height - 3}" stroke="{INK}" stroke-width="1.5"/>'
        )
    body.append(
        f'<circle class="estimate" cx="{_n(x(value))}" cy="10" r="4" fill="{TONES["primary"]}"/>'
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="strip" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{key}-title">'
        f'<title id="{key}-title">{escape(said)}</title>' + "".join(body) + "</svg>"
    )
