"""Receiving parcels on a real database: counts, partial parcels, and every kind of flag, each
sending the return to the exceptions queue until a person resolves it, and not before."""

from __future__ import annotations

import pytest

from reclaim.errors import Conflict, InvalidTransition, NotFound, QuantityExceeded, ValidationFailed
from reclaim.warehouse import receiving
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import rows, scalar, table_counts
from tests.integration.warehouse_support import (
    LINES,
    WAREHOUSE_TABLES,
    Sessions,
    approved_return,
    receive,
    within,
)


async def _attention(sessions: Sessions, number: str) -> str | None:
    return await scalar(sessions, "SELECT attention FROM returns WHERE number = :n", n=number)


async def _flags(sessions: Sessions) -> list[tuple[object, ...]]:
    return await rows(
        sessions,
        "SELECT f.kind, ol.line_ref, f.found, f.quantity, f.resolved_at IS NOT NULL"
        " FROM receiving_flags f LEFT JOIN return_lines rl ON rl.id = f.return_line_id"
        " LEFT JOIN order_lines ol ON ol.id = rl.order_line_id ORDER BY f.id",
    )


async def _resolve(sessions: Sessions, flag_id: int, said: str = "Looked into it") -> None:
    await within(sessions, lambda s: receiving.resolve_flag(s, flag_id, actor("agent"), said))


async def test_a_full_parcel_receives_every_line_and_raises_no_flag(sessions: Sessions) -> None:
    number = await approved_return(sessions)

    done = await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}],
        weight_grams=1050,
    )

    assert done.flags == [] and done.ret.status == "received" and done.ret.attention is None
    assert done.receipt.lines == {"1": 2, "2": 1}
    # 2 tees of 200 g and a 400 g mug were due.
    assert done.receipt.expected_weight_grams == 800
    assert await rows(sessions, LINES) == [("1", 2, None, None), ("2", 1, None, None)]
    assert await rows(sessions, "SELECT weight_grams, actor FROM receipts") == [(1050, "dock")]


async def test_two_parcels_each_receive_their_part(sessions: Sessions) -> None:
    number = await approved_return(sessions)

    first = await receive(
        sessions, number, counts=[{"line_id": "1", "quantity": 1}], last_parcel=False
    )
    second = await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 1}, {"line_id": "2", "quantity": 1}],
    )

    assert first.flags == [] and second.flags == []
    assert first.receipt.expected_weight_grams == 800
    assert second.receipt.expected_weight_grams == 600
    assert await rows(sessions, LINES) == [("1", 2, None, None), ("2", 1, None, None)]
    events = await rows(
        sessions, "SELECT action FROM return_events WHERE action = 'receive' ORDER BY id"
    )
    assert len(events) == 2
    assert await scalar(sessions, "SELECT count(*) FROM receipts") == 2


async def test_an_empty_box_is_flagged_and_receives_nothing_until_resolved(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)

    done = await receive(sessions, number, weight_grams=150)

    assert [flag.kind for flag in done.flags] == ["empty_box"]
    assert done.ret.status == "approved"
    assert done.receipt.lines == {} and done.receipt.weight_grams == 150
    assert await rows(sessions, LINES) == [("1", 0, None, None), ("2", 0, None, None)]
    attention = await _attention(sessions, number)
    assert attention is not None and "empty box" in attention
    noted = await rows(
        sessions, "SELECT action, to_status FROM return_events WHERE action = 'attention'"
    )
    assert noted == [("attention", "approved")]
    assert (
        await scalar(sessions, "SELECT count(*) FROM outbox WHERE topic = 'return.attention'") == 1
    )

    await _resolve(sessions, done.flags[0].id, "Carrier claim opened")

    assert await _attention(sessions, number) is None
    assert await _flags(sessions) == [("empty_box", None, None, None, True)]
    cleared = await rows(
        sessions,
        "SELECT actor FROM return_events WHERE action = 'attention_resolved'",
    )
    assert cleared == [("agent",)]


async def test_a_box_far_lighter_than_what_was_counted_in_it_is_an_empty_box(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)

    # Two tees weigh 400 g; the retail packaging came back without them.
    done = await receive(
        sessions, number, counts=[{"line_id": "1", "quantity": 2}], weight_grams=60
    )

    assert [flag.kind for flag in done.flags] == ["empty_box"]
    assert "400 g" in done.flags[0].detail
    assert done.ret.status == "approved"
    assert await rows(sessions, LINES) == [("1", 0, None, None), ("2", 0, None, None)]


async def test_a_wrong_item_is_not_received_as_the_line_and_is_not_also_missing(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)

    done = await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 1}, {"line_id": "2", "quantity": 1}],
        wrong=[{"line_id": "1", "found": "TEE-XL", "quantity": 1, "detail": "Size XL"}],
        weight_grams=900,
    )

    assert [(f.kind, f.found, f.quantity) for f in done.flags] == [("wrong_item", "TEE-XL", 1)]
    assert await rows(sessions, LINES) == [("1", 1, None, None), ("2", 1, None, None)]
    assert done.ret.status == "received"
    attention = await _attention(sessions, number)
    assert attention is not None and "TEE-XL" in attention


