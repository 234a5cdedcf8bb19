"""The UCI "Online Retail" transaction log, read and cleaned: pure functions, no database.

The file is one row per invoice line of a UK gift-ware retailer. Invoices starting with ``C``
are cancellations and returns (negative quantities) with no link back to what they return, so
:func:`match_returns` finds it: the same customer's earlier purchases of the same stock code.
Both published headers are understood: the original (``InvoiceNo``, ``UnitPrice``,
``CustomerID``) and "Online Retail II" (``Invoice``, ``Price``, ``Customer ID``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from reclaim.errors import ValidationFailed


@dataclass(frozen=True)
class RowProblem:
    """A row left out, named by its 1-based data row (the header is not counted)."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass(frozen=True)
class Transactions:
    """The well-formed rows (``frame``) and why each other row was left out."""

    frame: pl.DataFrame
    problems: list[RowProblem]


# Header names are compared lower-cased with spaces and underscores removed, so
# "Customer ID", "CustomerID" and "customer_id" all name the customer column.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "invoice": ("invoiceno", "invoice"),
    "stock_code": ("stockcode",),
    "description": ("description",),
    "quantity": ("quantity",),
    "invoiced_at": ("invoicedate",),
    "unit_price": ("unitprice", "price"),
    "customer": ("customerid",),
    "country": ("country",),
}
# Names as the original file spells them, for messages about a missing column.
_PUBLISHED = {
    "invoice": "InvoiceNo",
    "stock_code": "StockCode",
    "quantity": "Quantity",
    "invoiced_at": "InvoiceDate",
    "unit_price": "UnitPrice",
    "customer": "CustomerID",
}
_OPTIONAL = frozenset({"description", "country"})

# The published file writes ISO dates without seconds; exports of the spreadsheet add seconds
# or use the US month/day order the spreadsheet was made with.
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
)

# Stock codes that are charges, fees, discounts or bookkeeping, not goods. Codes with no digit
# at all are the same kind of thing (POST, DOT, CRUK, …) except the shop's DCGS… party bags.
NON_PRODUCT_CODES = frozenset(
    {
        "POST",
        "DOT",
        "M",
        "D",
        "C2",
        "S",
        "B",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "PADS",
        "ADJUST",
        "ADJUST2",
    }
)
_NON_PRODUCT_PREFIXES = ("GIFT_", "TEST")
_PRODUCT_PREFIXES = ("DCGS",)


def is_product_code(code: str) -> bool:
    """Whether an upper-cased stock code names goods rather than postage, fees or adjustments."""
    if code in NON_PRODUCT_CODES or code.startswith(_NON_PRODUCT_PREFIXES):
        return False
    return code.startswith(_PRODUCT_PREFIXES) or any(ch.isdigit() for ch in code)


def _is_product_expr(code: pl.Expr) -> pl.Expr:
    no_digit = ~code.str.contains(r"\d")
    return ~(
        code.is_in(list(NON_PRODUCT_CODES))
        | pl.any_horizontal(code.str.starts_with(p) for p in _NON_PRODUCT_PREFIXES)
        | (no_digit & ~pl.any_horizontal(code.str.starts_with(p) for p in _PRODUCT_PREFIXES))
    )


