"""Replay's pure parts: ranges, the latest state per key, the sinks' header decision, and
which dead letters may go back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.deadletter import DeadLetter
from stream.replay_headers import REPLAY_ID_HEADER, SINK_HEADER, header, replay_headers, sink_skips
from stream.replay_plan import (
    ALL,
    SINKS,
    PartitionRange,
    Record,
    partition_range,
    plan_redrive,
    refusal,
    select_latest,
)
from stream.settings import KafkaSettings

KAFKA = KafkaSettings(topic_prefix="acme")
AT = datetime(2026, 11, 22, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("target", "salesforce_skips", "sagepro_skips"),
    [
        (None, False, False),
        (b"all", False, False),
        (b"salesforce", False, True),
        (b"sagepro", True, False),
        (b"nonsense", False, False),  # unknown: handled as today, never silently dropped
    ],
)
def test_each_sink_skips_only_what_was_replayed_for_the_other(
    target: bytes | None, salesforce_skips: bool, sagepro_skips: bool
) -> None:
    as_dict = {"other": b"x"} | ({SINK_HEADER: target} if target else {})
    as_list = list(as_dict.items())  # aiokafka gives a sequence of pairs, Faust a dict
    for headers in (as_dict, as_list):
        assert sink_skips("salesforce", headers, SINKS) is salesforce_skips
        assert sink_skips("sagepro", headers, SINKS) is sagepro_skips
    assert not sink_skips("salesforce", None, SINKS)


def test_replay_headers_replace_an_earlier_runs_and_keep_the_rest() -> None:
    original = [("trace", b"t1"), (SINK_HEADER, b"sagepro"), (REPLAY_ID_HEADER, b"old")]
    headers = replay_headers(original, "new", "salesforce")
    assert headers == [("trace", b"t1"), (SINK_HEADER, b"salesforce"), (REPLAY_ID_HEADER, b"new")]
    assert header(headers, REPLAY_ID_HEADER) == "new"


@pytest.mark.parametrize(
    ("since", "until", "end", "expected"),
    [
        (3, None, 10, (3, 10)),  # no --until: up to the end snapshot
        (3, 7, 10, (3, 7)),
        (None, None, 10, (10, 10)),  # nothing at or after --since: empty
        (3, None, 2, (2, 2)),  # a record written after the snapshot is not ours to read
        (3, 12, 10, (3, 10)),
        (5, 4, 10, (5, 5)),  # never a negative range
    ],
)
def test_partition_range(
    since: int | None, until: int | None, end: int, expected: tuple[int, int]
) -> None:
    rng = partition_range(0, since, until, end)
    assert (rng.start, rng.stop, rng.end) == (*expected, end)


def _records(keys: list[str | None]) -> list[Record]:
    return [
        Record(0, offset, key.encode() if key else None, f"{key}@{offset}".encode())
        for offset, key in enumerate(keys)
    ]


def test_latest_state_per_key_in_offset_order() -> None:
    records = _records(["a", "b", "a", None, "c", "b", "a", "d"])
    # range [1, 6); 6 (a) is after --until but before the snapshot end; 7 (d) after the end.
    selection = select_latest(PartitionRange(0, 1, 6, 7), records)
    assert [(r.key, r.offset) for r in selection.records()] == [
        (b"c", 4),
        (b"b", 5),
        (b"a", 6),  # changed after --until: republished as it is now, never regressed
    ]
    assert selection.read == 5 and selection.unkeyed == 1
    assert selection.updated_after_until == {b"a"}
    selection.add(Record(0, 8, b"b", b"live"))  # changed while the replay ran
    selection.add(Record(0, 9, b"d", b"live"))  # never selected: stays out
    assert [r.key for r in selection.records()] == [b"c", b"a"]
    assert selection.changed_during_run == {b"b"}


@given(
    keys=st.lists(st.sampled_from(["k1", "k2", "k3", "k4", None]), max_size=40),
    cuts=st.lists(st.integers(0, 45), min_size=3, max_size=3),
)
def test_selection_is_the_latest_state_of_each_key_seen_in_range(
    keys: list[str | None], cuts: list[int]
) -> None:
    start, stop, end = sorted(cuts)
    records = _records(keys)
    selection = select_latest(PartitionRange(0, start, stop, end), records)
    in_range = [r for r in records if start <= r.offset < stop]
    changed_live = {r.key for r in records if r.offset >= end}
    wanted = {r.key for r in in_range if r.key is not None} - changed_live
    latest = {r.key: r for r in records if r.offset < end and r.key in wanted}
    assert selection.records() == sorted(latest.values(), key=lambda r: r.offset)
    assert selection.read == len(in_range)
    assert selection.unkeyed == sum(r.key is None for r in in_range)
    assert len({r.key for r in selection.records()}) == len(selection.records())


def _letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "source_topic": "acme.payments",
        "source_partition": 1,
        "source_offset": 7,
        "key": "123",
        "agent": "salesforce_payment_sink",
        "reason": "salesforce:FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "error": "refused",
        "payload": orjson.dumps({"transaction_id": "123"}).decode(),
        "at": AT,
    }
    return DeadLetter.model_validate(fields | overrides)


@pytest.mark.parametrize(
    ("overrides", "cause"),
    [
        ({"source_topic": "other.payments"}, "not a topic of this pipeline"),
        ({"source_topic": "acme.deadletter"}, "not re-driven"),
        ({"source_topic": "acme.charges.commands"}, "charge commands move money"),
        ({"payload": "{this is not json"}, "would fail again"),
        ({"payload": "{}", "payload_complete": False}, "payload was cut"),
        ({"source_topic": "acme.paytrace.transactions.raw"}, None),
        ({"source_topic": "acme.salesforce.cdc"}, None),
        ({}, None),
    ],
)
def test_what_must_not_be_redriven(overrides: dict[str, object], cause: str | None) -> None:
    found = refusal(_letter(**overrides), KAFKA)
    if cause is None:
        assert found is None
    else:
        assert found is not None and cause in found


def test_redrive_plan_filters_refuses_and_sends_each_record_once() -> None:
    by_sf = _letter()
    by_sage = _letter(agent="sagepro_payment_sink", reason="unknown_gl_account")
    raw = _letter(
        source_topic="acme.paytrace.transactions.raw",
        agent="payment_normalizer",
        reason="unknown_type",
        key="77",
        payload='{"record": {}}',
    )
    foreign = _letter(source_topic="elsewhere")
    old = _letter(key="9", payload='{"transaction_id": "9"}', at=AT - timedelta(days=2))
    letters = [by_sf, raw, foreign, old, by_sage]

    chosen, refused, duplicates = plan_redrive(letters, KAFKA)
    assert [(r.letter.key, r.sink) for r in chosen] == [
        ("77", None),
        ("9", "salesforce"),
        ("123", ALL),
    ]
    assert duplicates == 1 and sum(refused.values()) == 1

    chosen, _, _ = plan_redrive(letters, KAFKA, agent="sagepro_payment_sink")
    assert [(r.letter.key, r.sink) for r in chosen] == [("123", "sagepro")]
    chosen, _, _ = plan_redrive(letters, KAFKA, reason="unknown_type")
    assert [r.letter.key for r in chosen] == ["77"]
    chosen, refused, _ = plan_redrive(letters, KAFKA, since=AT - timedelta(hours=1))
    assert {r.letter.key for r in chosen} == {"123", "77"} and sum(refused.values()) == 1
