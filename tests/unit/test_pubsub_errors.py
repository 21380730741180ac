"""Pub/Sub API statuses and error-code trailers mapped onto paystream actions."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from connectors.base.errors import Action, ConnectorError
from connectors.salesforce.pubsub.errors import ReplayIdExpired, error_from_rpc
from connectors.salesforce.pubsub.events import ChangeEventHeader

RPC_ID = "6cdd3cd5-d289-4cc0-a74b-12f13906514b"


def rpc_error(status: grpc.StatusCode, details: str, error_code: str | None) -> aio.AioRpcError:
    trailers = [("rpc-id", RPC_ID), ("type", "Subscribe")]
    if error_code:
        trailers.append(("error-code", error_code))
    return aio.AioRpcError(status, aio.Metadata(), aio.Metadata(*trailers), details)


def test_corrupted_replay_id_is_replay_id_expired_with_the_position() -> None:
    error = error_from_rpc(
        rpc_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"The Replay ID validation failed. rpcId: {RPC_ID}",
            "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
        ),
        replay_id=b"\x00" * 8 + b"\x00\x07",
    )
    assert isinstance(error, ReplayIdExpired) and isinstance(error, ConnectorError)
    assert error.action is Action.DEAD_LETTER and not error.retriable
    assert error.replay_id == b"\x00" * 8 + b"\x00\x07"
    assert error.rpc_id == RPC_ID
    assert error.reason == (
        "salesforce:sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    )


@pytest.mark.parametrize(
    ("status", "details", "error_code", "action"),
    [
        # documented in the issue trackers of the official sample clients
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "An authentication exception occurred. Provide valid authentication via "
            f"metadata headers. rpcId: {RPC_ID}",
            "sfdc.platform.eventbus.grpc.service.auth.error",
            Action.REFRESH_TOKEN,
        ),
        (
            grpc.StatusCode.INTERNAL,
            f"The service is unavailable. Try again later. rpcId: {RPC_ID}",
            "sfdc.platform.eventbus.grpc.service.unavailable",
            Action.RETRY,
        ),
        (grpc.StatusCode.UNAVAILABLE, "RST_STREAM closed stream.", None, Action.RETRY),
        (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "limit",
            "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded",
            Action.RATE_LIMITED,
        ),
        (grpc.StatusCode.NOT_FOUND, "no topic", None, Action.FATAL),
        (grpc.StatusCode.PERMISSION_DENIED, "no access", None, Action.FATAL),
    ],
)
def test_statuses_map_to_actions(
    status: grpc.StatusCode, details: str, error_code: str | None, action: Action
) -> None:
    error = error_from_rpc(rpc_error(status, details, error_code))
    assert error.action is action
    assert error.grpc_status == status
    assert error.code == (error_code or status.name)
    assert error.rpc_id == RPC_ID
    assert not isinstance(error, ReplayIdExpired)


@pytest.mark.parametrize(
    ("origin", "client"),
    [
        ("com/salesforce/api/rest/62.0;client=paystream", "paystream"),
        ("com/salesforce/api/soap/49.0;client=Astro", "Astro"),
        ("com/salesforce/api/rest/62.0", None),
        ("", None),
    ],
)
def test_change_origin_names_the_writing_client(origin: str, client: str | None) -> None:
    header = ChangeEventHeader(
        entity_name="Account",
        record_ids=("001xx000003DGb2AAG",),
        change_type="UPDATE",
        change_origin=origin,
        transaction_key="k",
        sequence_number=1,
        commit_timestamp=0,
        commit_number=0,
        commit_user="005xx000001SwQ6AAK",
        changed_fields=(),
        nulled_fields=(),
        diff_fields=(),
    )
    assert header.client == client
    assert header.made_by("paystream") is (client == "paystream")
