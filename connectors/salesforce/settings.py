"""Salesforce connection settings (``PAYSTREAM_SALESFORCE_*`` or the ``salesforce`` section)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base.settings import FileBackedSettings


class SalesforceSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_SALESFORCE_", title="salesforce")

    # No default: https://login.salesforce.com, test.salesforce.com (a sandbox org) or the
    # org's My Domain are all right somewhere; the emulator's lives in stream/sandbox.py.
    login_url: str = Field(min_length=1)
    api_version: str = "v62.0"
    auth_flow: Literal["client_credentials", "jwt_bearer"] = "client_credentials"
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    username: str | None = None  # the JWT ``sub``: the integration user
    private_key_file: Path | None = None
    private_key: SecretStr | None = None  # PEM; wins over private_key_file
    jwt_audience: str | None = None  # defaults to login_url
    timeout: float = 30.0
    # Sent as ``Sforce-Call-Options: client=<id>``; change events carry it in changeOrigin,
    # which is how a CDC consumer recognises (and skips) changes paystream made itself.
    call_options_client: str = "paystream"
    # Pub/Sub API (Change Data Capture): https:// = TLS, http:// = plaintext (the emulator).
    pubsub_url: str = "https://api.pubsub.salesforce.com:7443"
    pubsub_tenant_id: str | None = None  # the org id; default: read from the access token
    # The daily API budget (Sforce-Limit-Info's api-usage=used/max): above this share of max,
    # sinks slow down instead of spending the day's last calls (stream/runtime/api_budget.py).
    api_budget_share: float = Field(default=0.90, gt=0, le=1)
    # While above it: how long a collection writer waits to fill a call of 200 records, and
    # how often a paused flow with no fresher header asks again (one call to /limits).
    api_budget_linger_seconds: float = Field(default=30.0, gt=0, le=90)
    api_budget_recheck_seconds: float = Field(default=60.0, gt=0)

    @classmethod
    def required_for(cls, values: Mapping[str, Any]) -> list[str]:
        """What the chosen login flow needs besides the client id."""
        if values.get("auth_flow", "client_credentials") == "jwt_bearer":
            needed = ["username"]
            if values.get("private_key") in (None, "") and values.get("private_key_file") in (
                None,
                "",
            ):
                needed.append("private_key")
            return needed
        return ["client_secret"]

    def credentials_problem(self) -> str | None:
        """What is missing for the chosen flow, or None when the settings can authenticate."""
        if not self.client_id:
            return "client_id is required"
        if self.auth_flow == "client_credentials" and self.client_secret is None:
            return "client_secret is required for the client_credentials flow"
        if self.auth_flow == "jwt_bearer":
            if not self.username:
                return "username is required for the jwt_bearer flow"
            if self.private_key is None and self.private_key_file is None:
                return "private_key or private_key_file is required for the jwt_bearer flow"
        return None

    def private_key_pem(self) -> str:
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is None:
            raise ValueError("no private key configured")
        return self.private_key_file.read_text()
