"""The inspection station: scan a parcel, receive it, inspect and grade each line against its
checklist, route it where it recovers most, print its bin tag, and complete the return.

Built for a barcode scanner and a keyboard: the scan field takes a tracking number, an RMA or a
QR code's content followed by Enter, and every page puts the focus on the next thing to do. A
form that works redirects (303) to the next step, saying what happened; one the domain refuses
shows its page again with the reason next to the form, having changed nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from reclaim.api.problems import status_for
from reclaim.config import Settings
from reclaim.errors import ReclaimError, ValidationFailed
from reclaim.files.photos import file_size
from reclaim.returns import service as returns
from reclaim.returns.lifecycle import canonical_number
from reclaim.returns.states import Disposition, Grade
from reclaim.users.roles import Permission
from reclaim.warehouse import bintag, configured, dispositions, inspection, receiving
from reclaim.warehouse.disposition_rules import label_of, location_for
from reclaim.warehouse.grading import NO, YES, Question, Suggestion, grade_words, suggest_grade
from reclaim.web.console import forms, search, warehouse_pages
from reclaim.web.console import station_view as views
from reclaim.web.console.auth import (
    HOME,
    ConsoleRoute,
    Staff,
    reading,
    redirect,
    render,
    require,
    require_form,
    writing,
)
from reclaim.web.console.station_view import STATION, line_url, station_url

router = APIRouter(prefix=HOME, include_in_schema=False, route_class=ConsoleRoute)
router.include_router(warehouse_pages.router)

Receiver = Annotated[Staff, Depends(require(Permission.RECEIVE))]
ReceiverForm = Annotated[Staff, Depends(require_form(Permission.RECEIVE))]
Inspector = Annotated[Staff, Depends(require(Permission.INSPECT))]
InspectorForm = Annotated[Staff, Depends(require_form(Permission.INSPECT))]
Sorter = Annotated[Staff, Depends(require(Permission.DISPOSITION))]
SorterForm = Annotated[Staff, Depends(require_form(Permission.DISPOSITION))]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _then(view: views.StationView) -> str:
    """Where the station goes after an action: the next line's step, else the return."""
    following = view.next()
    return (
        station_url(view.ret.number) if following is None or following.complete else following.url
    )


# --- scanning ------------------------------------------------------------------------------------


@router.get("/station")
async def scan_page(request: Request, staff: Receiver, code: str = "") -> Response:
    scanned = code.strip()
    if not scanned:
        return render(request, "console/station.html", staff, missing=None)
    async with reading(request) as session:
        found = await search.search(session, scanned)
    if found.exact:
        return RedirectResponse(station_url(found.exact), status_code=303)
    return render(request, "console/station.html", staff, status_code=404, missing=scanned[:80])


# --- a return: receiving and completing ----------------------------------------------------------


