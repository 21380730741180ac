"""A Faust table survives a worker restart: counts go on from where they stopped, exactly.

A counter worker (apps/counter_worker.py, run as a subprocess) counts events per key in a
changelog-backed table and emits every running count. Each count a key reaches must appear
exactly once among the committed outputs, across a stop and a new worker:

- SIGTERM (clean stop) under at_least_once and exactly_once: exact;
- SIGKILL under exactly_once, killed while a transaction is open: exact, that is the point;
- SIGKILL under at_least_once: nothing lost (events processed but not committed may count twice).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.broker import die_with_parent, free_port
from stream.settings import KafkaSettings
from stream.topics import TopicSpec, delete_topics, ensure_topics, faust_internal_topics
from tests.broker_choice import broker_choice
from tests.integration.kafka_groups import evict_group_members

pytestmark = pytest.mark.integration

WORKER_PROGRAM = Path(__file__).parent / "apps" / "counter_worker.py"
TABLE = "counts"  # apps/counter_worker.py's table
PARTITIONS = 4
KEYS = [f"acct-{n}" for n in range(8)]
FIRST, SECOND, AFTER_RESTART = 160, 80, 80  # events; multiples of len(KEYS)
SESSION_TIMEOUT = 6  # seconds; lets real Kafka drop a SIGKILLed member quickly
WAIT = 120.0  # generous on a loaded machine: recovery (~10 s under exactly_once), a stall rescue
KNOWN_STUCK_WAIT = 40.0  # the case marked xfail below waits this long for what never comes
STALL_CHECK_SECONDS = 3  # the watchdog's floor is two commit intervals (5.6 s)


# Events once skipped or stuck around a restart (about one full-suite run in three) are handled
# by stream/faust_fixes.py (what Faust fetched but did not hand on is fetched again; recovery
# seeks before it resumes) and by the stall watchdog every app of ours runs
# (stream/stall_watchdog.py): these cases carry no mark.
# Measured on noida-db 0.2.3 with raw Fetch requests: the successor worker's
# producer fences the killed one's transactional id, which aborts its open transaction and
# keeps the producer id (epoch + 1), as Kafka does. But noida's Fetch response lists every
# aborted transaction of the partition, also those that ended before the fetch offset (Kafka
# lists only those with last offset >= fetch offset). A read_committed consumer whose fetch
# starts after the abort marker therefore takes the producer id for aborted and silently skips
# every record the successor commits under it. The committed view polls from where it stopped,
# so it sees nothing after the restart; read from the beginning (fetches that include the
# abort marker) the committed output is exact. Real Kafka is not affected.
EMBEDDED_LISTS_STALE_ABORTS = pytest.mark.xfail(
    broker_choice() == "embedded",
    strict=False,
    reason="noida-db 0.2.3 lists aborted transactions that ended before the fetch offset: a "
    "read_committed consumer then skips the committed records of the fencing successor",
)


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([ln for ln in text if "GLIBC_2.39" not in ln][-lines:])

    def is_ready(self) -> bool:
        """Faust logs this once its tables are recovered and its streams resumed."""
        return "[^Worker]: Ready" in self.log_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class CounterRun:
    """One test's app id, topics and worker processes on ``bootstrap``."""

    bootstrap: str
    guarantee: str
    tmp_path: Path
    app_id: str = field(default_factory=lambda: f"ctr-{uuid.uuid4().hex[:10]}")
    workers: list[Worker] = field(default_factory=list)

    @property
    def input_topic(self) -> str:
        return f"{self.app_id}-in"

    @property
    def output_topic(self) -> str:
        return f"{self.app_id}-out"

    @property
    def topic_names(self) -> list[str]:
        internal = [spec.name for spec in faust_internal_topics(self.app_id, ["counts"])]
        return [self.input_topic, self.output_topic, *internal]

    def start_worker(self, data_dir: str | None = None) -> Worker:
        """A new worker process; ``data_dir`` (under tmp_path) defaults to one of its own."""
        name = f"worker-{len(self.workers) + 1}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
        env.update(
            PAYSTREAM_KAFKA_BOOTSTRAP=self.bootstrap,
            PAYSTREAM_KAFKA_PARTITIONS=str(PARTITIONS),
            PAYSTREAM_APP_ID=self.app_id,
            PAYSTREAM_PROCESSING_GUARANTEE=self.guarantee,
            PAYSTREAM_WEB_PORT=str(free_port()),
            PAYSTREAM_DATA_DIR=str(self.tmp_path / (data_dir or name)),
            COUNTER_INPUT_TOPIC=self.input_topic,
            COUNTER_OUTPUT_TOPIC=self.output_topic,
            COUNTER_SESSION_TIMEOUT=str(SESSION_TIMEOUT),
            PAYSTREAM_STALL_CHECK_SECONDS=str(STALL_CHECK_SECONDS),
        )
        log_path = self.tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER_PROGRAM)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        worker = Worker(name, proc, log_path)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} log tail ---\n{w.log_tail()}" for w in self.workers)


