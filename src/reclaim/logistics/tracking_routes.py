"""``POST /api/v1/tracking-events``: scans from carriers and drop-off points.

Not an API key but a Standard Webhooks signature with the shared tracking secret authenticates
the sender, so the raw body is read and checked before anything is parsed. A replayed request
is harmless: every scan is de-duplicated. Nothing is stored unless every event in the request
is readable.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from reclaim.api.deps import AppSettings, Sessions
from reclaim.api.problems import Problem, problem
from reclaim.db import transaction
from reclaim.errors import NotFound
from reclaim.kit.clock import utcnow
from reclaim.logistics import tracking
from reclaim.logistics.carriers import Carrier, Scan, carrier
from reclaim.logistics.tracking_service import Change, Outcome, ScanResult, record_scans
from reclaim.notifications import signing

router = APIRouter(tags=["tracking"])
MAX_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024


class TrackingEventIn(BaseModel):
    """One scan in the local carrier's format (another carrier's adapter reads its own)."""

    model_config = ConfigDict(title="TrackingEventIn")

    tracking_number: str = Field(max_length=tracking.MAX_LENGTH["tracking_number"])
    code: str = Field(
        max_length=tracking.MAX_LENGTH["code"],
        description="accepted, in_transit, out_for_delivery, delivered or exception "
        "(aliases such as picked_up and dropped_off are understood)",
    )
    occurred_at: datetime = Field(description="ISO-8601 with a time zone")
    event_id: str | None = Field(
        default=None,
        max_length=tracking.MAX_LENGTH["event_id"],
        description="The carrier's id for the scan: the same id is stored once",
    )
    location: str | None = Field(default=None, max_length=tracking.MAX_LENGTH["location"])
    facility_code: str | None = Field(default=None, max_length=tracking.MAX_LENGTH["facility_code"])
    description: str | None = Field(
        default=None,
        max_length=tracking.MAX_LENGTH["description"],
        description="What the carrier says happened; shown to staff for an exception",
    )


class ScanResultOut(BaseModel):
    tracking_number: str
    outcome: Outcome
    message: str
    return_number: str | None = None
    stage: str | None = None
    changes: list[Change] = []


class TrackingBatchOut(BaseModel):
    results: list[ScanResultOut] = Field(description="One per event, in the order sent")
    counts: dict[str, int] = Field(description="How many events had each outcome")


_EVENT = TrackingEventIn.model_json_schema()
_BODY = {
    "anyOf": [
        _EVENT,
        {
            "title": "TrackingEventBatchIn",
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "items": _EVENT,
                    "minItems": 1,
                    "maxItems": MAX_EVENTS,
                }
            },
            "required": ["events"],
        },
    ]
}


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body is not valid JSON; nothing was stored"),
    401: _documented(
        "The webhook signature is missing, wrong or too old, or no tracking secret is "
        "configured; nothing was stored"
    ),
    404: _documented("The one event sent names an unknown tracking number"),
    413: _documented(f"The body is larger than {MAX_BODY_BYTES} bytes"),
    422: _documented("An event is missing fields or has invalid ones; nothing was stored"),
}


@router.post(
    "/tracking-events",
    response_model=ScanResultOut | TrackingBatchOut,
    summary="Report carrier or drop-off scans",
    description='Send one event, or `{"events": [...]}` with up to '
    f"{MAX_EVENTS}, signed with the shared tracking secret by the Standard Webhooks scheme "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`). One event answers with its "
    "result; a batch answers 200 with each event's result, unknown tracking numbers included.",
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}}
    },
)
async def post_tracking_events(request: Request, sessions: Sessions, settings: AppSettings) -> Any:
    secret = settings.tracking_secret.get_secret_value() if settings.tracking_secret else None
    if not secret or not signing.valid_secret(secret):
        # A 401, not a 503: without a secret no sender can be authenticated, and the API
        # answers no request with a 5xx, which would read as Reclaim failing.
        return problem(
            401,
            "tracking_not_configured",
            "Tracking events are not configured on this server: the shop needs to set a "
            "tracking secret and share it with the carrier before scans can be accepted.",
        )
    body = await _body(request)
    if body is None:
        return problem(413, "too_large", f"Send at most {MAX_BODY_BYTES} bytes per request.")
    try:
        signing.verify([secret], request.headers, body, utcnow())
    except signing.SignatureError as exc:
        return problem(401, "invalid_signature", f"{exc} Nothing was stored.")
    try:
        data = json.loads(body)
    except ValueError:
        return problem(400, "malformed_json", "The request body is not valid JSON.")
    chosen = carrier(settings.carrier)
    batch = isinstance(data, dict) and "events" in data
    scans, errors = _read(data, batch, chosen)
    if errors:
        return problem(
            422,
            "validation_failed",
            "Some events are missing fields or invalid; see errors. Nothing was stored.",
            extra={"errors": errors},
        )
    async with transaction(sessions) as session:
        results = await record_scans(session, scans, "api", utcnow(), carrier=chosen.name)
        if not batch and results[0].outcome is Outcome.UNKNOWN:
            raise NotFound(results[0].message, tracking_number=results[0].tracking_number)
    if not batch:
        return _out(results[0])
    counts = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        counts[result.outcome.value] += 1
    return TrackingBatchOut(results=[_out(result) for result in results], counts=counts)


async def _body(request: Request) -> bytes | None:
    """The raw body, exactly as signed; None once it grows past the limit."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _read(data: Any, batch: bool, chosen: Carrier) -> tuple[list[Scan], list[dict[str, str]]]:
    """Every event through the carrier's parser and checked; all problems, by field."""
    if batch:
        events = data["events"]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            return [], [{"field": "events", "message": f"give 1 to {MAX_EVENTS} events"}]
    elif isinstance(data, dict):
        events = [data]
    else:
        return [], [{"field": "body", "message": 'send one event or {"events": [...]}'}]
    scans: list[Scan] = []
    errors: list[dict[str, str]] = []
    for index, payload in enumerate(events):
        where = f"events.{index}" if batch else ""
        if not isinstance(payload, dict):
            errors.append({"field": where or "body", "message": "must be an object"})
            continue
        try:
            scans.append(tracking.checked(chosen.parse_event(payload)))
        except KeyError as exc:
            errors.append({"field": _field(where, str(exc.args[0])), "message": "is required"})
        except tracking.BadScan as exc:
            errors.append({"field": _field(where, exc.field), "message": exc.message})
        except (TypeError, ValueError) as exc:
            errors.append({"field": where or "body", "message": str(exc)})
    return scans, errors


def _field(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _out(result: ScanResult) -> ScanResultOut:
    return ScanResultOut(
        tracking_number=result.tracking_number,
        outcome=result.outcome,
        message=result.message,
        return_number=result.return_number,
        stage=result.stage,
        changes=list(result.changes),
    )
