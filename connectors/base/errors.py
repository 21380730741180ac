"""The error taxonomy every connector maps its API's failures onto.

Each connector keeps one table (``ErrorTable``, Airbyte CDK's status-to-resolution table) from
HTTP status / API error code to an ``Action``; the client raises the error *type* that action
names. Callers decide by type (or ``retriable``, as aiokafka's errors do), never by parsing
messages and never by changing an error after it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


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
    """A failed call to an external system. The class is the consequence (Meltano SDK's
    fatal/retriable/skippable, aiokafka's immutable ``retriable``): handlers branch on the
    type, and nothing changes an error after it is built.

    Build one through a subclass, or ``error_for(action, ...)`` when a table decides.
    """

    action: ClassVar[Action] = Action.FATAL

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.code = code
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


class Retriable(ConnectorError):
    """Transient (an outage, a lock, a 5xx): back off and try again; the record is kept."""

    action = Action.RETRY


class TokenExpired(Retriable):
    """The credentials expired: re-authenticate once, then retry."""

    action = Action.REFRESH_TOKEN


class RateLimited(Retriable):
    """Refused for a rate or quota limit: wait ``retry_after`` (when given), then retry."""

    action = Action.RATE_LIMITED


class RecordError(ConnectorError):
    """This record cannot succeed as it stands: dead-letter it with ``reason``, go on."""

    action = Action.DEAD_LETTER


class ConfigurationError(ConnectorError):
    """Credentials, permissions or settings are wrong: nothing will succeed until a person
    fixes them; the worker stops with one clear line."""

    action = Action.FATAL


class AlreadyDone(ConnectorError):
    """The other side already holds this write (an earlier, unacknowledged attempt made it).
    Clients resolve it to a success; it never leaves a client."""

    action = Action.IDEMPOTENT_SUCCESS


ERROR_TYPES: dict[Action, type[ConnectorError]] = {
    Action.RETRY: Retriable,
    Action.REFRESH_TOKEN: TokenExpired,
    Action.RATE_LIMITED: RateLimited,
    Action.DEAD_LETTER: RecordError,
    Action.FATAL: ConfigurationError,
    Action.IDEMPOTENT_SUCCESS: AlreadyDone,
}


def error_for(action: Action, message: str, **details: Any) -> ConnectorError:
    """The error type a table's action names, built once."""
    return ERROR_TYPES[action](message, **details)


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
        return error_for(
            rule.action,
            message or rule.reason,
            system=self.system,
            status=status,
            code=code,
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