def _normalise(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower().replace(" ", "").replace("_", "")


def _pick_columns(header: list[str]) -> dict[str, str]:
    """Our column name → the file's, or ValidationFailed naming what is missing."""
    by_normal = {_normalise(name): name for name in header}
    picked: dict[str, str] = {}
    missing: list[str] = []
    for ours, aliases in _COLUMNS.items():
        found = next((by_normal[a] for a in aliases if a in by_normal), None)
        if found is not None:
            picked[ours] = found
        elif ours not in _OPTIONAL:
            missing.append(_PUBLISHED[ours])
    if missing:
        raise ValidationFailed(
            f"The file has no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''}: is it an Online Retail export?",
            missing=missing,
        )
    return picked


# Bounds well above anything a shop sells, well below what the money columns hold: a
# price or quantity beyond them is a broken row, not an order to write.
MAX_QUANTITY = 10_000_000
MAX_UNIT_PRICE_MINOR = 1_000_000_000  # 10,000,000.00 exclusive


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def _price_minor(text: pl.Expr) -> pl.Expr:
    """Pence from a decimal string, rounded half-up on the third decimal, without floats."""
    pounds = text.str.extract(r"^(\d*)\.?\d*$", 1)
    decimals = text.str.extract(r"^\d*\.(\d*)$", 1).fill_null("")
    padded = (decimals + "000").str.slice(0, 3)
    return (
        pl.when(pounds == "").then(pl.lit("0")).otherwise(pounds).cast(pl.Int64, strict=False) * 100
        + padded.str.slice(0, 2).cast(pl.Int64, strict=False)
        + (padded.str.slice(2, 1).cast(pl.Int64, strict=False) >= 5).cast(pl.Int64)
    )


def read_transactions(path: Path) -> Transactions:
    """Read an Online Retail CSV (plain or gzip) into typed, cleaned rows.

    Raises ValidationFailed when the file isn't a CSV with the required columns; a row that
    can't be read is left out and reported in ``problems`` instead.
    """
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as exc:
        # The first line says what is wrong; the rest is advice on polars' own options.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationFailed(f"{path.name} can't be read as CSV: {reason}") from exc
    columns = _pick_columns(raw.columns)

    def text(ours: str) -> pl.Expr:
        if ours in columns:
            return _blank_to_null(pl.col(columns[ours]))
        return pl.lit(None, dtype=pl.String)

    quantity_text = text("quantity")
    price_text = text("unit_price")
    date_text = text("invoiced_at")
    typed = raw.with_row_index("row", offset=1).select(
        pl.col("row").cast(pl.Int64),
        text("invoice").str.to_uppercase().alias("invoice"),
        text("stock_code").str.to_uppercase().alias("stock_code"),
        text("description").alias("description"),
        quantity_text.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False).alias("quantity"),
        pl.coalesce(
            date_text.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in _DATE_FORMATS
        ).alias("invoiced_at"),
        # At most seven whole digits, so the pence can't overflow.
        pl.when(price_text.str.contains(r"^0*\d{0,7}(\.\d*)?$") & price_text.str.contains(r"\d"))
        .then(_price_minor(price_text))
        .alias("unit_price_minor"),
        text("customer").str.replace(r"\.0*$", "").alias("customer"),
        text("country").alias("country"),
        quantity_text.alias("_quantity"),
        price_text.alias("_price"),
        date_text.alias("_date"),
    )
    cancellation = pl.col("invoice").str.starts_with("C")
    problem = (
        pl.when(pl.col("invoice").is_null())
        .then(pl.lit("invoice number is empty"))
        .when(pl.col("stock_code").is_null())
        .then(pl.lit("stock code is empty"))
        .when(
            pl.col("_quantity").str.contains(r"^[+-]?\d+(\.0*)?$")
            & (pl.col("quantity").is_null() | (pl.col("quantity").abs() > MAX_QUANTITY))
        )
        .then(pl.format("quantity {} is beyond ±{}", "_quantity", pl.lit(f"{MAX_QUANTITY:,}")))
        .when(pl.col("quantity").is_null())
        .then(pl.format("quantity {} is not a whole number", _shown("_quantity")))
        .when(pl.col("quantity") == 0)
        .then(pl.lit("quantity is zero"))
        .when(pl.col("invoiced_at").is_null())
        .then(pl.format("invoice date {} is not a date and time", _shown("_date")))
        .when(pl.col("_price").str.starts_with("-"))
        .then(pl.format("unit price {} is negative", pl.col("_price")))
        .when(
            pl.col("_price").str.contains(r"^(\d+\.?\d*|\.\d+)$")
            & (
                pl.col("unit_price_minor").is_null()
                | (pl.col("unit_price_minor") >= MAX_UNIT_PRICE_MINOR)
            )
        )
        .then(
            pl.format(
                "unit price {} is not below {}",
                "_price",
                pl.lit(f"{MAX_UNIT_PRICE_MINOR // 100:,}.00"),
            )
        )
        .when(pl.col("unit_price_minor").is_null())
        .then(pl.format("unit price {} is not a number", _shown("_price")))
        .when(cancellation & (pl.col("quantity") > 0))
        .then(pl.format("quantity {} is positive on cancellation {}", "quantity", "invoice"))
        .when(~cancellation & (pl.col("quantity") < 0))
        .then(pl.format("quantity {} is negative on sale invoice {}", "quantity", "invoice"))
        .otherwise(None)
    )
    checked = typed.with_columns(problem.alias("_problem"))
    bad = checked.filter(pl.col("_problem").is_not_null())
    frame = checked.filter(pl.col("_problem").is_null()).select(
        "row",
        "invoice",
        "stock_code",
        "description",
        "quantity",
        "invoiced_at",
        "unit_price_minor",
        "customer",
        "country",
        cancellation.alias("cancellation"),
        _is_product_expr(pl.col("stock_code")).alias("is_product"),
    )
    problems = [
        RowProblem(row=row, message=message)
        for row, message in bad.select("row", "_problem").iter_rows()
    ]
    return Transactions(frame=frame, problems=problems)


