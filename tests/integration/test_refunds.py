"""Refunds on a real database: counted against the order and each payment, approved by a second
agent above the threshold, confirmed or failed by the shop, and retried once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import (
    AmountExceeded,
    Conflict,
    CurrencyMismatch,
    NotFound,
    ValidationFailed,
)
from reclaim.notifications.models import OutboxMessage
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import parse
from reclaim.refunds import service
from reclaim.refunds.models import Refund
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from tests.factories import MANUAL_POLICY_TEXT, actor, order_payload, seed_return
from tests.integration.helpers import rows, scalar

Sessions = async_sessionmaker[AsyncSession]
# Manual and goodwill refunds above 50.00 wait for a second agent.
POLICY = parse(MANUAL_POLICY_TEXT + "\n[refunds]\nsecond_approval_above = 50\n", "refund tests")
# 2 × 25.00 + 12.00 + 4.99 shipping = 66.99, paid 46.99 by card and 20.00 by gift card.
CARD, GIFT_CARD = 4699, 2000
PAID = CARD + GIFT_CARD
PAYMENTS = [
    {"method": "card", "captured_minor": CARD, "reference": "ch_1", "last4": "4242"},
    {"method": "gift_card", "captured_minor": GIFT_CARD, "reference": "gc_1"},
]
AGENT, OTHER_AGENT = "staff:ann@shop.test", "staff:bob@shop.test"
TABLES = ("refunds", "refund_parts", "outbox", "return_events")


async def _order(sessions: Sessions, order_id: str = "1001", **kwargs: Any) -> None:
    payload = order_payload(order_id, **kwargs) | {"payments": PAYMENTS}
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(payload))


def _manual(amount: int, **fields: Any) -> ManualRefundIn:
    return ManualRefundIn.model_validate(
        {"amount_minor": amount, "currency": "USD", "reason": "Arrived late", **fields}
    )


async def _refund(
    sessions: Sessions, amount: int, who: str = AGENT, order: str = "1001", **fields: Any
) -> Refund:
    async with transaction(sessions) as session:
        return await service.manual_refund(
            session, order, _manual(amount, **fields), actor(who), POLICY
        )


async def _confirm(sessions: Sessions, number: str, **body: Any) -> Refund:
    async with transaction(sessions) as session:
        return await service.confirm(
            session, number, ConfirmationIn.model_validate(body), actor("api:shop")
        )


async def _money(sessions: Sessions) -> dict[str, Any]:
    """Given back on the order, and refunded per payment method."""
    return {
        "given_back": await scalar(sessions, "SELECT sum(given_back_minor) FROM orders"),
        "refunded": dict(
            await rows(
                sessions,
                "SELECT method, sum(refunded_minor) FROM order_payments GROUP BY method",
            )
        ),
    }


async def _snapshot(sessions: Sessions) -> dict[str, Any]:
    counts = {t: await scalar(sessions, f"SELECT count(*) FROM {t}") for t in TABLES}
    return counts | await _money(sessions) | {"attention": await _attention(sessions)}


async def _attention(sessions: Sessions) -> list[Any]:
    return [row[0] for row in await rows(sessions, "SELECT attention FROM returns ORDER BY id")]


async def _outbox(sessions: Sessions, topic: str) -> list[tuple[str, Any]]:
    async with transaction(sessions) as session:
        found = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
        )
        return [(message.aggregate, message.payload) for message in found]


async def _expect_refused(
    sessions: Sessions, error: type[Exception], work: Any, *args: Any
) -> Exception:
    before = await _snapshot(sessions)
    with pytest.raises(error) as raised:
        async with transaction(sessions) as session:
            await work(session, *args)
    assert await _snapshot(sessions) == before, "a refused refund wrote to the database"
    return raised.value


async def test_a_refund_goes_back_method_by_method_in_position_order(sessions: Sessions) -> None:
    await _order(sessions)

    first = await _refund(sessions, 3000)
    second = await _refund(sessions, 2500, who=OTHER_AGENT, reason="Scratched")

    assert [(p.payment.method, p.amount_minor) for p in first.parts] == [("card", 3000)]
    assert [(p.payment.method, p.amount_minor) for p in second.parts] == [
        ("card", CARD - 3000),
        ("gift_card", 2500 - (CARD - 3000)),
    ]
    assert await _money(sessions) == {
        "given_back": 5500,
        "refunded": {"card": CARD, "gift_card": 2500 - (CARD - 3000)},
    }
    requested = await _outbox(sessions, "refund.requested")
    assert [aggregate for aggregate, _ in requested] == [first.number, second.number]
    assert requested[1][1] == {
        "refund": second.number,
        "order": "1001",
        "kind": "manual",
        "amount_minor": 2500,
        "currency": "USD",
        "reason": "Scratched",
        "payments": [
            {
                "position": 1,
                "method": "card",
                "reference": "ch_1",
                "last4": "4242",
                "amount_minor": CARD - 3000,
            },
            {
                "position": 2,
                "method": "gift_card",
                "reference": "gc_1",
                "last4": None,
                "amount_minor": 2500 - (CARD - 3000),
            },
        ],
    }


async def test_refunds_never_exceed_what_each_payment_captured(sessions: Sessions) -> None:
    await _order(sessions)
    for amount in (1000, 1000, 1000, 1000, 1000, 1000):
        await _refund(sessions, amount)

    assert await _money(sessions) == {
        "given_back": 6000,
        "refunded": {"card": CARD, "gift_card": 6000 - CARD},
    }
    error = await _expect_refused(
        sessions,
        AmountExceeded,
        lambda s: service.manual_refund(s, "1001", _manual(PAID - 5999), actor(AGENT), POLICY),
    )
    assert "6.99 USD" in error.message  # what is left


async def test_a_refund_larger_than_everything_paid_is_refused_and_writes_nothing(
    sessions: Sessions,
) -> None:
    await _order(sessions)

    await _expect_refused(
        sessions,
        AmountExceeded,
        lambda s: service.manual_refund(s, "1001", _manual(PAID + 1), actor(AGENT), POLICY),
    )


async def test_refunds_and_what_the_order_gives_back_are_counted_together(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    order_id = await scalar(sessions, "SELECT id FROM orders")
    async with transaction(sessions) as session:
        # Store credit or an exchange counted at the order leaves less for refunds.
        await service.reserve(session, order_id, 6000)

    await _expect_refused(
        sessions,
        AmountExceeded,
        lambda s: service.manual_refund(s, "1001", _manual(700), actor(AGENT), POLICY),
    )
    refund = await _refund(sessions, PAID - 6000)
    assert refund.status == "requested"
    assert (await _money(sessions))["given_back"] == PAID


@pytest.mark.parametrize(
    ("fields", "error"),
    [({"currency": "EUR"}, CurrencyMismatch), ({"return": "RMA-00000000"}, NotFound)],
)
async def test_a_manual_refund_in_another_currency_or_for_an_unknown_return_is_refused(
    sessions: Sessions, fields: dict[str, Any], error: type[Exception]
) -> None:
    await _order(sessions)

    await _expect_refused(
        sessions,
        error,
        lambda s: service.manual_refund(s, "1001", _manual(100, **fields), actor(AGENT), POLICY),
    )


async def test_a_manual_refund_for_another_orders_return_is_refused(sessions: Sessions) -> None:
    await _order(sessions)
    await _order(sessions, "1002", email="bob@example.com")
    other = await seed_return(sessions, "1002")

    error = await _expect_refused(
        sessions,
        ValidationFailed,
        lambda s: service.manual_refund(
            s, "1001", _manual(100, **{"return": other}), actor(AGENT), POLICY
        ),
    )
    assert "not a return of order 1001" in error.message


async def test_a_manual_refund_for_an_unknown_order_is_not_found(sessions: Sessions) -> None:
    await _order(sessions)
    await _expect_refused(
        sessions,
        NotFound,
        lambda s: service.manual_refund(s, "9999", _manual(100), actor(AGENT), POLICY),
    )


async def test_a_refund_above_the_threshold_waits_for_a_second_agent_and_counts_meanwhile(
    sessions: Sessions,
) -> None:
    await _order(sessions)

    held = await _refund(sessions, 5001, kind="goodwill")

    assert (held.status, held.kind, held.requested_at) == ("pending_approval", "goodwill", None)
    assert [part.status for part in held.parts] == ["pending", "pending"]
    assert await _outbox(sessions, "refund.requested") == []
    assert (await _money(sessions))["given_back"] == 5001
    # What waits for approval can't be given again.
    await _expect_refused(
        sessions,
        AmountExceeded,
        lambda s: service.manual_refund(s, "1001", _manual(PAID - 5000), actor(AGENT), POLICY),
    )


async def test_the_agent_who_asked_cannot_approve_their_own_refund(sessions: Sessions) -> None:
    await _order(sessions)
    held = await _refund(sessions, 6000)

    error = await _expect_refused(
        sessions, Conflict, lambda s: service.approve(s, held.number, actor(AGENT))
    )
    assert "second agent" in error.message

    async with transaction(sessions) as session:
        approved = await service.approve(session, held.number, actor(OTHER_AGENT))
    assert (approved.status, approved.approved_by) == ("requested", OTHER_AGENT)
    assert [part.status for part in approved.parts] == ["requested", "requested"]
    assert [a for a, _ in await _outbox(sessions, "refund.requested")] == [held.number]
    await _expect_refused(
        sessions, Conflict, lambda s: service.approve(s, held.number, actor("staff:carl"))
    )


async def test_a_declined_refund_gives_its_amounts_back(sessions: Sessions) -> None:
    await _order(sessions)
    held = await _refund(sessions, 6000)

    async with transaction(sessions) as session:
        declined = await service.decline(session, held.number, actor(OTHER_AGENT), "Too much")

    assert declined.status == "declined"
    assert {part.status for part in declined.parts} == {"declined"}
    assert "Too much" in (declined.parts[0].failure_reason or "")
    assert await _money(sessions) == {"given_back": 0, "refunded": {"card": 0, "gift_card": 0}}
    assert await _outbox(sessions, "refund.requested") == []
    await _expect_refused(
        sessions, Conflict, lambda s: service.approve(s, held.number, actor(OTHER_AGENT))
    )
    await _expect_refused(
        sessions, ValidationFailed, lambda s: service.decline(s, held.number, actor(AGENT), " ")
    )


async def test_a_confirmed_refund_succeeds_and_the_shopper_hears_of_it(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    number = await seed_return(sessions)
    refund = await _refund(sessions, 1500, **{"return": number})

    done = await _confirm(sessions, refund.number, event="refund.succeeded", reference="re_1")

    assert done.status == "succeeded"
    assert [(p.status, p.provider_reference) for p in done.parts] == [("succeeded", "re_1")]
    assert (await _money(sessions))["given_back"] == 1500
    [(aggregate, payload)] = await _outbox(sessions, "refund.succeeded")
    assert aggregate == refund.number
    assert payload["return"] == number
    assert payload["payments"][0] | {"status": "succeeded"} == payload["payments"][0]
    assert payload["payments"][0]["provider_reference"] == "re_1"
    assert await _outbox(sessions, "refund.issued") == [
        (
            number,
            {
                "return": number,
                "amount_minor": 1500,
                "currency": "USD",
                "method": "card",
                "last4": "4242",
            },
        )
    ]


async def test_a_failed_refund_is_no_longer_counted_and_flags_its_return(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    number = await seed_return(sessions)
    refund = await _refund(sessions, 5000, **{"return": number, "kind": "goodwill"})

    failed = await _confirm(sessions, refund.number, event="refund.failed", reason="Card expired")

    assert failed.status == "failed"
    assert await _money(sessions) == {"given_back": 0, "refunded": {"card": 0, "gift_card": 0}}
    [attention] = await _attention(sessions)
    assert attention == (
        f"Refund {refund.number} failed: Card expired; retry it once the cause is fixed."
    )
    assert len(await _outbox(sessions, "refund.failed")) == 1
    assert len(await _outbox(sessions, "return.attention")) == 1
    assert await _outbox(sessions, "refund.issued") == []


async def test_each_payment_of_a_refund_can_succeed_or_fail_on_its_own(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    number = await seed_return(sessions)
    refund = await _refund(sessions, 5000, **{"return": number})

    done = await _confirm(
        sessions,
        refund.number,
        event="refund.succeeded",
        reference="re_9",
        payments=[{"position": 2, "event": "refund.failed", "reason": "Gift card closed"}],
    )

    assert done.status == "failed"
    assert [(p.payment.method, p.status) for p in done.parts] == [
        ("card", "succeeded"),
        ("gift_card", "failed"),
    ]
    assert await _money(sessions) == {
        "given_back": CARD,
        "refunded": {"card": CARD, "gift_card": 0},
    }
    [(_, issued)] = await _outbox(sessions, "refund.issued")
    assert (issued["amount_minor"], issued["method"]) == (CARD, "card")
    assert "Gift card closed" in (await _attention(sessions))[0]


async def test_the_same_confirmation_twice_changes_nothing_and_a_contradiction_is_refused(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    refund = await _refund(sessions, 1500)
    await _confirm(sessions, refund.number, event="refund.succeeded", reference="re_1")
    before = await _snapshot(sessions)

    again = await _confirm(sessions, refund.number, event="refund.succeeded", reference="re_1")

    assert again.status == "succeeded"
    assert await _snapshot(sessions) == before
    body = ConfirmationIn(event="refund.failed", reason="Oops")
    await _expect_refused(
        sessions,
        Conflict,
        lambda s: service.confirm(s, refund.number, body, actor("api:shop")),
    )


async def test_a_confirmation_naming_a_payment_the_refund_did_not_use_is_refused(
    sessions: Sessions,
) -> None:
    await _order(sessions)
    refund = await _refund(sessions, 1500)
    body = ConfirmationIn.model_validate(
        {"event": "refund.succeeded", "payments": [{"position": 2, "event": "refund.failed"}]}
    )

    await _expect_refused(
        sessions,
        ValidationFailed,
        lambda s: service.confirm(s, refund.number, body, actor("api:shop")),
    )


async def test_a_refund_waiting_for_approval_cannot_be_confirmed(sessions: Sessions) -> None:
    await _order(sessions)
    held = await _refund(sessions, 6000)
    body = ConfirmationIn(event="refund.succeeded")

    await _expect_refused(
        sessions, Conflict, lambda s: service.confirm(s, held.number, body, actor("api:shop"))
    )


@pytest.mark.parametrize("number", ["RF-ZZZZZZZZ", "RF-0000000000", "nonsense", "RMA-1"])
async def test_unknown_or_forged_refund_numbers_are_not_found(
    sessions: Sessions, number: str
) -> None:
    await _order(sessions)
    await _refund(sessions, 1500)
    body = ConfirmationIn(event="refund.succeeded")

    await _expect_refused(sessions, NotFound, lambda s: service.get_refund(s, number))
    await _expect_refused(
        sessions, NotFound, lambda s: service.confirm(s, number, body, actor("api:shop"))
    )
    await _expect_refused(sessions, NotFound, lambda s: service.retry(s, number, actor(AGENT)))


async def test_a_failed_refund_is_retried_once_for_what_failed(sessions: Sessions) -> None:
    await _order(sessions)
    refund = await _refund(sessions, 5000)
    await _confirm(
        sessions,
        refund.number,
        event="refund.succeeded",
        payments=[{"position": 2, "event": "refund.failed", "reason": "Gift card closed"}],
    )
    async with transaction(sessions) as session:
        again = await service.retry(session, refund.number.lower(), actor(AGENT))

    assert (again.kind, again.status, again.amount_minor) == ("retry", "requested", 5000 - CARD)
    assert again.retry_of == refund.id
    # The card was refunded in full by the first; the gift card gets what failed.
    assert [(p.payment.method, p.amount_minor) for p in again.parts] == [("gift_card", 5000 - CARD)]
    assert await _money(sessions) == {
        "given_back": 5000,
        "refunded": {"card": CARD, "gift_card": 5000 - CARD},
    }
    error = await _expect_refused(
        sessions, Conflict, lambda s: service.retry(s, refund.number, actor(AGENT))
    )
    assert again.number in error.message
    await _expect_refused(
        sessions, Conflict, lambda s: service.retry(s, again.number, actor(AGENT))
    )


async def test_refunds_are_listed_newest_first_a_page_at_a_time(sessions: Sessions) -> None:
    await _order(sessions)
    await _order(sessions, "1002", email="bob@example.com")
    number = await seed_return(sessions)
    made = [
        await _refund(sessions, 100),
        await _refund(sessions, 100, **{"return": number}),
        await _refund(sessions, 100, order="1002"),
        await _refund(sessions, 6000, order="1002"),
    ]

    async with transaction(sessions) as session:
        first, cursor = await service.list_refunds(
            session, order=None, return_number=None, status=None, limit=3, after=None
        )
        rest, end = await service.list_refunds(
            session, order=None, return_number=None, status=None, limit=3, after=cursor
        )
        of_order, _ = await service.list_refunds(
            session, order="1001", return_number=None, status=None, limit=10, after=None
        )
        of_return, _ = await service.list_refunds(
            session, order=None, return_number=number.lower(), status=None, limit=10, after=None
        )
        held, _ = await service.list_refunds(
            session,
            order=None,
            return_number=None,
            status="pending_approval",
            limit=10,
            after=None,
        )
        with pytest.raises(ValidationFailed):
            await service.list_refunds(
                session, order=None, return_number=None, status=None, limit=3, after="RF-ZZZZZZZZ"
            )

    numbers = [refund.number for refund in made]
    assert [r.number for r in first + rest] == numbers[::-1]
    assert (cursor, end) == (numbers[1], None)
    assert [r.number for r in of_order] == numbers[1::-1]
    assert [r.number for r in of_return] == [numbers[1]]
    assert [r.number for r in held] == [numbers[3]]


async def test_small_refunds_by_one_agent_add_up_to_the_second_approval(sessions: Sessions) -> None:
    await _order(sessions)

    first = await _refund(sessions, 3000)
    second = await _refund(sessions, 2500)  # 55.00 by Ann today: over the 50.00 threshold
    other = await _refund(sessions, 1000, who=OTHER_AGENT)

    assert (first.status, second.status, other.status) == (
        "requested",
        "pending_approval",
        "requested",
    )
