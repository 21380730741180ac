"""The base of every flow: its topology entry, the dead-letter writer, limits, and the one
place a record's failure becomes its outcome."""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, ParamSpec, TypeVar

from faust.types import TableT

from stream import running_flow
from stream.context import PipelineContext
from stream.mapping_version import version_header
from stream.runtime import flow_metrics
from stream.runtime.dead_letters import DeadLetterWriter
from stream.runtime.dispositions import Disposition, Do, dispose
from stream.runtime.records import Incoming
from stream.runtime.spec import FlowSpec

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class StopWorker(Exception):
    """A configuration error: this worker cannot do its job until a person fixes settings."""


class Flow(ABC):
    kind: ClassVar[str]  # source | stream | sink
    # Why this flow may leave a record alone by design: exported as 0 from the start.
    ignored_reasons: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: PipelineContext, spec: FlowSpec) -> None:
        self.ctx = ctx
        self.spec = spec
        self.name = spec.name
        self.limits = ctx.limits
        self.dead_letters = DeadLetterWriter(
            ctx.topic("deadletter"),
            ctx.limits.dead_letter_payload_bytes,
            (version_header(ctx.mapping),),
        )

    def table(self, name: str) -> TableT[bytes, str]:
        """One of the flow's tables (its topology entry lists them): raw byte keys, as on the
        topics, so a key's state lives in its topic partition; ``use_partitioner`` so the
        changelog partition follows the key and a table may be written after a batch."""
        if name not in self.spec.tables:
            raise KeyError(f"{self.name}: table {name!r} is not in its topology entry")
        table: TableT[bytes, str] = self.ctx.app.Table(
            name,
            default=str,
            key_type=bytes,
            value_type=str,
            partitions=self.ctx.kafka.partitions,
            use_partitioner=True,
        )
        return table

    def enabled(self) -> bool:
        """False when the mapping leaves this flow nothing to do (it is then not attached)."""
        return True

    def as_flow(self, run: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        """``run`` (an agent or timer body) with this flow named as the one running: its
        external calls are counted under this flow's name."""

        @functools.wraps(run)
        async def running(*args: P.args, **kwargs: P.kwargs) -> T:
            running_flow.enter(self.name)
            return await run(*args, **kwargs)

        return running

    def every(
        self,
        seconds: float,
        run: Callable[[], Awaitable[None]],
        *,
        name: str,
        on_leader: bool = False,
    ) -> None:
        """A timer of this flow: ``run`` every ``seconds``, its calls counted under this flow
        (``on_leader``: on one worker of the group only)."""
        self.ctx.app.timer(seconds, on_leader=on_leader, name=name)(self.as_flow(run))

    @abstractmethod
    def attach(self) -> None:
        """Wire this flow into the app (an agent on its topic, or a timer)."""

    async def aclose(self) -> None:  # noqa: B027 - flows without resources close nothing
        """Release clients and producers when the worker stops."""

    async def settle(self, record: Incoming, exc: BaseException) -> Disposition:
        """Act on one record's failure by its type; never raises for the record's content."""
        disposition = dispose(exc)
        if disposition.do is Do.IGNORE:
            flow_metrics.ignored(self.name, disposition.reason)
        elif disposition.do is Do.DELIVERED:
            flow_metrics.delivered(self.name)
        elif disposition.do is Do.DEAD_LETTER:
            if disposition.reason.startswith("unexpected:"):
                log.error("%s: %s failed unexpectedly: %r", self.name, record.where, exc)
            await self.dead_letter(record, disposition.reason, disposition.detail)
        elif disposition.do is Do.STOP:
            await self.stop_worker(disposition)
        return disposition

    async def dead_letter(self, record: Incoming, reason: str, detail: str) -> None:
        await self.dead_letters.send(record, agent=self.name, reason=reason, error=detail)

    async def stop_worker(self, disposition: Disposition) -> None:
        # One clear line, then the worker exits non-zero for its supervisor; the record is
        # not committed, so it is processed again once the configuration is fixed.
        log.critical(
            "%s: configuration error, stopping the worker: %s", self.name, disposition.detail
        )
        error = StopWorker(disposition.detail)
        await self.ctx.app.crash(error)
        raise error
