"""The Faust application, configured only from settings."""

from __future__ import annotations

import faust

from stream import (
    faust_consumer_thread,
    faust_fixes,
    fetch_long_poll,
    group_offsets,
    health,
    sqlite_store,
    stall_watchdog,
)
from stream.kafka import faust_credentials
from stream.settings import KafkaSettings, WorkerSettings


def table_store(worker: WorkerSettings) -> str:
    """The configured table store, except under exactly_once: a local file may keep rows of a
    transaction that was then aborted (a crash between the write and the commit), which a
    store rebuilt from the read_committed changelog on every start cannot."""
    if worker.processing_guarantee == "exactly_once":
        return "memory"
    return worker.table_store


def create_app(
    worker: WorkerSettings, kafka: KafkaSettings, bootstrap: str, app_id: str | None = None
) -> faust.App:
    """A Faust app for ``bootstrap``; agents are attached by ``stream.pipeline.build``.
    ``app_id`` (the consumer group) defaults to the worker's; a lane worker has its own
    (``stream.topology.group_id``)."""
    faust_fixes.apply()
    sqlite_store.register()
    fetch_long_poll.apply(kafka.idle_fetch_wait_seconds)
    app = faust.App(
        app_id or worker.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(kafka),
        processing_guarantee=worker.processing_guarantee,
        # sqlite (default): tables live in one SQLite file per table under the data dir, with a
        # bounded page cache, and a restart replays only the changelog tail after the offsets
        # persisted with them (stream/sqlite_store.py). memory: every key in the heap, the
        # whole changelog replayed on start (~640 bytes a key of the dedupe table).
        store=f"{table_store(worker)}://",
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        # Every topic is created by us with the right partition count (stream/topics.py);
        # Faust would otherwise create missing ones with a single partition.
        topic_allow_declare=False,
        topic_disable_leader=False,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=worker.producer_linger_ms,
        producer_max_batch_size=worker.producer_max_batch_size,
        web_enabled=True,
        web_host=worker.web_host,
        web_port=worker.web_port,
        web_bind=worker.web_host,
        datadir=str(worker.data_dir),
        autodiscover=False,
        stream_wait_empty=False,
        stream_buffer_maxsize=worker.stream_buffer_maxsize,
        # Faust's default (None) hands on everything fetched in one batch, and noida-db answers
        # a fetch with a partition's whole backlog: other partitions waited for all of it
        # (fix 8 in stream/faust_consumer_thread.py).
        broker_max_poll_records=faust_consumer_thread.MAX_POLL_RECORDS,
    )
    # /health, and a worker that cannot consume stops for its supervisor to restart it.
    liveness = health.install(app, worker.liveness_timeout_seconds)
    if worker.stall_check_seconds > 0:
        offsets = group_offsets.for_app(app, kafka, bootstrap)
        stall_watchdog.install(app, offsets, worker.stall_check_seconds, liveness)
    return app
