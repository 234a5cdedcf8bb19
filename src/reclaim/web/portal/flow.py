"""Starting a return, one short step at a time: items, reasons, resolution, method, confirm.

The return being put together lives in the signed session cookie, so every step is a plain
form post followed by a redirect, and the back button and a reload never submit twice.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from reclaim.errors import ReclaimError
from reclaim.files.models import ReturnPhoto
from reclaim.files.photos import (
    MAX_PHOTOS_PER_LINE,
    Photo,
    check_photo,
    file_size,
    new_photo,
)
from reclaim.kit.clock import utcnow
from reclaim.logistics import service as logistics
from reclaim.logistics.rules import FACILITY_METHODS, pickup_slots
from reclaim.policy.facts import Ask
from reclaim.policy.rules import Decision, decide
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.returns.schemas import ReturnIn
from reclaim.returns.states import Method, Reason, Resolution
from reclaim.web.portal import data
from reclaim.web.portal.common import HOME, PageError, Portal, first
from reclaim.web.security import PortalSession

router = APIRouter(prefix=HOME, include_in_schema=False)

REASONS: dict[Reason, str] = {
    Reason.TOO_SMALL: "Too small",
    Reason.TOO_LARGE: "Too large",
    Reason.STYLE_NOT_AS_EXPECTED: "Style isn't what I expected",
    Reason.NO_LONGER_NEEDED: "No longer needed",
    Reason.ORDERED_BY_MISTAKE: "Ordered by mistake",
    Reason.BETTER_PRICE: "Found a better price",
    Reason.DEFECTIVE: "Faulty or doesn't work",
    Reason.NOT_AS_DESCRIBED: "Not as described",
    Reason.WRONG_ITEM: "Wrong item sent",
    Reason.MISSING_PARTS: "Parts or accessories missing",
    Reason.QUALITY_NOT_AS_EXPECTED: "Quality isn't what I expected",
    Reason.DAMAGED_IN_TRANSIT: "Arrived damaged",
    Reason.ARRIVED_TOO_LATE: "Arrived too late",
    Reason.UNAUTHORIZED_PURCHASE: "I didn't order this",
}
FIT_REASONS = frozenset({Reason.TOO_SMALL, Reason.TOO_LARGE})
PHOTO_REASONS = frozenset({Reason.DAMAGED_IN_TRANSIT, Reason.DEFECTIVE, Reason.WRONG_ITEM})
RESOLUTIONS = {
    Resolution.REFUND: "Refund to your original payment",
    Resolution.STORE_CREDIT: "Store credit",
    Resolution.EXCHANGE: "Exchange for another size or colour",
}
METHODS = {
    Method.BOX_FREE_DROPOFF: "Drop off, no box or printer needed",
    Method.LOCKER: "Parcel locker",
    Method.IN_STORE: "Return in store",
    Method.PREPAID_LABEL: "Prepaid label, any carrier drop-off point",
    Method.SCHEDULED_PICKUP: "Pickup from your door",
}
MAX_COMMENT = 2000
# What the later steps add to the draft in the cookie (resolution, exchange, method, place).
DRAFT_ROOM = 400


async def _view(portal: Portal, session: AsyncSession) -> data.OrderView:
    order = await data.load_order(session, portal.order_id())
    if order is None:  # the shop removed it since the lookup
        portal.session.rotate(None)
        raise PageError(404, "Order not found", "Look your order up again.", retry=HOME)
    return await data.order_view(session, order, portal.policy, utcnow())


def _draft(portal: Portal) -> dict[str, Any]:
    return portal.session.draft


def _asks(draft: dict[str, Any], resolution: str | None = None) -> list[Ask]:
    out = []
    for ref, quantity in draft.get("lines", {}).items():
        said = draft.get("asks", {}).get(ref)
        if said is None:
            continue
        out.append(
            Ask(
                ref,
                int(quantity),
                Reason(said["reason"]),
                Resolution(resolution or draft.get("resolution") or Resolution.REFUND),
                bool(said.get("opened")),
            )
        )
    return out


def _decide(
    portal: Portal,
    view: data.OrderView,
    draft: dict[str, Any],
    *,
    resolution: str | None = None,
    method: Method | None = None,
    now: datetime | None = None,
) -> Decision:
    return decide(
        portal.policy.policy, view.facts, _asks(draft, resolution), method, now or utcnow()
    )


def _need(portal: Portal, *keys: str) -> str | None:
    """The step to go back to when the draft lacks what this step builds on."""
    draft = _draft(portal)
    for key, step in (
        ("lines", "order"),
        ("asks", "reasons"),
        ("resolution", "resolution"),
        ("method", "method"),
    ):
        if key in keys and not draft.get(key):
            return f"{HOME}/{step}"
    return None


# Step 1: which items --------------------------------------------------------------------------


@router.get("/order")
async def items_page(request: Request) -> Response:
    portal = Portal(request)
    async with portal.db() as session:
        view = await _view(portal, session)
        existing = await data.returns_of(session, view.order)
    return portal.render(
        "portal/items.html",
        {"view": view, "existing": existing, "chosen": _draft(portal).get("lines", {})},
    )


@router.post("/order")
async def choose_items(request: Request) -> Response:
    portal = Portal(request)
    form = await portal.check_csrf()
    async with portal.db() as session:
        view = await _view(portal, session)
        existing = await data.returns_of(session, view.order)
    chosen: dict[str, int] = {}
    errors: dict[str, str] = {}
    for ref, verdict in view.verdicts.items():
        if first(form, f"pick-{ref}") != "1":
            continue
        text = first(form, f"qty-{ref}", "1")
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        quantity = int(text) if text.isdecimal() and len(text) < 6 else 0
        if not verdict.returnable:
            errors[ref] = verdict.explanation.text
        elif not 1 <= quantity <= verdict.quantity:
            errors[ref] = f"Choose between 1 and {verdict.quantity}."
        else:
            chosen[ref] = quantity
    if not chosen and not errors:
        errors["_"] = "Choose at least one item to return."
    if errors:
        return portal.render(
            "portal/items.html",
            {"view": view, "existing": existing, "chosen": chosen, "errors": errors},
            400,
        )
    portal.session.draft = {"id": secrets.token_urlsafe(16), "lines": chosen}
    return portal.redirect(f"{HOME}/reasons")


# Step 2: why -----------------------------------------------------------------------------------


async def _reason_context(
    portal: Portal, session: AsyncSession, view: data.OrderView
) -> dict[str, Any]:
    fees = portal.policy.policy.fees
    lines = []
    for ref, quantity in _draft(portal).get("lines", {}).items():
        line = view.line(ref)
        sizes = [
            str(v.attributes.get("size"))
            for v in await data.variants(session, line.product)
            if v.attributes.get("size")
        ]
        restocking = fees.restocking_percent > 0 and (
            not fees.restocking_categories or line.product.category in fees.restocking_categories
        )
        lines.append({"line": line, "quantity": quantity, "sizes": sizes, "ask_opened": restocking})
    return {
        "lines": lines,
        "reasons": REASONS,
        "fit_reasons": [r.value for r in FIT_REASONS],
        "photo_reasons": [r.value for r in PHOTO_REASONS],
        "said": _draft(portal).get("asks", {}),
        "max_photos": MAX_PHOTOS_PER_LINE,
        "max_mb": portal.settings.max_photo_bytes // 1_048_576,
        # The limit in words at any size ("1.5 MB", "512 KB"); max_mb reads 0 below 1 MB.
        "max_size": file_size(portal.settings.max_photo_bytes),
    }


@router.get("/reasons")
async def reasons_page(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines"):
        return portal.redirect(back)
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _reason_context(portal, session, view)
    return portal.render("portal/reasons.html", context)


async def _photos(portal: Portal, uploads: list[Any], reason: Reason) -> list[tuple[Photo, bytes]]:
    """The line's photos, checked but not stored: the step may still be refused."""
    files = [u for u in uploads if isinstance(u, UploadFile) and (u.filename or u.size)]
    if not files:
        return []
    if reason not in PHOTO_REASONS:
        raise ReclaimError("Photos are only needed for damaged, faulty or wrong items.")
    if len(files) > MAX_PHOTOS_PER_LINE:
        raise ReclaimError(f"Send up to {MAX_PHOTOS_PER_LINE} photos per item.")
    checked = []
    for upload in files:
        data_bytes = await upload.read(portal.settings.max_photo_bytes + 1)
        content_type, ext = check_photo(
            upload.filename or "",
            data_bytes,
            portal.settings.max_photo_bytes,
            size=upload.size,
        )
        checked.append((new_photo(data_bytes, content_type, ext), data_bytes))
    return checked


