"""Domain errors and bad requests as ``application/problem+json`` (RFC 9457), from one table."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reclaim import errors

PROBLEM_TYPE = "application/problem+json"

STATUS: dict[type[errors.ReclaimError], int] = {
    errors.NotFound: 404,
    errors.ValidationFailed: 422,
    errors.CurrencyMismatch: 422,
    errors.NotReturnable: 422,
    errors.QuantityExceeded: 422,
    errors.InvalidTransition: 409,
    errors.Conflict: 409,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
}

TITLE = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Request cannot be processed",
    429: "Too many requests",
}


def status_for(exc: errors.ReclaimError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    # Extensions come first so that a detail named like a member (``status``) can't replace it.
    body = {
        **(extra or {}),
        "type": f"urn:reclaim:problem:{code.replace('_', '-')}",
        "title": TITLE.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


async def domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ReclaimError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, exc.code, exc.message, headers=headers, extra=exc.details)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in err["loc"] if part != "body") or "body",
            "message": err["msg"],
        }
        for err in exc.errors()
    ]


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return problem(400, "malformed_json", "The request body is not valid JSON.")
    return problem(
        422,
        "validation_failed",
        "Some fields are missing or invalid; see errors.",
        extra={"errors": _field_errors(exc)},
    )


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLE.get(exc.status_code, "Error")
    code = TITLE.get(exc.status_code, "error").lower().replace(" ", "_")
    return problem(exc.status_code, code, detail, headers=dict(exc.headers or {}) or None)
