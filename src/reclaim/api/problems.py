"""Domain errors and bad requests as ``application/problem+json`` (RFC 9457), from one table."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
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


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document; a domain error adds members of its own (``line_ref``…)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


MEANING = {
    400: "The body is not valid JSON",
    401: "No valid API key",
    403: "The API key lacks the scope this needs",
    404: "No such order or return",
    409: "Clashes with the current state: a move the lifecycle forbids, or an idempotency key "
    "whose first request is still running",
    422: "Invalid fields, or a request the rules refuse (over-return, window closed, "
    "idempotency key reused with another body)",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems an operation can answer with."""
    return {status: {"model": Problem, "description": MEANING[status]} for status in statuses}


def as_problem_media(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are sent as problem+json; FastAPI documents every model as JSON."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    response["content"] = {PROBLEM_TYPE: content["application/json"]}
    return schema


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


async def server_error(_request: Request, exc: Exception) -> JSONResponse:
    """Even a failure of ours answers as a problem, and says nothing of our internals."""
    return problem(
        500,
        "server_error",
        "Something went wrong on our side and nothing was saved; retry the request "
        "(with the same Idempotency-Key, if it had one).",
    )


def allowed_methods(paths: dict[str, dict[str, Any]], path: str) -> set[str]:
    """Every method the API documents for the path, whichever route would have matched."""
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return {method.upper() for method in operations}
    return set()


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLE.get(exc.status_code, "Error")
    code = TITLE.get(exc.status_code, "error").lower().replace(" ", "_")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route on the path; GET and POST /returns are two.
        documented = allowed_methods(request.app.openapi()["paths"], request.url.path)
        if documented:
            headers["Allow"] = ", ".join(sorted(documented))
    return problem(exc.status_code, code, detail, headers=headers or None)
