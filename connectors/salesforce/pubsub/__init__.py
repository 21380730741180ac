"""Salesforce Pub/Sub API (gRPC): Change Data Capture subscriber, its errors and events."""

from connectors.salesforce.pubsub.client import PubSubSubscriber, channel_for
from connectors.salesforce.pubsub.errors import PubSubError, ReplayIdExpired, error_from_rpc
from connectors.salesforce.pubsub.events import (
    ChangeEventHeader,
    EventDecoder,
    ReceivedEvent,
    decode_bitmap,
)


def change_event_topic(entity: str) -> str:
    """``/data/<Entity>ChangeEvent``, the CDC channel of one object."""
    return f"/data/{entity}ChangeEvent"


__all__ = [
    "ChangeEventHeader",
    "EventDecoder",
    "PubSubError",
    "PubSubSubscriber",
    "ReceivedEvent",
    "ReplayIdExpired",
    "change_event_topic",
    "channel_for",
    "decode_bitmap",
    "error_from_rpc",
]
