"""A return's label and drop-off QR code, for staff to print or show: the files the shopper
downloads from the portal, kept in the same place, so a reprint is the label first printed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reclaim.errors import Conflict, NotFound
from reclaim.logistics import shipments
from reclaim.logistics.label_routes import Storage, file_response
from reclaim.returns.rules import normalise_return_number
from reclaim.users.roles import Permission
from reclaim.web.console.auth import HOME, ConsoleRoute, Staff, require, writing

router = APIRouter(prefix=HOME, include_in_schema=False, route_class=ConsoleRoute)

Viewer = Annotated[Staff, Depends(require(Permission.VIEW_RETURNS))]


# The first download renders the file and records where it is kept, so these GETs write.
@router.get("/returns/{number}/label.pdf")
async def label_pdf(request: Request, number: str, staff: Viewer, storage: Storage) -> Response:
    merchant = request.app.state.settings.merchant_name
    try:
        async with writing(request) as session:
            data = await shipments.label_pdf(session, storage, number, merchant_name=merchant)
    except Conflict as exc:  # returnless, called off, or handed over by QR code only
        raise NotFound(exc.message, number=number) from exc
    return file_response(data, "application/pdf", f"{normalise_return_number(number)}-label.pdf")


@router.get("/returns/{number}/qr.png")
async def dropoff_qr_png(
    request: Request, number: str, staff: Viewer, storage: Storage
) -> Response:
    try:
        async with writing(request) as session:
            data = await shipments.dropoff_qr_png(session, storage, number)
    except Conflict as exc:
        raise NotFound(exc.message, number=number) from exc
    # Inline, so it opens in a tab to show a shopper at the desk; the page's link saves it.
    return file_response(
        data, "image/png", f"{normalise_return_number(number)}-qr.png", inline=True
    )
