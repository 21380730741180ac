"""`paystream worker`: one member of the consumer group, configured only by settings."""

from __future__ import annotations

import asyncio
import logging

import faust

from stream.broker import EmbeddedBroker
from stream.pipeline import build
from stream.settings import KafkaSettings, WorkerSettings
from stream.topics import ensure_topics
from stream.topology import topic_specs

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    # Faust would otherwise leave the root logger at DEBUG (measured: ~45 % of throughput).
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("aiokafka", "faust.transport", "mode", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def run_worker(worker: WorkerSettings | None = None, kafka: KafkaSettings | None = None) -> int:
    worker = worker or WorkerSettings()
    kafka = kafka or KafkaSettings()
    configure_logging(worker.log_level)
    broker: EmbeddedBroker | None = None
    bootstrap = kafka.bootstrap
    if bootstrap is None:
        # No Kafka configured: a single-node development setup on the embedded broker.
        broker = EmbeddedBroker(kafka.embedded_data_dir, port=kafka.embedded_port)
        asyncio.run(broker.start())
        bootstrap = broker.bootstrap
        log.info("no PAYSTREAM_KAFKA_BOOTSTRAP: started the embedded broker on %s", bootstrap)
    try:
        asyncio.run(ensure_topics(kafka, bootstrap, topic_specs(kafka, worker)))
        ctx = build(worker, kafka, bootstrap)
        runner = faust.Worker(ctx.app, loglevel=worker.log_level, quiet=True)
        try:
            runner.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0
    finally:
        if broker is not None:
            broker.stop()
