"""Worker settings: Kafka, processing and the worker's own web server.

Every value comes from the environment (``PAYSTREAM_*``), a secrets directory
(``PAYSTREAM_SECRETS_DIR``) or a TOML/YAML file named by ``PAYSTREAM_CONFIG``, in that order
(connectors/base/settings.py). Connector settings live beside each connector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

# The base lives with the connectors (they import nothing from stream/); re-exported here.
from connectors.base.settings import (
    CONFIG_ENV,
    FileBackedSettings,
    config_file_values,
    environment_scoped,
)

__all__ = [
    "CONFIG_ENV",
    "FileBackedSettings",
    "KafkaSettings",
    "WorkerSettings",
    "config_file_values",
]


class KafkaSettings(FileBackedSettings):
    """Where Kafka is. No bootstrap means: start the embedded broker."""

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_KAFKA_", title="kafka")

    bootstrap: str | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Per environment (PAYSTREAM_ENV): "paystream-<env>" unless configured.
    topic_prefix: str = Field(default_factory=lambda: environment_scoped("paystream"))
    embedded_data_dir: Path = Path(".paystream/broker")
    embedded_port: int = 0
    # Client-side long poll (stream/fetch_long_poll.py): how long an empty fetch holds its
    # broker connection. 0 turns it off; against Kafka it adds nothing (the broker waited).
    idle_fetch_wait_seconds: float = Field(default=0.1, ge=0, le=1)


class WorkerSettings(FileBackedSettings):
    """How a worker processes: guarantee, web port for /metrics, batching."""

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_", title="worker")

    # The Faust app id is the consumer group: per environment like the topic prefix.
    app_id: str = Field(default_factory=lambda: environment_scoped("paystream"))
    # at_least_once: every effect leaves Kafka (HTTP calls no Kafka transaction can include),
    # so exactly-once *in effect* comes from idempotency keys at every sink and from tables
    # that record a state only after its output is acknowledged. exactly_once stays available
    # for clusters with full transaction support (see the README for why it is not default).
    processing_guarantee: Literal["exactly_once", "at_least_once"] = "at_least_once"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: Path = Path(".paystream/worker")
    # Where Faust tables live (stream/app.py): "sqlite" on disk under data_dir, memory bounded
    # by a page cache; "memory" in the heap, rebuilt from the changelogs on every start.
    table_store: Literal["sqlite", "memory"] = "sqlite"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mapping_file: Path | None = None
    sink_batch_size: int = Field(default=200, ge=1, le=200)
    # A sink's batch window: most of a payment's latency at a steady rate (bench/README.md,
    # "Latency and batch windows": 0.5 s took a third off the p50 of 1 s). Calls then carry
    # about rate x 0.5 records; a backlog fills them to 200 whatever the window.
    sink_batch_seconds: float = Field(default=0.5, gt=0)
    # The batch window of the stream stages (the normalizer, the keyers): they make no API
    # call per record, so a short window costs little and every payment pays it once.
    stream_batch_seconds: float = Field(default=0.05, gt=0)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    poll_overlap_seconds: float = Field(default=120.0, ge=0)
    # The PayTrace poll's adaptive interval (agents/paytrace_sweep.py): the export filters by
    # whole days only, so a read costs the whole open window; read it again when it would cost
    # about `poll_download_ratio` records per new or changed transaction, never later than
    # `poll_max_interval_seconds`; windows of `poll_free_records` or fewer every interval.
    poll_max_interval_seconds: float = Field(default=21600.0, gt=0)
    poll_download_ratio: float = Field(default=1.5, gt=1.0)
    poll_free_records: int = Field(default=200, ge=0)
    # Where CDC starts with no stored replay id: "latest" (only new changes) is what a first
    # production deployment wants; the demo starts at "earliest" to see its own setup.
    cdc_start: Literal["latest", "earliest"] = "latest"
    initial_lookback_days: int = Field(default=1, ge=0, le=7)
    # Settlement reconciliation (agents/settlement_source.py, agents/settlement_reconciler.py):
    # PayTrace settles once a day, so the batch export is polled rarely; the window re-reads
    # `settlement_overlap_days` settlement days before the watermark's day.
    settlement_poll_interval_seconds: float = Field(default=300.0, gt=0)
    settlement_overlap_days: int = Field(default=1, ge=0, le=7)
    # A batch whose transactions are not all found is looked at once more after this pause
    # (a payment may still be on its way through the sinks) before a mismatch is written.
    settlement_recheck_seconds: float = Field(default=30.0, ge=0)
    # How often a worker looks for a partition Faust stopped reading (stream/stall_watchdog.py);
    # a partition is read again after two looks without progress. 0 turns the check off.
    stall_check_seconds: float = Field(default=10.0, ge=0)
    producer_linger_ms: int = 10
    producer_max_batch_size: int = 256 * 1024
    # A worker whose consumer is out of its group, or whose partitions do not move while they
    # have lag, this long is stopped with a non-zero exit for its supervisor to restart
    # (stream/health.py). 0: only /health reports it.
    liveness_timeout_seconds: float = Field(default=120.0, ge=0)
    # Streaming risk scoring (agents/risk_scorer.py, agents/risk_actions.py): off, the worker
    # runs without the risk keyer, scorer and action sink (stream/topology.py's RISK_FLOWS).
    risk_scoring: bool = True
    # Faust's per-agent buffer (stream_buffer_maxsize, its default). An agent this far behind
    # pauses the partitions it reads for every agent of its worker, then the whole consumer:
    # why a slow sink needs a lane of its own (README, "Lanes").
    stream_buffer_maxsize: int = Field(default=4096, ge=1)
    # The lanes of the topology this worker runs (PAYSTREAM_WORKER_LANES, comma-separated, or
    # `paystream worker --lanes`): empty or "all" is every lane, one consumer group. A worker
    # of some lanes only is a group of its own, `<app_id>-lane-<lanes>` (stream/topology.py),
    # except the core lane alone, which keeps the app id.
    worker_lanes: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("worker_lanes", mode="before")
    @classmethod
    def _split_lanes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            lanes = tuple(str(lane).strip() for lane in value if str(lane).strip())
            return () if lanes == ("all",) else lanes
        return value
