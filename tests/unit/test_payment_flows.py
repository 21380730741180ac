"""The payment flows with fake clients and no broker: the normalizer, the Salesforce payment
sink and the dead-letter monitor, each built from its real topology entry."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.salesforce.models import RecordError as SalesforceRecordError
from connectors.salesforce.models import RecordResult
from schemas.payment import Payment
from stream import metrics
from stream.mapping import load_mapping
from stream.runtime import sink as sink_module
from stream.transform import to_payment
from tests.unit import flow_fakes
from tests.unit.test_transform import export_record, raw_of

PAN = "4000 7700 0000 0307"


@pytest.fixture(autouse=True)
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "FIRST_PAUSE_SECONDS", 0.001)


def raw(offset: int, **changes: Any) -> Any:
    record = raw_of(export_record(**changes))
    key = str(changes.get("transaction_id", 1000123))
    return flow_fakes.incoming(record, key=key, topic="raw", offset=offset)


async def test_normalizer_emits_changed_states_once_and_parks_what_it_cannot_read() -> None:
    ctx = flow_fakes.context()
    flow = flow_fakes.flow("payment_normalizer", ctx)
    await flow.handle(
        [
            raw(0, transaction_id=1),
            raw(1, transaction_id=2, description=f"card {PAN} cvv 739"),
            flow_fakes.incoming(b'{"record": {}}', key="3", offset=2),
            raw(3, transaction_id=1),  # the same state again: the poll overlap
            raw(4, transaction_id=1, status="VOIDED"),
        ]
    )
    payments = [Payment.model_validate_json(s.value) for s in flow_fakes.sent(ctx, "payments")]
    assert [(p.transaction_id, p.status.value) for p in payments] == [
        ("1", "approved"),
        ("2", "approved"),
        ("1", "voided"),
    ]
    assert b"0000 0307" not in b"".join(s.value for s in flow_fakes.sent(ctx, "payments"))
    assert [d.source_offset for d in flow_fakes.dead_letters(ctx)] == [2]
    # The dedupe table holds each key's last state, written after the batch was acknowledged.
    assert set(ctx.app.tables["payment-state"]) == {b"1", b"2"}  # type: ignore[call-overload]
    await flow.handle([raw(5, transaction_id=1, status="VOIDED")])
    assert len(flow_fakes.sent(ctx, "payments")) == 3


class FakeSalesforce:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse: dict[str, str] = {}  # PaymentID__c -> errorCode
        self.locked = 0  # calls answered UNABLE_TO_LOCK_ROW for every record

    async def upsert_collection(
        self, obj: str, field: str, records: list[dict[str, Any]], *, all_or_none: bool
    ) -> list[RecordResult]:
        self.calls.append(records)
        results = []
        for record in records:
            code = "UNABLE_TO_LOCK_ROW" if self.locked else self.refuse.get(record[field])
            if code is None:
                results.append(RecordResult(id="a0X" + record[field], success=True))
            else:
                error = SalesforceRecordError(statusCode=code, message=code.lower())
                results.append(RecordResult(success=False, errors=[error]))
        self.locked = max(0, self.locked - 1)
        return results


def payment_record(tx: str, offset: int, status: str = "APPROVED") -> Any:
    record = raw_of(export_record(transaction_id=int(tx), status=status))
    payment = to_payment(record, load_mapping(None))
    return flow_fakes.incoming(payment, key=tx, topic="payments", offset=offset)


async def test_salesforce_sink_writes_the_latest_state_and_parks_only_the_refused() -> None:
    salesforce = FakeSalesforce()
    salesforce.refuse["2"] = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    flow = flow_fakes.flow("salesforce_payment_sink", ctx)
    await flow.handle(
        [
            payment_record("1", 0),
            payment_record("2", 1),
            flow_fakes.incoming(b"not json", key="x", topic="payments", offset=2),
            payment_record("1", 3, status="VOIDED"),
            flow_fakes.incoming(
                b"{}", topic="payments", offset=4, headers=(("paystream-replay-sink", b"sagepro"),)
            ),
        ]
    )
    [call] = salesforce.calls
    assert [r["PaymentID__c"] for r in call] == ["2", "1"]  # one upsert per key, its last state
    reasons = {d.source_offset: d.reason for d in flow_fakes.dead_letters(ctx)}
    assert reasons == {1: "salesforce:INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", 2: "malformed"}


async def test_salesforce_sink_sends_the_whole_batch_again_after_a_lock() -> None:
    salesforce = FakeSalesforce()
    salesforce.locked = 2
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    flow = flow_fakes.flow("salesforce_payment_sink", ctx)
    await flow.handle([payment_record("1", 0), payment_record("2", 1)])
    assert len(salesforce.calls) == 3  # held, not dead-lettered: a lock is no record's fault
    assert flow_fakes.dead_letters(ctx) == []


async def test_deadletter_monitor_counts_by_reason() -> None:
    ctx = flow_fakes.context()
    flow = flow_fakes.flow("deadletter_monitor", ctx)
    letter = {
        "source_topic": "raw",
        "agent": "a",
        "reason": "json_too_deep",
        "error": "e",
        "payload": "",
        "at": "2026-11-28T00:00:00Z",
    }
    labels = {"topic": "deadletter", "reason": "json_too_deep"}
    before = metrics.REGISTRY.get_sample_value("paystream_dead_letters_total", labels) or 0.0
    await flow.handle([flow_fakes.incoming(orjson.dumps(letter), key="k", topic="deadletter")])
    after = metrics.REGISTRY.get_sample_value("paystream_dead_letters_total", labels)
    assert after == before + 1
