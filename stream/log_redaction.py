"""No card number, card code or credential reaches a log line.

``install()`` (idempotent) does two things:
- sets a log-record factory, which every logger uses whatever its handlers and whoever
  configures them later (Faust/mode clear the root handlers when the worker starts): each
  record's message is formatted, redacted and frozen at creation (``args`` emptied), and
  its traceback, which can quote values, is formatted and redacted at the same time;
- puts ``RedactingFilter`` on the root logger's handlers, which also covers ``extra=``
  attributes: the logging module sets those after the factory has run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from stream.pci import redact, redact_text

REDACTED = "[redacted]"
_KEY = (
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|client[_-]?secret"
    r"|api[_-]?key|apikey|private[_-]?key|password|passwd|secret|token|session[_-]?id"
    r"|authorization"
)
# key=value, key: value, "key": "value", 'key': 'value', Authorization: Bearer <token>.
_CREDENTIAL = re.compile(
    rf"(?i)(?<![a-z0-9])(?P<key>{_KEY})(?P<sep>[\"']?\s*[:=]\s*)"
    r"(?!\[redacted\])(?P<value>\"[^\"\n]*\"|'[^'\n]*'"
    r"|(?P<scheme>(?:bearer|basic|digest|oauth)\s+)?(?!\[redacted\])"
    r"(?!(?:bearer|basic|digest|oauth)\s)[^\s\"'&,;)}\]]+)"
)
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=!:-]{8,}")
_HINT = ("token", "secret", "key", "pass", "bearer", "auth", "session")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


def _mask_credential(match: re.Match[str]) -> str:
    value = match.group("value")
    if value[0] in "\"'":
        masked = value[0] + REDACTED + value[0]
    else:
        masked = (match.group("scheme") or "") + REDACTED
    return match.group("key") + match.group("sep") + masked


def redact_secrets(text: str) -> str:
    """``text`` with credentials (tokens, secrets, passwords, API keys) masked."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINT):  # most lines name none: skip the regexes
        return text
    text = _CREDENTIAL.sub(_mask_credential, text)
    return _BEARER.sub(lambda m: m.group("scheme") + REDACTED, text)


def redact_log_text(text: str) -> str:
    return redact_secrets(redact_text(text))


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string or __str__: keep the record, and what it had
        return f"{record.msg!r} {record.args!r}"


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: message (args folded in), traceback, stack, extras."""
    if record.args or not isinstance(record.msg, str):
        record.msg, record.args = redact_log_text(_message(record)), ()
    else:
        record.msg = redact_log_text(record.msg)
    if record.exc_info:
        # Formatted now and the exception dropped: a formatter that reads exc_info itself
        # (JSON, error trackers) would otherwise see the raw values.
        record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redact_log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_log_text(record.stack_info)


def _redact_extras(record: logging.LogRecord) -> None:
    for name, value in list(record.__dict__.items()):
        if name in _STANDARD or value is None or isinstance(value, bool | int | float):
            continue
        if isinstance(value, str):
            record.__dict__[name] = redact_log_text(value)
        elif isinstance(value, dict | list | tuple):
            record.__dict__[name] = redact(value)
        else:
            record.__dict__[name] = redact_log_text(str(value))


class RedactingFilter(logging.Filter):
    """For handlers: redacts each record it passes (extras included); drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        _redact_extras(record)
        return True


class _RedactingFactory:
    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        redact_record(record)
        return record


def install(root: logging.Logger | None = None) -> None:
    """Redact every log record from now on (see the module doc). Safe to call again, and
    worth calling after any logging setup that replaces the root handlers."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(factory))
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def uninstall(root: logging.Logger | None = None) -> None:
    """Undo ``install`` (for tests)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(factory.base)
    for handler in (root or logging.getLogger()).handlers:
        for found in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(found)
