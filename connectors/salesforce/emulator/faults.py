"""Salesforce-shaped error bodies the emulator returns, and the exception that carries them."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from connectors.base.emulator import json_response


@dataclass
class RecordError:
    """One validation or DML failure: ``errorCode`` in REST bodies, ``statusCode`` in results."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def rest(self) -> dict[str, object]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def collection(self) -> dict[str, object]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class SalesforceApiError(Exception):
    """Raised by handlers; the middleware renders it as the real API would."""

    def __init__(self, status: int, errors: list[RecordError], *, with_fields: bool = True) -> None:
        super().__init__(errors[0].message if errors else str(status))
        self.status = status
        self.errors = errors
        self.with_fields = with_fields

    @classmethod
    def one(
        cls, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> SalesforceApiError:
        return cls(status, [RecordError(code, message, fields or [])])

    def response(self) -> web.Response:
        if self.with_fields:
            body: list[dict[str, object]] = [e.rest() for e in self.errors]
        else:
            body = [{"message": e.message, "errorCode": e.code} for e in self.errors]
        return json_response(body, status=self.status)


def invalid_session() -> SalesforceApiError:
    return SalesforceApiError(
        401, [RecordError("INVALID_SESSION_ID", "Session expired or invalid")], with_fields=False
    )


# What an injected HTTP fault looks like on a real org, by status.
_FAULT_BODIES: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "The request could not be understood."),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    429: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1234567890-12345 (-123456789)",
    ),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later."),
}


def render_fault(status: int) -> web.Response:
    """Body for a fault injected through ``/_emulator/faults`` (used by fault_middleware)."""
    code, message = _FAULT_BODIES.get(
        status, ("SERVER_UNAVAILABLE" if status >= 500 else "BAD_REQUEST", "Injected fault")
    )
    return json_response([{"message": message, "errorCode": code}], status=status)


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": error, "error_description": description}, status=status)