class OutputView:
    """Every running count on the output topic so far, per key, as one isolation level sees it."""

    def __init__(self, bootstrap: str, topic: str, isolation_level: str) -> None:
        self.counts: dict[str, list[int]] = defaultdict(list)
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            isolation_level=isolation_level,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=100)
        for records in batches.values():
            for record in records:
                assert record.key is not None and record.value is not None
                self.counts[record.key.decode()].append(int(record.value))

    def total(self) -> int:
        return sum(len(values) for values in self.counts.values())

    def latest(self) -> dict[str, int]:
        return {key: values[-1] for key, values in self.counts.items()}


async def wait_for(
    condition: Callable[[], bool],
    views: list[OutputView],
    run: CounterRun,
    what: str,
    ceiling: float = WAIT,
) -> None:
    deadline = time.monotonic() + ceiling
    while not condition():
        if time.monotonic() > deadline:
            seen = (
                {key: (len(counts), counts[-1]) for key, counts in views[0].counts.items()}
                if views
                else {}
            )
            raise AssertionError(f"timed out waiting for {what}; seen {seen}\n{run.logs()}")
        for worker in run.workers[-1:]:
            if worker.proc.poll() is not None:
                raise AssertionError(f"{worker.name} exited while waiting for {what}\n{run.logs()}")
        await asyncio.gather(*(view.poll() for view in views))
        if not views:
            await asyncio.sleep(0.1)


