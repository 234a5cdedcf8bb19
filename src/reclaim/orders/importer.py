"""Reading orders from files: CSV (one row per order line) and JSON Lines (one order a line).

Parsing is separate from writing: a file is read and checked whole first, every bad row is
reported with its line number, and only a clean file is written, in one transaction.

A CSV order may name the one payment it was made with (``payment_method``, and optionally
``payment_captured``, which defaults to the order's total, ``payment_reference`` and
``payment_last4``); an order paid several ways is imported as JSON Lines, with ``payments``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reclaim.errors import ValidationFailed
from reclaim.kit.money import Money, check_currency
from reclaim.orders.schemas import OrderIn
from reclaim.refunds.rules import order_total

CSV_COLUMNS = (
    "order_id",
    "customer_id",
    "customer_email",
    "customer_name",
    "customer_tier",
    "currency",
    "placed_at",
    "delivered_at",
    "shipping",
    "order_discount",
    "ship_line1",
    "ship_line2",
    "ship_city",
    "ship_region",
    "ship_postcode",
    "ship_country",
    "ship_lat",
    "ship_lon",
    "line_id",
    "sku",
    "product_name",
    "category",
    "product_group",
    "weight_grams",
    "cost",
    "returnable",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "payment_method",
    "payment_captured",
    "payment_reference",
    "payment_last4",
)
PAYMENT_COLUMNS = ("payment_method", "payment_captured", "payment_reference", "payment_last4")
REQUIRED_CSV = (
    "order_id",
    "customer_email",
    "currency",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
)
MONEY_COLUMNS = {
    "shipping",
    "order_discount",
    "cost",
    "unit_price",
    "discount",
    "tax",
    "payment_captured",
}


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def csv_rows(
    text: str, required: Iterable[str], known: Sequence[str], errors: list[RowError]
) -> Iterator[tuple[int, dict[str, str] | None]]:
    """Each row's line number and stripped cells by column, once the header is checked.

    A bad header or a row with more values than columns is reported into ``errors``; such a
    row comes back as ``None`` so callers still count it."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if bad := header_error(header, required, known):
        errors.append(bad)
        return
    for row in reader:
        extra: list[str] | None = row.pop(None, None)  # type: ignore[call-overload,assignment]
        if extra:
            errors.append(
                RowError(
                    reader.line_num,
                    f"{len(header) + len(extra)} values for {len(header)} columns; "
                    "quote values that contain commas",
                )
            )
            yield reader.line_num, None
            continue
        yield reader.line_num, {key: (value or "").strip() for key, value in row.items()}


def header_error(
    header: Sequence[str], required: Iterable[str], known: Sequence[str]
) -> RowError | None:
    """A CSV header missing a required column or naming one we don't know, as line 1's error."""
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in known]
    if not missing and not unknown:
        return None
    problem = (
        f"missing column(s) {', '.join(missing)}"
        if missing
        else f"unknown column(s) {', '.join(unknown)}"
    )
    return RowError(1, f"{problem}; expected {', '.join(known)}")


@dataclass
class ParsedFile:
    orders: list[OrderIn] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


def parse_jsonl(text: str) -> ParsedFile:
    parsed = ParsedFile()
    seen: dict[str, int] = {}
    # Only "\n" ends a line: splitlines() would also split on U+2028 inside a JSON string.
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        parsed.rows += 1
        try:
            order = OrderIn.model_validate(json.loads(raw))
        except json.JSONDecodeError as exc:
            parsed.errors.append(RowError(number, f"not valid JSON ({exc.msg})"))
            continue
        except ValidationError as exc:
            parsed.errors.append(RowError(number, _explain(exc)))
            continue
        if order.order_id in seen:
            parsed.errors.append(
                RowError(number, f"order {order.order_id} already on line {seen[order.order_id]}")
            )
            continue
        seen[order.order_id] = number
        parsed.orders.append(order)
    return parsed


def _minor(value: str, currency: str, column: str) -> int:
    try:
        return Money.from_decimal(value, currency).amount
    except ValidationFailed as exc:
        raise ValueError(f"{column}: {exc.message}") from exc


def _number(value: str, column: str, kind: type[int] | type[float] = int) -> int | float:
    try:
        return kind(value)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ValueError(f"{column}: {value!r} is not {noun}") from None


def _row_to_line(row: dict[str, str], currency: str) -> dict[str, Any]:
    product = {
        key: value
        for key, value in {
            "name": row.get("product_name"),
            "category": row.get("category"),
            "product_group": row.get("product_group"),
            "weight_grams": _number(row["weight_grams"], "weight_grams")
            if row.get("weight_grams")
            else None,
            "cost_minor": _minor(row["cost"], currency, "cost") if row.get("cost") else None,
            "returnable": row["returnable"].strip().lower() in {"1", "true", "yes", "y"}
            if row.get("returnable")
            else None,
        }.items()
        if value not in (None, "")
    }
    line: dict[str, Any] = {
        "sku": row["sku"],
        "quantity": _number(row["quantity"], "quantity"),
        "unit_price_minor": _minor(row["unit_price"], currency, "unit_price"),
        "discount_minor": _minor(row["discount"], currency, "discount")
        if row.get("discount")
        else 0,
        "tax_minor": _minor(row["tax"], currency, "tax") if row.get("tax") else 0,
    }
    if row.get("line_id"):
        line["line_id"] = row["line_id"]
    if product:
        line["product"] = product
    return line


