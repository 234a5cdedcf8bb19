"""Receive → inspect with a checklist → disposition → inventory, on a real database, and the
rules that keep it honest: a grade or a channel other than the suggested one needs a reason, a
channel the engine finds impossible is refused, a line an open flag holds is not routed, a line
is inspected and routed once, and two stations routing one line make one record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reclaim.db import transaction
from reclaim.errors import InvalidTransition, NotFound, ValidationFailed
from reclaim.files.storage import LocalStorage
from reclaim.returns.schemas import DispositionIn, InspectIn
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import batch_service, dispositions, inspection, inventory, receiving
from reclaim.warehouse.recovery import parse_recovery
from reclaim.warehouse.terms_file import read_text
from tests.factories import actor
from tests.integration.helpers import rows, scalar, table_counts
from tests.integration.operations_support import graded_return
from tests.integration.warehouse_support import (
    LINES,
    MUG_AS_NEW,
    TEE_AS_NEW,
    WAREHOUSE_TABLES,
    Sessions,
    approved_return,
    inspect,
    receive,
    receive_all,
    route,
    within,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PHONE_AS_NEW = {
    "powers_on": "yes",
    "accessories": "all",
    "screen": "perfect",
    "serial_matches": "yes",
    "original_packaging": "yes",
}
# The built-in recovery terms, with mugs refurbishable.
MUGS_MENDED = parse_recovery(
    read_text(None, "recovery.toml")[0] + "\n[categories.home]\nrefurbishable = true\n", "test"
)


async def receive_all_of_line(sessions: Sessions, number: str) -> None:
    await receive(sessions, number, counts=[{"line_id": "1", "quantity": 2}])


async def test_a_return_goes_from_parcel_to_stock(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await receive_all(sessions, number)

    tee = await inspect(sessions, number, "1", TEE_AS_NEW)
    assert (tee.checklist, tee.suggested_grade, tee.grade) == ("apparel", "new", "new")
    assert tee.reasons and tee.override_reason is None and tee.inspector == "inspector"
    assert await scalar(sessions, "SELECT status FROM returns") == "received"
    await inspect(sessions, number, "2", {**MUG_AS_NEW, "original_packaging": False})
    assert await scalar(sessions, "SELECT status FROM returns") == "inspected"

    advice = await within(sessions, lambda s: dispositions.recommend_line(s, number, "1"))
    assert advice.best is Disposition.RESTOCK
    tee_route = await route(sessions, number, "1")
    mug_route = await route(sessions, number, "2")

    assert (tee_route.channel, tee_route.recommended, tee_route.quantity) == (
        "restock",
        "restock",
        2,
    )
    assert tee_route.override_reason is None and tee_route.location
    best = next(option for option in tee_route.options if option["channel"] == "restock")
    assert tee_route.expected_net_minor == best["net_minor"] * 2
    assert tee_route.expected_value_minor == best["gross_minor"] * 2
    assert {option["channel"] for option in tee_route.options} == {d.value for d in Disposition}
    assert tee_route.explanation
    assert mug_route.channel == "restock"
    assert await rows(sessions, LINES) == [
        ("1", 2, "new", "restock"),
        ("2", 1, "like_new", "restock"),
    ]

    movements = await rows(
        sessions,
        "SELECT sku, condition, location, quantity, kind, value_minor FROM inventory_movements"
        " ORDER BY id",
    )
    assert movements == [
        ("TEE-M", "new", tee_route.location, 2, "restock", tee_route.expected_value_minor),
        ("MUG", "like_new", mug_route.location, 1, "restock", mug_route.expected_value_minor),
    ]
    stock = await within(sessions, lambda s: inventory.stock(s, sku="TEE-M"))
    assert [(row.condition, row.quantity) for row in stock] == [("new", 2)]


async def test_a_grade_other_than_the_suggestion_needs_a_reason(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await receive_all(sessions, number)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(ValidationFailed, match="Say why"):
        await inspect(sessions, number, "1", TEE_AS_NEW, grade=Grade.GOOD)
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before

    done = await inspect(
        sessions, number, "1", TEE_AS_NEW, grade=Grade.GOOD, override_reason="Pilling on the cuffs"
    )
    assert (done.suggested_grade, done.grade) == ("new", "good")
    assert done.override_reason == "Pilling on the cuffs"


async def test_answers_that_do_not_fit_the_checklist_are_refused(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await receive_all(sessions, number)

    with pytest.raises(ValidationFailed, match="wear"):
        await inspect(sessions, number, "1", {**TEE_AS_NEW, "signs_of_wear": "some"})
    with pytest.raises(ValidationFailed):
        await inspect(sessions, number, "1", {"tags_attached": "yes"})
    assert await scalar(sessions, "SELECT count(*) FROM inspections") == 0


async def test_a_line_is_inspected_once_and_only_once_received(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await receive(sessions, number, counts=[{"line_id": "1", "quantity": 2}], last_parcel=False)

    with pytest.raises(InvalidTransition):
        await inspect(sessions, number, "2", MUG_AS_NEW)
    await inspect(sessions, number, "1", TEE_AS_NEW)
    with pytest.raises(InvalidTransition):
        await inspect(sessions, number, "1", TEE_AS_NEW)
    with pytest.raises(NotFound):
        await inspect(sessions, number, "9", TEE_AS_NEW)
    assert await scalar(sessions, "SELECT count(*) FROM inspections") == 1


async def test_the_checklist_follows_the_category(sessions: Sessions) -> None:
    number = await approved_return(sessions)

    tee = await within(sessions, lambda s: inspection.checklist_for_line(s, number, "1"))
    mug = await within(sessions, lambda s: inspection.checklist_for_line(s, number, "2"))

    assert tee.name == "apparel" and mug.name == "generic"
    assert "tags_attached" in [question.key for question in tee.questions]


async def test_a_channel_other_than_the_recommendation_needs_a_reason(sessions: Sessions) -> None:
    number = await approved_return(sessions, (("1", 2),))
    await receive_all_of_line(sessions, number)
    await inspect(sessions, number, "1", TEE_AS_NEW)
    before = await table_counts(sessions, *WAREHOUSE_TABLES)

    with pytest.raises(ValidationFailed, match="Say why"):
        await route(sessions, number, "1", channel=Disposition.DONATE)
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert await rows(sessions, LINES) == [("1", 2, "new", None)]

    done = await route(
        sessions, number, "1", channel=Disposition.DONATE, override_reason="Charity drive"
    )
    assert (done.channel, done.recommended, done.override_reason) == (
        "donate",
        "restock",
        "Charity drive",
    )
    assert await scalar(sessions, "SELECT count(*) FROM inventory_movements") == 0
    assert await rows(sessions, "SELECT sku, quantity, weight_grams FROM manifest_items") == [
        ("TEE-M", 2, 400)
    ]
    with pytest.raises(InvalidTransition):
        await route(sessions, number, "1")


async def test_refurbishment_opens_a_work_order(sessions: Sessions) -> None:
    number = await approved_return(sessions, (("2", 1),))
    await receive(sessions, number, counts=[{"line_id": "2", "quantity": 1}])
    await inspect(sessions, number, "2", {**MUG_AS_NEW, "works_as_intended": "no"})

    done = await route(
        sessions,
        number,
        "2",
        channel=Disposition.REFURBISH,
        override_reason="Partner has slots",
        terms=MUGS_MENDED,
    )

    assert done.channel == "refurbish"
    assert await rows(sessions, "SELECT status, quantity, grade_in FROM refurb_work_orders") == [
        ("sent", 1, "unsellable")
    ]


@pytest.mark.parametrize(
    ("answers", "channel", "why"),
    [
        ({"stains_or_odour": "yes"}, Disposition.RESTOCK, "Restock takes new or like new units"),
        ({}, Disposition.RETURN_TO_VENDOR, "the product names no vendor"),
        (
            {"signs_of_wear": "light"},
            Disposition.REFURBISH,
            r"TEE-M \(apparel\) isn't refurbishable",
        ),
    ],
)
async def test_a_channel_the_engine_finds_impossible_is_refused_whatever_the_reason(
    sessions: Sessions, answers: dict[str, str], channel: Disposition, why: str
) -> None:
    number = await approved_return(sessions, (("1", 2),))
    await receive_all_of_line(sessions, number)
    await inspect(sessions, number, "1", {**TEE_AS_NEW, **answers})
    before = await table_counts(sessions, *WAREHOUSE_TABLES)
    through_api = DispositionIn.model_validate(
        {"lines": [{"line_id": "1", "disposition": channel, "reason": "Boss says so"}]}
    )

    with pytest.raises(ValidationFailed, match=why) as refused:
        await route(sessions, number, "1", channel=channel, override_reason="Boss says so")
    with pytest.raises(ValidationFailed, match=why):
        await within(
            sessions, lambda s: dispositions.route_as_given(s, number, through_api, actor())
        )

    assert refused.value.details["channel"] == channel.value
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before
    assert [disposition for *_, disposition in await rows(sessions, LINES)] == [None]


async def test_a_serial_that_does_not_match_holds_the_phone_until_an_agent_resolves_it(
    sessions: Sessions,
) -> None:
    number = await graded_return(sessions, "2001", [("PHONE", 1, None)])

    done = await inspect(sessions, number, "1", {**PHONE_AS_NEW, "serial_matches": "no"})

    assert (done.suggested_grade, done.grade) == ("unsellable", "unsellable")
    flags = await rows(
        sessions,
        "SELECT id, kind, return_line_id, receipt_id, quantity, detail, actor FROM receiving_flags",
    )
    assert [flag[1:5] for flag in flags] == [("wrong_item", done.return_line_id, None, 1)]
    assert "doesn't match the one sold" in flags[0][5] and flags[0][6] == "inspector"
    attention = await scalar(sessions, "SELECT attention FROM returns")
    assert attention.startswith("Inspection: wrong item for line 1: Serial number")
    assert (
        await scalar(sessions, "SELECT count(*) FROM return_events WHERE action = 'attention'") == 1
    )
    # The engine may still be asked; routing the unit is what waits.
    assert (await within(sessions, lambda s: dispositions.recommend_line(s, number, "1"))).best
    before = await table_counts(sessions, *WAREHOUSE_TABLES)
    for channel in (None, Disposition.RECYCLE):
        with pytest.raises(InvalidTransition, match="Resolve the flags first: wrong item"):
            await route(sessions, number, "1", channel=channel, override_reason="Fine")
    assert await table_counts(sessions, *WAREHOUSE_TABLES) == before

    await within(
        sessions,
        lambda s: receiving.resolve_flag(s, flags[0][0], actor("agent"), "Our unit: relabelled"),
    )
    assert await scalar(sessions, "SELECT attention FROM returns") is None
    assert (await route(sessions, number, "1")).channel


async def test_a_flag_holds_its_own_line_and_one_on_the_whole_return_holds_every_line(
    sessions: Sessions,
) -> None:
    number = await approved_return(sessions)
    # The mug never came, and socks came that are on no line.
    parcel = await receive(
        sessions,
        number,
        counts=[{"line_id": "1", "quantity": 2}],
        unexpected=[{"found": "Socks", "quantity": 1}],
    )
    socks, mug_missing = parcel.flags
    await inspect(sessions, number, "1", TEE_AS_NEW)
    assert await scalar(sessions, "SELECT status FROM returns") == "inspected"

    with pytest.raises(InvalidTransition, match="unexpected item: 1 × 'Socks'") as held:
        await route(sessions, number, "1")
    assert held.value.details["flags"] == [socks.id]
    async with transaction(sessions) as session:
        assert await batch_service.pending_units(session) == []

    await within(sessions, lambda s: receiving.resolve_flag(s, socks.id, actor(), "Sent back"))
    # The mug's flag is about the mug alone: the tees go.
    async with transaction(sessions) as session:
        assert [p.line_ref for p in await batch_service.pending_units(session)] == ["1"]
    assert (await route(sessions, number, "1")).channel == "restock"
    still_open = await within(sessions, lambda s: receiving.open_flags(s, parcel.ret.id))
    assert [flag.id for flag in still_open] == [mug_missing.id]


async def test_a_line_needs_a_grade_before_a_recommendation(sessions: Sessions) -> None:
    number = await approved_return(sessions)
    await receive_all(sessions, number)

    with pytest.raises(InvalidTransition):
        await within(sessions, lambda s: dispositions.recommend_line(s, number, "1"))
    with pytest.raises(InvalidTransition):
        await route(sessions, number, "1")
    with pytest.raises(NotFound):
        await route(sessions, number, "9")


async def test_two_stations_routing_one_line_make_one_record(sessions: Sessions) -> None:
    number = await approved_return(sessions, (("1", 2),))
    await receive_all_of_line(sessions, number)
    await inspect(sessions, number, "1", TEE_AS_NEW)

    async def attempt() -> str:
        try:
            async with transaction(sessions) as session:
                await dispositions.route_line(session, number, "1", actor("station"))
        except InvalidTransition:
            return "refused"
        return "routed"

    outcomes = await asyncio.gather(attempt(), attempt())

    assert sorted(outcomes) == ["refused", "routed"]
    assert await scalar(sessions, "SELECT count(*) FROM dispositions") == 1
    assert await scalar(sessions, "SELECT sum(quantity) FROM inventory_movements") == 2


async def test_the_api_steps_record_the_same_warehouse_records(sessions: Sessions) -> None:
    number = await approved_return(sessions, (("1", 2),))
    await receive_all_of_line(sessions, number)
    grades = InspectIn.model_validate({"lines": [{"line_id": "1", "grade": "good"}]})
    await within(sessions, lambda s: inspection.grade_as_given(s, number, grades, actor()))

    assert await rows(
        sessions, "SELECT checklist, suggested_grade, grade, inspector FROM inspections"
    ) == [(None, None, "good", "test")]

    routes = DispositionIn.model_validate({"lines": [{"line_id": "1", "disposition": "liquidate"}]})
    await within(sessions, lambda s: dispositions.route_as_given(s, number, routes, actor()))

    assert await rows(
        sessions, "SELECT channel, recommended, override_reason, quantity FROM dispositions"
    ) == [("liquidate", "open_box", "set through the API", 2)]


async def test_an_inspection_photo_is_stored_with_the_line(
    sessions: Sessions, tmp_path: Path
) -> None:
    number = await approved_return(sessions)
    await receive_all(sessions, number)
    storage = LocalStorage(tmp_path)

    photo = await within(
        sessions,
        lambda s: inspection.attach_photo(s, storage, number, "1", PNG, actor("inspector")),
    )

    assert photo.source == "inspection" and photo.content_type == "image/png"
    assert storage.get(photo.storage_key) == PNG
    with pytest.raises(ValidationFailed):
        await within(
            sessions,
            lambda s: inspection.attach_photo(s, storage, number, "1", b"not a photo", actor()),
        )
    assert await scalar(sessions, "SELECT count(*) FROM return_photos") == 1
