"""A Faust table store on stdlib ``sqlite3`` (``store="sqlite://"``).

Faust's ``memory://`` store keeps every key of every table in the worker's heap (~640 bytes a
key of the normalizer's dedupe table) and rebuilds it from the changelog on each start. This
one keeps one SQLite file per table and worker under ``app.conf.tabledir``, with a bounded page
cache, so memory no longer grows with keys and a restarted worker replays only the changelog
tail after the offsets it persisted.

Rules it keeps:

- The changelog topic is the source of truth: WAL with ``synchronous=OFF`` (a process crash
  loses nothing committed; an OS crash may lose the last commits, and with them the offsets
  that claimed them, so the tail is replayed again).
- A persisted offset is written in the same transaction as the rows it covers, never later
  than them: Faust calls ``set_persisted_offset`` from the changelog send's acknowledgement,
  after the row was written, and on the same connection.
- Commits are batched (every ``COMMIT_EVERY_WRITES`` writes, every ``COMMIT_EVERY_SECONDS``,
  per changelog batch and at rebalances/stop): a commit per write is too slow.
- Each row carries the changelog partition of its key, so a revoked partition's rows stay on
  disk (reassigned, they are brought up to date from their persisted offset) but are not
  visible meanwhile, as Faust's memory store forgets them.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from faust.stores import STORES
from faust.stores.base import SerializedStore
from faust.streams import current_event
from faust.types import TP, EventT
from mode import Service

log = logging.getLogger(__name__)

SCHEME = "sqlite"
COMMIT_EVERY_WRITES = 2000
COMMIT_EVERY_SECONDS = 0.5
# SQLite's page cache per table file (KiB). The OS page cache holds the rest of the file,
# outside the worker's RSS. Five tables: at most ~20 MiB of cache.
CACHE_KIB = 4096
FETCH_ROWS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    k BLOB PRIMARY KEY,
    part INTEGER NOT NULL,
    -- 0: from the changelog; else the epoch of the live write (see `_visible`).
    epoch INTEGER NOT NULL,
    v BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_part ON kv (part);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    part INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, part)
) WITHOUT ROWID;
"""
_UPSERT = "INSERT OR REPLACE INTO kv (k, part, epoch, v) VALUES (?, ?, ?, ?)"


def register() -> None:
    """Make ``sqlite://`` a store URL Faust resolves (``faust.stores.by_url``)."""
    STORES.aliases.setdefault(SCHEME, f"{__name__}:SqliteStore")


