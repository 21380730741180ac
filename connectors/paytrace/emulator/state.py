"""What every route of one emulator instance shares, and request-body parsing."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from connectors.base.emulator import Faults
from connectors.paytrace.emulator.clock import EmulatorClock
from connectors.paytrace.emulator.config import EmulatorConfig
from connectors.paytrace.emulator.rules import ERR_REQUEST, RequestError
from connectors.paytrace.emulator.store import PayTraceStore


@dataclass
class EmulatorState:
    config: EmulatorConfig
    clock: EmulatorClock
    store: PayTraceStore
    faults: Faults
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch)
    # Serialises read-check-write flows (capture, void, refund) on one transaction.
    mutation_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Transaction records each export endpoint served (GET /_emulator/served): what a poller
    # costs, counted where it is paid.
    served: Counter[str] = field(default_factory=Counter)


STATE_KEY = web.AppKey("paytrace_emulator", EmulatorState)


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(ERR_REQUEST, "Please provide a valid JSON request body.") from exc
    if not isinstance(body, dict):
        raise RequestError(ERR_REQUEST, "Please provide a valid JSON request body.")
    return body


def text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)
