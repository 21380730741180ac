"""The Pub/Sub emulator's failures and replay ids, shared by the servicer and subscriptions.

Their own module so that ``pubsub_server`` and ``pubsub_subscription`` need not import each
other.
"""

from __future__ import annotations

import struct

import grpc

AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
UNAVAILABLE_ERROR = "sfdc.platform.eventbus.grpc.service.unavailable"
REPLAY_ID_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
# No public record of the exact code for an unknown topic: NOT_FOUND is our approximation.
TOPIC_ERROR = "sfdc.platform.eventbus.grpc.topic.not.found"
INVALID_REQUEST_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.invalid.request"


class PubSubAbort(Exception):
    """Raised inside a handler; the servicer turns it into the status and trailers."""

    def __init__(self, code: grpc.StatusCode, message: str, error_code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_code = error_code


def auth_failed() -> PubSubAbort:
    return PubSubAbort(
        grpc.StatusCode.UNAUTHENTICATED,
        "An authentication exception occurred. Provide valid authentication via metadata headers.",
        AUTH_ERROR,
    )


def service_unavailable() -> PubSubAbort:
    # The real service reports this as INTERNAL with the unavailable error code.
    return PubSubAbort(
        grpc.StatusCode.INTERNAL,
        "The service is unavailable. Try again later.",
        UNAVAILABLE_ERROR,
    )


def replay_id_failed() -> PubSubAbort:
    return PubSubAbort(
        grpc.StatusCode.INVALID_ARGUMENT,
        "The Replay ID validation failed. Ensure that the replay_id field value in "
        "FetchRequest is valid and refers to an event that is within the retention window.",
        REPLAY_ID_ERROR,
    )


def encode_replay_id(value: int) -> bytes:
    """Ten bytes like the real ids: a big-endian 64-bit position and two trailing bytes."""
    return struct.pack(">QH", value, 0)


def decode_replay_id(raw: bytes) -> int:
    if len(raw) != 10:
        raise replay_id_failed()
    value, _ = struct.unpack(">QH", raw)
    return int(value)
