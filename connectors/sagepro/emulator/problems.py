"""Errors the emulator answers with, in the contract's shape.

``{"error": {"code", "message", "details": [{"field", "issue"}]}}``; a 409 duplicate adds
``"existing"`` (the stored record) so a retrying caller can treat it as success.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.base.emulator import json_response


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        *,
        existing: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.existing = existing
        self.headers = headers

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "error": {"code": self.code, "message": self.message, "details": self.details}
        }
        if self.existing is not None:
            body["existing"] = self.existing
        return json_response(body, status=self.status, headers=self.headers)


def not_found(code: str, field: str, key: str) -> ApiError:
    what = code.removesuffix("_NOT_FOUND").replace("_", " ").lower()
    return ApiError(
        404, code, f"{what} {key!r} not found", [{"field": field, "issue": "not found"}]
    )


def duplicate(code: str, field: str, key: str, existing: dict[str, Any]) -> ApiError:
    return ApiError(
        409,
        code,
        f"{field} {key!r} already exists",
        [{"field": field, "issue": "already exists"}],
        existing=existing,
    )


def invalid(code: str, field: str, issue: str, message: str | None = None) -> ApiError:
    return ApiError(422, code, message or issue, [{"field": field, "issue": issue}])


_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def status_error(status: int, retry_after: float | None = None) -> web.Response:
    """A Sage-shaped body for an injected fault (or any bare status)."""
    code = _STATUS_CODES.get(status, "SERVER_ERROR" if status >= 500 else "CLIENT_ERROR")
    headers = None
    if status in (429, 503) and retry_after is not None:
        headers = {"Retry-After": f"{retry_after:g}"}
    return ApiError(status, code, f"injected {status}", headers=headers).response()
