"""Topic replay, the deciding half: which records a replay republishes, with which headers,
and which dead letters go back where. Pure functions over records already read; the Kafka
half is stream/replay.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from schemas.deadletter import DeadLetter
from stream.replay_headers import ALL_SINKS
from stream.settings import KafkaSettings
from stream.topic_names import TOPICS, topic_name
from stream.topology import FLOWS, REPLAY_SINKS

ALL = ALL_SINKS
# The sink names `replay payments --sink` takes: the topology's payment sinks.
SINKS = REPLAY_SINKS
# Which sink a dead letter of a sink agent goes back to (the other sink already has it).
SINK_OF_AGENT = {flow.name: flow.replay_sink for flow in FLOWS if flow.replay_sink}
# Topics a dead letter may go back to; commands that move money are re-requested at the source.
REDRIVABLE = ("paytrace_raw", "payments", "salesforce_cdc", "disputes")


class ReplayError(RuntimeError):
    """The replay cannot run as asked (missing topic, partition that stopped moving)."""


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class PartitionRange:
    """``[start, stop)`` is the replayed range; ``end`` the partition's end when the run began."""

    partition: int
    start: int
    stop: int
    end: int


def partition_range(
    partition: int, since_offset: int | None, until_offset: int | None, end: int
) -> PartitionRange:
    """From ``offsets_for_times`` answers (None: no record at or after that time)."""
    start = end if since_offset is None else min(since_offset, end)
    stop = end if until_offset is None else min(until_offset, end)
    return PartitionRange(partition, start, max(start, stop), end)


@dataclass
class Selection:
    """Of one partition: the keys with a record in range, each with its latest state.

    Records after ``stop`` (up to ``end``) only update keys already selected, so a transaction
    that changed after --until is republished as it is now, never regressed. A key with a record
    after ``end`` changed while the replay ran: the live record is newer, so it is dropped.
    """

    range: PartitionRange
    read: int = 0
    unkeyed: int = 0
    updated_after_until: set[bytes] = field(default_factory=set)
    changed_during_run: set[bytes] = field(default_factory=set)
    _latest: dict[bytes, Record] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        rng, key = self.range, record.key
        if rng.start <= record.offset < rng.stop:
            self.read += 1
            if key is None:
                self.unkeyed += 1  # the payments topic is keyed; nothing to address it by
                return
            self._latest[key] = record
        elif key is None or key not in self._latest or record.offset < rng.start:
            return
        elif record.offset < rng.end:
            self._latest[key] = record
            self.updated_after_until.add(key)
        else:
            del self._latest[key]
            self.changed_during_run.add(key)

    def records(self) -> list[Record]:
        return sorted(self._latest.values(), key=lambda r: r.offset)


def select_latest(rng: PartitionRange, records: Iterable[Record]) -> Selection:
    selection = Selection(rng)
    for record in records:
        selection.add(record)
    return selection


@dataclass
class ReplayReport:
    replay_id: str
    topic: str
    sink: str
    dry_run: bool
    partitions: list[Selection] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.partitions)

    @property
    def republished(self) -> int:
        return sum(len(s.records()) for s in self.partitions)


@dataclass
class RedriveReport:
    replay_id: str
    dry_run: bool
    redriven: Counter[str] = field(default_factory=Counter)  # per dead-letter reason
    refused: Counter[str] = field(default_factory=Counter)  # per cause
    duplicates: int = 0  # the same source record dead-lettered more than once
    unreadable: int = 0  # values on the dead-letter topic that are no DeadLetter


@dataclass(frozen=True)
class Redrive:
    letter: DeadLetter
    sink: str | None  # for a payments record: which sink(s) it goes back to


def refusal(letter: DeadLetter, kafka: KafkaSettings) -> str | None:
    """Why a dead letter must not go back to its source topic, or None."""
    ours = {topic_name(kafka, logical): logical for logical in TOPICS}
    logical = ours.get(letter.source_topic)
    if logical is None:
        return f"source topic {letter.source_topic!r} is not a topic of this pipeline"
    if logical not in REDRIVABLE:
        if logical == "charge_commands":
            return "charge commands move money: request the charge again in Salesforce"
        return f"records of {letter.source_topic} are not re-driven"
    if not letter.payload_complete:
        return "payload was cut to bound the dead letter: re-send the original from its source"
    try:
        orjson.loads(letter.payload)
    except orjson.JSONDecodeError:
        return "payload is not JSON: it would fail again the same way"
    return None


def plan_redrive(
    letters: Iterable[DeadLetter],
    kafka: KafkaSettings,
    *,
    reason: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
) -> tuple[list[Redrive], Counter[str], int]:
    """The dead letters to re-drive in their order, refusals by cause, and duplicates."""
    chosen: dict[tuple[str, str | None, str], Redrive] = {}
    refused: Counter[str] = Counter()
    duplicates = 0
    for letter in letters:
        if reason is not None and letter.reason != reason:
            continue
        if (agent is not None and letter.agent != agent) or (since and letter.at < since):
            continue
        cause = refusal(letter, kafka)
        if cause is not None:
            refused[cause] += 1
            continue
        sink = None
        if letter.source_topic == topic_name(kafka, "payments"):
            sink = SINK_OF_AGENT.get(letter.agent, ALL)
        # The same record dead-lettered twice (by both sinks, or again after a re-drive) goes
        # once, at its last place, so the last state of a key stays the last.
        ident = (letter.source_topic, letter.key, letter.payload)
        earlier = chosen.pop(ident, None)
        if earlier is not None:
            duplicates += 1
            if earlier.sink != sink:
                sink = ALL
        chosen[ident] = Redrive(letter, sink)
    return list(chosen.values()), refused, duplicates
