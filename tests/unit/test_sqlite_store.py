"""stream/sqlite_store.py: the SQLite table store's contract, offsets and partitions.

Memory use (the reason for the store) is not unit-testable; `bench worker_memory` measures it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faust.streams import _current_event
from faust.types import TP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream import sqlite_store
from stream.app import table_store
from stream.settings import WorkerSettings
from stream.sqlite_store import SqliteStore

PARTITIONS = 4


def make_store(datadir: Path, *, use_partitioner: bool = True, name: str = "state") -> SqliteStore:
    sqlite_store.register()
    app = faust.App("sqlite-store-test", datadir=str(datadir), store="sqlite://")
    table = app.Table(
        name,
        default=str,
        key_type=bytes,
        value_type=str,
        partitions=PARTITIONS,
        use_partitioner=use_partitioner,
    )
    store = table.data
    assert isinstance(store, SqliteStore)
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    yield make_store(tmp_path)


def changelog_tp(store: SqliteStore, partition: int) -> TP:
    return TP(store.table.changelog_topic.get_topic_name(), partition)


def record(store: SqliteStore, key: bytes, value: bytes | None, partition: int, offset: int) -> Any:
    tp = changelog_tp(store, partition)
    message = SimpleNamespace(
        key=key, value=value, partition=partition, offset=offset, tp=tp, topic=tp.topic
    )
    return SimpleNamespace(message=message)


def apply(store: SqliteStore, *records: Any) -> None:
    store.apply_changelog_batch(list(records), to_key=lambda k: k, to_value=lambda v: v)


def test_registered_as_store_url() -> None:
    sqlite_store.register()
    assert faust.stores.by_url("sqlite://") is SqliteStore


def test_get_set_del_iterate_size(store: SqliteStore) -> None:
    assert len(store) == 0 and b"a" not in store
    store[b"a"] = "one"
    store[b"b"] = "two"
    store[b"a"] = "uno"
    assert store[b"a"] == "uno" and b"b" in store and len(store) == 2
    assert sorted(store.keys()) == [b"a", b"b"]
    assert sorted(store.values()) == ["two", "uno"]
    assert dict(store.items()) == {b"a": "uno", b"b": "two"}
    del store[b"b"]
    assert b"b" not in store and len(store) == 1
    with pytest.raises(KeyError):
        store[b"b"]
    store.clear()
    assert len(store) == 0


def test_changelog_batch_applies_in_order_and_persists_offsets(store: SqliteStore) -> None:
    apply(
        store,
        record(store, b"k1", b'"v1"', 0, 10),
        record(store, b"k2", b'"v2"', 1, 3),
        record(store, b"k1", b'"v1b"', 0, 11),
        record(store, b"k2", None, 1, 4),  # a tombstone
        record(store, b"k3", b'"v3"', 1, 5),
    )
    assert dict(store.items()) == {b"k1": "v1b", b"k3": "v3"}
    assert store.persisted_offset(changelog_tp(store, 0)) == 11
    assert store.persisted_offset(changelog_tp(store, 1)) == 5
    assert store.persisted_offset(changelog_tp(store, 2)) is None
    assert store.replayed == 5


def test_committed_offsets_and_rows_survive_reopening(tmp_path: Path) -> None:
    first = make_store(tmp_path)
    apply(first, record(first, b"k1", b'"v1"', 0, 7))
    first[b"live"] = "x"
    first.set_persisted_offset(changelog_tp(first, 2), 42)
    first.commit()
    # Written after the last commit, then the process dies: rolled back, rows and offset both.
    first[b"lost"] = "y"
    first.set_persisted_offset(changelog_tp(first, 2), 43)
    first.db.close()
    first._lock.close()  # the process is gone, and its lock with it

    again = make_store(tmp_path)
    assert again.persisted_offset(changelog_tp(again, 0)) == 7
    assert again.persisted_offset(changelog_tp(again, 2)) == 42
    assert dict(again.items()) == {b"k1": "v1", b"live": "x"}


def test_a_second_worker_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = make_store(tmp_path)
    first[b"k"] = "v"
    second = make_store(tmp_path)
    with pytest.raises(RuntimeError, match="own PAYSTREAM_DATA_DIR"):
        second[b"k"] = "w"
    assert first[b"k"] == "v"


def test_exactly_once_keeps_tables_in_memory() -> None:
    # A local file could keep rows of an aborted transaction; the changelog cannot.
    assert table_store(WorkerSettings(processing_guarantee="exactly_once")) == "memory"
    assert table_store(WorkerSettings()) == "sqlite"


def test_writes_commit_in_batches(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "COMMIT_EVERY_WRITES", 3)
    store[b"a"] = "1"
    store[b"b"] = "2"
    assert store.db.in_transaction
    store.set_persisted_offset(changelog_tp(store, 0), 1)
    assert not store.db.in_transaction


async def test_a_running_store_commits_on_its_timer_and_on_stop(tmp_path: Path) -> None:
    store = make_store(tmp_path)  # built here: a Service binds to the loop it is built on
    await asyncio.wait_for(store.start(), 10)
    try:
        store[b"a"] = "1"
        assert store.db.in_transaction
        await asyncio.sleep(sqlite_store.COMMIT_EVERY_SECONDS * 3)
        assert not store.db.in_transaction
        store[b"b"] = "2"
    finally:
        await asyncio.wait_for(store.stop(), 10)
    assert not store.db.in_transaction


async def test_revoked_partitions_stay_on_disk_but_are_not_visible(store: SqliteStore) -> None:
    apply(
        store,
        record(store, b"p0", b'"a"', 0, 1),
        record(store, b"p1", b'"b"', 1, 1),
    )
    await store.on_recovery_completed({changelog_tp(store, 0)}, set())
    assert b"p0" in store and b"p1" not in store and len(store) == 1
    assert list(store.keys()) == [b"p0"]
    # A key written here after recovery stays visible whatever its partition.
    live = next(k for k in (bytes([n]) for n in range(256)) if store.partition_for(k) != 0)
    store[live] = "mine"
    assert store[live] == "mine" and len(store) == 2
    await store.on_rebalance(set(), {changelog_tp(store, 0)}, set())
    assert b"p0" not in store
    # Given back: the rows were kept; recovery replays from the persisted offset.
    await store.on_recovery_completed({changelog_tp(store, 0), changelog_tp(store, 1)}, set())
    assert store[b"p0"] == "a" and store[b"p1"] == "b"
    assert store.persisted_offset(changelog_tp(store, 1)) == 1


def test_reset_state_removes_the_file(store: SqliteStore) -> None:
    store[b"a"] = "1"
    store.commit()
    assert store.path.exists()
    store.reset_state()
    assert not store.path.exists()
    assert len(store) == 0


# Kafka's own murmur2 vectors (clients UtilsTest.testMurmur2), as the Java producer hashes keys.
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), KAFKA_MURMUR2.items())
def test_partitioner_hash_is_kafkas_murmur2(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected & 0xFFFFFFFF


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.binary(min_size=1, max_size=64))
def test_partition_column_is_the_producers_partition(store: SqliteStore, key: bytes) -> None:
    every = list(range(PARTITIONS))
    producer_choice = DefaultPartitioner()(key, every, every)
    assert producer_choice == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
    store[key] = "v"
    (part,) = store.db.execute("SELECT part FROM kv WHERE k = ?", (key,)).fetchone()
    assert part == producer_choice


class _Event:
    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


def test_partition_from_the_current_event_without_use_partitioner(tmp_path: Path) -> None:
    store = make_store(tmp_path, use_partitioner=False, name="by-event")
    event = _Event("source", 3)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        assert store.partition_for(b"anything") == 3
    finally:
        _current_event.reset(token)


def test_use_partitioner_wins_over_the_event_and_counts_disagreements(store: SqliteStore) -> None:
    key = b"acct-1"
    hashed = DefaultPartitioner()(key, list(range(PARTITIONS)), list(range(PARTITIONS)))
    event = _Event("source", (hashed + 1) % PARTITIONS)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        assert store.partition_for(key) == hashed
    finally:
        _current_event.reset(token)
    assert store.partition_disagreements == 1
