"""Resilience of the CDC subscription: resume, retention, token expiry, outages (gRPC loopback)."""

from __future__ import annotations

import asyncio
import re
import socket

import grpc
import httpx
import pytest
from grpc import aio

from connectors.base.errors import Action
from connectors.base.retry import RetryPolicy
from connectors.salesforce.emulator.pubsub_server import start_pubsub_server
from connectors.salesforce.pubsub.client import PubSubSubscriber
from connectors.salesforce.pubsub.errors import PubSubError, ReplayIdExpired
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb
from stream import metrics
from tests.integration.test_pubsub_helpers import (
    OPPORTUNITIES,
    next_event,
    nothing_more,
    running_org,
    take,
)

pytestmark = pytest.mark.integration


def retries() -> float:
    return metrics.EXTERNAL_RETRIES.labels("salesforce", "pubsub.Subscribe")._value.get()


def refreshes() -> float:
    calls = metrics.EXTERNAL_CALLS.labels("salesforce", "pubsub.Subscribe", "refresh_token")
    return calls._value.get()


async def test_resume_after_a_restart_loses_nothing_and_repeats_nothing() -> None:
    async with running_org() as org:
        opp_id = await org.opportunity()
        for stage in ("Qualification", "Needs Analysis", "Closed Won"):
            await org.rest.update("Opportunity", opp_id, {"StageName": stage})
        async with org.subscriber() as first_run:
            seen = await take(first_run.subscribe(OPPORTUNITIES, None, start="earliest"), 2)
        stored = seen[-1].replay_id  # what the pipeline would have checkpointed

        other = await org.opportunity("Second deal")
        await org.rest.update("Opportunity", other, {"Amount": 99})
        async with org.subscriber() as second_run:
            resumed = await take(second_run.subscribe(OPPORTUNITIES, stored), 4)
            assert await nothing_more(second_run.subscribe(OPPORTUNITIES, resumed[-1].replay_id))
        async with org.subscriber() as audit:
            everything = await take(audit.subscribe(OPPORTUNITIES, None, start="earliest"), 6)

    assert [e.replay_id for e in seen + resumed] == [e.replay_id for e in everything]
    assert [e.header.record_ids[0] for e in resumed] == [opp_id, opp_id, other, other]


async def test_a_replay_id_past_retention_raises_replay_id_expired() -> None:
    async with running_org(change_event_retention_hours=0.0003) as org:  # ~1.1 s
        opp_id = await org.opportunity()
        async with org.subscriber() as subscriber:
            (old,) = await take(subscriber.subscribe(OPPORTUNITIES, None, start="earliest"), 1)
            await asyncio.sleep(1.3)
            with pytest.raises(ReplayIdExpired) as caught:
                await take(subscriber.subscribe(OPPORTUNITIES, old.replay_id), 1)
            error = caught.value
            assert error.replay_id == old.replay_id
            assert error.action is Action.DEAD_LETTER and not error.retriable
            assert error.grpc_status == grpc.StatusCode.INVALID_ARGUMENT
            assert error.code == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
            assert error.message.startswith("The Replay ID validation failed.")
            assert re.search(r"rpcId: [0-9a-f-]{36}$", error.message)

            with pytest.raises(ReplayIdExpired):  # not an id the bus ever issued
                await take(subscriber.subscribe(OPPORTUNITIES, b"not-an-id"), 1)

            # The resync path: EARLIEST no longer serves the expired event, new ones flow.
            await org.rest.update("Opportunity", opp_id, {"StageName": "Closed Won"})
            (fresh,) = await take(subscriber.subscribe(OPPORTUNITIES, None, start="earliest"), 1)
            assert fresh.header.change_type == "UPDATE"


