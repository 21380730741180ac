"""`paystream worker`: one member of the consumer group, configured only by settings."""

from __future__ import annotations

import asyncio
import logging
import sys

import faust

from stream import log_redaction
from stream.broker import EmbeddedBroker
from stream.metrics import install_connector_observer
from stream.pipeline import build
from stream.settings import KafkaSettings, WorkerSettings
from stream.topics import ensure_topics
from stream.topology import LaneError, group_id, lanes_of, topic_specs

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    # Faust would otherwise leave the root logger at DEBUG (measured: ~45 % of throughput).
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("aiokafka", "faust.transport", "mode", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    log_redaction.install()  # card numbers and secrets never reach a log line


class _Worker(faust.Worker):
    """Faust's worker, with the redacting filter put back after mode replaced the root
    logger's handlers (the record factory survives that; a handler filter does not), and no
    terminal spinner: at ``warning`` and above Faust keeps one and sets the root logger to
    DEBUG for it, so every debug call builds (and redacts) a record: twice the CPU per record
    measured (docs/measured-quirks.md)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
        log_redaction.install()


def run_worker(worker: WorkerSettings | None = None, kafka: KafkaSettings | None = None) -> int:
    worker = worker or WorkerSettings()
    kafka = kafka or KafkaSettings()
    try:
        lanes = lanes_of(worker)  # before anything starts
    except LaneError as exc:
        print(f"paystream: {exc}", file=sys.stderr)
        return 2
    configure_logging(worker.log_level)
    log.info("lanes %s, consumer group %s", ",".join(lanes), group_id(worker))
    install_connector_observer()  # the connectors' calls, retries and limits as metrics
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
        runner = _Worker(ctx.app, loglevel=worker.log_level, quiet=True)
        try:
            runner.execute_from_commandline()
        # 1 when it crashed, also when stream/health.py stopped it: a supervisor restarts it.
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0
    finally:
        if broker is not None:
            broker.stop()
