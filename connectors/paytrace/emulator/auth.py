"""OAuth 2.0 password grant at ``/oauth/token`` and Bearer checks on every ``/v1/`` call."""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import Any

from aiohttp import web

from connectors.base.emulator import Faults, Handler, json_response
from connectors.paytrace.emulator.render import error_response, oauth_error
from connectors.paytrace.emulator.rules import ERR_PERMISSION, RequestError
from connectors.paytrace.emulator.state import EmulatorState, state_of

TOKEN_LIFETIME_SECONDS = 7200
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)


async def issue_token(request: web.Request) -> web.Response:
    state = state_of(request)
    form = await request.post()
    if form.get("grant_type") != "password":
        return oauth_error("unsupported_grant_type", "Only the password grant is supported.", 400)
    if form.get("username") != state.config.username or not secrets.compare_digest(
        str(form.get("password", "")), state.config.password
    ):
        return oauth_error("invalid_grant", INVALID_GRANT, 400)
    token = f"{secrets.token_hex(7)}:{secrets.token_hex(7)}:{secrets.token_hex(32)}"
    state.tokens[token] = state.clock.now() + TOKEN_LIFETIME_SECONDS
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_SECONDS}
    )


def auth_middleware(state: EmulatorState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires_at = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expires_at is None:
            return oauth_error("invalid_token", "The access token is invalid", 401)
        if state.clock.now() >= expires_at:
            return oauth_error("invalid_token", "The access token expired", 401)
        # Set through POST /_emulator/faults {"permission_denied_prefix": "/v1/..."}.
        denied = state.faults.extra.get("permission_denied_prefix")
        if denied and request.path.startswith(str(denied)):
            return error_response(RequestError(ERR_PERMISSION))
        return await handler(request)

    return middleware


def fault_renderer(faults: Faults) -> Any:
    """How injected faults look: PayTrace-ish bodies, Retry-After on 429."""

    def render(status: int) -> web.Response:
        if status == 401:
            return oauth_error("invalid_token", "The access token is invalid", 401)
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(faults.extra.get("retry_after", 1))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = {"success": False, "response_code": 1, "status_message": phrase}
        return json_response(body, status=status, headers=headers)

    return render
