"""One consumed record, as the runtime hands it to a flow: bytes and where they came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Incoming:
    key: bytes | None
    value: Any  # bytes from a raw-serialised topic; checked by stream/runtime/limits.py
    headers: tuple[tuple[str, bytes], ...]
    topic: str
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def of(cls, event: Any) -> Incoming:
        """From a Faust event (its message holds the raw key, value and headers)."""
        message = event.message
        return cls(
            key=message.key,
            value=message.value,
            headers=_headers(message.headers),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    items: Iterable[Any] = raw.items() if isinstance(raw, dict) else (raw or ())
    out = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue  # a header Kafka would not produce: nothing to read from it
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        out.append((text, bytes(value) if isinstance(value, bytes | bytearray) else b""))
    return tuple(out)