def _shown(column: str) -> pl.Expr:
    """A raw value quoted for a message, or "(empty)"."""
    return (
        pl.when(pl.col(column).is_null())
        .then(pl.lit("(empty)"))
        .otherwise(pl.format("'{}'", pl.col(column)))
    )


class Unmatched(StrEnum):
    """Why a cancellation line became no return (or only part of one)."""

    PRICE_ADJUSTMENT = "price_adjustment"
    NOT_A_PRODUCT = "not_a_product"
    ANONYMOUS = "anonymous"
    NO_EARLIER_PURCHASE = "no_earlier_purchase"
    MORE_THAN_BOUGHT = "more_than_bought"


UNMATCHED_TEXT = {
    Unmatched.PRICE_ADJUSTMENT: "price adjustment (manual, discount or bad-debt line)",
    Unmatched.NOT_A_PRODUCT: "not a product (postage, fees, samples, vouchers)",
    Unmatched.ANONYMOUS: "anonymous (no customer id)",
    Unmatched.NO_EARLIER_PURCHASE: "no earlier purchase (bought before the history starts)",
    Unmatched.MORE_THAN_BOUGHT: "more units returned than bought and not yet given back",
}
# Lines on cancellation invoices that move money, not goods.
PRICE_ADJUSTMENT_CODES = frozenset({"M", "D", "B"})


@dataclass(frozen=True)
class Matching:
    """Cancellation lines tied to the purchases they give back, and the rest with a reason.

    ``allocations``: one row per (cancellation row, purchase line) with the units taken from
    that purchase. ``unmatched``: one row per cancellation row (or remainder of one) that found
    no purchase, with ``reason`` and the units left over. ``already_imported``: cancellation
    lines skipped because an earlier import made their return.
    """

    allocations: pl.DataFrame
    unmatched: pl.DataFrame
    already_imported: int = 0


# What a cancellation line can be matched to: a purchase with the units it has left to give
# back. ``line`` names it (the file's row, or an order line's id once it is in the database).
PURCHASE_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "order": pl.String(),
        "customer": pl.String(),
        "stock_code": pl.String(),
        "bought_at": pl.Datetime("us"),
        "unit_price_minor": pl.Int64(),
        "room": pl.Int64(),
    }
)

