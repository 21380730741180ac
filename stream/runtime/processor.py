"""A stream processor: one record in, outputs out, optionally with a table.

The runtime reads batches, checks limits, parses with the flow's ``model``, calls ``process``
per record, sends the outputs and waits for the broker's acknowledgement; only then does it
call ``batch_done`` (where a flow writes its table, so state never runs ahead of the output).
Each record's failure (parse, process, a refused output) is that record's alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from stream.mapping_version import version_header
from stream.pci import redact_bytes, redact_headers, redact_key
from stream.runtime import flow_metrics
from stream.runtime.consuming import ConsumingFlow
from stream.runtime.dispositions import Do
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.records import Incoming

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Emit:
    topic: str  # logical topic name
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class StreamProcessor(ConsumingFlow[M]):
    kind = "stream"
    ignored_reasons: ClassVar[tuple[str, ...]] = ("no_output",)

    # No API call per record here: large batches, handed on quickly.
    @property
    def batch_size(self) -> int:
        return 500

    @property
    def batch_seconds(self) -> float:
        return self.ctx.worker.stream_batch_seconds

    async def process(self, record: Incoming, value: M) -> Sequence[Emit]:
        """The outputs of one record; raise ``Rejected``/``Ignored`` to say why there are none."""
        raise NotImplementedError

    def batch_started(self) -> None:
        """Called before a batch's first record."""

    def batch_done(self) -> None:
        """Called once every output of the batch is acknowledged by the broker."""

    async def handle(self, records: list[Incoming]) -> None:
        started = time.perf_counter()
        flow_metrics.received(self.name, len(records))
        self.batch_started()
        version = version_header(self.ctx.mapping)  # which mapping produced each output
        sent: list[tuple[Incoming, list[Awaitable[Any]]]] = []
        for record in records:
            try:
                outputs = await self.process(record, self.decode(record))
                if not outputs:
                    raise Ignored("no_output")
                # The door out: a flow may pass on what a hostile producer wrote straight onto
                # its input topic, so no card number leaves in a key, value or header.
                futures = [
                    await self.ctx.topic(out.topic).send(
                        key=redact_key(out.key),
                        value=redact_bytes(out.value),
                        headers=redact_headers([*out.headers, version]),
                    )
                    for out in outputs
                ]
            except Exception as exc:
                if (await self.settle(record, exc)).do is Do.RETRY:
                    await self.settle(record, Rejected("retriable_in_processor", repr(exc)))
                continue
            sent.append((record, futures))
        for record, futures in sent:
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            refused = [o for o in outcomes if isinstance(o, BaseException)]
            if refused:
                await self.settle(record, Rejected("output_refused", repr(refused[0])))
            else:
                flow_metrics.delivered(self.name)
        self.batch_done()
        flow_metrics.took(self.name, time.perf_counter() - started)
