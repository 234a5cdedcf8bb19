"""The shopper's way in (order lookup, return tracking) and the return's status page."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import timedelta

import segno
from fastapi import APIRouter, Request
from starlette.responses import Response

from reclaim.errors import Conflict, ReclaimError
from reclaim.kit.clock import utcnow
from reclaim.logistics import shipments
from reclaim.logistics.label_routes import file_response
from reclaim.logistics.models import Shipment
from reclaim.logistics.rules import Slot
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.returns.rules import normalise_return_number
from reclaim.returns.states import Status
from reclaim.returns.views import shipment_of
from reclaim.web import ratelimit
from reclaim.web.portal import data
from reclaim.web.portal.common import HOME, PageError, Portal, first
from reclaim.web.portal.money import shopper_money
from reclaim.web.portal.story import (
    HEADLINE,
    journey,
    live,
    next_steps,
    no_download,
    story,
)

router = APIRouter(prefix=HOME, include_in_schema=False)

NOT_FOUND = (
    "We couldn't find an order with that number and e-mail address. "
    "Check both (the order number is in your order confirmation e-mail) and try again."
)
NOT_FOUND_RETURN = (
    "We couldn't find a return with that number and e-mail address. "
    "Check both (the RMA number is in your return confirmation) and try again."
)
TOO_MANY = "Too many attempts. For your security, please wait {wait} and try again."
# Statuses in which nothing has been handed to a carrier yet, so the shopper may still cancel.
CANCELLABLE = frozenset({Status.REQUESTED, Status.REVIEW, Status.APPROVED})


@router.get("")
async def lookup_page(request: Request) -> Response:
    portal = Portal(request)
    expired = request.query_params.get("expired") == "1" or portal.session.expired
    return portal.render("portal/lookup.html", {"expired": expired, "form": {}})


async def _allowed(portal: Portal, kind: str, subject: str, email: str) -> bool:
    settings = portal.settings
    client = portal.request.client.host if portal.request.client else "unknown"
    keys = [
        ratelimit.limit_key("email", email),
        ratelimit.limit_key(kind, subject),
        ratelimit.limit_key("client", client),
    ]
    async with portal.db(write=True) as session:
        return await ratelimit.hit(
            session,
            keys,
            utcnow(),
            timedelta(minutes=settings.lookup_window_minutes),
            settings.lookup_limit,
        )


def _too_many(portal: Portal) -> str:
    minutes = portal.settings.lookup_window_minutes
    return TOO_MANY.format(wait=f"{minutes} minute{'s' if minutes != 1 else ''}")


async def _steady(started: float, floor_ms: int) -> None:
    """Answer no sooner than the floor, so a wrong number and a wrong e-mail take as long."""
    left = floor_ms / 1000 - (time.monotonic() - started)
    if left > 0:
        await asyncio.sleep(left)


@router.post("/lookup")
async def lookup(request: Request) -> Response:
    started = time.monotonic()
    portal = Portal(request)
    form = await portal.check_csrf()
    order_number, email = first(form, "order_number").strip(), first(form, "email").strip()
    shown = {"order_number": order_number, "email": email}
    if (
        not order_number
        or not email
        or len(order_number) > 64
        or len(email) > 320
        or "\x00" in order_number + email  # PostgreSQL can't even be asked about U+0000
    ):
        return portal.render(
            "portal/lookup.html",
            {
                "error": "Enter your order number and the e-mail address you ordered with.",
                "form": shown,
            },
            400,
        )
    if not await _allowed(portal, "order", order_number, email):
        await _steady(started, portal.settings.lookup_min_ms)
        return portal.render("portal/lookup.html", {"error": _too_many(portal), "form": shown}, 429)
    async with portal.db() as session:
        order = await data.find_order(session, order_number, email)
    await _steady(started, portal.settings.lookup_min_ms)
    if order is None:
        return portal.render("portal/lookup.html", {"error": NOT_FOUND, "form": shown}, 400)
    portal.session.rotate(order.external_id)
    return portal.redirect(f"{HOME}/order")


@router.post("/track")
async def track(request: Request) -> Response:
    started = time.monotonic()
    portal = Portal(request)
    form = await portal.check_csrf()
    typed, email = first(form, "rma").strip(), first(form, "email").strip()
    shown = {"rma": typed, "track_email": email}
    try:
        number = normalise_return_number(typed)
    except ReclaimError:
        number = None
    if number is None or not email or len(email) > 320:
        return portal.render(
            "portal/lookup.html",
            {
                "track_error": "Enter your RMA number (like RMA-7KQ3X-M9P2D) and your e-mail.",
                "form": shown,
            },
            400,
        )
    if not await _allowed(portal, "return", number, email):
        await _steady(started, portal.settings.lookup_min_ms)
        return portal.render(
            "portal/lookup.html", {"track_error": _too_many(portal), "form": shown}, 429
        )
    async with portal.db() as session:
        ret = await data.find_return(session, number, email)
    await _steady(started, portal.settings.lookup_min_ms)
    if ret is None:
        return portal.render(
            "portal/lookup.html", {"track_error": NOT_FOUND_RETURN, "form": shown}, 400
        )
    portal.session.rotate(ret.order.external_id)
    return portal.redirect(f"{HOME}/r/{ret.number}")


@router.post("/logout")
async def logout(request: Request) -> Response:
    portal = Portal(request)
    await portal.check_csrf()
    portal.session.rotate(None)
    return portal.redirect(HOME)


async def _own_return(portal: Portal, number: str):  # type: ignore[no-untyped-def]
    order_id = portal.order_id()
    try:
        canonical = normalise_return_number(number)
    except ReclaimError:
        canonical = None
    async with portal.db() as session:
        ret = canonical and await data.return_for_order(session, canonical, order_id)
    if not ret:
        raise PageError(
            404,
            "Return not found",
            "There's no such return on this order. Look it up again with its RMA number.",
            retry=HOME,
        )
    return ret


@router.get("/r/{number}")
async def status_page(request: Request, number: str) -> Response:
    portal = Portal(request)
    ret = await _own_return(portal, number)
    async with portal.db() as session:
        money = await shopper_money(session, ret)
    shipment = live(shipment_of(ret))
    # What to hand over shows until the parcel is on its way; the tracking number stays.
    handover = shipment if shipment and Status(ret.status) is Status.APPROVED else None
    qr = None
    if handover is not None:
        # A full QR code, not a Micro QR: drop-off scanners and phone cameras read only these.
        qr = segno.make_qr(handover.tracking_number, error="m").svg_inline(
            scale=5, dark="#111", border=4
        )
    slot = (
        Slot(shipment.pickup_start, shipment.pickup_end).label
        if shipment and shipment.pickup_start and shipment.pickup_end
        else None
    )
    return portal.render(
        "portal/status.html",
        {
            "ret": ret,
            "story": story(ret),
            "headline": HEADLINE[Status(ret.status)],
            "steps": next_steps(ret),
            "decision": ret.decision or {},
            "shipment": shipment,
            "handover": handover,
            "labelled": handover is not None and handover.kind in shipments.LABEL_KINDS,
            "slot": slot,
            "pickup_from": shipments.shipped_to(ret.order) if slot else (),
            "legs": journey(shipment) if shipment else [],
            "qr": qr,
            "new": request.query_params.get("new") == "1",
            "can_cancel": Status(ret.status) in CANCELLABLE,
            "money": money,
        },
    )


def _usable(ret: Return, *, label: bool) -> Shipment:
    """The shipment to download a label or code of, or a page saying why there is none."""
    shipment = live(shipment_of(ret))
    why = no_download(ret, shipment, label=label)
    if why is not None:
        raise PageError(
            409,
            "There's no label to download" if label else "There's no QR code to show",
            why,
            retry=f"{HOME}/r/{ret.number}",
        )
    assert shipment is not None  # no_download names a reason whenever there is none
    return shipment


async def _stored_file(portal: Portal, ret: Return, *, label: bool) -> bytes:
    """The label or QR code, rendered and kept the first time the shopper asks for it."""
    try:
        async with portal.db(write=True) as session:
            if label:
                return await shipments.label_pdf(
                    session,
                    portal.storage,
                    ret.number,
                    merchant_name=portal.settings.merchant_name,
                )
            return await shipments.dropoff_qr_png(session, portal.storage, ret.number)
    except Conflict as exc:  # cancelled since the page was shown
        raise PageError(
            409, "This return can't be sent back", exc.message, retry=f"{HOME}/r/{ret.number}"
        ) from exc


@router.get("/r/{number}/label.pdf")
async def label(request: Request, number: str) -> Response:
    portal = Portal(request)
    ret = await _own_return(portal, number)
    _usable(ret, label=True)
    pdf = await _stored_file(portal, ret, label=True)
    return file_response(pdf, "application/pdf", f"{ret.number}-label.pdf")


@router.get("/r/{number}/dropoff.png")
async def dropoff_code(request: Request, number: str) -> Response:
    portal = Portal(request)
    ret = await _own_return(portal, number)
    _usable(ret, label=False)
    png = await _stored_file(portal, ret, label=False)
    # Inline, so it opens in a tab to show at the counter; the page's link saves it instead.
    return file_response(png, "image/png", f"{ret.number}-qr.png", inline=True)


@router.get("/r/{number}/qr.svg")
async def qr_code(request: Request, number: str) -> Response:
    portal = Portal(request)
    ret = await _own_return(portal, number)
    shipment = _usable(ret, label=False)
    buffer = io.BytesIO()
    segno.make_qr(shipment.tracking_number, error="m").save(buffer, kind="svg", scale=8, border=4)
    return Response(
        buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "private"}
    )


@router.post("/r/{number}/cancel")
async def cancel(request: Request, number: str) -> Response:
    portal = Portal(request)
    await portal.check_csrf()
    ret = await _own_return(portal, number)
    if Status(ret.status) not in CANCELLABLE:
        raise PageError(
            409,
            "This return can't be cancelled",
            "It's already on its way back to us. Once it arrives we'll process it as planned.",
            retry=f"{HOME}/r/{ret.number}",
        )
    try:
        async with portal.db(write=True) as session:
            await returns.cancel(
                session,
                ret.number,
                returns.Actor("customer", utcnow()),
                "Cancelled by the shopper.",
            )
    except ReclaimError as exc:
        raise PageError(409, "This return can't be cancelled", exc.message) from exc
    return portal.redirect(f"{HOME}/r/{ret.number}")