class SqliteStore(SerializedStore[Any, Any]):
    """Table rows in ``<tabledir>/<table>.sqlite3``: key, changelog partition, value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conn: sqlite3.Connection | None = None
        self._lock: Any = None  # the open lock file, held for the process's life
        self._pending = 0  # writes in the open transaction
        self._opened_at = 0.0  # monotonic time of the open transaction's first write
        # Changelog partitions whose rows reads may see; None until Faust says (unit use).
        self._actives: set[int] | None = None
        # Live writes carry this epoch: a key written here since the last recovery is visible
        # whatever its partition (the memory store keeps such keys too).
        self._epoch = time.time_ns()
        # The producer's partitioner, as Faust's aiokafka driver picks it.
        # (read through Any: Faust's stub types the setting as an unbound method)
        conf: Any = self.app.conf
        self._partitioner: Callable[..., int] = conf.producer_partitioner or DefaultPartitioner()
        self.replayed = 0  # changelog records applied since the last recovery completed
        self.partition_disagreements = 0  # current event's partition != the partitioner's

    # -- the file -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return Path(self.app.conf.tabledir) / f"{self.table_name}.sqlite3"

    @property
    def db(self) -> sqlite3.Connection:
        # Opened on first use: Faust may build a store it never uses.
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._lock is None:
                self._take_lock()
            # Autocommit mode: transactions are opened and committed here, in batches.
            # Every call comes from the worker's event loop, one at a time; the connection
            # may be opened before the loop runs, hence check_same_thread=False.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute("PRAGMA journal_size_limit=67108864")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _take_lock(self) -> None:
        """Two workers on one data dir would read each other's rows as their own (each file
        is one worker's view of its partitions): the second one stops with a clear error.
        The OS drops the lock when the process ends, however it ends."""
        lock = self.path.with_name(self.path.name + ".lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(
                f"table file {self.path} is in use by another worker: give each worker its "
                "own PAYSTREAM_DATA_DIR"
            ) from None
        self._lock = lock

    def _begin(self) -> sqlite3.Connection:
        db = self.db
        if not db.in_transaction:
            db.execute("BEGIN")
            self._opened_at = time.monotonic()
        return db

    def commit(self) -> None:
        """Commit the open transaction: its rows and the offsets that claim them."""
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("COMMIT")
        self._pending = 0

    def _wrote(self) -> None:
        self._pending += 1
        if self._pending >= COMMIT_EVERY_WRITES:
            self.commit()

    @Service.timer(COMMIT_EVERY_SECONDS)
    async def _commit_timer(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            if time.monotonic() - self._opened_at >= COMMIT_EVERY_SECONDS:
                self.commit()

    async def on_stop(self) -> None:
        # Committed, not closed: a changelog acknowledgement may still arrive during shutdown;
        # what comes after this commit is rolled back at exit and replayed from the changelog.
        self.commit()

    # -- partitions and visibility -------------------------------------------------------

    @functools.cached_property
    def _every_partition(self) -> list[int]:
        # The changelog's partition count is fixed for the store's life: built once, not per
        # write (this is on the normalizer's per-payment path).
        partitions = self.table.changelog_topic.partitions or self.app.conf.topic_partitions
        return list(range(int(partitions)))

    def partition_for(self, key: bytes) -> int:
        """The changelog partition a live write of ``key`` goes to."""
        event = current_event()
        if event is not None and not self.table.use_partitioner:
            # Faust sends the changelog record to the event's partition.
            return int(event.message.partition)
        # use_partitioner (or no event): the producer's partitioner picks the partition.
        every = self._every_partition
        partition = int(self._partitioner(key, every, every))
        if event is not None and event.message.partition != partition:
            self.partition_disagreements += 1
            if self.partition_disagreements == 1:
                log.info(
                    "%s: key of %s partition %s goes to changelog partition %s",
                    self.table_name,
                    event.message.topic,
                    event.message.partition,
                    partition,
                )
        return partition

    def _changelog_topics(self) -> set[str]:
        return set(self.table.changelog_topic.topics)

    def _visible(self, part: int, epoch: int) -> bool:
        if self._actives is None or self.table.is_global:
            return True
        return part in self._actives or epoch == self._epoch

    def _where_visible(self) -> tuple[str, tuple[int, ...]]:
        if self._actives is None or self.table.is_global:
            return "", ()
        parts = tuple(sorted(self._actives))
        marks = ",".join("?" * len(parts))
        return f" WHERE part IN ({marks}) OR epoch = ?", (*parts, self._epoch)

    # -- the SerializedStore contract ----------------------------------------------------

    def _get(self, key: bytes) -> bytes | None:
        row = self.db.execute("SELECT part, epoch, v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None or not self._visible(row[0], row[1]):
            return None
        value: bytes | None = row[2]
        return value

    def _contains(self, key: bytes) -> bool:
        row = self.db.execute("SELECT part, epoch FROM kv WHERE k = ?", (key,)).fetchone()
        return row is not None and self._visible(row[0], row[1])

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._begin().execute(_UPSERT, (key, self.partition_for(key), self._epoch, value))
        self._wrote()

    def _del(self, key: bytes) -> None:
        self._begin().execute("DELETE FROM kv WHERE k = ?", (key,))
        self._wrote()

    def _rows(self, columns: str) -> Iterator[Any]:
        where, params = self._where_visible()
        # Own cursor, read in chunks: the store may be written between two chunks.
        cursor = self.db.execute(f"SELECT {columns} FROM kv{where}", params)  # noqa: S608
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows

    def _iterkeys(self) -> Iterator[bytes]:
        for (key,) in self._rows("k"):
            yield key

    def _itervalues(self) -> Iterator[bytes | None]:
        for (value,) in self._rows("v"):
            yield value

    def _iteritems(self) -> Iterator[tuple[bytes, bytes]]:
        yield from self._rows("k, v")

    def _size(self) -> int:
        where, params = self._where_visible()
        (count,) = self.db.execute(f"SELECT count(*) FROM kv{where}", params).fetchone()  # noqa: S608
        return int(count)

    def _clear(self) -> None:
        # Rows and offsets together: offsets left behind would claim rows no longer here.
        db = self._begin()
        db.execute("DELETE FROM kv")
        db.execute("DELETE FROM offsets")
        self.commit()

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Apply changelog records (keys and values as serialized on the topic) and move each
        partition's persisted offset to its last record, in one transaction."""
        db = self._begin()
        last: dict[TP, int] = {}
        applied = 0
        for event in batch:
            message = event.message
            if message.key is None:
                raise TypeError(f"Changelog entry is missing key: {message}")
            if message.value is None:
                db.execute("DELETE FROM kv WHERE k = ?", (message.key,))
            else:
                db.execute(_UPSERT, (message.key, message.partition, 0, message.value))
            last[message.tp] = max(message.offset, last.get(message.tp, message.offset))
            applied += 1
        for tp, offset in last.items():
            self._write_offset(tp, offset)
        self.commit()
        self.replayed += applied

    def persisted_offset(self, tp: TP) -> int | None:
        """The last changelog offset of ``tp`` whose effect is in this file (committed or in
        the open transaction; Faust reads it at recovery, after ``on_rebalance`` committed)."""
        row = self.db.execute(
            "SELECT last_offset FROM offsets WHERE topic = ? AND part = ?",
            (tp.topic, tp.partition),
        ).fetchone()
        return None if row is None else int(row[0])

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        # Joins the open transaction: committed with (or after) the rows it covers.
        self._write_offset(tp, offset)
        self._wrote()

    def _write_offset(self, tp: TP, offset: int) -> None:
        self._begin().execute(
            "INSERT OR REPLACE INTO offsets (topic, part, last_offset) VALUES (?, ?, ?)",
            (tp.topic, tp.partition, offset),
        )

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        # Rows stay on disk: a partition given back later is replayed from its persisted
        # offset. Until recovery completes only partitions kept across the rebalance are seen.
        self.commit()
        if self._actives is not None:
            self._actives -= {
                tp.partition for tp in revoked if tp.topic in self._changelog_topics()
            }

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        self.commit()
        topics = self._changelog_topics()
        self._actives = {tp.partition for tp in active_tps if tp.topic in topics}
        self._epoch = time.time_ns()
        log.info(
            "%s: %d changelog records replayed into %s; active partitions %s",
            self.table_name,
            self.replayed,
            self.path,
            sorted(self._actives),
        )
        self.replayed = 0

    async def backup_partition(
        self, tp: TP | int, flush: bool = True, purge: bool = False, keep: int = 1
    ) -> None:
        """No backups: the changelog topic is the backup."""

    def restore_backup(self, tp: TP | int, latest: bool = True, backup_id: int = 0) -> None:
        """No backups: the changelog topic is the backup."""

    def reset_state(self) -> None:
        """Remove the local file (``faust reset``); the changelog is left alone."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._pending = 0
