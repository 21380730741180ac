"""How PayTraceClient talks to PayTrace: OAuth password grant, Bearer auth, retries, parsing.

Requests go through the ApiClient base's one path; tokens are renewed ahead of their stated
expiry (``token_stale``) and, on a 401 ``invalid_token``, once by the base. Responses parse
with the merchant zone in the validation context, so export times come back timezone-aware.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, SecretStr

from connectors.base.errors import ConfigurationError, ConnectorError, TokenExpired
from connectors.base.http import ApiClient
from connectors.base.retry import RetryPolicy
from connectors.paytrace.errors import SYSTEM, classify_response
from connectors.paytrace.models import TokenResponse

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

TOKEN_PATH = "/oauth/token"
# Log in again this long before PayTrace's stated expiry, so calls never race it.
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0


def as_secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


class PayTraceTransport(ApiClient):
    """Login, classification, retries and typed POSTs; the endpoints live in the client."""

    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str | SecretStr,
        *,
        integrator_id: str | None = None,
        timezone: str = "UTC",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_money_movement: bool = True,
    ) -> None:
        if not username:
            raise ValueError("PayTrace username is required")
        super().__init__(base_url, timeout=timeout, retry=retry, transport=transport)
        self._username = username
        self._password = as_secret(password)
        self.integrator_id = integrator_id
        self.zone = ZoneInfo(timezone)
        self.retry_money_movement = retry_money_movement
        self._token_expires_at = 0.0

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(base_url={str(self.http.base_url)!r}, username={self._username!r})"

    # --- ApiClient hooks -------------------------------------------------------------------

    async def authenticate(self) -> dict[str, str]:
        form = {
            "grant_type": "password",
            "username": self._username,
            "password": self._password.get_secret_value(),
        }
        started = time.perf_counter()
        response = await self.http.post(TOKEN_PATH, data=form)
        error = classify_response(response)
        if isinstance(error, TokenExpired):
            # A refused login is never fixed by logging in again: a new error, not a mutation.
            error = ConfigurationError(
                error.message,
                system=error.system,
                status=error.status,
                code=error.code,
                fields=error.fields,
            )
        self.report(TOKEN_PATH, error, time.perf_counter() - started)
        if error is not None:
            raise error
        token = TokenResponse.model_validate_json(response.content)
        self._token_expires_at = time.monotonic() + token.expires_in - TOKEN_EXPIRY_MARGIN_SECONDS
        return {"Authorization": f"Bearer {token.access_token.get_secret_value()}"}

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        return classify_response(response)

    def token_stale(self) -> bool:
        # Log in again ahead of PayTrace's stated expiry; the base asks before every call.
        return time.monotonic() >= self._token_expires_at

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        model: type[ModelT],
        *,
        retry: bool = True,
    ) -> ModelT:
        response = await self.request("POST", path, json=body, retry=retry)
        log.debug("paytrace %s -> %s", path, response.status_code)
        return model.model_validate_json(response.content, context={"tz": self.zone})

    def _with_integrator(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.integrator_id and "integrator_id" not in body:
            body["integrator_id"] = self.integrator_id
        return body
