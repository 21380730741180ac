"""Sink flow: canonical payments -> ``Payment__c`` upserts in sObject Collections of 200.

Upsert by the PayTrace transaction id makes every replay harmless. A record Salesforce
refuses is dead-lettered with its error; the rest of the batch is kept. A failure of the whole
call (an outage, a lock) is the same for every record: the runtime holds the batch and sends it
again (idempotent by external id).
"""

from __future__ import annotations

from connectors.base.errors import ConnectorError, RecordError
from connectors.salesforce.errors import record_error
from connectors.salesforce.models import RecordResult
from schemas.payment import Payment
from stream.runtime.outcomes import DELIVERED, Failed, Rejected, Result
from stream.runtime.sink import BatchSink, Item
from stream.to_salesforce import payment_record


class SalesforcePaymentSink(BatchSink[Payment]):
    model = Payment

    async def upsert(self, records: list[dict[str, object]]) -> list[RecordResult]:
        sf_map = self.ctx.mapping.salesforce
        results = await self.ctx.connectors.salesforce().upsert_collection(
            sf_map.object, sf_map.external_id_field, records, all_or_none=False
        )
        for result in results:
            error = record_error(result)
            if error is not None and not _belongs_to_record(error):
                raise error  # the whole batch again: upserts by external id are idempotent
        return results

    async def write(self, batch: list[Item[Payment]]) -> list[Result]:
        # Keyed topic, in order: the last state of a transaction in the batch is current, and
        # writing it delivers the earlier ones too.
        latest: dict[str, int] = {}
        for index, item in enumerate(batch):
            latest.pop(item.value.transaction_id, None)
            latest[item.value.transaction_id] = index
        order = list(latest.values())
        results: list[Result] = [DELIVERED] * len(batch)
        records = []
        for index in order:
            try:
                records.append(payment_record(batch[index].value, self.ctx.mapping))
            except Exception as exc:
                results[index] = Failed(exc)
        sendable = [i for i in order if not isinstance(results[i], Failed)]
        if not sendable:
            return results
        answers = await self.upsert(records)
        for index, answer in zip(sendable, answers, strict=True):
            if answer.success:
                continue
            error = record_error(answer)
            payment = batch[index].value
            detail = str(error) if error else "record refused without an error"
            results[index] = Failed(
                error
                if error is not None
                else Rejected(
                    "salesforce:unknown", f"Payment__c {payment.transaction_id}: {detail}"
                )
            )
        for index, item in enumerate(batch):
            superseded_by = latest[item.value.transaction_id]
            if superseded_by != index and isinstance(results[superseded_by], Failed):
                results[index] = results[superseded_by]
        return results


def _belongs_to_record(error: ConnectorError) -> bool:
    """A record-level refusal (dead letter) rather than the whole call's problem (a lock, an
    outage, a permission: the same for every record of the call)."""
    return isinstance(error, RecordError)