def _entry(photo: Photo) -> dict[str, Any]:
    return {
        "k": photo.storage_key,
        "t": photo.content_type,
        "s": photo.size_bytes,
        "h": photo.sha256,
    }


async def _refuse_reasons(portal: Portal, errors: dict[str, str]) -> Response:
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _reason_context(portal, session, view)
    return portal.render("portal/reasons.html", {**context, "errors": errors}, 400)


@router.post("/reasons")
async def give_reasons(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines"):
        return portal.redirect(back)
    form = await portal.check_csrf()
    draft = _draft(portal)
    said: dict[str, Any] = {}
    errors: dict[str, str] = {}
    checked: dict[str, list[tuple[Photo, bytes]]] = {}
    for ref in draft["lines"]:
        try:
            reason = Reason(first(form, f"reason-{ref}"))
        except ValueError:
            errors[ref] = "Tell us why you're returning this item."
            continue
        comment = first(form, f"comment-{ref}").strip()[:MAX_COMMENT].replace("\x00", "")
        fit = (
            first(form, f"fit-{ref}").strip()[:32].replace("\x00", "")
            if reason in FIT_REASONS
            else ""
        )
        try:
            checked[ref] = await _photos(portal, form.get(f"photos-{ref}") or [], reason)
        except ReclaimError as exc:
            errors[ref] = exc.message
            continue
        said[ref] = {
            "reason": reason.value,
            "comment": comment or None,
            "fit_size": fit or None,
            "opened": first(form, f"opened-{ref}") == "1",
        }
    if errors:
        return await _refuse_reasons(portal, errors)
    for ref, line in said.items():
        previous = draft.get("asks", {}).get(ref, {})
        # A photo sent earlier stays unless new ones replace it.
        line["photos"] = [_entry(photo) for photo, _ in checked[ref]] or (
            previous.get("photos", []) if previous.get("reason") == line["reason"] else []
        )
    # The draft travels in the cookie; one too big for a browser would be dropped silently,
    # leaving the shopper going round in circles. Keep room for the steps still to come.
    trial = PortalSession(portal.session.csrf, portal.session.order_id, {**draft, "asks": said})
    if portal.codec.room(trial) < DRAFT_ROOM:
        return await _refuse_reasons(
            portal,
            {"_": "That's more than we can keep for one return: please shorten your comments."},
        )
    # Every line is fine: only now are its photos stored.
    for photo, data_bytes in (item for items in checked.values() for item in items):
        portal.storage.put(photo.storage_key, data_bytes)
    draft["asks"] = said
    return portal.redirect(f"{HOME}/resolution")


# Step 3: what the shopper wants back -----------------------------------------------------------


async def _resolution_context(
    portal: Portal, session: AsyncSession, view: data.OrderView
) -> dict[str, Any]:
    draft = _draft(portal)
    base = _decide(portal, view, draft)
    allowed = set(RESOLUTIONS)
    for ref in draft["lines"]:
        allowed &= base.options.resolutions.get(ref, frozenset())
    choices: dict[str, list[Any]] = {}
    for ref in draft["lines"]:
        line = view.line(ref)
        choices[ref] = [v for v in await data.variants(session, line.product)]
    if not all(choices.values()):
        allowed.discard(Resolution.EXCHANGE)
    options = []
    for resolution in RESOLUTIONS:
        if resolution not in allowed:
            continue
        decision = _decide(portal, view, draft, resolution=resolution.value)
        options.append(
            {"value": resolution.value, "label": RESOLUTIONS[resolution], "decision": decision}
        )
    return {
        "options": options,
        "variants": {ref: variants for ref, variants in choices.items()},
        "lines": [view.line(ref) for ref in draft["lines"]],
        "chosen": draft.get("resolution"),
        "exchange": draft.get("exchange", {}),
        "currency": view.order.currency,
        "refused": base if not base.eligible else None,
    }


@router.get("/resolution")
async def resolution_page(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines", "asks"):
        return portal.redirect(back)
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _resolution_context(portal, session, view)
    return portal.render("portal/resolution.html", context)


@router.post("/resolution")
async def choose_resolution(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines", "asks"):
        return portal.redirect(back)
    form = await portal.check_csrf()
    draft = _draft(portal)
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _resolution_context(portal, session, view)
    chosen = first(form, "resolution")
    offered = {option["value"] for option in context["options"]}
    error = None
    exchange: dict[str, str] = {}
    if chosen not in offered:
        error = "Choose what you'd like instead of the item."
    elif chosen == Resolution.EXCHANGE:
        for ref, variants in context["variants"].items():
            sku = first(form, f"exchange-{ref}")
            if sku not in {v.sku for v in variants}:
                error = "Choose the size or colour you'd like for each item."
                break
            exchange[ref] = sku
    if error:
        return portal.render("portal/resolution.html", {**context, "error": error}, 400)
    draft["resolution"] = chosen
    draft["exchange"] = exchange
    if _decide(portal, view, draft).returnless:
        draft["method"] = Method.PREPAID_LABEL.value  # nothing travels: the policy keeps it
        return portal.redirect(f"{HOME}/confirm")
    return portal.redirect(f"{HOME}/method")


# Step 4: how it comes back ---------------------------------------------------------------------


async def _method_context(
    portal: Portal, session: AsyncSession, view: data.OrderView
) -> dict[str, Any]:
    draft = _draft(portal)
    base = _decide(portal, view, draft)
    options = []
    for method, label in METHODS.items():
        if method not in base.options.methods:
            continue
        places = []
        if method in FACILITY_METHODS:
            places = await logistics.nearby(session, view.order, method, limit=3)
            if not places:
                continue  # nowhere to take it: don't offer what can't be done
        decision = _decide(portal, view, draft, method=method)
        fee = decision.quote.fees_minor if decision.quote else 0
        options.append({"value": method.value, "label": label, "places": places, "fee": fee})
    slots = pickup_slots(portal.policy.policy.pickup, utcnow())
    return {
        "options": options,
        "slots": slots,
        "chosen": draft.get("method"),
        "facility": draft.get("facility"),
        "pickup": draft.get("pickup"),
        "currency": view.order.currency,
    }


@router.get("/method")
async def method_page(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines", "asks", "resolution"):
        return portal.redirect(back)
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _method_context(portal, session, view)
    return portal.render("portal/method.html", context)


@router.post("/method")
async def choose_method(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines", "asks", "resolution"):
        return portal.redirect(back)
    form = await portal.check_csrf()
    draft = _draft(portal)
    async with portal.db() as session:
        view = await _view(portal, session)
        context = await _method_context(portal, session, view)
    chosen = first(form, "method")
    option = next((o for o in context["options"] if o["value"] == chosen), None)
    error, facility, pickup = None, None, None
    if option is None:
        error = "Choose how you'll send the items back."
    elif option["places"]:
        facility = first(form, f"facility-{chosen}")
        if facility not in {near.facility.code for near in option["places"]}:
            error = "Choose where you'll drop it off."
    elif chosen == Method.SCHEDULED_PICKUP:
        pickup = first(form, "pickup")
        if pickup not in {slot.start.isoformat() for slot in context["slots"]}:
            error = "Choose a pickup slot."
    if error:
        return portal.render("portal/method.html", {**context, "error": error}, 400)
    draft.update(method=chosen, facility=facility, pickup=pickup)
    return portal.redirect(f"{HOME}/confirm")


# Step 5: check and confirm ---------------------------------------------------------------------


def _request(portal: Portal, draft: dict[str, Any]) -> ReturnIn:
    return ReturnIn.model_validate(
        {
            "order_id": portal.order_id(),
            "method": draft["method"],
            "facility": draft.get("facility"),
            "pickup_start": draft.get("pickup"),
            "lines": [
                {
                    "line_id": ref,
                    "quantity": quantity,
                    "reason": draft["asks"][ref]["reason"],
                    "comment": draft["asks"][ref]["comment"],
                    "fit_size": draft["asks"][ref]["fit_size"],
                    "opened": draft["asks"][ref]["opened"],
                    "resolution": draft["resolution"],
                    "exchange_sku": draft.get("exchange", {}).get(ref),
                }
                for ref, quantity in draft["lines"].items()
            ],
        }
    )


@router.get("/confirm")
async def confirm_page(request: Request) -> Response:
    portal = Portal(request)
    if back := _need(portal, "lines", "asks", "resolution", "method"):
        return portal.redirect(back)
    draft = _draft(portal)
    async with portal.db() as session:
        view = await _view(portal, session)
        decision = _decide(portal, view, draft, method=Method(draft["method"]))
        place = None
        if draft.get("facility"):
            place = await logistics.facility_for(
                session, draft["facility"], Method(draft["method"])
            )
    return portal.render(
        "portal/confirm.html",
        {
            "view": view,
            "draft": draft,
            "decision": decision,
            "place": place,
            "reasons": REASONS,
            "resolutions": RESOLUTIONS,
            "methods": METHODS,
            "slot": next(
                (
                    s
                    for s in pickup_slots(portal.policy.policy.pickup, utcnow())
                    if s.start.isoformat() == draft.get("pickup")
                ),
                None,
            ),
        },
    )


async def _existing(portal: Portal, token: str) -> str | None:
    async with portal.db() as session:
        number: str | None = await session.scalar(
            select(Return.number).where(Return.client_token == token)
        )
    return number


@router.post("/confirm")
async def confirm(request: Request) -> Response:
    portal = Portal(request)
    await portal.check_csrf()
    draft = _draft(portal)
    token = f"portal:{draft.get('id', '')}"
    if draft.get("id") and (done := await _existing(portal, token)):
        return portal.redirect(f"{HOME}/r/{done}?new=1")  # sent twice: show the one return
    if back := _need(portal, "lines", "asks", "resolution", "method"):
        return portal.redirect(back)
    try:
        wanted = _request(portal, draft)
    except ValidationError:
        portal.session.draft = {}
        raise PageError(
            400,
            "Let's start again",
            "Something in this return didn't add up.",
            retry=f"{HOME}/order",
        ) from None
    try:
        async with portal.db(write=True) as session:
            ret = await returns.create_return(
                session,
                wanted,
                returns.Actor("customer", utcnow()),
                policy=portal.policy,
                channel="portal",
                client_token=token,
                carrier=portal.settings.carrier,
            )
            for line in ret.lines:
                for photo in draft["asks"][line.order_line.line_ref].get("photos", []):
                    session.add(
                        ReturnPhoto(
                            return_line_id=line.id,
                            storage_key=photo["k"],
                            content_type=photo["t"],
                            size_bytes=photo["s"],
                            sha256=photo["h"],
                        )
                    )
            number = ret.number
    except IntegrityError:
        # A second submission raced the first past the check above; show the one that won.
        if done := await _existing(portal, token):
            return portal.redirect(f"{HOME}/r/{done}?new=1")
        raise
    except ReclaimError as exc:
        # A racing submission of this same draft may have won and used up the units it asks
        # for; then this one is a duplicate, not a refusal.
        if done := await _existing(portal, token):
            return portal.redirect(f"{HOME}/r/{done}?new=1")
        raise PageError(
            409, "We couldn't start this return", exc.message, retry=f"{HOME}/order"
        ) from exc
    portal.session.draft = {}
    return portal.redirect(f"{HOME}/r/{number}?new=1")
