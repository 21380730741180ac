"""Every record a worker writes carries the version of the mapping that produced it, through
the same redacting door as every other header."""

from __future__ import annotations

import asyncio
from datetime import UTC
from types import SimpleNamespace
from typing import Any

from stream.mapping import load_mapping
from stream.mapping_version import HEADER, header_version, mapping_version
from stream.runtime.processor import Emit
from tests.unit import flow_fakes
from tests.unit.test_transform import export_record, raw_of


async def test_processor_outputs_carry_the_mapping_version() -> None:
    mapping = load_mapping()
    ctx = flow_fakes.context(mapping=mapping)
    flow = flow_fakes.flow("payment_normalizer", ctx)
    record = raw_of(export_record(transaction_id=7))
    await flow.handle([flow_fakes.incoming(record, key="7")])
    [out] = flow_fakes.sent(ctx, "payments")
    assert header_version(out.headers) == mapping_version(mapping)
    # A record it cannot read: the dead letter says which mapping refused it.
    await flow.handle([flow_fakes.incoming(b"{}", key="8", offset=1)])
    [letter] = flow_fakes.sent(ctx, "deadletter")
    assert header_version(letter.headers) == mapping_version(mapping)


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append({"topic": topic, **kwargs})
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_source_records_carry_it_and_card_headers_stay_redacted() -> None:
    mapping = load_mapping()
    connectors = flow_fakes.FakeConnectors(paytrace_settings=SimpleNamespace(zone=UTC))
    ctx = flow_fakes.context(connectors, mapping=mapping)
    source = flow_fakes.flow("paytrace_poller", ctx)
    producer = RecordingProducer()
    source._producer = producer
    card = b"4111 1111 1111 1111"
    await source.publish([Emit("paytrace_raw", b"1", b"{}", (("note", card),))])
    [sent] = producer.sent
    headers = dict(sent["headers"])
    assert headers[HEADER] == mapping_version(mapping).encode()
    assert card not in headers["note"]