async def test_a_bad_token_is_refused_and_an_expired_one_is_refreshed() -> None:
    async with running_org() as org:
        async with org.stub() as stub:
            with pytest.raises(aio.AioRpcError) as refused:
                call = stub.Subscribe(metadata=await org.metadata(token="00D000000000001!AQbogus"))
                await call.write(pb.FetchRequest(topic_name=OPPORTUNITIES, num_requested=1))
                await call.read()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (refused.value.details() or "").startswith(
            "An authentication exception occurred. Provide valid authentication via metadata "
            "headers. rpcId: "
        )
        trailers = dict(refused.value.trailing_metadata() or ())
        assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.auth.error"
        assert trailers["rpc-id"] in (refused.value.details() or "")

        opp_id = await org.opportunity()
        before = refreshes()
        async with org.subscriber() as subscriber:
            events = subscriber.subscribe(OPPORTUNITIES, None, start="earliest")
            first = await next_event(events, 3)
            async with httpx.AsyncClient(base_url=org.server.base_url) as control:
                expired = await control.post("/_emulator/expire_tokens")
            assert expired.json()["expired"] >= 2  # the REST client's and the subscriber's
            await org.rest.update("Opportunity", opp_id, {"StageName": "Closed Won"})
            second = await next_event(events, 5)
            await events.aclose()  # type: ignore[attr-defined]
    assert refreshes() == before + 1  # the stream was refused once, then resumed
    assert first.header.change_type == "CREATE"
    assert second.header.change_type == "UPDATE" and second.replay_id > first.replay_id


async def test_a_refused_fresh_token_is_fatal() -> None:
    async with running_org() as org:
        subscriber = org.subscriber(pubsub_tenant_id="00D000000000999")  # wrong org
        async with subscriber:
            with pytest.raises(PubSubError) as caught:
                await take(subscriber.subscribe(OPPORTUNITIES, None), 1)
    assert caught.value.grpc_status == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.action is Action.FATAL


async def test_service_unavailable_reconnects_with_backoff() -> None:
    async with running_org() as org:
        opp_id = await org.opportunity()
        before = retries()
        async with org.subscriber() as subscriber:
            events = subscriber.subscribe(OPPORTUNITIES, None, start="earliest")
            first = await next_event(events, 3)
            async with httpx.AsyncClient(base_url=org.server.base_url) as control:
                await control.post("/_emulator/faults", json={"down_seconds": 0.6})
            second_event = asyncio.create_task(next_event(events, 10))
            await asyncio.sleep(0.8)  # the stream fails at its next wake and is retried
            await org.rest.update("Opportunity", opp_id, {"StageName": "Closed Won"})
            second = await asyncio.wait_for(second_event, 5)
            await events.aclose()  # type: ignore[attr-defined]
    assert retries() > before
    assert second.header.change_type == "UPDATE" and second.replay_id > first.replay_id


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_restarted_server_is_reconnected_from_the_last_position() -> None:
    async with running_org(pubsub_port=None) as org:
        port = _free_port()
        server, _ = await start_pubsub_server(org.state, "127.0.0.1", port)
        opp_id = await org.opportunity()
        before = retries()
        subscriber = PubSubSubscriber(
            org.settings.model_copy(update={"pubsub_url": f"http://127.0.0.1:{port}"}),
            retry=RetryPolicy(attempts=20, initial_seconds=0.05, max_seconds=0.2),
        )
        try:
            events = subscriber.subscribe(OPPORTUNITIES, None, start="earliest")
            first = await next_event(events, 3)
            pending = asyncio.create_task(next_event(events, 10))
            await server.stop(grace=None)  # the stream breaks; reconnects find nothing there
            await org.rest.update("Opportunity", opp_id, {"Amount": 1})
            await asyncio.sleep(0.4)
            server, _ = await start_pubsub_server(org.state, "127.0.0.1", port)
            second = await asyncio.wait_for(pending, 8)
            await events.aclose()  # type: ignore[attr-defined]
        finally:
            await subscriber.close()
            await server.stop(grace=None)
    assert retries() > before
    assert second.header.change_type == "UPDATE" and second.replay_id > first.replay_id


async def test_nothing_listening_gives_up_after_the_retry_budget() -> None:
    async with running_org() as org:
        subscriber = PubSubSubscriber(
            org.settings.model_copy(update={"pubsub_url": f"http://127.0.0.1:{_free_port()}"}),
            retry=RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.02),
        )
        async with subscriber:
            with pytest.raises(PubSubError) as caught:
                await take(subscriber.subscribe(OPPORTUNITIES, None), 1)
    assert caught.value.grpc_status == grpc.StatusCode.UNAVAILABLE
    assert caught.value.action is Action.RETRY
