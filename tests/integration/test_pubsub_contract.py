"""Contract: REST writes arrive as CDC events over the emulated Pub/Sub API (gRPC, loopback)."""

from __future__ import annotations

import asyncio
import re
import time

import grpc
import orjson
import pytest
from grpc import aio

from connectors.base.errors import Action
from connectors.salesforce.pubsub.errors import PubSubError
from connectors.salesforce.pubsub.events import ReceivedEvent
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb
from tests.integration.test_pubsub_helpers import (
    ACCOUNTS,
    CLIENT_ID,
    OPPORTUNITIES,
    ORDERS,
    nothing_more,
    running_org,
    take,
)

pytestmark = pytest.mark.integration
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_header(event: ReceivedEvent, entity: str, record_id: str, change_type: str) -> None:
    header = event.header
    assert header.entity_name == entity
    assert header.record_ids == (record_id,)
    assert header.change_type == change_type
    assert header.change_origin == f"com/salesforce/api/rest/62.0;client={CLIENT_ID}"
    assert header.made_by(CLIENT_ID)
    assert UUID.match(header.transaction_key)
    assert abs(header.commit_timestamp - time.time() * 1000) < 60_000
    assert header.commit_user.startswith("005")
    assert header.sequence_number == 1


async def test_rest_writes_arrive_as_create_and_update_events() -> None:
    async with running_org() as org, org.subscriber() as subscriber:
        live = {OPPORTUNITIES: asyncio.Event(), ORDERS: asyncio.Event()}

        def on_keepalive(topic: str, _: bytes) -> None:
            live[topic].set()

        opportunities = asyncio.create_task(
            take(subscriber.subscribe(OPPORTUNITIES, None, on_keepalive=on_keepalive), 2)
        )
        orders = asyncio.create_task(
            take(subscriber.subscribe(ORDERS, None, on_keepalive=on_keepalive), 2)
        )
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in live.values())), 30)

        written = time.monotonic()
        opp_id = await org.opportunity("Solar panels", "Prospecting")
        await org.rest.update("Opportunity", opp_id, {"StageName": "Closed Won", "Amount": 1250.5})
        account_id = await org.rest.create("Account", {"Name": "Get Cloudy"})
        order_id = await org.rest.create(
            "Order",
            {
                "AccountId": account_id,
                "OpportunityId": opp_id,
                "EffectiveDate": "2024-05-02",
                "Status": "Draft",
            },
        )
        await org.rest.update("Order", order_id, {"Status": "Activated"})
        created, updated = await opportunities
        order_created, order_updated = await orders
        assert time.monotonic() - written < 3  # delivered as they commit, not on a slow poll

    assert_header(created, "Opportunity", opp_id, "CREATE")
    assert created.values["Name"] == "Solar panels"
    assert created.values["StageName"] == "Prospecting"
    assert created.values["CloseDate"] == 19844  # Date: days since the epoch
    assert isinstance(created.values["CreatedDate"], int)  # DateTime: epoch ms

    assert_header(updated, "Opportunity", opp_id, "UPDATE")
    assert set(updated.header.changed_fields) == {"StageName", "Amount", "LastModifiedDate"}
    assert updated.changed_values["StageName"] == "Closed Won"
    assert updated.changed_values["Amount"] == 1250.5
    assert updated.payload["Name"] is None  # unchanged fields travel as null
    assert created.replay_id < updated.replay_id  # same length, big-endian: bytes compare

    assert_header(order_created, "Order", order_id, "CREATE")
    assert order_created.values["OpportunityId"] == opp_id
    assert order_created.values["Status"] == "Draft"
    assert_header(order_updated, "Order", order_id, "UPDATE")
    assert order_updated.changed_values == {
        "Status": "Activated",
        "LastModifiedDate": order_updated.payload["LastModifiedDate"],
    }
    assert created.event_id != updated.event_id and UUID.match(created.event_id)


