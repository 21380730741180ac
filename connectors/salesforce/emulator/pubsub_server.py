"""The emulated Pub/Sub API (``eventbus.v1.PubSub`` over gRPC) beside the REST app.

Serves the change events the REST emulator records: GetTopic, GetSchema and Subscribe;
Publish, PublishStream and ManagedSubscribe answer UNIMPLEMENTED. Auth is the real metadata
trio (accesstoken, instanceurl, tenantid), checked against the REST emulator's tokens, so a
token expired through ``/_emulator/expire_tokens`` fails here too. Errors carry the real
trailers (``error-code``, ``rpc-id``) and end their details with ``rpcId: <id>``.

Started by ``create_app`` when ``EmulatorConfig.pubsub_port`` is set (same event loop as
aiohttp), or directly with ``start_pubsub_server``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
from aiohttp import web
from grpc import aio

from connectors.salesforce.emulator.auth import ORG_ID
from connectors.salesforce.emulator.pubsub_aborts import (
    AUTH_ERROR,
    INVALID_REQUEST_ERROR,
    REPLAY_ID_ERROR,
    TOPIC_ERROR,
    UNAVAILABLE_ERROR,
    PubSubAbort,
    auth_failed,
    decode_replay_id,
    encode_replay_id,
    replay_id_failed,
    service_unavailable,
)
from connectors.salesforce.emulator.pubsub_schemas import EventSchema, EventSchemas
from connectors.salesforce.emulator.pubsub_subscription import Subscription
from connectors.salesforce.emulator.state import STATE, EmulatorState
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb
from connectors.salesforce.pubsub.generated import pubsub_api_pb2_grpc as pb_grpc

__all__ = [
    "AUTH_ERROR",
    "INVALID_REQUEST_ERROR",
    "REPLAY_ID_ERROR",
    "TOPIC_ERROR",
    "UNAVAILABLE_ERROR",
    "PubSubAbort",
    "PubSubServicer",
    "attach_pubsub",
    "auth_failed",
    "decode_replay_id",
    "encode_replay_id",
    "pubsub_url",
    "replay_id_failed",
    "service_unavailable",
    "start_pubsub_server",
]


class PubSubServicer(pb_grpc.PubSubServicer):
    def __init__(self, state: EmulatorState, schemas: EventSchemas) -> None:
        self.state = state
        self.schemas = schemas

    # -- shared checks -----------------------------------------------------------------

    def check_auth(self, context: aio.ServicerContext[Any, Any]) -> str:
        """The caller's access token, or a PubSubAbort(UNAUTHENTICATED)."""
        meta = {key: value for key, value in context.invocation_metadata() or ()}
        token = str(meta.get("accesstoken", ""))
        tenant = str(meta.get("tenantid", ""))
        if not token or not meta.get("instanceurl") or not self.state.tokens.is_valid(token):
            raise auth_failed()
        if tenant[:15] != ORG_ID[:15]:
            raise auth_failed()
        return token

    def check_up(self) -> None:
        faults = self.state.faults
        if faults.down_until and asyncio.get_running_loop().time() < faults.down_until:
            raise service_unavailable()

    def topic(self, name: str) -> EventSchema:
        schema = self.schemas.by_topic.get(name)
        if schema is None:
            raise PubSubAbort(
                grpc.StatusCode.NOT_FOUND,
                f"The topic {name} doesn't exist or you don't have access to it.",
                TOPIC_ERROR,
            )
        return schema

    @staticmethod
    async def abort(
        context: aio.ServicerContext[Any, Any], exc: PubSubAbort, rpc_id: str, rpc: str
    ) -> NoReturn:
        trailers = (("error-code", exc.error_code), ("rpc-id", rpc_id), ("type", rpc))
        await context.abort(exc.code, f"{exc.message} rpcId: {rpc_id}", trailers)
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    # -- RPCs ----------------------------------------------------------------------------

    async def GetTopic(
        self, request: pb.TopicRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.TopicInfo:
        rpc_id = str(uuid.uuid4())
        try:
            self.check_up()
            self.check_auth(context)
            schema = self.topic(request.topic_name)
        except PubSubAbort as exc:
            await self.abort(context, exc, rpc_id, "GetTopic")
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=ORG_ID,
            can_publish=False,  # change events are published by the org only
            can_subscribe=True,
            schema_id=schema.schema_id,
            rpc_id=rpc_id,
        )

    async def GetSchema(
        self, request: pb.SchemaRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.SchemaInfo:
        rpc_id = str(uuid.uuid4())
        try:
            self.check_up()
            self.check_auth(context)
            schema = self.schemas.by_id.get(request.schema_id)
            if schema is None:
                raise PubSubAbort(
                    grpc.StatusCode.NOT_FOUND,
                    f"The schema {request.schema_id} doesn't exist.",
                    "sfdc.platform.eventbus.grpc.schema.not.found",
                )
        except PubSubAbort as exc:
            await self.abort(context, exc, rpc_id, "GetSchema")
        return pb.SchemaInfo(
            schema_json=schema.schema_json, schema_id=schema.schema_id, rpc_id=rpc_id
        )

    async def Subscribe(
        self,
        request_iterator: AsyncIterator[pb.FetchRequest],
        context: aio.ServicerContext[pb.FetchRequest, pb.FetchResponse],
    ) -> None:
        rpc_id = str(uuid.uuid4())
        try:
            self.check_up()
            token = self.check_auth(context)
            await Subscription(self, request_iterator, context, rpc_id, token).run()
        except PubSubAbort as exc:
            await self.abort(context, exc, rpc_id, "Subscribe")


async def start_pubsub_server(
    state: EmulatorState, host: str = "127.0.0.1", port: int = 0
) -> tuple[aio.Server, int]:
    """Serve the Pub/Sub API for this emulated org; returns the server and its bound port."""
    server = aio.server()
    pb_grpc.add_PubSubServicer_to_server(PubSubServicer(state, EventSchemas(state.schema)), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind the Pub/Sub API to {host}:{port}")
    await server.start()
    return server, bound


def attach_pubsub(app: web.Application) -> None:
    """Serve the Pub/Sub API while the app runs, after its store has opened."""
    state = app[STATE]

    async def serve(_: web.Application) -> AsyncIterator[None]:
        config = state.config
        server, state.pubsub_port = await start_pubsub_server(
            state, config.pubsub_host, config.pubsub_port or 0
        )
        yield
        state.pubsub_port = None
        await server.stop(grace=0.2)

    app.cleanup_ctx.append(serve)


def pubsub_url(app: web.Application) -> str:
    """Where the running app's Pub/Sub API listens, as ``SalesforceSettings.pubsub_url``."""
    state = app[STATE]
    if state.pubsub_port is None:
        raise RuntimeError("the Pub/Sub API is not running (set EmulatorConfig.pubsub_port)")
    return f"http://{state.config.pubsub_host}:{state.pubsub_port}"
