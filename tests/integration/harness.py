"""End-to-end harness: emulators as real HTTP server processes, `paystream worker` processes,
all on the session's real broker. Each pipeline gets its own app id and topic prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.worker_rig import poll_until
from connectors.paytrace.client import PayTraceClient
from connectors.sagepro.client import SageProRestClient
from connectors.salesforce.client import SalesforceClient
from stream import sandbox
from stream.broker import die_with_parent, free_port
from stream.settings import KafkaSettings
from stream.supervise import WorkerProcess
from stream.topics import delete_topics, read_all
from stream.topology import TOPICS, WATERMARK_TOPIC, topic_name

# The sandbox's values come from their one home, stream/sandbox.py.
CREDENTIALS = sandbox.CREDENTIALS_ENV


@dataclass
class EmulatorProcess:
    system: str
    port: int = field(default_factory=free_port)
    pubsub_port: int = field(default_factory=free_port)
    cdc_retention_hours: float = 72  # Salesforce only
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "stream.cli",
                    "emulate",
                    self.system,
                    "--port",
                    str(self.port),
                    "--pubsub-port",
                    str(self.pubsub_port),
                    *self._system_options(),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )

    def _system_options(self) -> list[str]:
        if self.system != "salesforce":
            return []
        return ["--cdc-retention-hours", str(self.cdc_retention_hours)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Pipeline:
    bootstrap: str
    workdir: Path
    name: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:8])
    emulators: dict[str, EmulatorProcess] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(bootstrap=self.bootstrap, topic_prefix=self.name)

    def topic(self, logical: str) -> str:
        return topic_name(self.kafka, logical)

    def url(self, system: str) -> str:
        return self.emulators[system].url

    def env(self) -> dict[str, str]:
        return {
            **CREDENTIALS,
            "PAYSTREAM_PAYTRACE_BASE_URL": self.url("paytrace"),
            "PAYSTREAM_SALESFORCE_LOGIN_URL": self.url("salesforce"),
            "PAYSTREAM_SALESFORCE_PUBSUB_URL": f"http://127.0.0.1:{self.emulators['salesforce'].pubsub_port}",
            "PAYSTREAM_SAGEPRO_BASE_URL": self.url("sagepro"),
            "PAYSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "PAYSTREAM_KAFKA_TOPIC_PREFIX": self.name,
            "PAYSTREAM_APP_ID": self.name,
            "PAYSTREAM_POLL_INTERVAL_SECONDS": "1",
            "PAYSTREAM_POLL_MAX_INTERVAL_SECONDS": "1",  # read every second: no pushed payments
            "PAYSTREAM_SINK_BATCH_SECONDS": "0.5",
            "PAYSTREAM_LOG_LEVEL": "info",
            "PAYSTREAM_STALL_CHECK_SECONDS": "3",  # floored at two commit intervals (5.6 s)
            **self.extra_env,
        }

    async def start_emulators(self) -> None:
        for system in ("paytrace", "salesforce", "sagepro"):
            emulator = EmulatorProcess(system)
            emulator.start(self.workdir / f"{system}.log")
            self.emulators[system] = emulator
        async with httpx.AsyncClient() as http:
            for emulator in self.emulators.values():
                await wait_for(lambda e=emulator: _answers(http, e.url), f"{emulator.system} up")

    def start_worker(self, env: dict[str, str] | None = None) -> WorkerProcess:
        """A `paystream worker`; ``env`` adds or overrides settings for this one only."""
        index = len(self.workers)
        env = {
            **self.env(),
            "PAYSTREAM_DATA_DIR": str(self.workdir / f"worker-{index}"),
            **(env or {}),
        }
        worker = WorkerProcess(env, self.workdir / f"worker-{index}.log").start()
        self.workers.append(worker)
        return worker

    def paytrace(self) -> PayTraceClient:
        return PayTraceClient.from_settings(sandbox.paytrace_settings(self.url("paytrace")))

    def salesforce(self) -> SalesforceClient:
        return SalesforceClient.from_settings(
            sandbox.salesforce_settings(
                self.url("salesforce"), call_options_client="paystream-test"
            )
        )

    def sagepro(self) -> SageProRestClient:
        return SageProRestClient.from_settings(sandbox.sagepro_settings(self.url("sagepro")))

    async def control(self, system: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # A generous ceiling: with 200,000 records an emulator's control reads take seconds.
        async with httpx.AsyncClient(base_url=self.url(system), timeout=120) as http:
            if body is None:
                response = await http.get(f"/_emulator/{path}")
            else:
                response = await http.post(f"/_emulator/{path}", json=body)
            response.raise_for_status()
            return response.json()

    async def payment_records(self) -> list[dict[str, Any]]:
        body = await self.control("salesforce", "records/Payment__c")
        records: list[dict[str, Any]] = body["records"]
        return records

    async def dead_letters(self) -> list[tuple[bytes | None, bytes | None, dict[str, bytes]]]:
        return await read_all(self.kafka, self.bootstrap, self.topic("deadletter"), idle_ms=500)

    def logs(self) -> str:
        return "\n".join(f"--- worker {i}\n{w.log_tail(60)}" for i, w in enumerate(self.workers))

    async def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for emulator in self.emulators.values():
            emulator.stop()
        names = [self.topic(t) for t in TOPICS] + [self.topic(WATERMARK_TOPIC)]
        names += [f"{self.name}-payment-state-changelog", f"{self.name}-__assignor-__leader"]
        if os.environ.get("PAYSTREAM_TEST_KEEP_TOPICS"):  # to read them after a failure
            return
        try:
            await delete_topics(self.kafka, self.bootstrap, names)
        except Exception:  # best effort: the broker's data dir is per test session
            pass


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        await http.get(url + "/_emulator/health", timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


async def wait_for(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0, every: float = 0.25
) -> None:
    if not await poll_until(check, timeout, every):
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


def env_has_docker() -> bool:
    return os.path.exists("/var/run/docker.sock")