async def produce(bootstrap: str, topic: str, events: int, start: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for n in range(start, start + events):
            key = KEYS[n % len(KEYS)].encode()
            await producer.send(topic, key=key, value=f"payment-{n}".encode())
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
async def counter_run(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[CounterRun]:
    run = CounterRun(kafka_bootstrap, request.param, tmp_path)
    settings = KafkaSettings(partitions=PARTITIONS, replication_factor=1)
    # Before anything produces to or reads from them (the output views subscribe before the
    # worker starts), or the broker would auto-create them with one partition; the worker's
    # transactions need the output co-partitioned with its input (apps/counter_worker.py).
    await ensure_topics(
        settings, kafka_bootstrap, [TopicSpec(run.input_topic), TopicSpec(run.output_topic)]
    )
    try:
        yield run
    finally:
        for worker in run.workers:
            worker.stop(signal.SIGKILL)
        await delete_topics(settings, kafka_bootstrap, run.topic_names)


@pytest.fixture
async def views(counter_run: CounterRun) -> AsyncIterator[tuple[OutputView, OutputView]]:
    """(committed, uncommitted) views of the output topic."""
    committed = OutputView(counter_run.bootstrap, counter_run.output_topic, "read_committed")
    uncommitted = OutputView(counter_run.bootstrap, counter_run.output_topic, "read_uncommitted")
    await committed.start()
    try:
        await uncommitted.start()
        try:
            yield committed, uncommitted
        finally:
            await uncommitted.stop()
    finally:
        await committed.stop()


def every_key_reached(view: OutputView, count: int) -> Callable[[], bool]:
    return lambda: len(view.counts) == len(KEYS) and min(view.latest().values()) >= count


@pytest.mark.parametrize(
    ("counter_run", "stop_signal"),
    [
        pytest.param(
            "at_least_once",
            signal.SIGTERM,
            id="at_least_once-sigterm",
        ),
        pytest.param("exactly_once", signal.SIGTERM, id="exactly_once-sigterm"),
        pytest.param(
            "exactly_once",
            signal.SIGKILL,
            id="exactly_once-sigkill",
            marks=EMBEDDED_LISTS_STALE_ABORTS,
        ),
        pytest.param(
            "at_least_once",
            signal.SIGKILL,
            id="at_least_once-sigkill",
        ),
    ],
    indirect=["counter_run"],
)
async def test_counts_continue_exactly_after_a_worker_restart(
    counter_run: CounterRun,
    views: tuple[OutputView, OutputView],
    stop_signal: signal.Signals,
) -> None:
    run = counter_run
    committed, uncommitted = views
    per_key = len(KEYS)
    exactly_once = run.guarantee == "exactly_once"
    # The case marked xfail: no point waiting the full ceiling.
    known_stuck = exactly_once and stop_signal == signal.SIGKILL and broker_choice() == "embedded"
    await produce(run.bootstrap, run.input_topic, FIRST, start=0)
    first = run.start_worker()
    await wait_for(
        every_key_reached(committed, FIRST // per_key), [committed], run, "the first batch"
    )

    # A second batch, then stop the worker as soon as it has processed it: under
    # exactly_once its outputs then sit in a transaction not yet committed.
    await produce(run.bootstrap, run.input_topic, SECOND, start=FIRST)
    processed = (FIRST + SECOND) // per_key
    if exactly_once and stop_signal == signal.SIGKILL:
        await wait_for(
            lambda: (
                uncommitted.total() > committed.total()
                and every_key_reached(uncommitted, processed)()
            ),
            [committed, uncommitted],
            run,
            "the second batch processed but not yet committed",
        )
    else:
        await wait_for(
            every_key_reached(uncommitted, processed), [uncommitted], run, "the second batch"
        )
    first.stop(stop_signal)
    assert first.proc.returncode is not None

    if stop_signal == signal.SIGKILL and broker_choice() == "embedded":
        await evict_group_members(run.bootstrap, run.app_id)

    run.start_worker()
    await produce(run.bootstrap, run.input_topic, AFTER_RESTART, start=FIRST + SECOND)
    expected = (FIRST + SECOND + AFTER_RESTART) // per_key
    await wait_for(
        every_key_reached(committed, expected),
        [committed, uncommitted],
        run,
        "counts after the restart",
        KNOWN_STUCK_WAIT if known_stuck else WAIT,
    )
    # Anything counted twice would show up after the expected total; give it a moment.
    for _ in range(5):
        await asyncio.gather(committed.poll(), uncommitted.poll())

    assert set(committed.counts) == set(KEYS)
    if stop_signal == signal.SIGKILL and not exactly_once:
        for key, counts in committed.counts.items():
            assert set(range(1, expected + 1)) <= set(counts), f"{key} lost a count"
            assert counts[-1] >= expected, f"{key}: {counts}"
    else:
        for key, counts in committed.counts.items():
            assert counts == list(range(1, expected + 1)), f"{key}: {counts}\n{run.logs()}"
    if exactly_once and stop_signal == signal.SIGKILL:
        # The killed worker's open transaction reached the log and was aborted, not lost
        # from sight by luck: read_uncommitted still shows its outputs.
        assert uncommitted.total() > committed.total()


def replayed_counts(worker: Worker) -> list[int]:
    """Changelog records the sqlite store applied at each recovery (stream/sqlite_store.py)."""
    text = worker.log_path.read_text(errors="replace")
    return [int(n) for n in re.findall(rf"{TABLE}: (\d+) changelog records replayed", text)]


@pytest.mark.parametrize("counter_run", ["at_least_once"], indirect=True)
async def test_a_restarted_worker_keeps_its_table_on_disk_and_replays_only_the_tail(
    counter_run: CounterRun, views: tuple[OutputView, OutputView]
) -> None:
    """The default sqlite store: the same data dir across a clean stop and a new worker. The
    counts go on exactly, and the new worker applies a few changelog records (from the offsets
    persisted with its rows), not the whole changelog as the memory store would."""
    run = counter_run
    committed, _ = views
    per_key = len(KEYS)
    await produce(run.bootstrap, run.input_topic, FIRST + SECOND, start=0)
    first = run.start_worker(data_dir="shared")
    before = (FIRST + SECOND) // per_key
    await wait_for(every_key_reached(committed, before), [committed], run, "the first events")
    first.stop(signal.SIGTERM)
    assert replayed_counts(first) == [0], first.log_tail()
    assert any((run.tmp_path / "shared").rglob(f"{TABLE}.sqlite3"))

    second = run.start_worker(data_dir="shared")
    await produce(run.bootstrap, run.input_topic, AFTER_RESTART, start=FIRST + SECOND)
    expected = (FIRST + SECOND + AFTER_RESTART) // per_key
    await wait_for(every_key_reached(committed, expected), [committed], run, "counts after it")
    for _ in range(5):
        await committed.poll()
    for key, counts in committed.counts.items():
        assert counts == list(range(1, expected + 1)), f"{key}: {counts}\n{run.logs()}"
    replayed = replayed_counts(second)
    # One changelog record per event before the stop: FIRST + SECOND of them. Recovery seeks
    # to each partition's persisted offset, so it reads that record again: about one a
    # partition, a few more if acknowledgements came after the store's last commit.
    assert replayed and replayed[0] <= 2 * PARTITIONS, (replayed, second.log_tail())


@pytest.mark.parametrize("counter_run", ["at_least_once"], indirect=True)
async def test_a_table_file_ahead_of_its_changelog_stops_the_worker(
    counter_run: CounterRun, views: tuple[OutputView, OutputView]
) -> None:
    """A stale data dir against a fresh broker (here: the app's topics deleted and created
    again, empty): the persisted offsets are past the changelog's end, which Faust's recovery
    consistency check (on by default) refuses, as with rocksdb: the worker stops, it does not
    serve rows the changelog no longer has."""
    run = counter_run
    settings = KafkaSettings(partitions=PARTITIONS, replication_factor=1)
    await produce(run.bootstrap, run.input_topic, FIRST, start=0)
    first = run.start_worker(data_dir="shared")
    committed, _ = views
    await wait_for(every_key_reached(committed, FIRST // len(KEYS)), [committed], run, "counts")
    first.stop(signal.SIGTERM)  # the store commits its rows and offsets on stop

    await delete_topics(settings, run.bootstrap, run.topic_names)
    await ensure_topics(
        settings, run.bootstrap, [TopicSpec(run.input_topic), TopicSpec(run.output_topic)]
    )
    second = run.start_worker(data_dir="shared")
    deadline = time.monotonic() + WAIT
    while second.proc.poll() is None and "ConsistencyError" not in second.log_tail(400):
        assert time.monotonic() < deadline, second.log_tail()
        await asyncio.sleep(0.5)
    assert "is higher" in second.log_path.read_text(errors="replace"), second.log_tail()
