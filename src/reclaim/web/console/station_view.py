"""What the inspection station shows of a return (each line's next step, and the one after the
last action), and how its forms read: a parcel, a checklist's answers, a grade, a channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pydantic
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from starlette.datastructures import FormData

from reclaim.catalog.models import Product
from reclaim.errors import NotFound, ValidationFailed
from reclaim.files.models import ReturnPhoto
from reclaim.orders.models import OrderLine
from reclaim.returns import rules
from reclaim.returns.lifecycle import canonical_number
from reclaim.returns.line_steps import progress
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import MOVES, Action, Disposition, Grade, Status
from reclaim.returns.views import shipment_of
from reclaim.warehouse import receiving
from reclaim.warehouse.grading import Checklist
from reclaim.warehouse.models import ReceivingFlag
from reclaim.warehouse.schemas import FlagKind, ParcelIn
from reclaim.web.console.forms import whole_number

STATION = "/console/station"
MAX_TEXT = 2000
MAX_GRAMS = 1_000_000
# A return takes parcels only in these statuses.
RECEIVABLE = MOVES[Action.RECEIVE].sources

# Each line's next step at the station.
ARRIVING, INSPECT, ROUTE, ROUTED = "arriving", "inspect", "route", "routed"


def station_url(number: str) -> str:
    return f"{STATION}/{number}"


def line_url(number: str, ref: str, what: str) -> str:
    return f"{STATION}/{number}/lines/{quote(ref, safe='')}/{what}"


@dataclass(frozen=True, slots=True)
class StationLine:
    line: ReturnLine
    ref: str
    product: Product
    photos: int

    @property
    def due(self) -> int:
        return self.line.quantity - self.line.received_quantity

    @property
    def step(self) -> str:
        if self.line.received_quantity == 0:
            return ARRIVING
        if self.line.grade is None:
            return INSPECT
        if self.line.disposition is None:
            # A graded line may be routed while another line still waits for its grade.
            return ROUTE
        return ROUTED


@dataclass(frozen=True, slots=True)
class Next:
    """The action after this one: where it is, and what the button says."""

    url: str
    label: str
    complete: bool = False  # the return's last step: a form, not a link


@dataclass(frozen=True, slots=True)
class Flag:
    """A receiving flag still open, with the line it is about (by its order-line id)."""

    flag: ReceivingFlag
    line_ref: str | None


@dataclass(frozen=True, slots=True)
class StationView:
    ret: Return
    lines: list[StationLine]
    open_flags: list[Flag]

    @property
    def tracking_number(self) -> str | None:
        shipment = shipment_of(self.ret)
        return shipment.tracking_number if shipment else None

    @property
    def receivable(self) -> bool:
        return Status(self.ret.status) in RECEIVABLE and any(line.due > 0 for line in self.lines)

    @property
    def complete_ready(self) -> bool:
        return Status(self.ret.status) is Status.INSPECTED and rules.ready_to_complete(
            progress(self.ret)
        )

    def line(self, ref: str) -> StationLine:
        for line in self.lines:
            if line.ref == ref:
                return line
        raise NotFound(f"Return {self.ret.number} has no line {ref!r}.", line_id=ref)

    def next(self) -> Next | None:
        """The first line to inspect, else the first to route, else completing the return."""
        number = self.ret.number
        for step, what, verb in ((INSPECT, "inspect", "Inspect"), (ROUTE, "route", "Route")):
            for line in self.lines:
                if line.step == step:
                    return Next(line_url(number, line.ref, what), f"{verb} {line.product.name}")
        if self.complete_ready:
            return Next(f"{station_url(number)}/complete", "Complete the return", complete=True)
        return None


async def load(session: AsyncSession, number: str) -> StationView:
    ret = await session.scalar(
        select(Return)
        .where(Return.number == canonical_number(number))
        .options(
            selectinload(Return.lines)
            .selectinload(ReturnLine.order_line)
            .joinedload(OrderLine.product)
        )
    )
    if ret is None:
        raise NotFound(f"No return {number!r}.", number=number)
    photos = dict(
        (
            await session.execute(
                select(ReturnPhoto.return_line_id, func.count())
                .where(ReturnPhoto.return_line_id.in_([line.id for line in ret.lines]))
                .group_by(ReturnPhoto.return_line_id)
            )
        ).all()
    )
    refs = {line.id: line.order_line.line_ref for line in ret.lines}
    lines = [
        StationLine(line, refs[line.id], line.order_line.product, photos.get(line.id, 0))
        for line in ret.lines
    ]
    flags = [
        Flag(flag, refs.get(flag.return_line_id) if flag.return_line_id else None)
        for flag in await receiving.open_flags(session, ret.id)
    ]
    return StationView(ret, lines, flags)


# --- what was found ------------------------------------------------------------------------------


def flag_text(flag: ReceivingFlag, lines: Mapping[int, str]) -> str:
    """A flag in a sentence, naming the line by its product."""
    line = lines.get(flag.return_line_id or 0, "a line")
    match FlagKind(flag.kind):
        case FlagKind.EMPTY_BOX:
            return f"empty box ({flag.detail})"
        case FlagKind.WRONG_ITEM:
            return f"wrong item instead of {line}: {flag.quantity} × {flag.found}"
        case FlagKind.UNEXPECTED_ITEM:
            return f"unexpected item: {flag.quantity} × {flag.found}"
        case FlagKind.MISSING_ITEM:
            return f"{line}: {flag.quantity} never arrived"


# --- forms ---------------------------------------------------------------------------------------


def text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    # U+0000 is never typed, and PostgreSQL refuses to store it.
    return value.replace("\x00", "").strip()[:MAX_TEXT] if isinstance(value, str) else ""


def whole(
    form: Mapping[str, Any], key: str, what: str, *, empty: int | None, low: int, high: int
) -> int:
    """A whole number typed in a field, within bounds; ``empty`` when left blank."""
    typed = text(form, key)
    if not typed and empty is not None:
        return empty
    number = whole_number(typed)
    if number is None or not low <= number <= high:
        raise ValidationFailed(
            f"{what} must be a whole number from {low} to {high}; not {typed!r}."
        )
    return number


def typed(form: FormData) -> dict[str, str]:
    """What was typed, to show again next to a refusal."""
    return {key: text(form, key) for key, value in form.items() if isinstance(value, str)}


def parcel_from(form: FormData, view: StationView) -> ParcelIn:
    """The receive form: units per line, the weight, and what was wrong with the parcel."""
    counts, wrong = [], []
    for line in view.lines:
        name, ref = line.product.name, line.ref
        quantity = whole(
            form, f"qty-{ref}", f"Units of {name}", empty=0, low=0, high=line.line.quantity
        )
        if quantity:
            counts.append({"line_id": ref, "quantity": quantity})
        if form.get(f"wrong-{ref}") == "yes":
            found = text(form, f"wrong-found-{ref}")
            if not found:
                raise ValidationFailed(f"Say what came instead of {name}: its SKU or what it is.")
            many = whole(
                form, f"wrong-qty-{ref}", f"Wrong units for {name}", empty=1, low=1, high=999
            )
            wrong.append({"line_id": ref, "found": found, "quantity": many})
    unexpected = []
    if form.get("unexpected") == "yes":
        found = text(form, "unexpected-found")
        if not found:
            raise ValidationFailed(
                "Say what the unexpected item is: its SKU or what it looks like."
            )
        many = whole(form, "unexpected-qty", "Unexpected units", empty=1, low=1, high=999)
        unexpected.append(
            {"found": found, "quantity": many, "detail": text(form, "unexpected-detail")}
        )
    weight = whole(form, "weight", "The parcel's weight in grams", empty=-1, low=0, high=MAX_GRAMS)
    try:
        return ParcelIn.model_validate(
            {
                "counts": counts,
                "weight_grams": None if weight < 0 else weight,
                "unexpected": unexpected,
                "wrong": wrong,
                "last_parcel": form.get("last_parcel") == "yes",
            }
        )
    except pydantic.ValidationError as exc:
        said = "; ".join(str(error["msg"]) for error in exc.errors())
        raise ValidationFailed(f"The parcel form isn't right: {said}.") from None


def answers_from(form: FormData, checklist: Checklist) -> dict[str, str]:
    """The checklist's answers as sent (``q-<key>``); blanks are left out, so the rules can name
    each question still unanswered."""
    answers = {}
    for question in checklist.questions:
        given = text(form, f"q-{question.key}")
        if given:
            answers[question.key] = given
    return answers


def grade_from(form: FormData) -> Grade:
    chosen = text(form, "grade")
    try:
        return Grade(chosen)
    except ValueError:
        raise ValidationFailed(f"Choose a grade; {chosen!r} is not one.") from None


def channel_from(form: FormData) -> Disposition | None:
    """The channel chosen instead of the recommendation (the override form sends one); None
    takes the recommendation."""
    chosen = text(form, "channel")
    if not chosen and form.get("override") != "yes":
        return None
    try:
        return Disposition(chosen)
    except ValueError:
        raise ValidationFailed(f"Choose where it goes; {chosen!r} is not a channel.") from None
