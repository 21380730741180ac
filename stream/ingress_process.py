"""Running `paystream ingress` as its own process (the demo and the tests), and signing a
request as a sender does (stream/ingress_guard.py says what the ingress checks)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stream.broker import die_with_parent, free_port
from stream.ingress_guard import SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER, sign


def signed_request(
    body: bytes | dict[str, Any], source: str, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers a sender holding ``secret`` sends."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return raw, {
        SOURCE_HEADER: source,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, raw),
        "Content-Type": "application/json",
    }


@dataclass
class IngressProcess:
    """One `paystream ingress` subprocess; ``env`` holds its PAYSTREAM_* settings."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, inherit_environment: bool = True, die_with_us: bool = False) -> IngressProcess:
        """``die_with_us``: PR_SET_PDEATHSIG (forces fork(): not with an in-process gRPC
        server, which then warns on every start, as stream/supervise.py says)."""
        base = dict(os.environ) if inherit_environment else {"PATH": "/usr/bin:/bin"}
        env = {**base, **self.env, "PAYSTREAM_INGRESS_PORT": str(self.port)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "ingress"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches the owner, who stops it
                preexec_fn=die_with_parent if die_with_us else None,
            )
        return self

    async def ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"ingress exited: {self.log()}")
                try:
                    if (await http.get(self.url + "/health", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"ingress not up after {within:.0f} s: {self.log()}")

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
