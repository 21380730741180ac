"""The PayTrace emulator as an aiohttp application (see connectors/paytrace/EMULATOR.md)."""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import Faults, add_fault_routes, fault_middleware
from connectors.paytrace.emulator.auth import auth_middleware, fault_renderer, issue_token
from connectors.paytrace.emulator.clock import EmulatorClock
from connectors.paytrace.emulator.config import EmulatorConfig
from connectors.paytrace.emulator.controls import add_control_routes
from connectors.paytrace.emulator.exports import add_export_routes
from connectors.paytrace.emulator.settlement import add_settlement_routes
from connectors.paytrace.emulator.state import STATE_KEY, EmulatorState
from connectors.paytrace.emulator.store import PayTraceStore
from connectors.paytrace.emulator.transactions import add_transaction_routes
from connectors.paytrace.emulator.vault import add_vault_routes
from connectors.paytrace.emulator.volume import add_volume_routes


def create_app(config: EmulatorConfig) -> web.Application:
    faults = Faults()
    state = EmulatorState(
        config=config,
        clock=EmulatorClock(config.timezone),
        store=PayTraceStore(config.database),
        faults=faults,
    )
    app = web.Application(
        middlewares=[fault_middleware(faults, fault_renderer(faults)), auth_middleware(state)]
    )
    app[STATE_KEY] = state
    state.store.attach(app)
    app.router.add_post("/oauth/token", issue_token)
    add_transaction_routes(app)
    add_settlement_routes(app)
    add_vault_routes(app)
    add_export_routes(app)
    add_fault_routes(app, faults)
    add_control_routes(app)
    add_volume_routes(app)
    return app
