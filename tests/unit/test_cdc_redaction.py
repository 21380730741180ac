"""The Salesforce CDC source publishes no card data, whatever field it was typed into."""

from __future__ import annotations

import pytest

from agents.salesforce_cdc_source import SalesforceCdcSource
from connectors.salesforce.ids import make_id
from schemas.collection import SalesforceChange
from stream.pci import find_card_codes, find_card_numbers

PAN = "4000 7700 0000 0307"
FREE_TEXT = ("Description", "NextStep", "Name", "Card_Note__c", "ns__Memo__c")


def change(field: str, text: str, **fields: object) -> SalesforceChange:
    values: dict[str, object] = {"StageName": "Closed Won", "Amount": 110.0, field: text}
    return SalesforceChange(
        topic="/data/OpportunityChangeEvent",
        entity="Opportunity",
        change_type="UPDATE",
        record_ids=[make_id("006", 7)],
        changed_fields=["StageName", field],
        values=values,
        commit_timestamp=1720109700001,  # not Luhn-valid: any hit below is planted data
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("field", FREE_TEXT)
def test_a_card_typed_into_any_field_is_not_published(field: str) -> None:
    note = f"customer read card {PAN} cvv 739"
    [out] = SalesforceCdcSource.records([change(field, note)])
    assert find_card_numbers(out.value) == [] and find_card_codes(out.value) == []
    assert find_card_numbers(out.key) == []
    assert b"customer read card xxxxxxxxxxxx0307 cvv xxx" in out.value
    assert b'"StageName":"Closed Won"' in out.value  # what triggers charges is untouched


def test_card_data_in_field_names_ids_and_origin_is_not_published() -> None:
    hostile = change(
        "Card_4111111111111111__c",
        "x",
        change_origin="com/salesforce/api/rest/62.0;client=4111-1111-1111-1111",
        transaction_key="5454545454545454",
    )
    hostile = hostile.model_copy(update={"record_ids": ["4111111111111111"]})
    [out] = SalesforceCdcSource.records([hostile])
    assert find_card_numbers(out.value) == [] and find_card_numbers(out.key) == []


def test_a_card_code_field_is_dropped() -> None:
    [out] = SalesforceCdcSource.records([change("CVV__c", "739")])
    assert b"739" not in out.value and b"CVV__c" in out.value  # still named as changed
