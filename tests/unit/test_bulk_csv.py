"""Bulk API 2.0 CSV: what the upload holds and how result files read back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.bulk_csv import (
    NULL,
    SF_ERROR,
    SF_ID,
    build_csv,
    cell,
    parse_csv,
    split_csv,
)

TEXT = st.text(st.characters(codec="utf-8", blacklist_characters="\r"), max_size=20)


def test_null_is_na_missing_is_empty_and_booleans_are_lower_case() -> None:
    data = build_csv([{"A": None, "B": True, "C": 1.5}, {"A": "x"}])
    assert data.decode() == f"A,B,C\n{NULL},true,1.5\nx,,\n"
    assert cell(False) == "false"


@given(
    st.lists(
        st.fixed_dictionaries({"PaymentID__c": TEXT, "Status__c": TEXT, "Memo__c": TEXT}),
        max_size=20,
    )
)
def test_any_text_survives_the_round_trip(records: list[dict[str, str]]) -> None:
    # Commas, quotes and newlines inside values are quoted; "#N/A" alone would mean null.
    rows = parse_csv(build_csv(records, ["PaymentID__c", "Status__c", "Memo__c"]))
    assert rows == records


def test_a_failed_results_file_reads_as_rows_with_their_error() -> None:
    text = (
        '"sf__Id","sf__Error","PaymentID__c","Amount__c"\n'
        '"","INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:Opportunity__c --","9","1"\n'
    )
    (row,) = parse_csv(text.encode())
    assert row[SF_ID] == "" and row["PaymentID__c"] == "9"
    assert row[SF_ERROR].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert parse_csv(b"") == []


@given(
    st.lists(st.text(alphabet='abc,"\n', max_size=30), min_size=1, max_size=40),
    st.integers(20, 200),
)
def test_split_keeps_every_record_once_in_order_under_the_limit(
    values: list[str], limit: int
) -> None:
    records = [{"K": str(i), "V": v} for i, v in enumerate(values)]
    seen: list[int] = []
    rows: list[dict[str, str]] = []
    for data, indexes in split_csv(records, limit):
        # Over the limit only when one record alone is (it still goes, on its own).
        assert len(data) <= limit or len(indexes) == 1
        seen += indexes
        rows += parse_csv(data)
    assert seen == list(range(len(records)))
    assert rows == [{"K": r["K"], "V": r["V"]} for r in records]
