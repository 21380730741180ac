"""`paystream ingress`: signed push notifications of disputes and of payment events.

Its own process (an aiohttp server), apart from the workers. ``POST /v1/disputes`` takes a JSON
dispute (schemas/dispute.py without ``source``/``received_at``, which the ingress sets) onto
``<prefix>.disputes``; ``POST /v1/payments`` takes one PayTrace transaction as the export
returns it onto the raw topic the poller writes (stream/ingress_payments.py). Both are signed
as stream/ingress_guard.py says and share one replay window and one rate per source. Answers,
never a 500 for bad input:

- 202 once the broker acknowledged the record (acks=all);
- 400 body not JSON (or not an object); 422 not a dispute (the fields named, not the values);
- 401 unsigned, unknown source, bad signature, or a timestamp more than the tolerance (300 s)
  from now (``stale``: 401, not 408, because it is a failed authentication, not a slow client);
- 409 the same signature again within the window (a replay); 413 body over the limit, checked
  on Content-Length and while reading, before the whole body is held;
- 429 with Retry-After when the source is over its rate; 503 with Retry-After when the broker
  did not acknowledge (the sender retries; a duplicate is harmless downstream).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from stream.dispute_intake import BrokerUnavailable, DisputePublisher, IntakeRefused, dispute_from
from stream.ingress_guard import (
    SIGNATURE_HEADER,
    SOURCE_HEADER,
    TIMESTAMP_HEADER,
    Refusal,
    ReplayCache,
    SourceLimits,
    check_timestamp,
    verify,
)
from stream.ingress_payments import PUSH_SOURCE_HEADER, PaymentDoor
from stream.settings import FileBackedSettings, KafkaSettings

log = logging.getLogger(__name__)
READ_CHUNK = 16 * 1024


class IngressSettings(FileBackedSettings):
    """``PAYSTREAM_INGRESS_*``; the secrets may come from ``PAYSTREAM_SECRETS_DIR``."""

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_INGRESS_", title="ingress")

    host: str = "127.0.0.1"
    port: int = 8088
    # {"paytrace": ["current", "previous"]}: every secret of a source verifies (rotation).
    secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=64 * 1024, ge=256)
    tolerance_seconds: float = Field(default=300.0, gt=0)
    rate_per_second: float = Field(default=5.0, gt=0)
    burst: int = Field(default=20, ge=1)
    send_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("secrets")
    @classmethod
    def _some_secret(cls, value: dict[str, list[SecretStr]]) -> dict[str, list[SecretStr]]:
        for source, secrets in value.items():
            if not secrets or any(len(s.get_secret_value()) < 16 for s in secrets):
                raise ValueError(f"source {source!r}: secrets of at least 16 characters")
        return value


def _refused(refusal: Refusal) -> web.Response:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    body = {"status": "refused", "code": refusal.code, "message": refusal.message}
    return web.json_response(body, status=refusal.status, headers=headers)


# (fields, source) -> the accepted id: parses, validates and sends one path's body
Publish = Callable[[dict[str, Any], str], Awaitable[str]]


class Ingress:
    def __init__(
        self, settings: IngressSettings, publisher: Any, payments: PaymentDoor | None = None
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.payments = payments
        self.replays = ReplayCache(settings.tolerance_seconds)
        self.limits = SourceLimits(settings.rate_per_second, settings.burst)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes + 1)
        app.router.add_post("/v1/disputes", self.disputes)
        if self.payments is not None:
            app.router.add_post("/v1/payments", self.payment_events)
        app.router.add_get("/health", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Refusal(413, "too_large", f"body over {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise Refusal(413, "too_large", f"body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _secrets(self, request: web.Request) -> tuple[str, list[str]]:
        source = request.headers.get(SOURCE_HEADER, "")
        secrets = self.settings.secrets.get(source)
        if not secrets:
            raise Refusal(401, "unknown_source", "unknown or missing source")
        return source, [s.get_secret_value() for s in secrets]

    async def disputes(self, request: web.Request) -> web.Response:
        return await self._accept(request, self._dispute)

    async def payment_events(self, request: web.Request) -> web.Response:
        return await self._accept(request, self._payment)

    async def _accept(self, request: web.Request, publish: Publish) -> web.Response:
        """The checks every path shares, in order: size, source, signature, time, rate,
        replay; then ``publish`` (parse, validate, send) and 202 once the broker acked."""
        source = "-"
        try:
            body = await self._body(request)
            source, secrets = self._secrets(request)
            timestamp = request.headers.get(TIMESTAMP_HEADER, "")
            signature = request.headers.get(SIGNATURE_HEADER, "")
            if not timestamp or not signature:
                raise Refusal(401, "unsigned", "timestamp and signature headers are required")
            check_timestamp(timestamp, self.settings.tolerance_seconds)
            verified = verify(secrets, timestamp, body, signature)
            await self.limits.take(source)
            self.replays.reserve(verified)
            try:
                key = await publish(_json_object(body), source)
            except BaseException:
                self.replays.release(verified)  # not accepted: the sender may try again
                raise
        except Refusal as refusal:
            log.info("ingress: refused from %s: %s %s", source, refusal.status, refusal.code)
            return _refused(refusal)
        log.info("ingress: accepted %s from %s", key, source)
        return web.json_response({"status": "accepted", "id": key}, status=202)

    async def _dispute(self, fields: dict[str, Any], source: str) -> str:
        for name in ("source", "received_at"):
            fields.pop(name, None)  # set here, never by the sender
        try:
            dispute = dispute_from(fields, source=f"push:{source.lower()}")
        except IntakeRefused as exc:
            raise Refusal(422, exc.reason, exc.detail) from None
        try:
            await self.publisher.publish(dispute)
        except BrokerUnavailable:
            raise Refusal(503, "broker_unavailable", "not written; try again", 5) from None
        return dispute.idempotency_key

    async def _payment(self, fields: dict[str, Any], source: str) -> str:
        assert self.payments is not None  # the route exists only with a door
        try:
            key, value = self.payments.raw(fields)
        except IntakeRefused as exc:
            raise Refusal(422, exc.reason, exc.detail) from None
        header = (PUSH_SOURCE_HEADER, f"push:{source.lower()}".encode())
        try:
            await self.publisher.send("paytrace_raw", key, value, [header])
        except BrokerUnavailable:
            raise Refusal(503, "broker_unavailable", "not written; try again", 5) from None
        return f"payment:{key.decode()}"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refusal(400, "malformed", "body is not JSON") from None
    if not isinstance(fields, dict):
        raise Refusal(400, "malformed", "body is not a JSON object")
    return fields


async def serve(
    settings: IngressSettings, kafka: KafkaSettings, bootstrap: str, payments: PaymentDoor
) -> None:
    """Until SIGTERM/SIGINT."""
    publisher = DisputePublisher(kafka, bootstrap, settings.send_timeout_seconds)
    await publisher.start()
    ingress = Ingress(settings, publisher, payments)
    runner = web.AppRunner(ingress.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info("ingress: listening on %s:%s", settings.host, settings.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await publisher.stop()
