"""Pub/Sub API failures (gRPC statuses) mapped onto paystream's actions.

The service names the cause in the ``error-code`` trailer (``sfdc.platform.eventbus.grpc.*``)
and appends ``rpcId: <id>`` to the status details; both are kept on the error.
"""

from __future__ import annotations

import grpc
from grpc import aio

from connectors.base.errors import (
    Action,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    RecordError,
    Retriable,
    TokenExpired,
)
from connectors.salesforce.errors import SYSTEM

REPLAY_ID_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
SERVICE_UNAVAILABLE = "sfdc.platform.eventbus.grpc.service.unavailable"
CLIENT_LIMIT = "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded"

_BY_STATUS: dict[grpc.StatusCode, Action] = {
    grpc.StatusCode.UNAUTHENTICATED: Action.REFRESH_TOKEN,
    grpc.StatusCode.UNAVAILABLE: Action.RETRY,
    grpc.StatusCode.INTERNAL: Action.RETRY,  # RST_STREAM and "service unavailable" alike
    grpc.StatusCode.DEADLINE_EXCEEDED: Action.RETRY,
    grpc.StatusCode.CANCELLED: Action.RETRY,  # the server dropped the stream
    grpc.StatusCode.ABORTED: Action.RETRY,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Action.RATE_LIMITED,
}


class PubSubError(ConnectorError):
    """A failed Pub/Sub API call; ``code`` is the error-code trailer (or the status name).

    Built as one of the typed subclasses below (``pubsub_error``): the type is the action.
    """

    def __init__(
        self,
        message: str,
        *,
        grpc_status: grpc.StatusCode,
        error_code: str | None,
        rpc_id: str | None,
    ) -> None:
        super().__init__(
            message,
            system=SYSTEM,
            status=int(grpc_status.value[0]),
            code=error_code or grpc_status.name,
        )
        self.grpc_status = grpc_status
        self.rpc_id = rpc_id


# PubSubError first: its __init__ takes the gRPC details; the second base gives the action.
class PubSubRetriable(PubSubError, Retriable):
    pass


class PubSubTokenExpired(PubSubError, TokenExpired):
    pass


class PubSubRateLimited(PubSubError, RateLimited):
    pass


class PubSubFatal(PubSubError, ConfigurationError):
    pass


class ReplayIdExpired(PubSubError, RecordError):
    """The stored replay id is outside the retention window (or not one the bus knows).

    Events after it may be lost: the caller must resync (e.g. re-read the records over REST)
    and subscribe again from LATEST or EARLIEST. Never retried by the subscriber.
    """

    def __init__(self, message: str, *, replay_id: bytes | None, rpc_id: str | None) -> None:
        super().__init__(
            message,
            grpc_status=grpc.StatusCode.INVALID_ARGUMENT,
            error_code=REPLAY_ID_CORRUPTED,
            rpc_id=rpc_id,
        )
        self.replay_id = replay_id


_TYPES: dict[Action, type[PubSubError]] = {
    Action.RETRY: PubSubRetriable,
    Action.REFRESH_TOKEN: PubSubTokenExpired,
    Action.RATE_LIMITED: PubSubRateLimited,
    Action.FATAL: PubSubFatal,
}


def pubsub_error(
    action: Action,
    message: str,
    *,
    grpc_status: grpc.StatusCode,
    error_code: str | None = None,
    rpc_id: str | None = None,
) -> PubSubError:
    """The typed error for ``action`` (a status never maps to DEAD_LETTER but a replay id)."""
    return _TYPES[action](message, grpc_status=grpc_status, error_code=error_code, rpc_id=rpc_id)


def _trailer(exc: aio.AioRpcError, key: str) -> str | None:
    for name, value in exc.trailing_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode()
    return None


def error_from_rpc(exc: aio.AioRpcError, *, replay_id: bytes | None = None) -> PubSubError:
    """The classified error; ``replay_id`` is the position the failed call started from."""
    status = exc.code()
    error_code = _trailer(exc, "error-code")
    rpc_id = _trailer(exc, "rpc-id")
    message = exc.details() or status.name
    if error_code == REPLAY_ID_CORRUPTED:
        return ReplayIdExpired(message, replay_id=replay_id, rpc_id=rpc_id)
    action = _BY_STATUS.get(status, Action.FATAL)
    if error_code == CLIENT_LIMIT:
        action = Action.RATE_LIMITED
    return pubsub_error(action, message, grpc_status=status, error_code=error_code, rpc_id=rpc_id)
