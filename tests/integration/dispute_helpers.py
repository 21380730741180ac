"""Running `paystream ingress` and signing notifications, for the dispute tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stream.broker import die_with_parent, free_port
from stream.ingress_guard import SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER, sign

SECRETS = {"paytrace": ["old-secret-0123456789", "new-secret-0123456789"], "flood": ["f" * 20]}


@dataclass
class IngressProcess:
    bootstrap: str
    prefix: str
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> IngressProcess:
        env = {
            "PATH": "/usr/bin:/bin",
            "PAYSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "PAYSTREAM_KAFKA_TOPIC_PREFIX": self.prefix,
            "PAYSTREAM_INGRESS_PORT": str(self.port),
            "PAYSTREAM_INGRESS_SECRETS": json.dumps(SECRETS),
            "PAYSTREAM_INGRESS_MAX_BODY_BYTES": "4096",
            "PAYSTREAM_INGRESS_SEND_TIMEOUT_SECONDS": "3",
            **self.extra_env,
        }
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "ingress"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        return self

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                try:
                    if (await http.get(self.url + "/health", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"ingress not up: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    key = secret if secret is not None else SECRETS[source][0]
    headers = {
        SOURCE_HEADER: source,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(key, stamp, raw),
        "Content-Type": "application/json",
    }
    return raw, headers
