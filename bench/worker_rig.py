"""A rig for benchmarking real `paystream worker` processes.

One embedded broker (fresh temp dir) and the three emulators as their own processes
(``paystream emulate``), started once per benchmark, as `tests/integration/harness.py`
does. Each measured run is a ``Run``: its own app id and topic prefix, so a worker starts on
empty topics and an empty dedupe table, and every topic it made is deleted afterwards
(noida-db snapshots its whole state on every autosave and slows down as it grows).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import procstat
from stream import sandbox
from stream.broker import EmbeddedBroker, die_with_parent, free_port
from stream.settings import KafkaSettings, WorkerSettings
from stream.supervise import WorkerProcess
from stream.topics import delete_topics, ensure_topics
from stream.topology import topic_name, topic_specs

SYSTEMS = ("paytrace", "salesforce", "sagepro")
LINGER_MS = 10
BATCH_BYTES = 256 * 1024
# Progress of every flow is read from the workers' own counters (stream/runtime/flow_metrics).
DONE_COUNTERS = ("paystream_events_out", "paystream_events_failed", "paystream_events_ignored")
# What a drain must not need or show (issue 15): the stall watchdog's seeks, the commit guard
# holding a record back (fix 6), and crashes.
LOG_SIGNS = {
    "watchdog_seeks": "stalled at offset",
    "never_acknowledged": "never acknowledged",
    "tracebacks": "Traceback",
}


async def preload_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Write raw records to the raw topic, keyed as the poller keys them (transaction id)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES
    )
    await producer.start()
    try:
        for value, key in zip(values, raw_keys(values), strict=True):
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


class Emulator:
    """``paystream emulate <system>`` as a process of its own, like the test harness's."""

    def __init__(self, system: str, log: Path) -> None:
        self.system = system
        self.port = free_port()
        self.pubsub_port = free_port()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "stream.cli", "emulate", system),
                    *("--port", str(self.port), "--pubsub-port", str(self.pubsub_port)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def poll_until(
    check: Callable[[], Awaitable[bool]], within: float, every: float = 0.25
) -> bool:
    """Whether ``check`` came true within ``within`` seconds, asked every ``every`` seconds
    (the integration tests' ``wait_for`` polls with it too)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


async def wait_for(
    check: Callable[[], Awaitable[bool]], what: str, within: float, every: float = 0.25
) -> None:
    if not await poll_until(check, within, every):
        raise TimeoutError(f"benchmark gave up after {within:.0f}s waiting for: {what}")


class Rig:
    """Broker + emulators for one benchmark; ``async with Rig() as rig``."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="paystream-bench-"))
        self.broker = EmbeddedBroker(self.workdir / "broker")
        self.emulators: dict[str, Emulator] = {}
        self.http = httpx.AsyncClient(timeout=60)

    async def __aenter__(self) -> Rig:
        try:
            await self.broker.start()
            for system in SYSTEMS:
                self.emulators[system] = Emulator(system, self.workdir / f"{system}.log")
            for emulator in self.emulators.values():
                await wait_for(partial(self._answers, emulator.url), emulator.system, 60)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        for emulator in self.emulators.values():
            emulator.stop()
        self.broker.stop()
        if not os.environ.get("PAYSTREAM_BENCH_KEEP"):  # keep logs to read after a failure
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def _answers(self, url: str) -> bool:
        try:
            await self.http.get(url + "/_emulator/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return True

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def url(self, system: str) -> str:
        return self.emulators[system].url

    async def control(self, system: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.url(system)}/_emulator/{path}"
        response = await (self.http.get(url) if body is None else self.http.post(url, json=body))
        response.raise_for_status()
        return response.json()

    async def salesforce_calls(self) -> int:
        """What the org counts against its daily API limit."""
        return int((await self.control("salesforce", "usage"))["used"])

    async def api_requests(self, system: str) -> int:
        """Every API request the emulator served (its request log's total; controls excluded)."""
        return int((await self.control(system, "requests"))["total"])

    async def hold(self, system: str, seconds: float) -> None:
        """The system answers 503 to every API call for ``seconds``: its sink holds its records."""
        await self.control(system, "faults", {"down_seconds": seconds})

    async def release(self, system: str) -> None:
        (await self.http.delete(f"{self.url(system)}/_emulator/faults")).raise_for_status()

    def run(self, **env: str) -> Run:
        return Run(self, env)


class Run:
    """One pipeline instance on the rig: own app id, topics and workers."""

    def __init__(self, rig: Rig, extra_env: dict[str, str]) -> None:
        self.rig = rig
        self.name = "b" + uuid.uuid4().hex[:8]
        self.extra_env = extra_env
        self.kafka = KafkaSettings(bootstrap=rig.bootstrap, topic_prefix=self.name)
        self.workers: list[WorkerProcess] = []

    def topic(self, logical: str) -> str:
        return topic_name(self.kafka, logical)

    def env(self) -> dict[str, str]:
        return {
            **sandbox.worker_env(
                {s: self.rig.url(s) for s in SYSTEMS},
                f"http://127.0.0.1:{self.rig.emulators['salesforce'].pubsub_port}",
            ),
            "PAYSTREAM_KAFKA_BOOTSTRAP": self.rig.bootstrap,
            "PAYSTREAM_KAFKA_TOPIC_PREFIX": self.name,
            "PAYSTREAM_APP_ID": self.name,
            # The default level. At warning or above faust keeps its terminal spinner and sets
            # the root logger to DEBUG: every send is logged and redacted (measured-quirks.md).
            "PAYSTREAM_LOG_LEVEL": "info",
            # A held sink's lag must not make the liveness check stop the worker mid-run.
            "PAYSTREAM_LIVENESS_TIMEOUT_SECONDS": "0",
            **self.extra_env,
        }

    def _specs(self) -> list[Any]:
        worker = WorkerSettings(app_id=self.name)
        return topic_specs(self.kafka, worker)

    async def create_topics(self) -> None:
        await ensure_topics(self.kafka, self.rig.bootstrap, self._specs())

    async def preload(self, values: list[bytes]) -> None:
        await preload_raw(self.rig.bootstrap, self.topic("paytrace_raw"), values)

    def start_worker(self) -> WorkerProcess:
        index = len(self.workers)
        env = {**self.env(), "PAYSTREAM_DATA_DIR": str(self.rig.workdir / self.name / str(index))}
        log = self.rig.workdir / self.name / f"worker-{index}.log"
        worker = WorkerProcess(env, log).start()
        self.workers.append(worker)
        return worker

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.pid is not None and w.running()]

    def cpu_seconds(self) -> float:
        return sum(procstat.cpu_seconds(pid) for pid in self.pids())

    def rss_bytes(self) -> int:
        return sum(procstat.rss_bytes(pid) for pid in self.pids())

    async def done(self, flow: str) -> float:
        """Records ``flow`` finished (delivered, dead-lettered or ignored) over every worker."""
        total = 0.0
        for worker in self.workers:
            if not worker.running():
                raise RuntimeError(f"worker exited: {worker.log_tail(30)}")
            try:
                text = (await self.rig.http.get(worker.metrics_url, timeout=10)).text
            except httpx.HTTPError:
                continue  # not serving yet
            total += sum(procstat.counter_total(text, c, {"agent": flow}) for c in DONE_COUNTERS)
        return total

    async def healthy(self) -> bool:
        for worker in self.workers:
            if not worker.running():
                raise RuntimeError(f"worker exited: {worker.log_tail(30)}")
            try:
                response = await self.rig.http.get(worker.health_url, timeout=5)
            except httpx.HTTPError:
                return False
            if response.status_code != 200:
                return False
        return True

    async def end_offsets(self, logical: str) -> int:
        """Records in a topic (sum of its partitions' end offsets)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.rig.bootstrap)
        await consumer.start()
        try:
            topic = self.topic(logical)
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            return sum(ends.values())
        finally:
            await consumer.stop()

    def logs(self) -> str:
        return "\n".join(f"--- worker {i}\n{w.log_tail(30)}" for i, w in enumerate(self.workers))

    def log_counts(self) -> dict[str, int]:
        """How often each of ``LOG_SIGNS`` appears in the workers' logs, summed over workers."""
        paths = [w.log_path for w in self.workers if w.log_path.exists()]
        texts = [path.read_text(errors="replace") for path in paths]
        return {name: sum(t.count(sign) for t in texts) for name, sign in LOG_SIGNS.items()}

    async def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        names = [spec.name for spec in self._specs()]
        with contextlib.suppress(Exception):  # best effort: the broker dir is per benchmark
            await delete_topics(self.kafka, self.rig.bootstrap, names)
        if not os.environ.get("PAYSTREAM_BENCH_KEEP"):  # the worker logs, for a failed run
            shutil.rmtree(self.rig.workdir / self.name, ignore_errors=True)

    async def __aenter__(self) -> Run:
        await self.create_topics()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def raw_keys(values: list[bytes]) -> list[bytes]:
    """The poller's key of each raw record: its transaction id."""
    return [str(orjson.loads(v)["record"]["transaction_id"]).encode() for v in values]
