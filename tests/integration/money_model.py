"""A reference of when money is due and what an order may give back, for the stateful money test.

Written by hand from the issue and ARCHITECTURE.md, not derived from ``reclaim.refunds``: a
mistake there would otherwise agree with itself. It builds the merchant's policy from drawn
terms, the order every example plays with (card + gift card), and says which lines are due.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from reclaim.kit.clock import utcnow
from reclaim.returns.lifecycle import NOTE_TOPIC, TOPIC
from tests.integration.lifecycle_model import ENDED, ORDERED, LineModel, ReturnModel

CURRENCY = "USD"
SHIPPING, ORDER_DISCOUNT = 499, 300
# Line "1" and "3" have other variants to exchange for; "2" (a mug) is exchanged like for like.
LINES: dict[str, dict[str, Any]] = {
    "1": {"sku": "TEE-M", "unit": 2500, "tax": 600, "discount": 0, "group": "tee",
          "category": "apparel"},
    "2": {"sku": "MUG", "unit": 1200, "tax": 0, "discount": 0, "group": None,
          "category": "home"},
    "3": {"sku": "BOOT-40", "unit": 8000, "tax": 1600, "discount": 500, "group": "boot",
          "category": "footwear"},
}  # fmt: skip
# Variants to exchange for: one dearer (the shop charges the difference), one cheaper (refunded).
VARIANTS = {"1": ("TEE-L", "tee", 2700), "3": ("BOOT-41", "boot", 6000)}
TOTAL = (
    sum(ORDERED[ref] * line["unit"] - line["discount"] + line["tax"] for ref, line in LINES.items())
    - ORDER_DISCOUNT
    + SHIPPING
)
GIFT_CARD = 5000
# A line's paid share can't exceed what its units cost plus all of the shipping.
LINE_PAID = {
    ref: ORDERED[ref] * line["unit"] - line["discount"] + line["tax"] + SHIPPING
    for ref, line in LINES.items()
}
REASONS = ["too_small", "no_longer_needed", "defective", "damaged_in_transit"]
REVIEWED = "unauthorized_purchase"
RESOLUTIONS = ["refund", "store_credit", "exchange"]
TIMINGS = ["at_first_scan", "at_receipt", "after_inspection"]
SETTLING = {"approved", "in_transit", "received", "inspected"}
SCANNED = {"in_transit", "received", "inspected", "completed"}
LIVE_PARTS = {"pending", "requested", "succeeded"}


@dataclass(frozen=True)
class Terms:
    """What the merchant's policy says about money, drawn per example."""

    timing: str
    auto_approve: bool
    restocking_percent: int
    label_fee: str
    bonus_percent: int
    deductions: bool
    instant: bool
    returnless_home: bool
    expires_after_days: int | None
    tier: str

    @property
    def instant_for_shopper(self) -> bool:
        return self.instant or self.tier == "gold"

    def policy_text(self) -> str:
        days = f"expires_after_days = {self.expires_after_days}" if self.expires_after_days else ""
        deductions = "{ acceptable = 20, unsellable = 50 }" if self.deductions else "{}"
        return f"""
name = "Money test"
auto_approve = {str(self.auto_approve).lower()}
[review]
reasons = ["{REVIEWED}"]
[fees]
restocking_percent = {self.restocking_percent}
label_fee = "{self.label_fee}"
[store_credit]
bonus_percent = {self.bonus_percent}
bonus_cap = "6.00"
{days}
[returnless]
categories = {'["home"]' if self.returnless_home else "[]"}
[refund_timing]
default = "{self.timing}"
[refunds]
damage_deduction_percent = {deductions}
second_approval_above = "40.00"
[exchanges]
instant = {str(self.instant).lower()}
instant_tiers = ["gold"]
"""


