"""A tiny Faust worker, run as a subprocess by the table-recovery tests.

It counts events per key in a changelog-backed table and emits the running count for the
key to an output topic. Configuration comes only from the environment:

- ``PAYSTREAM_APP_ID``, ``PAYSTREAM_PROCESSING_GUARANTEE``, ``PAYSTREAM_WEB_PORT``,
  ``PAYSTREAM_DATA_DIR`` (WorkerSettings) and ``PAYSTREAM_KAFKA_BOOTSTRAP`` (KafkaSettings);
- ``COUNTER_INPUT_TOPIC`` and ``COUNTER_OUTPUT_TOPIC``: the topics it reads and writes;
- ``COUNTER_SESSION_TIMEOUT``: seconds before the group drops a member that vanished
  (a SIGKILLed worker); short, so its successor is not kept waiting for Faust's 60 s default.

It keeps the pipeline's rule for exactly_once (stream/topology.py): every topic an agent
writes is read by an agent of this app, so a second agent reads the output topic and ignores
it. Faust (faust-streaming 0.15.3) picks the transactional producer of a send by the
*destination* partition: ``TransactionManager.send`` looks the partition up in the
consumer's metadata and the transactional id up in the assignor's topic groups, and both
know only subscribed topics. A topic nobody here reads is written by Faust's plain producer,
outside every transaction, so its records are visible before their input is committed and
stay visible when the transaction is aborted. Input, output and changelog have the same
partition count and the same key, so everything one input partition causes goes into that
partition's transaction.
"""

from __future__ import annotations

import asyncio
import os

import faust

from stream.app import create_app
from stream.settings import KafkaSettings, WorkerSettings
from stream.topics import TopicSpec, ensure_topics, faust_internal_topics

TABLE_NAME = "counts"


def build(worker: WorkerSettings, kafka: KafkaSettings, bootstrap: str) -> faust.App:
    app = create_app(worker, kafka, bootstrap)
    session_timeout = float(os.environ.get("COUNTER_SESSION_TIMEOUT", "60"))
    app.conf.broker_session_timeout = session_timeout
    app.conf.broker_heartbeat_interval = min(3.0, session_timeout / 3)

    events = app.topic(
        os.environ["COUNTER_INPUT_TOPIC"], key_serializer="raw", value_serializer="raw"
    )
    running_counts = app.topic(
        os.environ["COUNTER_OUTPUT_TOPIC"], key_serializer="raw", value_serializer="raw"
    )
    counts = app.Table(TABLE_NAME, default=int, key_type=str, value_type=int)

    @app.agent(events)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for key, _value in stream.items():
            name = key.decode()
            counts[name] += 1
            await running_counts.send(key=key, value=str(counts[name]).encode())

    @app.agent(running_counts)
    async def subscribe_output(stream: faust.StreamT[bytes]) -> None:
        """Only there so that Faust sends ``running_counts`` transactionally (see above)."""
        async for _value in stream:
            pass

    return app


def main() -> None:
    worker = WorkerSettings()
    kafka = KafkaSettings()
    if not kafka.bootstrap:
        raise SystemExit("PAYSTREAM_KAFKA_BOOTSTRAP is required")
    specs = [
        TopicSpec(os.environ["COUNTER_INPUT_TOPIC"]),
        TopicSpec(os.environ["COUNTER_OUTPUT_TOPIC"]),
        *faust_internal_topics(worker.app_id, [TABLE_NAME]),
    ]
    # Faust's worker runs on the current event loop; create the topics on that same loop
    # (asyncio.run would leave no current loop behind).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(kafka, kafka.bootstrap, specs))
    app = build(worker, kafka, kafka.bootstrap)
    faust.Worker(app, loglevel="info", quiet=True, loop=loop).execute_from_commandline()


if __name__ == "__main__":
    main()
