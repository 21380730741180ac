"""Settings of one emulated org."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class EmulatorConfig(BaseModel):
    client_id: str = "paystream-demo"
    client_secret: str = "demo-secret"
    jwt_public_key: str | None = None  # PEM; enables the JWT bearer flow
    api_limit: int = 100000  # daily API requests (Sforce-Limit-Info's M)
    data_dir: Path | None = None  # None: in-memory SQLite
    extra_fields: dict[str, list[str]] = Field(
        default_factory=lambda: {"Payment__c": ["SalesRepID__c", "Campaign_Source__c"]}
    )
    # Text custom fields marked External ID and Unique, as an admin would (upsert by them).
    external_id_fields: dict[str, list[str]] = Field(default_factory=dict)
    change_event_retention_hours: float = 72
    # Pub/Sub API (gRPC) beside the REST app: None = not served, 0 = any free port.
    pubsub_port: int | None = None
    pubsub_host: str = "127.0.0.1"
    pubsub_keepalive_seconds: float = 270  # the real service sends one within 270 s