_ALLOCATION_SCHEMA = pl.Schema(
    {
        "return_row": pl.Int64(),
        "return_key": pl.String(),
        "return_invoice": pl.String(),
        "returned_at": pl.Datetime("us"),
        "customer": pl.String(),
        "stock_code": pl.String(),
        "return_unit_price_minor": pl.Int64(),
        "purchase_line": pl.Int64(),
        "purchase_invoice": pl.String(),
        "purchase_unit_price_minor": pl.Int64(),
        "quantity": pl.Int64(),
    }
)


def _sequence(invoice: pl.Expr) -> pl.Expr:
    """Invoice numbers are one running sequence for sales and cancellations alike, so they
    order two invoices written in the same minute."""
    return invoice.str.extract(r"(\d+)", 1).cast(pl.Int64, strict=False).fill_null(0)


def _cancellation_keys(returns: pl.DataFrame) -> pl.Expr:
    """A cancellation line named by what it says, not where it sits in the file (invoice,
    stock code, quantity, price, and which of identical lines it is): a corrected file, with a
    row fixed or added elsewhere, names it the same, so it is imported only once."""
    same = ["invoice", "stock_code", "quantity", "unit_price_minor"]
    nth = pl.col("row").rank("ordinal").over(same).cast(pl.String)
    return pl.concat_str([*(pl.col(c).cast(pl.String) for c in same), nth], separator="|")


def file_purchases(frame: pl.DataFrame) -> pl.DataFrame:
    """The file's own purchases as match candidates, every unit still to give back."""
    return frame.filter(
        ~pl.col("cancellation") & pl.col("is_product") & pl.col("customer").is_not_null()
    ).select(
        pl.col("row").alias("line"),
        pl.col("invoice").alias("order"),
        "customer",
        "stock_code",
        pl.col("invoiced_at").alias("bought_at"),
        "unit_price_minor",
        pl.col("quantity").alias("room"),
    )


def cancellations(frame: pl.DataFrame) -> pl.DataFrame:
    """The cancellation lines, each with its key and why it can't give goods back (if so)."""
    returns = frame.filter(pl.col("cancellation"))
    return returns.with_columns(
        _cancellation_keys(returns).alias("key"),
        pl.when(pl.col("stock_code").is_in(list(PRICE_ADJUSTMENT_CODES)))
        .then(pl.lit(Unmatched.PRICE_ADJUSTMENT.value))
        .when(~pl.col("is_product"))
        .then(pl.lit(Unmatched.NOT_A_PRODUCT.value))
        .when(pl.col("customer").is_null())
        .then(pl.lit(Unmatched.ANONYMOUS.value))
        .alias("reason"),
    )


