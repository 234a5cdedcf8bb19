"""End-of-life manifests: one open manifest per kind collects the units routed that way, with
their weights, until it ships to a partner; what they weigh feeds the sustainability report."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.orders.models import OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import manifests
from reclaim.warehouse.models import Manifest
from tests.factories import actor
from tests.integration.helpers import rows, scalar, table_counts, table_rows
from tests.integration.operations_support import (
    facility,
    graded_return,
    route,
    run_warehouse_cli,
)

Sessions = async_sessionmaker[AsyncSession]
MANIFEST_NUMBER = re.compile(r"^MF-[0-9A-HJKMNP-TV-Z]{8}$")
MANIFEST_TABLES = ("manifests", "manifest_items")


async def _manifests(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(sessions, "SELECT number, kind, status FROM manifests ORDER BY id")


async def _items(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT m.kind, m.status, i.sku, i.category, i.quantity, i.weight_grams "
        "FROM manifest_items i JOIN manifests m ON m.id = i.manifest_id ORDER BY i.id",
    )


async def _lines(sessions: Sessions, number: str) -> list[tuple[ReturnLine, Product]]:
    async with transaction(sessions) as session:
        found = await session.execute(
            select(ReturnLine, Product)
            .join(Return, Return.id == ReturnLine.return_id)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(Return.number == number)
            .order_by(ReturnLine.id)
        )
        return [(line, product) for line, product in found.all()]


async def _add(
    sessions: Sessions, kind: Disposition, line: ReturnLine, product: Product, quantity: int
) -> None:
    async with transaction(sessions) as session:
        await manifests.add_line(session, kind, line, product, quantity, actor())


async def _ship(sessions: Sessions, number: str, partner: str | None = None) -> Manifest:
    async with transaction(sessions) as session:
        return await manifests.ship(session, number, actor("dock"), partner_code=partner)


async def test_routed_units_join_the_open_manifest_of_their_kind_with_their_weight(
    sessions: Sessions,
) -> None:
    number = await graded_return(
        sessions,
        "3001",
        [("MUG", 3, Grade.UNSELLABLE), ("TEE-M", 2, Grade.ACCEPTABLE), ("PHONE", 1, Grade.GOOD)],
    )

    await route(sessions, number, "1", Disposition.RECYCLE)
    await route(sessions, number, "2", Disposition.DONATE)
    await route(sessions, number, "3", Disposition.RECYCLE)

    assert await _items(sessions) == [
        ("recycle", "open", "MUG", "home", 3, 1200),
        ("donate", "open", "TEE-M", "apparel", 2, 400),
        ("recycle", "open", "PHONE", "electronics", 1, 400),
    ]
    found = await _manifests(sessions)
    assert [(kind, status) for _, kind, status in found] == [
        ("recycle", "open"),
        ("donate", "open"),
    ]
    assert all(MANIFEST_NUMBER.match(row[0]) for row in found)


async def test_shipping_closes_the_manifest_and_the_next_unit_starts_a_new_one(
    sessions: Sessions,
) -> None:
    await facility(sessions, "GREEN", "recycler")
    number = await graded_return(
        sessions, "3001", [("MUG", 1, Grade.UNSELLABLE), ("MUG", 1, Grade.UNSELLABLE)]
    )
    await route(sessions, number, "1", Disposition.RECYCLE)
    [(first, _, _)] = await _manifests(sessions)

    shipped = await _ship(sessions, first.lower(), "GREEN")
    await route(sessions, number, "2", Disposition.RECYCLE)

    assert (shipped.status, shipped.shipped_by) == ("shipped", "dock")
    assert shipped.shipped_at is not None
    found = await _manifests(sessions)
    assert found[0] == (first, "recycle", "shipped") and found[1][1:] == ("recycle", "open")
    assert (
        await scalar(
            sessions,
            "SELECT f.code FROM manifests m JOIN facilities f ON f.id = m.partner_id "
            "WHERE m.number = :number",
            number=first,
        )
        == "GREEN"
    )


async def test_a_manifest_may_ship_without_naming_a_partner(sessions: Sessions) -> None:
    number = await graded_return(sessions, "3001", [("TEE-M", 1, Grade.GOOD)])
    await route(sessions, number, "1", Disposition.DONATE)
    [(manifest, _, _)] = await _manifests(sessions)

    shipped = await _ship(sessions, manifest)

    assert shipped.status == "shipped" and shipped.partner_id is None


@pytest.mark.parametrize(
    ("kind", "partner", "partner_kind", "error", "message"),
    [
        (Disposition.RECYCLE, "NOPE", None, ValidationFailed, "No facility"),
        (Disposition.RECYCLE, "FIX", "refurbisher", ValidationFailed, "recycler"),
        (Disposition.DISPOSE, "SHOP", "store", ValidationFailed, "recycler"),
        (Disposition.RECYCLE, "OLD", "recycler-inactive", ValidationFailed, "not active"),
    ],
)
async def test_shipping_to_a_partner_that_cannot_take_it_is_refused(
    sessions: Sessions,
    kind: Disposition,
    partner: str,
    partner_kind: str | None,
    error: type[Exception],
    message: str,
) -> None:
    if partner_kind:
        facility_kind, _, inactive = partner_kind.partition("-")
        await facility(sessions, partner, facility_kind, active=not inactive)
    number = await graded_return(sessions, "3001", [("MUG", 1, Grade.UNSELLABLE)])
    await route(sessions, number, "1", kind)
    [(manifest, _, _)] = await _manifests(sessions)

    with pytest.raises(error, match=message):
        await _ship(sessions, manifest, partner)

    assert await _manifests(sessions) == [(manifest, kind.value, "open")]


async def test_a_shipped_or_empty_manifest_cannot_be_shipped(sessions: Sessions) -> None:
    number = await graded_return(sessions, "3001", [("MUG", 1, Grade.UNSELLABLE)])
    await route(sessions, number, "1", Disposition.DISPOSE)
    [(shipped, _, _)] = await _manifests(sessions)
    await _ship(sessions, shipped)
    async with transaction(sessions) as session:
        session.add(Manifest(number="MF-EMPTY000", kind="recycle", status="open"))

    with pytest.raises(InvalidTransition, match="already shipped"):
        await _ship(sessions, shipped)
    with pytest.raises(InvalidTransition, match="empty"):
        await _ship(sessions, "MF-EMPTY000")

    assert (await _manifests(sessions))[1] == ("MF-EMPTY000", "recycle", "open")


@pytest.mark.parametrize("number", ["MF-00000000", "MF-!", "WO-12345678", "", "MF-" + "9" * 50])
async def test_an_unknown_manifest_is_not_found(sessions: Sessions, number: str) -> None:
    with pytest.raises(NotFound):
        await _ship(sessions, number)
    async with transaction(sessions) as session:
        with pytest.raises(NotFound):
            await manifests.get_manifest(session, number)


async def test_a_line_goes_on_one_manifest_only_and_only_to_an_end_of_life_kind(
    sessions: Sessions,
) -> None:
    number = await graded_return(sessions, "3001", [("MUG", 2, Grade.UNSELLABLE)])
    await route(sessions, number, "1", Disposition.RECYCLE)
    [(line, product)] = await _lines(sessions, number)
    before = await table_counts(sessions, *MANIFEST_TABLES)

    with pytest.raises(Conflict, match="already on manifest"):
        await _add(sessions, Disposition.DISPOSE, line, product, 2)
    with pytest.raises(ValidationFailed, match="has no manifest"):
        await _add(sessions, Disposition.RESTOCK, line, product, 2)
    with pytest.raises(ValidationFailed, match="at least one unit"):
        await _add(sessions, Disposition.RECYCLE, line, product, 0)

    assert await table_counts(sessions, *MANIFEST_TABLES) == before


async def test_racing_additions_share_one_open_manifest_per_kind(sessions: Sessions) -> None:
    number = await graded_return(sessions, "3001", [("MUG", 1, Grade.UNSELLABLE)] * 12)
    lines = await _lines(sessions, number)
    kinds = [Disposition.RECYCLE, Disposition.DISPOSE, Disposition.DONATE]

    await asyncio.gather(
        *(
            _add(sessions, kinds[index % 3], line, product, 1)
            for index, (line, product) in enumerate(lines)
        )
    )

    assert sorted(kind for _, kind, _ in await _manifests(sessions)) == [
        "dispose",
        "donate",
        "recycle",
    ]
    per_manifest = await rows(
        sessions,
        "SELECT m.kind, count(*) FROM manifest_items i JOIN manifests m ON m.id = i.manifest_id "
        "GROUP BY m.kind ORDER BY m.kind",
    )
    assert per_manifest == [("dispose", 4), ("donate", 4), ("recycle", 4)]


async def test_units_added_while_a_manifest_ships_land_on_it_or_on_the_next(
    sessions: Sessions,
) -> None:
    number = await graded_return(sessions, "3001", [("MUG", 1, Grade.UNSELLABLE)] * 9)
    lines = await _lines(sessions, number)
    await _add(sessions, Disposition.RECYCLE, *lines[0], 1)
    [(first, _, _)] = await _manifests(sessions)

    await asyncio.gather(
        _ship(sessions, first),
        *(_add(sessions, Disposition.RECYCLE, line, product, 1) for line, product in lines[1:]),
    )

    # Nothing was added to the first manifest after it was shipped.
    late = await scalar(
        sessions,
        "SELECT count(*) FROM manifest_items i JOIN manifests m ON m.id = i.manifest_id "
        "WHERE m.status = 'shipped' AND i.added_at > m.shipped_at",
    )
    assert late == 0
    assert await table_counts(sessions, "manifest_items") == {"manifest_items": 9}
    assert [status for _, _, status in await _manifests(sessions)] in (
        ["shipped"],
        ["shipped", "open"],
    )


async def test_manifests_list_with_their_lines_units_and_weight(sessions: Sessions) -> None:
    await facility(sessions, "GREEN", "recycler")
    number = await graded_return(
        sessions,
        "3001",
        [("MUG", 3, Grade.UNSELLABLE), ("PHONE", 2, Grade.UNSELLABLE), ("TEE-M", 1, Grade.GOOD)],
    )
    await route(sessions, number, "1", Disposition.RECYCLE)
    await route(sessions, number, "2", Disposition.RECYCLE)
    [(recycling, _, _)] = await _manifests(sessions)
    await _ship(sessions, recycling, "GREEN")
    await route(sessions, number, "3", Disposition.DONATE)

    async with transaction(sessions) as session:
        everything = await manifests.list_manifests(session)
        shipped = await manifests.list_manifests(session, status="shipped")
        donations = await manifests.list_manifests(session, kind=Disposition.DONATE)
        with pytest.raises(ValidationFailed):
            await manifests.list_manifests(session, status="lost")
        with pytest.raises(ValidationFailed):
            await manifests.list_manifests(session, kind="restock")

    def shown(found: list[manifests.ManifestSummary]) -> list[tuple[Any, ...]]:
        return [
            (s.manifest.kind, s.manifest.status, s.items, s.units, s.weight_grams, s.partner_code)
            for s in found
        ]

    assert shown(everything) == [
        ("donate", "open", 1, 1, 200, None),
        ("recycle", "shipped", 2, 5, 2000, "GREEN"),
    ]
    assert shown(shipped) == shown(everything)[1:]
    assert shown(donations) == shown(everything)[:1]


async def test_weights_add_up_what_each_end_of_life_took_in_a_period(sessions: Sessions) -> None:
    start = utcnow()
    number = await graded_return(
        sessions,
        "3001",
        [("MUG", 3, Grade.UNSELLABLE), ("PHONE", 2, Grade.UNSELLABLE), ("TEE-M", 1, Grade.GOOD)],
    )
    await route(sessions, number, "1", Disposition.RECYCLE)
    await route(sessions, number, "2", Disposition.DISPOSE)
    await route(sessions, number, "3", Disposition.DONATE)
    end = utcnow() + timedelta(seconds=1)

    async with transaction(sessions) as session:
        during = await manifests.weights(session, start, end)
        before = await manifests.weights(session, start - timedelta(days=1), start)
        after = await manifests.weights(session, end, end + timedelta(days=1))

    assert during == {"recycle": 1200, "dispose": 800, "donate": 200}
    assert before == after == {"recycle": 0, "dispose": 0, "donate": 0}


@pytest.mark.usefixtures("cli_env")
async def test_the_cli_lists_shows_and_ships_manifests(sessions: Sessions) -> None:
    await facility(sessions, "GREEN", "recycler")
    number = await graded_return(sessions, "3001", [("MUG", 3, Grade.UNSELLABLE)])
    await route(sessions, number, "1", Disposition.RECYCLE)
    [(manifest, _, _)] = await _manifests(sessions)

    listed = await run_warehouse_cli("manifests", "list")
    detail = await run_warehouse_cli("manifests", "show", manifest)
    shipped = await run_warehouse_cli("manifests", "ship", manifest, "--partner", "GREEN")
    again = await run_warehouse_cli("manifests", "ship", manifest)

    assert listed.exit_code == 0, listed.output
    assert table_rows(listed.output) == [
        [manifest, "recycle", "open", "1", "3", "1.200 kg", "", ""]
    ]
    assert detail.exit_code == 0, detail.output
    assert table_rows(detail.output) == [[number, "1", "MUG", "home", "3", "1.200 kg", ""]]
    assert shipped.exit_code == 0 and f"Shipped manifest {manifest} to GREEN" in shipped.output
    assert again.exit_code == 1
    assert await _manifests(sessions) == [(manifest, "recycle", "shipped")]