async def test_earliest_custom_and_latest_presets() -> None:
    async with running_org() as org, org.subscriber() as subscriber:
        opp_id = await org.opportunity()
        await org.rest.update("Opportunity", opp_id, {"StageName": "Qualification"})
        await org.rest.update("Opportunity", opp_id, {"StageName": "Closed Won"})

        everything = await take(subscriber.subscribe(OPPORTUNITIES, None, start="earliest"), 3)
        assert [e.header.change_type for e in everything] == ["CREATE", "UPDATE", "UPDATE"]

        after_first = await take(subscriber.subscribe(OPPORTUNITIES, everything[0].replay_id), 2)
        assert [e.replay_id for e in after_first] == [e.replay_id for e in everything[1:]]

        # LATEST: only what happens after the subscription starts.
        live = asyncio.Event()
        latest = asyncio.create_task(
            take(subscriber.subscribe(OPPORTUNITIES, None, on_keepalive=lambda *_: live.set()), 1)
        )
        await asyncio.wait_for(live.wait(), 30)
        await org.rest.update("Opportunity", opp_id, {"Amount": 10})
        (newest,) = await latest
        assert newest.changed_values["Amount"] == 10.0
        assert newest.replay_id > everything[-1].replay_id


async def test_topic_and_schema_lookups() -> None:
    async with running_org() as org, org.subscriber() as subscriber:
        topic = await subscriber.get_topic(OPPORTUNITIES)
        assert topic.topic_name == OPPORTUNITIES and topic.can_subscribe
        assert topic.tenant_guid.startswith("00D") and topic.rpc_id
        schema = orjson.loads(await subscriber.get_schema(topic.schema_id))
        assert schema["name"] == "OpportunityChangeEvent"
        assert schema["fields"][0]["name"] == "ChangeEventHeader"
        assert subscriber.decoder.knows(topic.schema_id)

        with pytest.raises(PubSubError) as caught:
            await subscriber.get_topic("/data/NoSuchChangeEvent")
        assert caught.value.grpc_status == grpc.StatusCode.NOT_FOUND
        assert caught.value.action is Action.FATAL
        assert caught.value.rpc_id and caught.value.rpc_id in caught.value.message

        async with org.stub() as stub:
            with pytest.raises(aio.AioRpcError) as unimplemented:
                await stub.Publish(pb.PublishRequest(topic_name=ACCOUNTS))
            assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_keepalive_carries_the_latest_replay_id() -> None:
    async with running_org() as org:
        await org.rest.create("Account", {"Name": "Elsewhere"})  # the tip is another entity's
        async with org.stub() as stub:
            call = stub.Subscribe(metadata=await org.metadata())
            await call.write(pb.FetchRequest(topic_name=OPPORTUNITIES, num_requested=5))
            started = time.monotonic()
            keepalive = await asyncio.wait_for(call.read(), 30)
            waited = time.monotonic() - started
            call.cancel()
        tip = await org.state.store.latest_replay_id()
    assert not keepalive.events
    assert keepalive.latest_replay_id == tip.to_bytes(8, "big") + b"\x00\x00"
    assert keepalive.pending_num_requested == 5
    assert UUID.match(keepalive.rpc_id)
    assert 0.2 < waited < 2  # pubsub_keepalive_seconds = 0.3


async def test_the_server_never_exceeds_the_credit_granted() -> None:
    async with running_org() as org:
        opp_id = await org.opportunity()
        for amount in range(4):
            await org.rest.update("Opportunity", opp_id, {"Amount": amount})
        async with org.stub() as stub:
            call = stub.Subscribe(metadata=await org.metadata())
            await call.write(
                pb.FetchRequest(
                    topic_name=OPPORTUNITIES, replay_preset=pb.EARLIEST, num_requested=2
                )
            )
            first: list[pb.ConsumerEvent] = []
            while len(first) < 2:
                response = await asyncio.wait_for(call.read(), 30)
                first.extend(response.events)
            assert len(first) == 2 and response.pending_num_requested == 0
            held = await asyncio.wait_for(call.read(), 30)  # three events are due, no credit
            assert not held.events and held.pending_num_requested == 0
            assert held.latest_replay_id == first[-1].replay_id  # not past what we have not had

            await call.write(pb.FetchRequest(num_requested=10))
            rest: list[pb.ConsumerEvent] = []
            while len(rest) < 3:
                response = await asyncio.wait_for(call.read(), 30)
                rest.extend(response.events)
            assert response.pending_num_requested == 7
            call.cancel()
        replay_ids = [e.replay_id for e in first + rest]
        assert replay_ids == sorted(set(replay_ids))

        # The subscriber tops its credit up as it consumes: batch 2 still reads all five.
        async with org.subscriber() as subscriber:
            events = subscriber.subscribe(OPPORTUNITIES, None, batch=2, start="earliest")
            assert [e.replay_id for e in await take(events, 5)] == replay_ids
            again = subscriber.subscribe(OPPORTUNITIES, replay_ids[-1], batch=2)
            assert await nothing_more(again)
