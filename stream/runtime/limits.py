"""Limits every record meets at the door, checked before anything parses it.

A record that breaks one is a dead letter with the limit as its reason; it never reaches a
parser, a recursive walk or an API call.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stream.runtime.outcomes import Rejected
from stream.settings import FileBackedSettings


class RecordLimits(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_RECORD_", title="records")

    # A payment, change event or command is a few KiB; far more is an accident or an attack.
    max_bytes: int = Field(default=256 * 1024, ge=1024)
    max_key_bytes: int = Field(default=1024, ge=16)
    max_json_depth: int = Field(default=32, ge=2)
    # Dead letters carry at most this much of the original (plus its hash): always far below
    # the broker's message size (Kafka's default message.max.bytes is ~1 MB).
    dead_letter_payload_bytes: int = Field(default=16 * 1024, ge=256)
    # A record whose calls keep failing while others succeed is the record's problem: after
    # this long it is dead-lettered. While everything fails (an outage) it is held instead.
    retry_budget_seconds: float = Field(default=60.0, gt=0)
    retry_budget_attempts: int = Field(default=4, ge=1)


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` outside strings (no parse, no recursion)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot nest deeper than the brackets it has: the common, cheap case
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def check(key: bytes | None, value: bytes | None, limits: RecordLimits) -> bytes:
    """The value, once it passed every limit; else ``Rejected`` with the limit as reason."""
    if value is None:
        raise Rejected("empty", "the record has no value")
    if not isinstance(value, bytes | bytearray):
        raise Rejected("malformed", f"value of type {type(value).__name__}, expected bytes")
    if key is not None and len(key) > limits.max_key_bytes:
        raise Rejected("key_too_large", f"key of {len(key)} bytes (limit {limits.max_key_bytes})")
    if len(value) > limits.max_bytes:
        raise Rejected(
            "record_too_large", f"value of {len(value)} bytes (limit {limits.max_bytes})"
        )
    if json_depth_exceeds(bytes(value), limits.max_json_depth):
        raise Rejected("json_too_deep", f"JSON nested deeper than {limits.max_json_depth} levels")
    return bytes(value)
