"""The embedded broker launcher: durable state across restarts, and no process left behind.

Every test runs its own noida-db on a fresh data dir and port, never the session broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.broker import EmbeddedBroker, free_port, pid_alive, wait_until_ready
from stream.settings import KafkaSettings
from stream.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

TOPIC = "durable"
GROUP = "durable-readers"
PARTITIONS = 3
STATE_FILE = "kafka.json"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    own = EmbeddedBroker(tmp_path / "broker")
    await own.start()
    try:
        yield own
    finally:
        own.stop(kill=True)


def kafka_settings() -> KafkaSettings:
    return KafkaSettings(bootstrap=None, partitions=PARTITIONS, replication_factor=1)


async def topic_partitions(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([TOPIC])
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}


async def committed_and_end_offsets(
    bootstrap: str,
) -> tuple[dict[int, int | None], dict[int, int]]:
    partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return committed, {tp.partition: offset for tp, offset in ends.items()}


def state_file_mtime(data_dir: Path) -> int:
    path = data_dir / STATE_FILE
    return path.stat().st_mtime_ns if path.exists() else 0


async def wait_for_autosave(data_dir: Path, after_mtime: int, within: float = 5.0) -> None:
    """noida-db writes its state file on a timer; a SIGKILL before that loses the last changes."""
    deadline = time.monotonic() + within
    while state_file_mtime(data_dir) <= after_mtime:
        if time.monotonic() > deadline:
            raise AssertionError(f"{data_dir / STATE_FILE} not written within {within}s")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("stop_signal", ["sigterm", "sigkill"])
async def test_topics_and_committed_offsets_survive_a_restart(
    broker: EmbeddedBroker, stop_signal: str
) -> None:
    before_changes = state_file_mtime(broker.data_dir)
    await ensure_topics(kafka_settings(), broker.bootstrap, [TopicSpec(TOPIC)])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for n in range(9):
            await producer.send_and_wait(TOPIC, f"r{n}".encode(), partition=n % PARTITIONS)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=GROUP, enable_auto_commit=False
    )
    consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    await consumer.start()
    try:
        await consumer.commit({TopicPartition(TOPIC, 0): 2, TopicPartition(TOPIC, 1): 3})
    finally:
        await consumer.stop()
    expected = ({0: 2, 1: 3, 2: None}, {0: 3, 1: 3, 2: 3})
    assert await committed_and_end_offsets(broker.bootstrap) == expected

    if stop_signal == "sigkill":
        await wait_for_autosave(broker.data_dir, before_changes)
    pid = broker.pid
    assert pid is not None
    broker.stop(kill=stop_signal == "sigkill")
    assert not pid_alive(pid)

    await broker.start()  # same data dir, same port
    assert broker.pid != pid
    assert await topic_partitions(broker.bootstrap) == {TOPIC: PARTITIONS}
    assert await committed_and_end_offsets(broker.bootstrap) == expected


async def test_start_returns_only_once_list_topics_answers(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker")
    try:
        await broker.start()
        # No retries here: the first admin request after start() must succeed.
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=2000)
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()
        assert isinstance(topics, list)
    finally:
        broker.stop()


async def test_wait_until_ready_times_out_where_nothing_listens() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await wait_until_ready(f"127.0.0.1:{free_port()}", within=1.0)
    assert time.monotonic() - started < 3.0


async def test_a_port_that_accepts_but_is_not_kafka_is_not_ready() -> None:
    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    started = time.monotonic()
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await wait_until_ready(f"127.0.0.1:{port}", within=1.5)
        assert time.monotonic() - started < 3.0
    finally:
        server.close()
        await server.wait_closed()


async def test_a_port_already_served_is_refused_not_mistaken_for_ready(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    second = EmbeddedBroker(tmp_path / "second", port=broker.port)
    with pytest.raises(OSError, match="already in use"):
        await second.start()
    assert not second.running


async def test_context_manager_stops_the_broker_when_the_body_fails(tmp_path: Path) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="body failed"):
        async with EmbeddedBroker(tmp_path / "broker") as broker:
            assert broker.pid is not None
            pids.append(broker.pid)
            raise RuntimeError("body failed")
    assert pids
    assert not pid_alive(pids[0])


# A program that owns a broker for as long as it runs; prints the broker's pid once ready.
OWNER_PROGRAM = textwrap.dedent(
    """
    import asyncio, signal, sys
    from pathlib import Path
    from stream.broker import EmbeddedBroker

    # Ctrl-C as a terminal delivers it, even if we were started with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    async def main() -> None:
        async with EmbeddedBroker(Path(sys.argv[1])) as broker:
            print(broker.pid, flush=True)
            await asyncio.sleep(120)

    asyncio.run(main())
    """
)


@pytest.fixture
def broker_owner(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The owner program running, and its broker's pid; both are gone after the test."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_PROGRAM, str(tmp_path / "owned")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    broker_pid = 0
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()  # blocks until ready or the owner dies
        assert line.strip().isdigit(), f"owner exited with {owner.wait(5)} before its broker was up"
        broker_pid = int(line)
        yield owner, broker_pid
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait(10)
        if broker_pid and pid_alive(broker_pid):
            os.kill(broker_pid, signal.SIGKILL)


def wait_gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_interrupted_owner_stops_its_broker(
    broker_owner: tuple[subprocess.Popen[str], int],
) -> None:
    owner, broker_pid = broker_owner
    assert pid_alive(broker_pid)
    owner.send_signal(signal.SIGINT)
    # Its stop is SIGTERM, then SIGKILL after EmbeddedBroker.stop_timeout: on a loaded machine
    # that can take the whole timeout. What matters is that the broker goes with its owner.
    owner.wait(EmbeddedBroker.stop_timeout + 20)
    assert wait_gone(broker_pid, within=5.0), "broker outlived its interrupted owner"


def test_sigkilled_owner_takes_its_broker_along(
    broker_owner: tuple[subprocess.Popen[str], int],
) -> None:
    owner, broker_pid = broker_owner
    assert pid_alive(broker_pid)
    owner.kill()  # no cleanup code runs: only PR_SET_PDEATHSIG can stop the broker now
    owner.wait(5)
    assert wait_gone(broker_pid, within=5.0), "broker outlived its SIGKILLed owner"
