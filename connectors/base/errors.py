"""The error taxonomy every connector maps its API's failures onto.

Each connector keeps one table (``ErrorTable``) from HTTP status / API error code to an
``Action``; the client raises the matching ``ConnectorError``. Callers decide by ``action``
(or ``retriable``, as aiokafka's errors do), never by parsing messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    RETRY = "retry"  # transient: back off and try again
    REFRESH_TOKEN = "refresh_token"  # re-authenticate once, then retry
    RATE_LIMITED = "rate_limited"  # wait (Retry-After when given), then retry
    FATAL = "fatal"  # configuration or permission problem: stop and alert
    DEAD_LETTER = "dead_letter"  # this record cannot succeed: park it with the reason, go on
    IDEMPOTENT_SUCCESS = "idempotent_success"  # already done: treat as success


RETRIABLE_ACTIONS = frozenset({Action.RETRY, Action.REFRESH_TOKEN, Action.RATE_LIMITED})


@dataclass(frozen=True)
class ErrorRule:
    action: Action
    reason: str


class ConnectorError(Exception):
    """A failed call to an external system, classified."""

    action: Action = Action.FATAL

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        code: str | None = None,
        action: Action | None = None,
        retry_after: float | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.code = code
        if action is not None:
            self.action = action
        self.retry_after = retry_after
        self.fields = fields

    @property
    def retriable(self) -> bool:
        return self.action in RETRIABLE_ACTIONS

    @property
    def reason(self) -> str:
        """A short, stable reason for dead-letter headers and metric labels."""
        return f"{self.system}:{self.code or self.status or 'error'}"

    def __str__(self) -> str:
        where = f" [{self.status}]" if self.status else ""
        code = f" {self.code}" if self.code else ""
        return f"{self.system}{where}{code}: {self.message}"


class ErrorTable:
    """Status/code -> action, looked up most specific first: (status, code), code, status."""

    def __init__(
        self,
        system: str,
        by_code: Mapping[str, ErrorRule] | None = None,
        by_status: Mapping[int, ErrorRule] | None = None,
        by_status_and_code: Mapping[tuple[int, str], ErrorRule] | None = None,
        default_4xx: ErrorRule = ErrorRule(Action.DEAD_LETTER, "client error"),
        default_5xx: ErrorRule = ErrorRule(Action.RETRY, "server error"),
    ) -> None:
        self.system = system
        self.by_code = dict(by_code or {})
        self.by_status = dict(by_status or {})
        self.by_status_and_code = dict(by_status_and_code or {})
        self.default_4xx = default_4xx
        self.default_5xx = default_5xx

    def rule(self, status: int, code: str | None = None) -> ErrorRule:
        if code is not None:
            if (status, code) in self.by_status_and_code:
                return self.by_status_and_code[(status, code)]
            if code in self.by_code:
                return self.by_code[code]
        if status in self.by_status:
            return self.by_status[status]
        return self.default_5xx if status >= 500 else self.default_4xx

    def error(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        retry_after: float | None = None,
        fields: tuple[str, ...] = (),
    ) -> ConnectorError:
        rule = self.rule(status, code)
        return ConnectorError(
            message or rule.reason,
            system=self.system,
            status=status,
            code=code,
            action=rule.action,
            retry_after=retry_after,
            fields=fields,
        )


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
