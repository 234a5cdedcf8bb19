"""The return leg on a real database: approval opens a shipment, calling the return off voids
it, and its label and QR code are rendered once, kept in file storage and served from there."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import Conflict, NotFound
from reclaim.files.storage import LocalStorage
from reclaim.kit.clock import utcnow
from reclaim.logistics.carriers import valid_tracking_number
from reclaim.logistics.rules import pickup_slots
from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility
from reclaim.logistics.shipments import dropoff_qr_png, label_pdf
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReturnIn
from reclaim.returns.views import return_out
from tests.factories import MANUAL_POLICY, actor, return_payload, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, scalar

Sessions = async_sessionmaker[AsyncSession]
MERCHANT = "Acme Outdoor"
FACILITIES = [
    ("DROP", "Corner News", "dropoff", ["box_free_dropoff"]),
    ("LOCK", "Station Locker", "locker", ["locker"]),
    ("SHOP", "High St Store", "store", ["in_store"]),
]
# The method a shopper chose, what the shipment's kind becomes, and what the method needs.
METHODS: list[tuple[str, str, dict[str, Any]]] = [
    ("prepaid_label", "label", {}),
    ("box_free_dropoff", "qr", {"facility": "DROP"}),
    ("locker", "qr", {"facility": "LOCK"}),
    ("in_store", "qr", {"facility": "SHOP"}),
    ("scheduled_pickup", "pickup", {"pickup": True}),
]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


async def seed_facility(sessions: Sessions, code: str, name: str, kind: str, **more: Any) -> None:
    data = FacilityIn.model_validate(
        {"code": code, "name": name, "kind": kind, "address": f"1 {name} Road", **more}
    )
    async with transaction(sessions) as session:
        await upsert_facility(session, data)


async def start(sessions: Sessions, method: str = "prepaid_label", **needs: Any) -> str:
    """A requested return of one tee, by the method, with the place or slot it needs."""
    payload = return_payload(method=method)
    if "facility" in needs:
        payload["facility"] = needs["facility"]
    if needs.get("pickup"):
        payload["pickup_start"] = pickup_slots(MANUAL_POLICY.policy.pickup, utcnow())[0].start
    async with transaction(sessions) as session:
        ret = await returns.create_return(
            session, ReturnIn.model_validate(payload), actor(), policy=MANUAL_POLICY
        )
        return ret.number


async def approved(sessions: Sessions, method: str = "prepaid_label", **needs: Any) -> str:
    number = await start(sessions, method, **needs)
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor("agent"))
    return number


async def label(sessions: Sessions, storage: LocalStorage, number: str) -> bytes:
    async with transaction(sessions) as session:
        return await label_pdf(session, storage, number, merchant_name=MERCHANT)


async def qr_png(sessions: Sessions, storage: LocalStorage, number: str) -> bytes:
    async with transaction(sessions) as session:
        return await dropoff_qr_png(session, storage, number)


async def shipment_row(sessions: Sessions, number: str) -> dict[str, Any]:
    found = await rows(
        sessions,
        "SELECT s.kind, s.tracking_number, s.stage, s.pickup_start, s.label_key, s.qr_key,"
        " s.cancelled_at, r.handover_by FROM shipments s JOIN returns r ON r.id = s.return_id"
        " WHERE r.number = :number",
        number=number,
    )
    assert len(found) == 1, found
    keys = ("kind", "tracking", "stage", "pickup_start", "label_key", "qr_key", "cancelled_at")
    return dict(zip((*keys, "handover_by"), found[0], strict=True))


@pytest.fixture
async def order(sessions: Sessions) -> None:
    await seed_order(sessions)
    for code, name, kind, methods in FACILITIES:
        await seed_facility(sessions, code, name, kind, methods=methods)


@pytest.mark.usefixtures("order")
@pytest.mark.parametrize(("method", "kind", "needs"), METHODS)
async def test_approval_opens_a_shipment_with_a_valid_tracking_number(
    sessions: Sessions, method: str, kind: str, needs: dict[str, Any]
) -> None:
    number = await start(sessions, method, **needs)
    assert await scalar(sessions, "SELECT count(*) FROM shipments") == 0

    async with transaction(sessions) as session:
        ret = await returns.approve(session, number, actor("agent"))
        shown = return_out(ret)  # in the approving transaction, as the API answers

    row = await shipment_row(sessions, number)
    assert row["kind"] == kind
    assert valid_tracking_number(row["tracking"])
    assert row["stage"] == "created"
    assert row["label_key"] is None and row["qr_key"] is None  # rendered when first asked for
    assert (row["pickup_start"] is not None) == (kind == "pickup")
    assert row["handover_by"] is not None
    assert shown.shipment is not None
    assert (shown.shipment.kind, shown.shipment.tracking_number) == (kind, row["tracking"])
    async with transaction(sessions) as session:  # and when read again later
        again = return_out(await returns.get_return(session, number))
    assert again.shipment == shown.shipment


@pytest.mark.usefixtures("order")
async def test_a_returnless_approval_opens_no_shipment(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await seed_return(sessions)

    async with transaction(sessions) as session:
        ret = await returns.approve(session, number, actor(), returnless=True)
        assert return_out(ret).shipment is None

    assert await scalar(sessions, "SELECT count(*) FROM shipments") == 0
    with pytest.raises(Conflict, match="is returnless"):
        await label(sessions, storage, number)
    with pytest.raises(Conflict, match="is returnless"):
        await qr_png(sessions, storage, number)


@pytest.mark.usefixtures("order")
async def test_a_requested_return_has_no_label_until_it_is_approved(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await seed_return(sessions)
    async with transaction(sessions) as session:
        assert return_out(await returns.get_return(session, number)).shipment is None

    with pytest.raises(Conflict, match="isn't approved yet"):
        await label(sessions, storage, number)


@pytest.mark.usefixtures("order")
@pytest.mark.parametrize("how", ["cancel", "expire"])
async def test_calling_a_return_off_voids_its_shipment_and_label(
    sessions: Sessions, storage: LocalStorage, how: str
) -> None:
    number = await approved(sessions)
    await label(sessions, storage, number)

    async with transaction(sessions) as session:
        if how == "cancel":
            ret = await returns.cancel(session, number, actor(), "Changed my mind")
        else:
            ret = await returns.expire(session, number, actor())
        shown = return_out(ret)

    assert (await shipment_row(sessions, number))["cancelled_at"] is not None
    assert shown.shipment is not None and shown.shipment.cancelled_at is not None
    assert shown.shipment.label_url is None and shown.shipment.qr_url is None
    with pytest.raises(Conflict, match=f"was {how}[a-z]*, so nothing is sent back"):
        await label(sessions, storage, number)
    with pytest.raises(Conflict):
        await qr_png(sessions, storage, number)


@pytest.mark.usefixtures("order")
async def test_the_label_is_rendered_once_then_served_from_storage(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await approved(sessions)

    first = await label(sessions, storage, number)

    key = (await shipment_row(sessions, number))["label_key"]
    assert key and first.startswith(b"%PDF")
    assert storage.get(key) == first
    # What is stored is what is served: change the file and the next download is that file.
    storage.put(key, b"%PDF-the stored label")
    assert await label(sessions, storage, number) == b"%PDF-the stored label"
    assert (await shipment_row(sessions, number))["label_key"] == key


@pytest.mark.usefixtures("order")
async def test_a_label_lost_from_storage_is_rendered_again_identically(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await approved(sessions)
    first = await label(sessions, storage, number)
    key = (await shipment_row(sessions, number))["label_key"]

    storage.delete(key)

    assert await label(sessions, storage, number) == first
    assert storage.get(key) == first


@pytest.mark.usefixtures("order")
async def test_the_qr_code_is_rendered_once_then_served_from_storage(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await approved(sessions, "box_free_dropoff", facility="DROP")

    first = await qr_png(sessions, storage, number)

    row = await shipment_row(sessions, number)
    assert first.startswith(b"\x89PNG") and storage.get(row["qr_key"]) == first
    storage.put(row["qr_key"], b"\x89PNG stored")
    assert await qr_png(sessions, storage, number) == b"\x89PNG stored"


@pytest.mark.usefixtures("order")
async def test_a_drop_off_return_has_a_qr_code_but_no_label(
    sessions: Sessions, storage: LocalStorage
) -> None:
    number = await approved(sessions, "locker", facility="LOCK")

    with pytest.raises(Conflict, match="handed over with its QR code"):
        await label(sessions, storage, number)
    assert (await shipment_row(sessions, number))["label_key"] is None


@pytest.mark.usefixtures("order")
async def test_an_unknown_or_malformed_number_is_not_found(
    sessions: Sessions, storage: LocalStorage
) -> None:
    for number in ("RMA-22222-22222", "nothing"):
        with pytest.raises(NotFound):
            await label(sessions, storage, number)
        with pytest.raises(NotFound):
            await qr_png(sessions, storage, number)


def _label_text(pdf: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


@pytest.mark.usefixtures("order")
async def test_the_label_goes_to_the_first_active_warehouse_else_to_the_shop(
    sessions: Sessions, storage: LocalStorage
) -> None:
    shop_label = await label(sessions, storage, await approved(sessions))
    await seed_facility(sessions, "WH-B", "Springfield Returns Centre", "warehouse", postcode="SP1")
    await seed_facility(sessions, "WH-A", "Closed Depot", "warehouse", active=False)
    await seed_facility(sessions, "WH-C", "Overflow Warehouse", "warehouse")

    async with transaction(sessions) as session:
        await returns.create_return(
            session,
            ReturnIn.model_validate(return_payload(line_id="2")),
            actor(),
            policy=MANUAL_POLICY,
        )
    second = (await rows(sessions, "SELECT number FROM returns ORDER BY id DESC"))[0][0]
    async with transaction(sessions) as session:
        await returns.approve(session, second, actor())
    warehouse_label = await label(sessions, storage, second)

    assert f"{MERCHANT} Returns" in _label_text(shop_label)
    text = _label_text(warehouse_label)
    assert "Springfield Returns Centre" in text and "1 Springfield Returns Centre Road" in text
    assert "SP1" in text
    assert "Closed Depot" not in text and "Overflow" not in text
    assert "Ann Example" in text  # from the shopper


@pytest.mark.usefixtures("order", "cli_env")
async def test_returns_show_prints_the_tracking_number_and_stage(sessions: Sessions) -> None:
    number = await approved(sessions)
    tracking = (await shipment_row(sessions, number))["tracking"]

    result = await run_cli("returns", "show", number)

    assert result.exit_code == 0, result.output
    assert f"shipment local label tracking {tracking} stage created" in " ".join(
        result.output.split()
    )
