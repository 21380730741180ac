"""The scorer's fast reader of the keyer's compact record (``schemas.risk.RiskEvent``).

The scorer reads every payment, and a pydantic parse was a tenth of its cost. The record is
the keyer's own, small and flat, so it is read with orjson and checked field by field with
the model's rules; anything else is refused with a reason (``Rejected``: dead-lettered),
never a crash. The runtime has already checked its size and depth at the door.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

import orjson

from schemas.payment import TRANSACTION_ID, PaymentStatus, PaymentType
from stream.runtime.outcomes import Rejected

_ID = re.compile(TRANSACTION_ID)
_TYPES = {t.value: t for t in PaymentType}
_STATUSES = {s.value: s for s in PaymentStatus}


class EventLike(Protocol):
    """What scoring reads of a payment: a ``RiskEvent`` or an ``Event``."""

    @property
    def id(self) -> str: ...
    @property
    def customer(self) -> str: ...
    @property
    def type(self) -> PaymentType: ...
    @property
    def status(self) -> PaymentStatus: ...
    @property
    def amount(self) -> float: ...
    @property
    def at(self) -> int: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def avs(self) -> str | None: ...
    @property
    def csc(self) -> str | None: ...
    @property
    def hour(self) -> int | None: ...


class Event:
    """A checked ``RiskEvent`` without the model: plain slots."""

    __slots__ = (
        "amount",
        "at",
        "avs",
        "csc",
        "currency",
        "customer",
        "hour",
        "id",
        "occurred_at",
        "status",
        "type",
    )

    def __init__(
        self,
        id: str,
        customer: str,
        type: PaymentType,
        status: PaymentStatus,
        amount: float,
        at: int,
        occurred_at: str,
        currency: str = "",
        avs: str | None = None,
        csc: str | None = None,
        hour: int | None = None,
    ) -> None:
        self.id, self.customer, self.type, self.status = id, customer, type, status
        self.amount, self.at, self.occurred_at, self.currency = amount, at, occurred_at, currency
        self.avs, self.csc, self.hour = avs, csc, hour


def _bad(field: str, value: object) -> Rejected:
    return Rejected("malformed", f"risk event field {field!r}: {value!r:.80}")


def read_event(raw: bytes | str) -> Event:
    """The record as an ``Event``, with ``RiskEvent``'s rules; ``Rejected`` if it breaks one."""
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("malformed", f"risk event is not JSON: {exc}") from None
    if type(d) is not dict:
        raise Rejected("malformed", f"risk event is a {type(d).__name__}, not an object")
    tx = d.get("id")
    if type(tx) is not str or not _ID.fullmatch(tx):
        raise _bad("id", tx)
    customer = d.get("customer")
    if type(customer) is not str or not 0 < len(customer) <= 128:
        raise _bad("customer", customer)
    kind, status = d.get("type"), d.get("status")
    kind = _TYPES.get(kind) if type(kind) is str else None
    if kind is None:
        raise _bad("type", d.get("type"))
    status = _STATUSES.get(status) if type(status) is str else None
    if status is None:
        raise _bad("status", d.get("status"))
    amount = d.get("amount")
    if type(amount) is int:
        amount = float(amount)
    if type(amount) is not float or not 0 <= amount < math.inf:
        raise _bad("amount", amount)
    at = d.get("at")
    if type(at) is not int:
        raise _bad("at", at)
    occurred_at = d.get("occurred_at")
    if type(occurred_at) is not str or len(occurred_at) > 40:
        raise _bad("occurred_at", occurred_at)
    hour = d.get("hour")
    if hour is not None and (type(hour) is not int or not 0 <= hour <= 23):
        raise _bad("hour", hour)
    currency = d.get("currency", "")
    if type(currency) is not str or len(currency) > 3:
        raise _bad("currency", currency)
    avs, csc = d.get("avs"), d.get("csc")
    if avs is not None and (type(avs) is not str or len(avs) > 80):
        raise _bad("avs", avs)
    if csc is not None and (type(csc) is not str or len(csc) > 80):
        raise _bad("csc", csc)
    return Event(tx, customer, kind, status, amount, at, occurred_at, currency, avs, csc, hour)