TERMS = st.builds(
    Terms,
    timing=st.sampled_from(TIMINGS),
    auto_approve=st.booleans(),
    restocking_percent=st.sampled_from([0, 15]),
    label_fee=st.sampled_from(["0", "4.95"]),
    bonus_percent=st.sampled_from([0, 10]),
    deductions=st.booleans(),
    instant=st.booleans(),
    returnless_home=st.booleans(),
    expires_after_days=st.sampled_from([None, 2]),
    tier=st.sampled_from(["standard", "gold"]),
)


def order_payload(order_id: str, tier: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "order_id": order_id,
        "customer": {"id": f"cust-{order_id}", "email": f"{order_id.lower()}@example.com",
                     "tier": tier},
        "currency": CURRENCY,
        "placed_at": (now - timedelta(days=6)).isoformat(),
        "delivered_at": (now - timedelta(days=3)).isoformat(),
        "shipping_minor": SHIPPING,
        "discount_minor": ORDER_DISCOUNT,
        "lines": [
            {
                "line_id": ref,
                "sku": line["sku"],
                "quantity": ORDERED[ref],
                "unit_price_minor": line["unit"],
                "discount_minor": line["discount"],
                "tax_minor": line["tax"],
                "product": {"name": line["sku"], "category": line["category"],
                            "product_group": line["group"]},
            }
            for ref, line in LINES.items()
        ],
        "payments": [
            {"method": "gift_card", "captured_minor": GIFT_CARD, "reference": "gc-1"},
            {"method": "card", "captured_minor": TOTAL - GIFT_CARD, "reference": "ch-1",
             "last4": "4242"},
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Ask:
    """One line of a new return, as the shopper asks for it."""

    ref: str
    quantity: int
    reason: str
    resolution: str
    opened: bool
    variant: bool  # exchange for the other variant rather than the same item

    def line_in(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "line_id": self.ref,
            "quantity": self.quantity,
            "reason": self.reason,
            "resolution": self.resolution,
            "opened": self.opened,
        }
        if self.resolution == "exchange" and self.variant and self.ref in VARIANTS:
            line["exchange_sku"] = VARIANTS[self.ref][0]
        return line


def asks(free: dict[str, int]) -> st.SearchStrategy[list[Ask]]:
    """Lines of a new return: mostly within what is still free, one time in four anything
    up to one more than was bought (the service must refuse what other returns hold)."""

    def ask(ref: str, most: int) -> st.SearchStrategy[Ask]:
        return st.builds(
            Ask,
            st.just(ref),
            st.integers(1, most),
            st.sampled_from(REASONS + REASONS + [REVIEWED]),
            st.sampled_from(RESOLUTIONS),
            st.booleans(),
            st.booleans(),
        )

    def lines(anything: bool) -> st.SearchStrategy[list[Ask]]:
        refs = sorted(ref for ref in ORDERED if anything or free[ref])
        most = {ref: ORDERED[ref] + 1 if anything else free[ref] for ref in refs}
        picked = st.lists(st.sampled_from(refs), min_size=1, max_size=len(refs), unique=True)
        return picked.flatmap(
            lambda chosen: st.tuples(*(ask(r, most[r]) for r in sorted(chosen))).map(list)
        )

    full = not any(free.values())
    return st.sampled_from([False, False, False, True]).flatmap(
        lambda anything: lines(anything or full)
    )


@dataclass
class MoneyReturn:
    """A return as the money rules see it: the lifecycle model plus what decides its timing."""

    model: ReturnModel
    asks: dict[str, Ask]
    reviewed_by_policy: bool

    @property
    def risky(self) -> bool:
        return self.reviewed_by_policy or any(a == "send_to_review" for a, _ in self.model.events)


def expected_outcome(terms: Terms, wanted: list[Ask]) -> tuple[str, bool]:
    """The status a new return is left in, and whether the shopper keeps the items."""
    if any(ask.reason == REVIEWED for ask in wanted):
        return "review", False
    if not terms.auto_approve:
        return "requested", False
    kept = terms.returnless_home and all(LINES[a.ref]["category"] == "home" for a in wanted)
    return "approved", kept


def timing_of(terms: Terms, ret: MoneyReturn, ref: str) -> str:
    """When line ``ref`` is due: the shopper keeps it (now), the return was reviewed (after
    inspection), an instant exchange (now), or the policy's timing."""
    if ret.model.returnless:
        return "immediately"
    if ret.risky:
        return "after_inspection"
    if ret.asks[ref].resolution == "exchange" and terms.instant_for_shopper:
        return "immediately"
    return terms.timing


def units_due(timing: str, line: LineModel, *, scanned: bool, completing: bool = False) -> int:
    if timing == "immediately":
        return line.quantity
    if timing == "at_first_scan":
        return line.quantity if scanned or line.received else 0
    if timing == "at_receipt":
        whole = line.received == line.quantity
        return line.received if whole or (completing and line.received) else 0
    return line.received if line.grade or (completing and line.received) else 0


def due_lines(
    terms: Terms, ret: MoneyReturn, settled: set[str], *, completing: bool = False
) -> dict[str, int]:
    """Units due now per unsettled line; empty when the return isn't settling at all."""
    if ret.model.status not in SETTLING:
        return {}
    scanned = ret.model.status in SCANNED
    due = {}
    for ref, line in ret.model.lines.items():
        if ref in settled:
            continue
        units = units_due(timing_of(terms, ret, ref), line, scanned=scanned, completing=completing)
        if units:
            due[ref] = units
    return due


# --- the books, read back with plain SQL -----------------------------------------------------

_OURS = "JOIN returns r ON r.id = {0}.return_id WHERE r.order_id = :oid"
_LINE = (
    "JOIN return_lines rl ON rl.id = {0}.return_line_id JOIN returns r ON r.id = rl.return_id"
    " WHERE r.order_id = :oid"
)
TABLES = (
    "orders", "returns", "return_lines", "return_events", "outbox", "refunds", "refund_parts",
    "exchanges", "credit_accounts", "credit_transactions", "credit_postings",
    "inventory_movements", "dispositions", "inspections", "receiving_flags", "receipts",
    "shipments", "refurb_work_orders", "manifest_items",
)  # fmt: skip
# Whole rows: a refused step must leave each one as it was. Outbox rows are the example's own
# (one example at a time writes to the database); credit accounts all of them, since the
# merchant's counter-accounts are shared by every customer.
QUERIES = {
    "order": "SELECT * FROM orders WHERE id = :oid",
    "order_lines": "SELECT * FROM order_lines WHERE order_id = :oid ORDER BY line_ref",
    "payments": "SELECT * FROM order_payments WHERE order_id = :oid ORDER BY position",
    "returns": "SELECT * FROM returns WHERE order_id = :oid ORDER BY id",
    "lines": "SELECT r.number, ol.line_ref, rl.* FROM return_lines rl"
    " JOIN returns r ON r.id = rl.return_id JOIN order_lines ol ON ol.id = rl.order_line_id"
    " WHERE r.order_id = :oid ORDER BY rl.id",
    "events": f"SELECT r.number, e.* FROM return_events e {_OURS.format('e')} ORDER BY e.id",
    "outbox": "SELECT id, topic, aggregate FROM outbox WHERE id > :start ORDER BY id",
    "refunds": "SELECT * FROM refunds WHERE order_id = :oid ORDER BY id",
    "parts": "SELECT f.number, op.position, p.* FROM refund_parts p"
    " JOIN refunds f ON f.id = p.refund_id JOIN order_payments op ON op.id = p.payment_id"
    " WHERE f.order_id = :oid ORDER BY p.id",
    "exchanges": "SELECT * FROM exchanges WHERE order_id = :oid ORDER BY id",
    "credit": "SELECT * FROM credit_transactions WHERE customer_id = :cid ORDER BY id",
    "postings": "SELECT p.* FROM credit_postings p"
    " JOIN credit_transactions t ON t.id = p.transaction_id WHERE t.customer_id = :cid"
    " ORDER BY p.id",
    "accounts": "SELECT a.*, (SELECT coalesce(sum(p.amount_minor), 0) FROM credit_postings p"
    " WHERE p.account_id = a.id) AS posted FROM credit_accounts a ORDER BY a.id",
    "movements": f"SELECT m.* FROM inventory_movements m {_LINE.format('m')} ORDER BY m.id",
    "dispositions": f"SELECT d.* FROM dispositions d {_LINE.format('d')} ORDER BY d.id",
    "inspections": f"SELECT i.* FROM inspections i {_LINE.format('i')} ORDER BY i.id",
    "flags": f"SELECT f.* FROM receiving_flags f {_OURS.format('f')} ORDER BY f.id",
    "receipts": f"SELECT c.* FROM receipts c {_OURS.format('c')} ORDER BY c.id",
    "shipments": f"SELECT s.* FROM shipments s {_OURS.format('s')} ORDER BY s.id",
    # And whole tables: nor may a step write to any other order's rows.
    "totals": "SELECT "
    + ", ".join(f"(SELECT count(*) FROM {table}) AS {table}" for table in TABLES),
}
Snapshot = dict[str, list[dict[str, Any]]]
LIFECYCLE = {str(action) for action in TOPIC}
RETURN_TOPICS = {str(action): topic for action, topic in {**TOPIC, **NOTE_TOPIC}.items()}
LOTS = {"issue", "bonus", "goodwill"}
INTO_STOCK = {"restock", "open_box"}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _messages(db: Snapshot) -> list[tuple[str, str]]:
    return [(m["topic"], m["aggregate"]) for m in db["outbox"]]


@dataclass
class Books:
    """What the checks need besides the snapshot: the terms, the returns' models, the spends."""

    terms: Terms
    returns: dict[str, MoneyReturn]
    customer_id: int
    spends: int

    def check(self, db: Snapshot) -> None:
        for check in (
            order_never_gives_back_more_than_was_paid,
            refunds_agree_with_their_parts_and_messages,
            credit_ledger_balances,
            every_unit_is_settled_once_for_what_it_was_worth,
            each_return_got_what_its_settled_lines_are_worth,
            nothing_due_waits_unless_a_person_must_look,
            restocked_units_are_the_units_routed_to_stock,
            every_return_event_has_its_one_outbox_row,
        ):
            check(db, self)


def order_never_gives_back_more_than_was_paid(db: Snapshot, books: Books) -> None:
    """Refunds + credit principal + exchange value held = the order's given back <= paid;
    each payment's refunds = its live parts <= its capture."""
    order = db["order"][0]
    live = [p for p in db["parts"] if p["status"] in LIVE_PARTS]
    ours = {r["id"] for r in db["returns"]}
    assert all(t["return_id"] in ours for t in db["credit"] if t["return_id"])
    principal = sum(t["amount_minor"] for t in db["credit"] if t["kind"] == "issue")
    held = sum(
        min(e["value_minor"], e["price_minor"])
        for e in db["exchanges"]
        if e["status"] != "cancelled"
    )
    refunded = sum(p["amount_minor"] for p in live)
    assert order["paid_minor"] == TOTAL == sum(p["captured_minor"] for p in db["payments"])
    assert order["given_back_minor"] == refunded + principal + held, (
        f"given back {order['given_back_minor']}, but refunds {refunded} + credit {principal} "
        f"+ exchanges {held}"
    )
    assert 0 <= order["given_back_minor"] <= order["paid_minor"]
    for payment in db["payments"]:
        parts = sum(p["amount_minor"] for p in live if p["payment_id"] == payment["id"])
        assert payment["refunded_minor"] == parts <= payment["captured_minor"], payment


PARTS_OF = {
    "pending_approval": lambda states: states == {"pending"},
    "requested": lambda states: states == {"requested"},
    "succeeded": lambda states: states == {"succeeded"},
    "failed": lambda states: "failed" in states and states <= {"failed", "succeeded"},
    "declined": lambda states: states == {"declined"},
}


def refunds_agree_with_their_parts_and_messages(db: Snapshot, books: Books) -> None:
    """A refund is its parts; each move it made wrote its one message; a retry pays what
    failed; the shopper hears of each refund that paid anything back on a return."""
    messages = _messages(db)
    by_id = {f["id"]: f for f in db["refunds"]}
    for refund in db["refunds"]:
        number, status = refund["number"], refund["status"]
        parts = [p for p in db["parts"] if p["number"] == number]
        assert parts and refund["amount_minor"] == sum(p["amount_minor"] for p in parts)
        states = {p["status"] for p in parts}
        assert PARTS_OF[status](states), f"{number} is {status} with parts {states}"
        asked = status in ("requested", "succeeded", "failed")
        assert messages.count(("refund.requested", number)) == int(asked), number
        assert messages.count(("refund.succeeded", number)) == int(status == "succeeded")
        assert messages.count(("refund.failed", number)) == int(status == "failed")
        if refund["retry_of"] is not None:
            first = by_id[refund["retry_of"]]
            failed = [p for p in db["parts"] if p["number"] == first["number"]]
            assert first["status"] == "failed"
            assert refund["amount_minor"] == sum(
                p["amount_minor"] for p in failed if p["status"] == "failed"
            )
    for ret in db["returns"]:
        paid = {p["number"] for p in db["parts"] if p["status"] == "succeeded"}
        ours = [f for f in db["refunds"] if f["return_id"] == ret["id"] and f["number"] in paid]
        assert messages.count(("refund.issued", ret["number"])) == len(ours), ret["number"]


def credit_ledger_balances(db: Snapshot, books: Books) -> None:
    """Double entry: two postings per transaction summing to zero, every balance its postings,
    the customer's never negative and equal to what is left of the lots; one spend per
    checkout reference; one ``credit.issued`` per credit issued for a return."""
    for txn in db["credit"]:
        postings = [p["amount_minor"] for p in db["postings"] if p["transaction_id"] == txn["id"]]
        assert len(postings) == 2 and sum(postings) == 0, txn
        assert txn["amount_minor"] in postings, txn
        if txn["kind"] in LOTS:
            assert 0 <= txn["remaining_minor"] <= txn["amount_minor"], txn
    for account in db["accounts"]:
        assert account["balance_minor"] == account["posted"], account
        if account["customer_id"] is not None:
            assert account["balance_minor"] >= 0, account
    ours = [a for a in db["accounts"] if a["customer_id"] == books.customer_id]
    lots = sum(t["remaining_minor"] for t in db["credit"] if t["kind"] in LOTS)
    assert sum(a["balance_minor"] for a in ours) == lots
    spends = [t["reference"] for t in db["credit"] if t["kind"] == "spend"]
    assert len(spends) == len(set(spends)) == books.spends
    messages = _messages(db)
    for ret in db["returns"]:
        issued = [t for t in db["credit"] if t["kind"] == "issue" and t["return_id"] == ret["id"]]
        assert messages.count(("credit.issued", ret["number"])) == len(issued)


def every_unit_is_settled_once_for_what_it_was_worth(db: Snapshot, books: Books) -> None:
    """No unit of the order is settled twice, across all its returns; units not back yet
    only when the timing pays ahead; never more than the quote, and exactly the quote for
    a whole line nothing was kept back from."""
    rows = {r["number"]: r for r in db["returns"]}
    units = dict.fromkeys(ORDERED, 0)
    worth = dict.fromkeys(ORDERED, 0)
    for line in db["lines"]:
        ref, number = line["line_ref"], line["number"]
        settled = line["settled_at"] is not None
        assert settled == (line["settled_quantity"] > 0), line
        assert line["settled_quantity"] <= line["quantity"], line
        units[ref] += line["settled_quantity"]
        worth[ref] += line["settled_minor"]
        if not settled:
            continue
        if line["settled_quantity"] > line["received_quantity"]:
            timing = timing_of(books.terms, books.returns[number], ref)
            assert timing in ("immediately", "at_first_scan"), (
                f"{number} line {ref}: {line['settled_quantity']} settled, "
                f"{line['received_quantity']} received, under {timing}"
            )
        decision = _json(rows[number]["decision"])
        quoted = next(q for q in decision["quote"]["lines"] if q["line_id"] == ref)
        # Staff may let the shopper keep what the policy priced a trip back for, or the
        # other way round: then only what was paid bounds it, not the fees quoted.
        as_priced = decision["returnless"] == (rows[number]["method"] == "keep_item")
        net = quoted["paid_minor"] - (quoted["fees_minor"] if as_priced else 0)
        share = net * line["settled_quantity"] // line["quantity"]
        assert 0 <= line["settled_minor"] <= share, (number, ref, line["settled_minor"], quoted)
        kept_back = books.terms.deductions and line["grade"] in ("acceptable", "unsellable")
        if line["settled_quantity"] == line["quantity"] and as_priced and not kept_back:
            assert line["settled_minor"] == net, (
                f"{number} line {ref} settled {line['settled_minor']}; the shopper was quoted {net}"
            )
    for ref in ORDERED:
        assert units[ref] <= ORDERED[ref], f"order line {ref}: {units[ref]} units settled"
        assert worth[ref] <= LINE_PAID[ref], f"order line {ref}: {worth[ref]} given back"


def each_return_got_what_its_settled_lines_are_worth(db: Snapshot, books: Books) -> None:
    """Return refunds, credit and exchange value add up to the settled lines of each
    resolution; an exchange's positive difference is its refund; every exchange move wrote
    its message."""
    messages = _messages(db)
    refunds = {f["id"]: f for f in db["refunds"]}
    for ret in db["returns"]:
        lines = [line for line in db["lines"] if line["number"] == ret["number"]]
        worth = {
            kind: sum(line["settled_minor"] for line in lines if line["resolution"] in kinds)
            for kind, kinds in (
                ("refund", ("refund", "keep_item")),
                ("credit", ("store_credit",)),
                ("exchange", ("exchange",)),
            )
        }
        ours = [f for f in db["refunds"] if f["return_id"] == ret["id"] and f["kind"] == "return"]
        credited = [t for t in db["credit"] if t["return_id"] == ret["id"] and t["kind"] == "issue"]
        swapped = [e for e in db["exchanges"] if e["return_id"] == ret["id"]]
        assert sum(f["amount_minor"] for f in ours) == worth["refund"], ret["number"]
        assert sum(t["amount_minor"] for t in credited) == worth["credit"], ret["number"]
        # A cancelled exchange takes back its lines' settlement along with its value.
        standing = [e for e in swapped if e["status"] != "cancelled"]
        assert sum(e["value_minor"] for e in standing) == worth["exchange"], ret["number"]
        for exchange in swapped:
            number, status = exchange["number"], exchange["status"]
            difference = exchange["value_minor"] - exchange["price_minor"]
            assert exchange["difference_minor"] == difference, exchange
            refund = refunds.get(exchange["refund_id"])
            received = {
                line["line_ref"]: line["received_quantity"]
                for line in db["lines"]
                if line["number"] == ret["number"]
            }
            arrived = all(
                received.get(str(item["line_id"]), 0) >= item["quantity"]
                for item in _json(exchange["items"])
            )
            if refund is not None:
                # A difference is paid once the returned units are here, never before.
                assert difference > 0 and arrived, exchange
                assert refund["kind"] == "exchange_difference", exchange
                assert refund["amount_minor"] == difference, exchange
            elif difference > 0 and arrived and ret["status"] == "completed":
                raise AssertionError(f"{number}: the difference was never refunded")
            assert messages.count(("exchange.created", number)) == 1
            assert messages.count(("exchange.cancelled", number)) == int(status == "cancelled")
        shipped = sum(e["status"] == "shipped" for e in swapped)
        assert messages.count(("exchange.shipped", ret["number"])) == shipped


def held(db: Snapshot, number: str) -> bool:
    """A person must look first: the return's attention is set, or a receiving flag is open."""
    row = next(r for r in db["returns"] if r["number"] == number)
    flags = [f for f in db["flags"] if f["return_id"] == row["id"] and f["resolved_at"] is None]
    return row["attention"] is not None or bool(flags)


def settled_refs(db: Snapshot, number: str) -> set[str]:
    return {
        line["line_ref"]
        for line in db["lines"]
        if line["number"] == number and line["settled_at"] is not None
    }


def nothing_due_waits_unless_a_person_must_look(db: Snapshot, books: Books) -> None:
    """Every step that makes money due pays it; a completed return settled what arrived
    (all of it, if kept)."""
    for row in db["returns"]:
        number = row["number"]
        if row["status"] == "completed":
            unsettled = [
                line["line_ref"]
                for line in db["lines"]
                if line["number"] == number
                and line["settled_at"] is None
                and (line["received_quantity"] or row["method"] == "keep_item")
            ]
            assert not unsettled, f"{number} completed with lines {unsettled} unsettled"
        if not held(db, number):
            due = due_lines(books.terms, books.returns[number], settled_refs(db, number))
            assert not due, f"{number} ({row['status']}) owes {due} and isn't held"


def restocked_units_are_the_units_routed_to_stock(db: Snapshot, books: Books) -> None:
    for line in db["lines"]:
        into = sum(
            m["quantity"]
            for m in db["movements"]
            if m["return_line_id"] == line["id"] and m["kind"] in INTO_STOCK
        )
        routed = line["received_quantity"] if line["disposition"] in INTO_STOCK else 0
        assert into == routed, f"{line['number']} line {line['line_ref']}: {into} into stock"


def every_return_event_has_its_one_outbox_row(db: Snapshot, books: Books) -> None:
    """One message per event, in order; the lifecycle's moves are the model's; the return
    is where its last event left it."""
    topics = set(RETURN_TOPICS.values())
    for row in db["returns"]:
        number, model = row["number"], books.returns[row["number"]].model
        events = [e for e in db["events"] if e["number"] == number]
        written = [m["topic"] for m in db["outbox"] if m["aggregate"] == number]
        expected = [RETURN_TOPICS[e["action"]] for e in events]
        assert [topic for topic in written if topic in topics] == expected, number
        moves = [(e["action"], e["to_status"]) for e in events if e["action"] in LIFECYCLE]
        assert moves == model.events, (number, moves, model.events)
        assert events[-1]["to_status"] == row["status"] == model.status, number
    for order_line in db["order_lines"]:
        ref = order_line["line_ref"]
        holding = sum(
            max(ret.model.holds(ref), paid_for(db, ret.model, ref))
            for ret in books.returns.values()
        )
        assert order_line["returned_quantity"] == holding, f"order line {ref}"


def paid_for(db: Snapshot, model: ReturnModel, ref: str) -> int:
    """Units of a line that money went out for before its return ended or came short: they
    stay taken on the order. An exchange counts once shipped or its difference refunded."""
    if model.status not in ENDED:
        return 0
    line = next(
        (x for x in db["lines"] if x["number"] == model.number and x["line_ref"] == ref), None
    )
    if line is None or line["settled_at"] is None:
        return 0
    # A completed return's exchange still goes out; one called off stands only if it shipped
    # or its difference was refunded.
    if line["resolution"] == "exchange" and model.status != "completed":
        standing = [
            e
            for e in db["exchanges"]
            if e["return_id"] == line["return_id"]
            and (e["status"] == "shipped" or e["refund_id"] is not None)
            and any(str(item["line_id"]) == ref for item in _json(e["items"]))
        ]
        if not standing:
            return 0
    return int(line["settled_quantity"])
