"""What happened to one record, as types: the consequence is the type (Meltano SDK's model).

A flow returns (or raises) these; the runtime turns each into the one thing it means.
"""

from __future__ import annotations

from dataclasses import dataclass


class Rejected(Exception):
    """This record cannot succeed as it stands: dead-letter it with ``reason`` and go on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Ignored(Exception):
    """Nothing to do for this record, by design (our own write-back, a replay for the other
    sink, a state already seen). Counted with ``reason``, never dead-lettered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Delivered:
    """The record's effect is done (written, emitted, or already there)."""


@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Failed:
    """The attempt raised ``error``; the runtime decides (retry, dead letter, stop) by its type."""

    error: BaseException


Result = Delivered | Skipped | Failed

DELIVERED = Delivered()