def _row_to_order(row: dict[str, str], currency: str) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": row["order_id"],
        "customer": {
            key: value
            for key, value in {
                "id": row.get("customer_id"),
                "email": row["customer_email"],
                "name": row.get("customer_name"),
                "tier": row.get("customer_tier"),
            }.items()
            if value
        },
        "currency": currency,
        "placed_at": row["placed_at"],
        "delivered_at": row.get("delivered_at") or None,
        "shipping_minor": _minor(row["shipping"], currency, "shipping")
        if row.get("shipping")
        else 0,
        "discount_minor": _minor(row["order_discount"], currency, "order_discount")
        if row.get("order_discount")
        else 0,
        "lines": [],
    }
    address = {
        key: value
        for key, value in {
            "line1": row.get("ship_line1"),
            "line2": row.get("ship_line2"),
            "city": row.get("ship_city"),
            "region": row.get("ship_region"),
            "postcode": row.get("ship_postcode"),
            "country": row.get("ship_country"),
            "lat": _number(row["ship_lat"], "ship_lat", float) if row.get("ship_lat") else None,
            "lon": _number(row["ship_lon"], "ship_lon", float) if row.get("ship_lon") else None,
        }.items()
        if value not in (None, "")
    }
    if address:
        order["shipping_address"] = address
    payment = _row_to_payment(row, currency)
    if payment is not None:
        order["payments"] = [payment]
    return order


def _row_to_payment(row: dict[str, str], currency: str) -> dict[str, Any] | None:
    if not any(row.get(column) for column in PAYMENT_COLUMNS):
        return None
    if not row.get("payment_method"):
        raise ValueError("payment_method must not be empty when other payment columns are set")
    payment: dict[str, Any] = {"method": row["payment_method"]}
    if row.get("payment_captured"):
        payment["captured_minor"] = _minor(row["payment_captured"], currency, "payment_captured")
    if row.get("payment_reference"):
        payment["reference"] = row["payment_reference"]
    if row.get("payment_last4"):
        payment["last4"] = row["payment_last4"]
    return payment


def _pay_in_full(draft: dict[str, Any]) -> None:
    """A CSV payment without an amount captured the order's whole total."""
    for payment in draft.get("payments", []):
        if "captured_minor" not in payment:
            lines = [
                (
                    line["unit_price_minor"],
                    line["quantity"],
                    line["discount_minor"],
                    line["tax_minor"],
                )
                for line in draft["lines"]
            ]
            payment["captured_minor"] = order_total(
                lines, draft["shipping_minor"], draft["discount_minor"]
            )


def parse_csv(text: str) -> ParsedFile:
    """Rows of one order may be anywhere in the file; its header fields must agree."""
    parsed = ParsedFile()
    drafts: dict[str, tuple[int, dict[str, Any], list[int]]] = {}
    for number, row in csv_rows(text, REQUIRED_CSV, CSV_COLUMNS, parsed.errors):
        parsed.rows += 1
        if row is None:
            continue
        try:
            empty = [name for name in REQUIRED_CSV if not row.get(name)]
            if empty:
                raise ValueError(f"{', '.join(empty)} must not be empty")
            currency = check_currency(row["currency"])
            order = _row_to_order(row, currency)
            line = _row_to_line(row, currency)
        except (ValueError, ValidationFailed) as exc:
            message = exc.message if isinstance(exc, ValidationFailed) else str(exc)
            parsed.errors.append(RowError(number, message))
            continue
        first = drafts.get(row["order_id"])
        if first is None:
            drafts[row["order_id"]] = (number, order, [number])
            first = drafts[row["order_id"]]
        elif {k: v for k, v in first[1].items() if k != "lines"} != {
            k: v for k, v in order.items() if k != "lines"
        }:
            parsed.errors.append(
                RowError(
                    number, f"order {row['order_id']} differs from its first row (line {first[0]})"
                )
            )
            continue
        else:
            first[2].append(number)
        first[1]["lines"].append(line)
    for first_line, draft, lines in drafts.values():
        _pay_in_full(draft)
        try:
            parsed.orders.append(OrderIn.model_validate(draft))
        except ValidationError as exc:
            parsed.errors.extend(_order_errors(exc, first_line, lines))
    parsed.errors.sort(key=lambda err: err.line)
    return parsed


def _order_errors(exc: ValidationError, first_line: int, lines: list[int]) -> list[RowError]:
    """Blame the row a line-level problem came from; order-level ones go to the order's first."""
    found: dict[int, list[str]] = {}
    for err in exc.errors():
        loc = err["loc"]
        in_line = len(loc) > 1 and loc[0] == "lines" and isinstance(loc[1], int)
        row = lines[int(loc[1])] if in_line else first_line
        where = ".".join(str(p) for p in loc)
        found.setdefault(row, []).append(f"{where}: {err['msg']}" if where else err["msg"])
    suffix = "" if len(lines) == 1 else f" (order rows on lines {lines})"
    return [RowError(row, "; ".join(messages) + suffix) for row, messages in found.items()]


def read_text(path: Path) -> tuple[str, list[RowError]]:
    """A data file's text (a byte-order mark dropped), or why it can't be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return "", [RowError(1, f"the file is not UTF-8 text ({exc.reason})")]


def parse_file(path: Path) -> ParsedFile:
    text, unreadable = read_text(path)
    if unreadable:
        return ParsedFile(errors=unreadable)
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return parse_jsonl(text)
    if suffix == ".csv":
        return parse_csv(text)
    raise ValidationFailed(f"{path.name}: use a .csv or .jsonl file.")
