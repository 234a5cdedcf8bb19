"""Money is given back when the policy's refund timing says, once, for what the shopper was shown.

Returns are built through the real services under policies written for each test; the
database is read back with plain SQL so the assertions don't trust the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import InvalidTransition, NotDue
from reclaim.kit.clock import utcnow
from reclaim.logistics.tracking import Scan
from reclaim.logistics.tracking_service import record_scans
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import LoadedPolicy, parse
from reclaim.refunds import service as refunds
from reclaim.refunds import settlement
from reclaim.refunds.schemas import ManualRefundIn
from reclaim.returns import service as returns
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn, ReturnIn
from reclaim.warehouse import receiving
from reclaim.warehouse.schemas import ParcelIn
from tests.factories import actor, order_payload
from tests.integration.helpers import rows, scalar, table_counts

Sessions = async_sessionmaker[AsyncSession]

# Order 1001: line "1" two tees at 25.00, line "2" a mug at 12.00, 4.99 shipping: 66.99 paid.
PAID = 2 * 2500 + 1200 + 499
MONEY_TABLES = (
    "refunds",
    "refund_parts",
    "credit_transactions",
    "credit_postings",
    "exchanges",
    "return_events",
    "outbox",
)


def policy_with(timing: str = "after_inspection", extra: str = "") -> LoadedPolicy:
    """Approves what is eligible, reviews nothing unless ``extra`` says so."""
    text = f'[refund_timing]\ndefault = "{timing}"\n{extra}'
    if "[review]" not in extra:
        text += "\n[review]\nreasons = []\n"
    return parse(f'name = "Settlement test"\n{text}', "settlement test policy")


async def seed_order(sessions: Sessions, *, tier: str = "standard", **kwargs: Any) -> None:
    payload = order_payload(**kwargs)
    payload["customer"]["tier"] = tier
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(payload))


async def start_return(
    sessions: Sessions,
    policy: LoadedPolicy,
    lines: list[dict[str, Any]],
    *,
    method: str = "prepaid_label",
) -> str:
    data = ReturnIn.model_validate({"order_id": "1001", "method": method, "lines": lines})
    async with transaction(sessions) as session:
        ret = await returns.create_return(session, data, actor("shopper"), policy=policy)
        return ret.number


def line(ref: str, quantity: int, reason: str = "no_longer_needed", **more: Any) -> dict:
    return {"line_id": ref, "quantity": quantity, "reason": reason, **more}


async def receive(sessions: Sessions, number: str, *counts: tuple[str, int]) -> None:
    data = ReceiveIn.model_validate({"lines": [{"line_id": r, "quantity": q} for r, q in counts]})
    async with transaction(sessions) as session:
        await returns.receive(session, number, data, actor("dock"))


async def grade(sessions: Sessions, number: str, **grades: str) -> None:
    data = InspectIn.model_validate(
        {"lines": [{"line_id": ref, "grade": given} for ref, given in grades.items()]}
    )
    async with transaction(sessions) as session:
        await returns.inspect(session, number, data, actor("inspector"))


async def route(sessions: Sessions, number: str, *refs: str) -> None:
    data = DispositionIn.model_validate(
        {"lines": [{"line_id": ref, "disposition": "restock"} for ref in refs]}
    )
    async with transaction(sessions) as session:
        await returns.disposition(session, number, data, actor("inspector"))


async def complete(sessions: Sessions, number: str) -> None:
    async with transaction(sessions) as session:
        await returns.complete(session, number, actor("inspector"))


async def decision_quote(sessions: Sessions, number: str) -> dict[str, Any]:
    async with transaction(sessions) as session:
        ret = await returns.get_return(session, number)
        assert ret.decision is not None
        quote: dict[str, Any] = ret.decision["quote"]
        return quote


async def refunds_of(sessions: Sessions, number: str) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT f.kind, f.status, f.amount_minor FROM refunds f JOIN returns r"
        " ON r.id = f.return_id WHERE r.number = :n ORDER BY f.id",
        n=number,
    )


async def settled_lines(sessions: Sessions, number: str) -> dict[str, tuple[int, int]]:
    found = await rows(
        sessions,
        "SELECT ol.line_ref, rl.settled_quantity, rl.settled_minor FROM return_lines rl"
        " JOIN order_lines ol ON ol.id = rl.order_line_id JOIN returns r ON r.id = rl.return_id"
        " WHERE r.number = :n AND rl.settled_at IS NOT NULL ORDER BY ol.line_ref",
        n=number,
    )
    return {ref: (units, value) for ref, units, value in found}


async def given_back(sessions: Sessions) -> int:
    return int(await scalar(sessions, "SELECT given_back_minor FROM orders"))


def quoted_line(quote: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(item for item in quote["lines"] if item["line_id"] == ref)


async def test_at_first_scan_pays_when_the_carrier_first_scans(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_first_scan"), [line("1", 2)])
    assert await refunds_of(sessions, number) == []

    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, number, actor("carrier:local"))

    quote = await decision_quote(sessions, number)
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]
    assert await settled_lines(sessions, number) == {"1": (2, quote["refund_minor"])}
    assert await given_back(sessions) == quote["refund_minor"]
    # Receiving the parcel later pays nothing more.
    await receive(sessions, number, ("1", 2))
    assert len(await refunds_of(sessions, number)) == 1


async def test_at_first_scan_pays_when_the_tracking_feed_reports_the_first_scan(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_first_scan"), [line("2", 1)])
    tracking = await scalar(sessions, "SELECT tracking_number FROM shipments")

    async with transaction(sessions) as session:
        await record_scans(session, [Scan(tracking, "picked_up", utcnow())], "api", utcnow())

    quote = await decision_quote(sessions, number)
    assert await scalar(sessions, "SELECT status FROM returns") == "in_transit"
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]
    settled = await rows(sessions, "SELECT actor FROM return_events WHERE action = 'settled'")
    assert settled == [("carrier:local",)]


async def test_at_receipt_pays_only_the_lines_fully_received(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("1", 2), line("2", 1)])
    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, number, actor("carrier:local"))
    assert await refunds_of(sessions, number) == []

    await receive(sessions, number, ("1", 1), ("2", 1))

    quote = await decision_quote(sessions, number)
    mug = quoted_line(quote, "2")["amount_minor"]
    assert await settled_lines(sessions, number) == {"2": (1, mug)}
    assert await refunds_of(sessions, number) == [("return", "requested", mug)]

    await receive(sessions, number, ("1", 1))

    tees = quoted_line(quote, "1")["amount_minor"]
    assert await settled_lines(sessions, number) == {"1": (2, tees), "2": (1, mug)}
    assert [amount for *_, amount in await refunds_of(sessions, number)] == [mug, tees]
    assert await given_back(sessions) == mug + tees == quote["refund_minor"]


async def test_a_partial_parcel_under_at_receipt_pays_at_completion_for_what_came(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("1", 2)])
    await receive(sessions, number, ("1", 1))
    await grade(sessions, number, **{"1": "good"})
    await route(sessions, number, "1")
    assert await refunds_of(sessions, number) == []

    await complete(sessions, number)

    quote = await decision_quote(sessions, number)
    half = quoted_line(quote, "1")["paid_minor"] // 2
    assert await refunds_of(sessions, number) == [("return", "requested", half)]
    assert await settled_lines(sessions, number) == {"1": (1, half)}
    assert await scalar(sessions, "SELECT status FROM returns") == "completed"


DAMAGE = """
[refunds]
damage_deduction_percent = { acceptable = 20, unsellable = 50 }
"""


async def test_after_inspection_pays_after_grading_less_damage_the_shopper_caused(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(
        sessions,
        policy_with("after_inspection", DAMAGE),
        [line("1", 2, "too_small"), line("2", 1, "defective")],
    )
    await receive(sessions, number, ("1", 2), ("2", 1))
    assert await refunds_of(sessions, number) == []

    await grade(sessions, number, **{"1": "acceptable"})

    quote = await decision_quote(sessions, number)
    # 20% of the tees' goods (50.00) stay with the shop: the shopper's own reason, graded so.
    tees = quoted_line(quote, "1")["amount_minor"] - 1000
    assert await settled_lines(sessions, number) == {"1": (2, tees)}
    async with transaction(sessions) as session:
        (refund,) = await refunds.refunds_of_return(
            session, await scalar(sessions, "SELECT id FROM returns")
        )
        said = [note["text"] for note in refund.breakdown["lines"][0]["explanations"]]
    assert refund.amount_minor == tees
    assert any("kept back" in text and "acceptable" in text for text in said), said

    # A faulty mug graded unsellable is the shop's fault: nothing comes off.
    await grade(sessions, number, **{"2": "unsellable"})
    mug = quoted_line(quote, "2")["amount_minor"]
    assert await settled_lines(sessions, number) == {"1": (2, tees), "2": (1, mug)}
    assert [amount for *_, amount in await refunds_of(sessions, number)] == [tees, mug]


async def test_a_kept_item_is_refunded_at_approval(sessions: Sessions) -> None:
    await seed_order(sessions)
    policy = policy_with("at_receipt", '[returnless]\ncategories = ["home"]\n')
    number = await start_return(sessions, policy, [line("2", 1)])

    quote = await decision_quote(sessions, number)
    assert await scalar(sessions, "SELECT method FROM returns") == "keep_item"
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]
    # Completing it settles nothing twice.
    await complete(sessions, number)
    assert len(await refunds_of(sessions, number)) == 1


async def test_a_reviewed_return_is_never_paid_before_inspection_even_for_a_gold_shopper(
    sessions: Sessions,
) -> None:
    await seed_order(sessions, tier="gold")
    policy = policy_with(
        "at_receipt",
        '[refund_timing.tiers]\ngold = "at_first_scan"\n[review]\nreasons = ["no_longer_needed"]\n',
    )
    number = await start_return(sessions, policy, [line("1", 2)])
    assert await scalar(sessions, "SELECT status FROM returns") == "review"
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor("agent"))
        await returns.mark_in_transit(session, number, actor("carrier:local"))
    await receive(sessions, number, ("1", 2))
    assert await refunds_of(sessions, number) == []
    with pytest.raises(NotDue, match="inspected"):
        async with transaction(sessions) as session:
            await settlement.settle_now(session, number, actor("agent"))

    await grade(sessions, number, **{"1": "good"})

    quote = await decision_quote(sessions, number)
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]


def parcel(**fields: Any) -> ParcelIn:
    return ParcelIn.model_validate({"last_parcel": False, **fields})


async def test_a_flagged_return_holds_its_money_until_a_person_resolves_it(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("2", 1)])
    async with transaction(sessions) as session:
        done = await receiving.receive_parcel(
            session,
            number,
            actor("dock"),
            parcel(
                counts=[{"line_id": "2", "quantity": 1}],
                unexpected=[{"found": "a phone charger", "quantity": 1}],
            ),
        )
        flag_id = done.flags[0].id
    assert await refunds_of(sessions, number) == []
    before = await table_counts(sessions, *MONEY_TABLES)
    with pytest.raises(NotDue, match="waits for a person: Receiving: unexpected item"):
        async with transaction(sessions) as session:
            await settlement.settle_now(session, number, actor("agent"))
    assert await table_counts(sessions, *MONEY_TABLES) == before

    async with transaction(sessions) as session:
        await receiving.resolve_flag(session, flag_id, actor("agent"), "Sent the charger back.")

    quote = await decision_quote(sessions, number)
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]


async def test_completion_is_refused_while_a_received_line_is_held(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("after_inspection"), [line("2", 1)])
    async with transaction(sessions) as session:
        done = await receiving.receive_parcel(
            session,
            number,
            actor("dock"),
            parcel(
                counts=[{"line_id": "2", "quantity": 1}],
                unexpected=[{"found": "a spoon", "quantity": 1}],
            ),
        )
        flag_id = done.flags[0].id
    await grade(sessions, number, **{"2": "good"})
    await route(sessions, number, "2")
    before = await table_counts(sessions, *MONEY_TABLES)

    with pytest.raises(InvalidTransition, match="can't be completed.*waits for a person"):
        await complete(sessions, number)

    assert await table_counts(sessions, *MONEY_TABLES) == before
    assert await scalar(sessions, "SELECT status FROM returns") == "inspected"
    async with transaction(sessions) as session:
        await receiving.resolve_flag(session, flag_id, actor("agent"), "Kept the spoon aside.")
    await complete(sessions, number)
    assert len(await refunds_of(sessions, number)) == 1


async def test_asking_to_settle_an_unreceived_line_under_at_receipt_writes_nothing(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("1", 2), line("2", 1)])
    await receive(sessions, number, ("2", 1))
    before = await table_counts(sessions, *MONEY_TABLES)
    given = await given_back(sessions)

    with pytest.raises(NotDue, match=r"Line '1' is refunded once it is received \(at receipt\)"):
        async with transaction(sessions) as session:
            await settlement.settle_now(session, number, actor("agent"), ["1"])

    assert await table_counts(sessions, *MONEY_TABLES) == before
    assert await given_back(sessions) == given
    assert list(await settled_lines(sessions, number)) == ["2"]


async def test_a_settled_return_is_never_settled_twice(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("2", 1)])
    await receive(sessions, number, ("2", 1))
    before = await table_counts(sessions, *MONEY_TABLES)

    async with transaction(sessions) as session:
        ret = await returns.load_for_change(session, number)
        assert await settlement.settle_due(session, ret, actor("agent")) == settlement.NOTHING
    with pytest.raises(NotDue, match="already settled"):
        async with transaction(sessions) as session:
            await settlement.settle_now(session, number, actor("agent"))
    with pytest.raises(NotDue, match="already been refunded"):
        async with transaction(sessions) as session:
            await settlement.settle_now(session, number, actor("agent"), ["2"])

    assert await table_counts(sessions, *MONEY_TABLES) == before


async def test_settling_a_whole_return_gives_exactly_the_quote_its_decision_recorded(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    policy = policy_with(
        "at_receipt",
        "[fees]\nrestocking_percent = 10\nlabel_fee = 4.95\n"
        "[store_credit]\nbonus_percent = 10\nexpires_after_days = 365\n",
    )
    number = await start_return(
        sessions,
        policy,
        [line("1", 2, opened=True), line("2", 1, resolution="store_credit")],
    )
    await receive(sessions, number, ("1", 2), ("2", 1))

    quote = await decision_quote(sessions, number)
    assert quote["fees"] and quote["bonus_minor"] > 0
    assert await refunds_of(sessions, number) == [("return", "requested", quote["refund_minor"])]
    credited = await rows(
        sessions, "SELECT kind, amount_minor FROM credit_transactions ORDER BY id"
    )
    bonus = quote["bonus_minor"]
    assert credited == [("issue", quote["store_credit_minor"] - bonus), ("bonus", bonus)]
    # Refunds and credit principal count against what was paid; the bonus is the shop's gift.
    assert await given_back(sessions) == quote["refund_minor"] + quote["store_credit_minor"] - bonus
    events = await rows(
        sessions,
        "SELECT e.action FROM return_events e WHERE e.action = 'settled'",
    )
    assert len(events) == 1
    topics = await rows(
        sessions, "SELECT topic FROM outbox WHERE topic IN ('return.settled', 'credit.issued')"
    )
    assert sorted(topic for (topic,) in topics) == ["credit.issued", "return.settled"]


async def test_a_warehouse_step_is_not_refused_when_the_order_has_too_little_left(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    number = await start_return(sessions, policy_with("at_receipt"), [line("1", 2)])
    async with transaction(sessions) as session:
        await refunds.manual_refund(
            session,
            "1001",
            ManualRefundIn.model_validate(
                {"amount_minor": PAID - 100, "currency": "USD", "kind": "goodwill", "reason": "x"}
            ),
            actor("agent"),
            parse('name = "Generous"\n[refunds]\nsecond_approval_above = 1000\n', "generous"),
        )

    await receive(sessions, number, ("1", 2))

    assert await refunds_of(sessions, number) == []
    assert await scalar(sessions, "SELECT received_quantity FROM return_lines") == 2
    assert "left to give back" in await scalar(sessions, "SELECT attention FROM returns")
    # Looked at, but still short: the return stays with a person, and nothing is paid.
    async with transaction(sessions) as session:
        await returns.resolve_attention(session, number, actor("agent"), "Looked at it.")
    assert "left to give back" in await scalar(sessions, "SELECT attention FROM returns")
    assert await refunds_of(sessions, number) == []
    assert await given_back(sessions) == PAID - 100


async def test_a_paid_return_cannot_be_cancelled_and_a_rejected_one_keeps_its_paid_units(
    sessions: Sessions,
) -> None:
    await seed_order(sessions)
    kept = await start_return(
        sessions, policy_with("at_receipt", '[returnless]\ncategories = ["home"]\n'), [line("2", 1)]
    )
    scanned = await start_return(sessions, policy_with("at_first_scan"), [line("1", 2)])
    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, scanned, actor("carrier:local"))
    # The rejection is on the timeline and in the outbox; no money moves back or out.
    money_tables = [table for table in MONEY_TABLES if table not in ("return_events", "outbox")]
    before = await table_counts(sessions, *money_tables)
    held = await rows(
        sessions, "SELECT line_ref, returned_quantity FROM order_lines ORDER BY line_ref"
    )

    with pytest.raises(InvalidTransition, match="already refunded or credited"):
        async with transaction(sessions) as session:
            await returns.cancel(session, kept, actor("shopper"), "Changed my mind")
    # Paid at the first scan, then the box came back empty: an agent may still reject it.
    async with transaction(sessions) as session:
        await returns.reject(session, scanned, actor("agent"), "The box came back empty")

    # Their units stay held: nobody can return, and be refunded for, them a second time.
    assert (
        await rows(
            sessions, "SELECT line_ref, returned_quantity FROM order_lines ORDER BY line_ref"
        )
        == held
    )
    assert await table_counts(sessions, *money_tables) == before