async def _return_page(
    request: Request,
    staff: Staff,
    number: str,
    *,
    error: ReclaimError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    async with reading(request) as session:
        view = await views.load(session, number)
    return render(
        request,
        "console/station_return.html",
        staff,
        status_code=status_for(error) if error else 200,
        view=view,
        ret=view.ret,
        following=view.next(),
        error=error.message if error else None,
        typed=typed,
    )


@router.get("/station/{number}")
async def return_page(request: Request, number: str, staff: Receiver) -> Response:
    return await _return_page(request, staff, number)


@router.post("/station/{number}/receive")
async def receive(request: Request, number: str, staff: ReceiverForm) -> Response:
    form = await request.form()
    once = forms.one_time(form, staff.id)
    try:
        async with reading(request) as session:
            before = await views.load(session, number)
        parcel = views.parcel_from(form, before)
        async with writing(request) as session:
            await once.claim(session, station_url(before.ret.number))
            result = await receiving.receive_parcel(
                session,
                number,
                staff.actor(),
                parcel,
                terms=configured.recovery(_settings(request)),
            )
            done, flags = result.ret.number, result.flags
            units = sum(result.receipt.lines.values())
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _return_page(request, staff, number, error=error, typed=views.typed(form))
    products = {line.line.id: line.product.name for line in before.lines}
    said = (
        f"Received {units} unit{'s' if units != 1 else ''} of {done}."
        if units
        else f"Recorded a parcel for {done}; nothing in it was received."
    )
    if flags:
        found = "; ".join(views.flag_text(flag, products) for flag in flags)
        said += f" Sent to review: {found}."
    return redirect(request, station_url(done), said)


@router.post("/station/{number}/complete")
async def complete(request: Request, number: str, staff: SorterForm) -> Response:
    once = forms.one_time(await request.form(), staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, STATION)
            done = (await returns.complete(session, number, staff.actor())).number
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _return_page(request, staff, number, error=error)
    return redirect(request, STATION, f"Completed {done}. Scan the next parcel.")


# --- inspecting a line ---------------------------------------------------------------------------


def _picks(question: Question) -> list[tuple[str, str]]:
    """A question's answers as (value sent, words shown)."""
    if question.kind == "yes_no":
        return [(YES, "Yes"), (NO, "No")]
    return [(choice, choice.capitalize()) for choice in question.choices]


async def _inspect_page(
    request: Request,
    staff: Staff,
    number: str,
    ref: str,
    *,
    answers: dict[str, str] | None = None,
    suggestion: Suggestion | None = None,
    error: ReclaimError | None = None,
    failed: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    settings = _settings(request)
    async with reading(request) as session:
        view = await views.load(session, number)
        line = view.line(ref)
        checklist = await inspection.checklist_for_line(
            session, number, ref, checklists=configured.checklists(settings)
        )
        done = await inspection.inspection_of(session, line.line)
    problems = error.details.get("problems", {}) if error else {}
    if error is None:
        where = None
    elif failed in ("photo", "answers"):
        where = failed
    else:
        # The grade choice's refusal belongs next to the reason it asks for.
        where = "reason" if "chosen" in error.details else "top"
    return render(
        request,
        "console/station_inspect.html",
        staff,
        status_code=status_for(error) if error else 200,
        view=view,
        ret=view.ret,
        line=line,
        checklist=checklist,
        done=done,
        answers=answers or {},
        suggestion=suggestion,
        error=error.message if error else None,
        problems=problems if isinstance(problems, dict) else {},
        where=where,
        picks=_picks,
        typed=typed or {},
        grades=list(Grade),
        words=grade_words,
        max_size=file_size(settings.max_photo_bytes),
    )


@router.get("/station/{number}/lines/{ref}/inspect")
async def inspect_page(request: Request, number: str, ref: str, staff: Inspector) -> Response:
    return await _inspect_page(request, staff, number, ref)


@router.post("/station/{number}/lines/{ref}/inspect")
async def inspect(request: Request, number: str, ref: str, staff: InspectorForm) -> Response:
    form = await request.form()
    settings = _settings(request)
    checklists = configured.checklists(settings)
    async with reading(request) as session:
        checklist = await inspection.checklist_for_line(session, number, ref, checklists=checklists)
    answers = views.answers_from(form, checklist)
    shown: dict[str, Any] = {"answers": answers, "typed": views.typed(form)}
    try:
        suggestion = suggest_grade(checklist, answers)
    except ValidationFailed as error:
        return await _inspect_page(
            request, staff, number, ref, error=error, failed="answers", **shown
        )
    if form.get("step") != "confirm":
        return await _inspect_page(request, staff, number, ref, suggestion=suggestion, **shown)
    once = forms.one_time(form, staff.id)
    try:
        async with writing(request) as session:
            await once.claim(session, station_url(canonical_number(number)))
            graded = await inspection.inspect_line(
                session,
                number,
                ref,
                staff.actor(),
                answers=answers,
                grade=views.grade_from(form),
                override_reason=views.text(form, "override_reason") or None,
                note=views.text(form, "note") or None,
                checklists=checklists,
            )
            chosen = Grade(graded.grade)
            view = await views.load(session, number)
            # Held by a flag: the next step is the agent's, not this line's routing.
            then = station_url(view.ret.number) if suggestion.flags else _then(view)
            await once.lead_to(session, then)
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _inspect_page(
            request, staff, number, ref, suggestion=suggestion, error=error, failed="grade", **shown
        )
    said = f"Graded {view.line(ref).product.name} {grade_words(chosen)}."
    if suggestion.flags:
        why = " ".join(flag.because for flag in suggestion.flags)
        said += f" Flagged for an agent; it can't be routed until that is resolved. {why}"
    return redirect(request, then, said)


@router.post("/station/{number}/lines/{ref}/photos")
async def add_photo(request: Request, number: str, ref: str, staff: InspectorForm) -> Response:
    form = await request.form()
    upload = form.get("photo")
    settings = _settings(request)
    once = forms.one_time(form, staff.id)
    try:
        if not isinstance(upload, UploadFile) or not (upload.filename or upload.size):
            raise ValidationFailed("Choose or take a photo first.")
        data = await upload.read(settings.max_photo_bytes + 1)
        back = line_url(canonical_number(number), ref, "inspect")
        async with writing(request) as session:
            await once.claim(session, back)
            await inspection.attach_photo(
                session,
                request.app.state.storage,
                number,
                ref,
                data,
                staff.actor(),
                max_bytes=settings.max_photo_bytes,
                filename=upload.filename or "The photo",
            )
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _inspect_page(request, staff, number, ref, error=error, failed="photo")
    return redirect(request, back, "Photo added to the line.")


# --- routing a line ------------------------------------------------------------------------------


async def _route_page(
    request: Request,
    staff: Staff,
    number: str,
    ref: str,
    *,
    error: ReclaimError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    terms = configured.recovery(_settings(request))
    async with reading(request) as session:
        view = await views.load(session, number)
        line = view.line(ref)
        advice = (
            await dispositions.advise(session, number, ref, terms=terms)
            if line.line.grade is not None
            else None
        )
    return render(
        request,
        "console/station_route.html",
        staff,
        status_code=status_for(error) if error else 200,
        view=view,
        ret=view.ret,
        line=line,
        advice=advice,
        labels={channel: label_of(channel, terms) for channel in Disposition},
        locations={channel: location_for(channel, terms) for channel in Disposition},
        currency=line.product.currency,
        error=error.message if error else None,
        typed=typed or {},
    )


@router.get("/station/{number}/lines/{ref}/route")
async def route_page(request: Request, number: str, ref: str, staff: Sorter) -> Response:
    return await _route_page(request, staff, number, ref)


@router.post("/station/{number}/lines/{ref}/route")
async def route(request: Request, number: str, ref: str, staff: SorterForm) -> Response:
    form = await request.form()
    terms = configured.recovery(_settings(request))
    once = forms.one_time(form, staff.id)
    try:
        channel = views.channel_from(form)
        tag = line_url(canonical_number(number), ref, "bin-tag")
        async with writing(request) as session:
            await once.claim(session, tag)
            record = await dispositions.route_line(
                session,
                number,
                ref,
                staff.actor(),
                channel=channel,
                override_reason=views.text(form, "override_reason") or None,
                terms=terms,
            )
            chosen, where = Disposition(record.channel), record.location
    except forms.AlreadyRecorded as repeat:
        return forms.sent_again(request, repeat)
    except ReclaimError as error:
        return await _route_page(request, staff, number, ref, error=error, typed=views.typed(form))
    said = f"Routed to {label_of(chosen, terms)}: take it to {where}."
    return redirect(request, tag, said)


# --- the bin tag ---------------------------------------------------------------------------------


@router.get("/station/{number}/lines/{ref}/bin-tag")
async def bin_tag_page(request: Request, number: str, ref: str, staff: Sorter) -> Response:
    async with reading(request) as session:
        tag = await bintag.bin_tag_for_line(session, number, ref)
        view = await views.load(session, number)
    return render(
        request,
        "console/bin_tag.html",
        staff,
        view=view,
        ret=view.ret,
        tag=tag,
        channel=bintag.words(tag.channel),
        following=view.next(),
        pdf=line_url(tag.rma, ref, "bin-tag.pdf"),
    )


@router.get("/station/{number}/lines/{ref}/bin-tag.pdf")
async def bin_tag_pdf(request: Request, number: str, ref: str, staff: Sorter) -> Response:
    async with reading(request) as session:
        tag = await bintag.bin_tag_for_line(session, number, ref)
    return Response(
        bintag.render_bin_tag(tag),
        media_type="application/pdf",
        headers={
            "Content-Disposition": inline_file(f"{tag.rma}-{tag.line_ref}-bin-tag.pdf"),
            "Cache-Control": "no-store",
        },
    )


def inline_file(name: str) -> str:
    """A Content-Disposition naming the file. The shop's line id may hold any character, but a
    header carries Latin-1 at most, and a quote or line break would end the value or the header:
    ``filename`` gets a plain-ASCII stand-in, ``filename*`` (RFC 5987) the name itself."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