def match_returns(
    frame: pl.DataFrame,
    purchases: pl.DataFrame | None = None,
    imported: frozenset[str] = frozenset(),
) -> Matching:
    """Tie each cancellation line to the same customer's earlier purchases of the stock code.

    ``purchases`` (:data:`PURCHASE_SCHEMA`) defaults to the file's own; the importer passes
    the orders in the database instead, each with only its units not yet returned, so earlier
    imports count. Lines whose key is in ``imported`` were made into returns before: skipped.
    Most recent purchase first, split across purchases when one isn't enough; whatever is
    left is unmatched with the reason.
    """
    returns = cancellations(frame).with_columns(_sequence(pl.col("invoice")).alias("_seq"))
    skipped = returns.filter(pl.col("key").is_in(list(imported)))
    returns = returns.filter(~pl.col("key").is_in(list(imported)))
    early = returns.filter(pl.col("reason").is_not_null())
    candidates = returns.filter(pl.col("reason").is_null()).sort("invoiced_at", "_seq", "row")
    purchases = (
        (file_purchases(frame) if purchases is None else purchases)
        .join(candidates.select("customer", "stock_code").unique(), on=["customer", "stock_code"])
        .with_columns(_sequence(pl.col("order")).alias("_seq"))
        .sort("bought_at", "_seq", "line")
    )
    # Per (customer, stock code): purchases oldest first, each [when, seq, line, order,
    # price, units left]. The walk below is per cancellation line, a few thousand of them.
    bought: dict[tuple[str, str], list[list[Any]]] = {}
    for customer, code, at, seq, line, order, price, room in purchases.select(
        "customer", "stock_code", "bought_at", "_seq", "line", "order", "unit_price_minor", "room"
    ).iter_rows():
        bought.setdefault((customer, code), []).append([at, seq, line, order, price, room])

    allocations: list[tuple[Any, ...]] = []
    leftovers: list[tuple[int, str, int]] = []
    for row, key, invoice, at, seq, customer, code, price, quantity in candidates.select(
        "row",
        "key",
        "invoice",
        "invoiced_at",
        "_seq",
        "customer",
        "stock_code",
        "unit_price_minor",
        "quantity",
    ).iter_rows():
        wanted = -quantity
        earlier = [p for p in bought.get((customer, code), []) if (p[0], p[1]) < (at, seq)]
        for purchase in reversed(earlier):
            if wanted == 0:
                break
            taken = min(wanted, purchase[5])
            if taken == 0:
                continue
            purchase[5] -= taken
            wanted -= taken
            allocations.append(
                (row, key, invoice, at, customer, code, price, purchase[2], purchase[3])
                + (purchase[4], taken)
            )
        if wanted:
            # Bought before, but every unit already given back: too many, not too early.
            reason = Unmatched.MORE_THAN_BOUGHT if earlier else Unmatched.NO_EARLIER_PURCHASE
            leftovers.append((row, reason.value, wanted))

    unmatched = pl.concat(
        [
            early.select("row", "reason", (-pl.col("quantity")).alias("units")),
            pl.DataFrame(
                leftovers,
                schema={"row": pl.Int64, "reason": pl.String, "units": pl.Int64},
                orient="row",
            ),
        ]
    )
    unmatched = (
        unmatched.join(frame, on="row")
        .select(
            "row",
            "invoice",
            "stock_code",
            "description",
            "units",
            "invoiced_at",
            "unit_price_minor",
            "customer",
            "country",
            "reason",
        )
        .sort("row")
    )
    return Matching(
        allocations=pl.DataFrame(allocations, schema=_ALLOCATION_SCHEMA, orient="row"),
        unmatched=unmatched,
        already_imported=skipped.height,
    )


def unmatched_summary(unmatched: pl.DataFrame) -> list[tuple[str, int, int, str]]:
    """Per reason (most lines first): its words, lines, units, and the first line as example."""
    summary = (
        unmatched.group_by("reason")
        .agg(
            pl.len().alias("lines"),
            pl.col("units").sum(),
            pl.format("row {}: {} × {} on {}", "row", "units", "stock_code", "invoice")
            .first()
            .alias("example"),
        )
        .sort(["lines", "reason"], descending=[True, False])
    )
    return [
        (UNMATCHED_TEXT[Unmatched(reason)], lines, units, example)
        for reason, lines, units, example in summary.iter_rows()
    ]


def unmatched_rows(unmatched: pl.DataFrame) -> pl.DataFrame:
    """The unmatched lines as a CSV reads best: the file's own values, and the reason."""
    return unmatched.select(
        "row",
        pl.col("invoice").alias("InvoiceNo"),
        pl.col("stock_code").alias("StockCode"),
        pl.col("description").alias("Description"),
        pl.col("units").alias("UnmatchedUnits"),
        pl.col("invoiced_at").dt.strftime("%Y-%m-%d %H:%M").alias("InvoiceDate"),
        pl.format(
            "{}.{}",
            pl.col("unit_price_minor") // 100,
            (pl.col("unit_price_minor") % 100).cast(pl.String).str.zfill(2),
        ).alias("UnitPrice"),
        pl.col("customer").alias("CustomerID"),
        pl.col("country").alias("Country"),
        "reason",
    )
