"""Guided inspection: the checklist for the line's category, the grade its answers suggest,
the grade the inspector gives (with a reason when it differs), and photos of the unit.

An answer the checklist says needs a person (a serial number that isn't the one sold) raises a
flag on the line, as receiving does: the line is held, unrouted, until an agent resolves it."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import InvalidTransition, ValidationFailed
from reclaim.files.models import ReturnPhoto
from reclaim.files.photos import check_photo, new_photo
from reclaim.files.storage import FileStorage
from reclaim.refunds.settlement import settle_due
from reclaim.returns import service as returns
from reclaim.returns.line_steps import check_grading, grade_lines, line_by_ref
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.schemas import InspectIn
from reclaim.returns.service import Actor
from reclaim.returns.states import Grade
from reclaim.warehouse import configured, receiving
from reclaim.warehouse.grading import (
    Checklist,
    Checklists,
    check_answers,
    check_grade_choice,
    suggest_grade,
)
from reclaim.warehouse.models import Inspection
from reclaim.warehouse.schemas import FlagKind

# An inspector documents damage; more than a shopper may send, still a bounded number.
MAX_INSPECTION_PHOTOS = 12
DEFAULT_MAX_PHOTO_BYTES = 8 * 1024 * 1024


async def _product(session: AsyncSession, line: ReturnLine) -> Product:
    product = await session.get(Product, line.order_line.product_id)
    assert product is not None  # an order line always names a product
    return product


async def checklist_for_line(
    session: AsyncSession, number: str, line_id: str, *, checklists: Checklists | None = None
) -> Checklist:
    """The checklist the line's category is inspected with (the generic one by default)."""
    ret = await returns.get_return(session, number)
    product = await _product(session, line_by_ref(ret, line_id))
    return (checklists or configured.checklists()).for_category(product.category)


async def inspect_line(
    session: AsyncSession,
    number: str,
    line_id: str,
    actor: Actor,
    *,
    answers: Mapping[str, str | bool],
    grade: Grade | None,
    override_reason: str | None,
    note: str | None,
    checklists: Checklists | None = None,
) -> Inspection:
    """Grade one received line from its checklist's answers; ``grade`` None takes the
    suggestion, any other grade needs ``override_reason``. Answers that raise a flag hold the
    line whatever the grade."""
    ret = await returns.load_for_change(session, number)
    line = line_by_ref(ret, line_id)
    check_grading(ret, [line_id])
    product = await _product(session, line)
    checklist = (checklists or configured.checklists()).for_category(product.category)
    # Kept as the checklist spells them: "yes", never True or "Yes ".
    checked = check_answers(checklist, answers)
    suggestion = suggest_grade(checklist, checked)
    chosen = grade or suggestion.grade
    reason = (override_reason or "").strip() or None
    check_grade_choice(suggestion.grade, chosen, reason)
    said = (note or "").strip() or None
    grade_lines(session, ret, {line_id: chosen}, actor, {line_id: said} if said else None)
    inspection = Inspection(
        return_line_id=line.id,
        checklist=checklist.name,
        answers=checked,
        suggested_grade=suggestion.grade.value,
        reasons=list(suggestion.reasons),
        grade=chosen.value,
        override_reason=reason if chosen != suggestion.grade else None,
        note=said,
        inspector=actor.name,
        at=actor.now,
    )
    session.add(inspection)
    flags = [
        receiving.new_flag(
            ret,
            FlagKind(flag.kind),
            actor,
            return_line_id=line.id,
            quantity=line.received_quantity,
            detail=flag.because,
        )
        for flag in suggestion.flags
    ]
    await receiving.raise_flags(session, ret, flags, actor, during="Inspection")
    await settle_due(session, ret, actor)
    await session.flush()
    return inspection


async def grade_as_given(
    session: AsyncSession, number: str, data: InspectIn, actor: Actor
) -> Return:
    """Grades set without a checklist (through the API's inspect): recorded as given."""
    ret = await returns.load_for_change(session, number)
    check_grading(ret, (item.line_id for item in data.lines))
    grades = {item.line_id: item.grade for item in data.lines}
    notes = {item.line_id: item.note for item in data.lines if item.note}
    by_ref = check_grading(ret, grades)
    grade_lines(session, ret, grades, actor, notes)
    session.add_all(
        Inspection(
            return_line_id=by_ref[ref].id,
            checklist=None,
            answers={},
            suggested_grade=None,
            reasons=[],
            grade=Grade(grade).value,
            note=notes.get(ref),
            inspector=actor.name,
            at=actor.now,
        )
        for ref, grade in grades.items()
    )
    await settle_due(session, ret, actor)
    await session.flush()
    return ret


async def inspection_of(session: AsyncSession, line: ReturnLine) -> Inspection | None:
    return await session.scalar(select(Inspection).where(Inspection.return_line_id == line.id))


async def attach_photo(
    session: AsyncSession,
    storage: FileStorage,
    number: str,
    line_id: str,
    data: bytes,
    actor: Actor,
    *,
    max_bytes: int = DEFAULT_MAX_PHOTO_BYTES,
    filename: str = "The photo",
) -> ReturnPhoto:
    """Keep a photo the inspector took of a received unit, checked like a shopper's."""
    content_type, ext = check_photo(filename, data, max_bytes)
    ret = await returns.load_for_change(session, number)
    line = line_by_ref(ret, line_id)
    if line.received_quantity == 0:
        raise InvalidTransition(f"Line {line_id!r} hasn't been received yet.")
    taken = await session.scalar(
        select(func.count())
        .select_from(ReturnPhoto)
        .where(ReturnPhoto.return_line_id == line.id, ReturnPhoto.source == "inspection")
    )
    if (taken or 0) >= MAX_INSPECTION_PHOTOS:
        raise ValidationFailed(
            f"Line {line_id!r} already has {MAX_INSPECTION_PHOTOS} inspection photos."
        )
    photo = new_photo(data, content_type, ext)
    row = ReturnPhoto(
        return_line_id=line.id,
        storage_key=photo.storage_key,
        content_type=photo.content_type,
        size_bytes=photo.size_bytes,
        sha256=photo.sha256,
        source="inspection",
        uploaded_at=actor.now,
    )
    session.add(row)
    await session.flush()
    # Stored once the row is in: a refused photo leaves no file behind.
    storage.put(photo.storage_key, data)
    return row
