"""A tiny Faust worker, run as a subprocess by the table-recovery tests.

It counts events per key in a changelog-backed table and emits the running count for the
key to an output topic. Configuration comes only from the environment:

- ``PAYSTREAM_APP_ID``, ``PAYSTREAM_PROCESSING_GUARANTEE``, ``PAYSTREAM_WEB_PORT``,
  ``PAYSTREAM_DATA_DIR`` (WorkerSettings) and ``PAYSTREAM_KAFKA_BOOTSTRAP`` (KafkaSettings);
- ``COUNTER_INPUT_TOPIC`` and ``COUNTER_OUTPUT_TOPIC``: the topics it reads and writes;
- ``COUNTER_SESSION_TIMEOUT``: seconds before the group drops a member that vanished
  (a SIGKILLed worker); short, so its successor is not kept waiting for Faust's 60 s default.
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
