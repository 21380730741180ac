"""Reading request bodies strictly: every field problem is reported, together, as a 422.

Bodies are decoded with ``parse_float=Decimal`` so a JSON number reaches the money parser as
the exact text the caller wrote, never as a float.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from connectors.sagepro.emulator.problems import ApiError
from connectors.sagepro.money import MoneyError, parse_money, to_cents

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
MAX_TEXT = 255
MAX_CENTS = 100_000_000_000  # one billion: far beyond any payment, well inside SQLite ints


async def read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}", parse_float=Decimal)
    except ValueError as exc:
        raise ApiError(400, "BAD_REQUEST", f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", "body must be a JSON object")
    return body


def parse_iso_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Fields:
    """Typed reads from one body, collecting issues instead of failing on the first."""

    def __init__(self, body: dict[str, Any], *, partial: bool = False) -> None:
        self.body = body
        self.partial = partial  # PUT: absent fields are simply not changed
        self.issues: list[dict[str, str]] = []

    def has(self, name: str) -> bool:
        return name in self.body

    def _missing(self, name: str, required: bool) -> bool:
        value = self.body.get(name)
        if value is None:
            if required and (not self.partial or name in self.body):
                self.issue(name, "is required")
            return True
        return False

    def issue(self, name: str, text: str) -> None:
        self.issues.append({"field": name, "issue": text})

    def text(self, name: str, *, required: bool = False) -> str | None:
        if self._missing(name, required):
            return None
        value = self.body[name]
        if not isinstance(value, str) or not value.strip():
            self.issue(name, "must be a non-empty string")
            return None
        if len(value) > MAX_TEXT:
            self.issue(name, f"must be at most {MAX_TEXT} characters")
            return None
        return value.strip()

    def choice(self, name: str, allowed: set[str], *, default: str | None = None) -> str | None:
        if self._missing(name, False):
            return default
        value = self.body[name]
        if value not in allowed:
            self.issue(name, f"must be one of {sorted(allowed)}")
            return None
        return str(value)

    def flag(self, name: str, *, default: bool | None = False) -> bool | None:
        if self._missing(name, False):
            return default
        value = self.body[name]
        if not isinstance(value, bool):
            self.issue(name, "must be true or false")
            return default
        return value

    def day(self, name: str, *, required: bool = False) -> date | None:
        if self._missing(name, required):
            return None
        parsed = parse_iso_date(self.body[name])
        if parsed is None:
            self.issue(name, "must be an ISO date YYYY-MM-DD")
        return parsed

    def cents(self, name: str, *, required: bool = False, positive: bool = True) -> int | None:
        if self._missing(name, required):
            return None
        try:
            cents = to_cents(parse_money(self.body[name]))
        except MoneyError as exc:
            self.issue(name, str(exc))
            return None
        if abs(cents) >= MAX_CENTS:
            self.issue(name, "amount is out of range")
            return None
        if positive and cents <= 0:
            self.issue(name, "must be greater than 0")
            return None
        return cents

    def check(self) -> None:
        if self.issues:
            raise ApiError(422, "VALIDATION_ERROR", "request failed validation", self.issues)
