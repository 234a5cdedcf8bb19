"""A return's shipment, label and QR code, for staff and the shop's systems."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from reclaim.api.deps import AppSettings, ReadSession, Sessions, require
from reclaim.api.problems import Problem, documented
from reclaim.db import transaction
from reclaim.files.storage import FileStorage
from reclaim.logistics import shipments
from reclaim.returns import service as returns
from reclaim.returns.rules import normalise_return_number
from reclaim.returns.schemas import ShipmentOut
from reclaim.returns.views import shipment_out
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/returns", tags=["logistics"], responses=documented(401, 403, 422))
Reader = Annotated[ApiKey, Depends(require(Scope.RETURNS_READ))]
# Labels carry a name and an address: never kept by a shared cache or the browser's.
NO_STORE = "private, no-store"
ERRORS: dict[int | str, dict[str, Any]] = {
    **documented(404),
    409: {
        "model": Problem,
        "description": "The return has no live shipment: not approved yet, returnless, or "
        "called off (the detail says which); or it goes back by QR code and has no label",
    },
}


def get_storage(request: Request) -> FileStorage:
    storage: FileStorage = request.app.state.storage
    return storage


Storage = Annotated[FileStorage, Depends(get_storage)]


def _binary(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        **ERRORS,
    }


def file_response(data: bytes, media_type: str, filename: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Cache-Control": NO_STORE,
        },
    )


@router.get(
    "/{number}/shipment",
    response_model=ShipmentOut,
    summary="How the return travels back: tracking number, stage, label",
    responses=ERRORS,
)
async def get_shipment(number: str, session: ReadSession, _key: Reader) -> ShipmentOut:
    ret = await returns.get_return(session, number)
    shown = shipment_out(ret)
    if shown is None:
        raise shipments.no_shipment(ret)
    return shown


# The first download renders the file and records where it is kept, so these GETs write.
@router.get(
    "/{number}/label.pdf",
    response_class=Response,
    summary="The 4x6 in label and packing slip (PDF)",
    responses=_binary("application/pdf", "Page 1: the label; page 2 on: the packing slip"),
)
async def get_label(
    number: str, sessions: Sessions, storage: Storage, settings: AppSettings, _key: Reader
) -> Response:
    async with transaction(sessions) as session:
        data = await shipments.label_pdf(
            session, storage, number, merchant_name=settings.merchant_name
        )
    return file_response(data, "application/pdf", f"{normalise_return_number(number)}-label.pdf")


@router.get(
    "/{number}/qr.png",
    response_class=Response,
    summary="The QR code a drop-off point, locker, store or driver scans (PNG)",
    responses=_binary("image/png", "A QR code holding the tracking number"),
)
async def get_qr(number: str, sessions: Sessions, storage: Storage, _key: Reader) -> Response:
    async with transaction(sessions) as session:
        data = await shipments.dropoff_qr_png(session, storage, number)
    return file_response(data, "image/png", f"{normalise_return_number(number)}-qr.png")
