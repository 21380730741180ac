"""Running `paystream ingress` and signing notifications, for the dispute tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.ingress_process import IngressProcess as RunningIngress
from stream.ingress_process import signed_request

SECRETS = {"paytrace": ["old-secret-0123456789", "new-secret-0123456789"], "flood": ["f" * 20]}


@dataclass
class IngressProcess:
    """`paystream ingress` on ``bootstrap`` with the tests' secrets and small limits."""

    bootstrap: str
    prefix: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: RunningIngress | None = None

    @property
    def url(self) -> str:
        assert self.process is not None
        return self.process.url

    def start(self) -> IngressProcess:
        env = {
            "PAYSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "PAYSTREAM_KAFKA_TOPIC_PREFIX": self.prefix,
            "PAYSTREAM_INGRESS_SECRETS": json.dumps(SECRETS),
            "PAYSTREAM_INGRESS_MAX_BODY_BYTES": "4096",
            "PAYSTREAM_INGRESS_SEND_TIMEOUT_SECONDS": "3",
            **self.extra_env,
        }
        self.process = RunningIngress(env, self.log_path)
        self.process.start(inherit_environment=False, die_with_us=True)
        return self

    async def ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        try:
            await self.process.ready(timeout)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None

    def log(self) -> str:
        return self.process.log() if self.process is not None else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def notification(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": "CB-1001",
        "transaction_id": "1000001",
        "amount": "110.00",
        "currency": "USD",
        "reason_code": "10.4",
        "reason": "Other Fraud - Card Absent Environment",
        "stage": "chargeback",
        "due_date": "2030-01-15",
    }
    body.update(changes)
    return body


def signed(
    body: bytes | dict[str, Any],
    *,
    source: str = "paytrace",
    secret: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    key = secret if secret is not None else SECRETS[source][0]
    return signed_request(body, source, key, timestamp)