async def test_an_unexpected_item_is_flagged_beside_the_lines_received(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions, (("2", 1),))

    done = await receive(
        sessions,
        number,
        counts=[{"line_id": "2", "quantity": 1}],
        unexpected=[{"found": "A phone charger", "quantity": 1}],
    )

    assert await _flags(sessions) == [("unexpected_item", None, "A phone charger", 1, False)]
    assert done.ret.status == "received"
    assert await rows(sessions, LINES) == [("2", 1, None, None)]


async def test_the_last_parcel_flags_lines_still_short_and_every_flag_must_be_resolved(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)

    done = await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 1}],
        unexpected=[{"found": "Socks", "quantity": 2}],
    )

    assert await _flags(sessions) == [
        ("unexpected_item", None, "Socks", 2, False),
        ("missing_item", "1", None, 1, False),
        ("missing_item", "2", None, 1, False),
    ]
    first, *others = done.flags
    await _resolve(sessions, first.id)
    assert await _attention(sessions, number) is not None
    for flag in others:
        await _resolve(sessions, flag.id)
    assert await _attention(sessions, number) is None
    assert await within(sessions, lambda s: receiving.open_flags(s, done.ret.id)) == []


async def test_the_queue_is_not_cleared_past_open_flags_only_by_resolving_them(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    done = await receive(sessions, number, counts=[{"line_id": "1", "quantity": 1}])
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    async def clear() -> None:
        await within(sessions, lambda s: receiving.resolve_attention(s, number, actor(), "Done"))

    with pytest.raises(
        Conflict, match="Resolve the 2 open flags first: line 1 is 1 short; line 2 is 1 short."
    ) as refused:
        await clear()
    assert refused.value.details["flags"] == [flag.id for flag in done.flags]
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await _attention(sessions, number) is not None

    await _resolve(sessions, done.flags[0].id)
    with pytest.raises(Conflict, match="Resolve the 1 open flag first: line 2 is 1 short."):
        await clear()
    await _resolve(sessions, done.flags[1].id)
    assert await _attention(sessions, number) is None
    with pytest.raises(Conflict, match="nothing flagged"):
        await clear()


async def test_a_parcel_that_is_not_the_last_flags_nothing_missing(sessions: Sessions) -> None:
    number = await approved_return(sessions)

    done = await receive(
        sessions, number, counts=[{"line_id": "1", "quantity": 1}], last_parcel=False
    )

    assert done.flags == [] and await _attention(sessions, number) is None


async def test_receiving_more_than_is_due_is_refused_and_writes_nothing(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(QuantityExceeded):
        await receive(
            sessions,
            number,
            counts=[{"line_id": "1", "quantity": 3}],
            unexpected=[{"found": "Socks", "quantity": 1}],
            weight_grams=700,
        )

    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await rows(sessions, LINES) == [("1", 0, None, None), ("2", 0, None, None)]
    assert await _attention(sessions, number) is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, ValidationFailed),
        ({"counts": [{"line_id": "9", "quantity": 1}]}, ValidationFailed),
        (
            {"counts": [{"line_id": "1", "quantity": 1}, {"line_id": "1", "quantity": 1}]},
            ValidationFailed,
        ),
        ({"wrong": [{"line_id": "9", "found": "X", "quantity": 1}]}, ValidationFailed),
    ],
    ids=["nothing at all", "unknown line", "line twice", "wrong item of an unknown line"],
)
async def test_a_parcel_that_makes_no_sense_is_refused_and_writes_nothing(
    sessions: Sessions, fields: dict[str, object], error: type[Exception]
) -> None:
    number = await approved_return(sessions)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(error):
        await receive(sessions, number, **fields)

    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before


async def test_a_parcel_for_a_return_not_on_its_way_is_refused(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions)

    with pytest.raises(InvalidTransition):
        await receive(sessions, number, weight_grams=100)
    with pytest.raises(NotFound):
        await receive(sessions, "RMA-NOPE", weight_grams=100)
    assert await scalar(sessions, "SELECT count(*) FROM receipts") == 0


async def test_a_flag_is_resolved_once_with_words_and_an_unknown_one_is_not_found(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    flag = (await receive(sessions, number, weight_grams=150)).flags[0]

    with pytest.raises(ValidationFailed):
        await _resolve(sessions, flag.id, "   ")
    await _resolve(sessions, flag.id, "Checked the CCTV")
    with pytest.raises(Conflict):
        await _resolve(sessions, flag.id, "Again")
    with pytest.raises(NotFound):
        await _resolve(sessions, flag.id + 100)
    assert await rows(sessions, "SELECT resolved_by, resolution FROM receiving_flags") == [
        ("agent", "Checked the CCTV")
    ]
