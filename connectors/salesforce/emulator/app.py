"""The emulator's aiohttp application: middlewares (errors, faults, auth, limits) and wiring.

Middleware order, outermost first: render Salesforce-shaped errors and stamp
``Sforce-Limit-Info``; injected faults (base); bearer-token check; API usage count.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.base.emulator import (
    CONTROL_PREFIX,
    Faults,
    Handler,
    add_fault_routes,
    fault_middleware,
)
from connectors.salesforce.emulator import controls, routes
from connectors.salesforce.emulator.auth import TokenBook
from connectors.salesforce.emulator.bulk import add_bulk_routes
from connectors.salesforce.emulator.collections import add_collection_routes
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.emulator.describe import add_describe_routes
from connectors.salesforce.emulator.faults import (
    RecordError,
    SalesforceApiError,
    invalid_session,
    render_fault,
)
from connectors.salesforce.emulator.gaps import add_gap_routes
from connectors.salesforce.emulator.pubsub_server import attach_pubsub
from connectors.salesforce.emulator.query import QueryEngine
from connectors.salesforce.emulator.records import INTEGRATION_USER_ID, Org
from connectors.salesforce.emulator.schema import build_schema
from connectors.salesforce.emulator.state import STATE, EmulatorState
from connectors.salesforce.emulator.store import SalesforceStore

__all__ = ["STATE", "EmulatorConfig", "EmulatorState", "create_app"]

API_VERSION = "v62.0"
DATA_PREFIX = "/services/data/"
# The Versions resource needs no authentication (REST API Developer Guide, "Versions").
UNAUTHENTICATED = frozenset({"/services/data", "/services/data/"})


def _edge_middleware(state: EmulatorState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        try:
            response = await handler(request)
        except SalesforceApiError as exc:
            response = exc.response()
        except web.HTTPMethodNotAllowed:
            response = SalesforceApiError.one(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."
            ).response()
        except web.HTTPNotFound:
            response = SalesforceApiError(
                404,
                [RecordError("NOT_FOUND", "The requested resource does not exist")],
                with_fields=False,
            ).response()
        # Every REST answer carries the org's usage, except Versions (it does not count).
        if request.path.startswith(DATA_PREFIX) and request.path not in UNAUTHENTICATED:
            response.headers["Sforce-Limit-Info"] = state.limit_header()
        return response

    return middleware


def _auth_and_limits_middleware(state: EmulatorState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(DATA_PREFIX) or request.path in UNAUTHENTICATED:
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not state.tokens.is_valid(token.strip()):
            raise invalid_session()
        if state.api_used >= state.api_limit:
            raise SalesforceApiError(
                403,
                [RecordError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")],
                with_fields=False,
            )
        state.api_used += 1
        return await handler(request)

    return middleware


def create_app(config: EmulatorConfig) -> web.Application:
    schema = build_schema(config.extra_fields, config.external_id_fields)
    store = SalesforceStore(config.data_dir, schema.values())
    faults = Faults()
    state = EmulatorState(
        config=config,
        schema=schema,
        store=store,
        faults=faults,
        tokens=TokenBook(
            config.client_id, config.client_secret, config.jwt_public_key, INTEGRATION_USER_ID
        ),
        org=Org(schema, store, faults, API_VERSION, config.change_event_retention_hours),
        queries=QueryEngine(schema, store, API_VERSION),
        api_limit=config.api_limit,
    )
    app = web.Application(
        middlewares=[
            _edge_middleware(state),
            fault_middleware(faults, render_fault),
            _auth_and_limits_middleware(state),
        ]
    )
    app[STATE] = state
    store.base.attach(app)
    add_fault_routes(app, faults)
    add_describe_routes(app, routes.BASE)
    routes.add_routes(app)
    add_collection_routes(app)  # sObject Collections by id: retrieve, update, create
    add_bulk_routes(app)  # Bulk API 2.0 ingest jobs
    controls.add_routes(app)
    add_gap_routes(app)
    if config.pubsub_port is not None:
        attach_pubsub(app)
    return app
