"""Hostile input: card numbers and codes typed anywhere, deep documents, megabyte strings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.ids import make_id
from schemas.collection import SalesforceChange
from stream.pci import (
    find_card_codes,
    find_card_numbers,
    luhn_valid,
    redact,
    redact_change,
    redact_headers,
    redact_key,
    redact_text,
)
from tests.unit.test_pci import pans, texts_with_pan, written

NOTE = "customer read card 4000 7700 0000 0307 cvv 739"


def test_the_issue_example() -> None:
    assert redact_text(NOTE) == "customer read card xxxxxxxxxxxx0307 cvv xxx"
    assert find_card_numbers(NOTE) == ["4000770000000307"]
    assert find_card_codes(NOTE) == ["739"]


def test_card_codes_next_to_a_card_word_are_masked_and_the_word_kept() -> None:
    cases = {
        "cvv 739": "cvv xxx",
        "CVV: 1234": "CVV: xxxx",
        "security code 123": "security code xxx",
        "Security-Code is 123.": "Security-Code is xxx.",
        "csc=123&x=1": "csc=xxx&x=1",
        "cvc 12 3": "cvc xx x",
        "cvv2: 555": "cvv2: xxx",
        "card code #4321": "card code #xxxx",
        '{"cvv": "739"}': '{"cvv": "xxx"}',
        "{'csc': 739}": "{'csc': xxx}",
        "cvv%3D739": "cvv%3Dxxx",
        "card_cvv=739": "card_cvv=xxx",
    }
    for text, expected in cases.items():
        assert redact_text(text) == expected, text
        assert not find_card_codes(redact_text(text))


def test_numbers_near_other_words_or_too_long_are_not_card_codes() -> None:
    for text in ("invoice 739", "cvv 12345", "code 200", "csc_response: Match", "scvv 123"):
        assert redact_text(text) == text


@given(texts_with_pan())
def test_no_card_number_survives_and_redaction_is_idempotent(case: tuple[str, str]) -> None:
    pan, text = case
    assert pan in find_card_numbers(text)
    redacted = redact_text(text)
    assert find_card_numbers(redacted) == []
    assert redact_text(redacted) == redacted


# Runs of digit groups built to make kept last-fours join other digits into new numbers.
digit_groups = st.text(alphabet="0123456789", min_size=1, max_size=8)
group_runs = st.lists(digit_groups, min_size=2, max_size=12).flatmap(
    lambda groups: st.tuples(st.just(groups), st.lists(st.sampled_from(" -"), min_size=11))
)


@settings(max_examples=200)
@given(group_runs)
def test_no_span_of_any_digit_run_reads_as_a_card_after_redaction(
    case: tuple[list[str], list[str]],
) -> None:
    groups, gaps = case
    text = groups[0] + "".join(gap + group for gap, group in zip(gaps, groups[1:], strict=False))
    redacted = redact_text(text)
    assert find_card_numbers(redacted) == []
    assert redact_text(redacted) == redacted


@given(st.text(max_size=80))
def test_any_text_is_left_without_card_data(text: str) -> None:
    redacted = redact_text(text)
    assert find_card_numbers(redacted) == [] and find_card_codes(redacted) == []
    assert redact_text(redacted) == redacted


@given(pans(), st.data())
def test_the_scanner_reads_json_escaped_and_byte_encoded_numbers(
    pan: str, data: st.DataObject
) -> None:
    typed = data.draw(written(pan))
    escaped = "".join(f"\\u{ord(c):04x}" if data.draw(st.booleans()) else c for c in typed)
    assert pan in find_card_numbers(json.dumps({"note": f"card {escaped}!"}))
    assert pan in find_card_numbers(f"note: {typed}.".encode())
    assert pan in find_card_numbers(json.dumps({"note": f"card {typed}"}).encode())


def test_a_long_run_of_digit_groups_takes_linear_time() -> None:
    # Quadratic work on either would not finish: 10^10 steps and more.
    singles = " ".join(str(i % 10) for i in range(200_000))
    assert find_card_numbers(redact_text(singles)) == []
    fours = "-".join(f"{(i * 7919) % 10_000:04d}" for i in range(100_000))
    assert find_card_numbers(redact_text(fours)) == []
    unbroken = "7" * 1_000_000
    assert redact_text(unbroken) is unbroken


def test_deep_documents_do_not_recurse() -> None:
    depth = 50_000
    document: Any = "4111 1111 1111 1111"
    for level in range(depth):
        document = [document] if level % 2 else {"note": document}
    redacted = redact(document)
    for _ in range(depth):
        redacted = redacted[0] if isinstance(redacted, list) else redacted["note"]
    assert redacted == "xxxxxxxxxxxx1111"
    parsed = json.loads("[" * 500 + '"4111-1111-1111-1111"' + "]" * 500)
    assert "4111" not in json.dumps(redact(parsed)).replace("1111]", "")


def test_a_document_that_contains_itself_is_copied_without_looping() -> None:
    loop: dict[str, Any] = {"note": "4111111111111111"}
    loop["self"] = loop
    redacted = redact(loop)
    assert redacted["note"] == "xxxxxxxxxxxx1111" and redacted["self"] is redacted


def test_keys_are_redacted_and_card_code_fields_dropped_however_spelled() -> None:
    document = {
        "4111 1111 1111 1111": "key carries a card",
        "CVV__c": "739",
        "ns__Card_Code__c": 1234,
        "cvv-2": "555",
        "Description": "cvv 739",
        4111111111111111: 1,
        "csc_response": "Match",
    }
    assert redact(document) == {
        "xxxxxxxxxxxx1111": "key carries a card",
        "Description": "cvv xxx",
        "xxxxxxxxxxxx1111": 1,  # noqa: F601 (an int key masks to the same string)
        "csc_response": "Match",
    }


def test_epoch_milliseconds_stay_numbers_and_integral_floats_do_not_hide_cards() -> None:
    stamp = 1720109700000  # 13 digits, below 4 * 10^12: a time, never a card
    assert redact({"LastModifiedDate": stamp}) == {"LastModifiedDate": stamp}
    assert redact({"Amount": 4111111111111111.0}) == {"Amount": "xxxxxxxxxxxx1111"}
    assert redact({"Amount": 110.5}) == {"Amount": 110.5}
    assert redact(4222222222222) == "xxxxxxxxx2222"  # a 13-digit Visa number


def test_keys_and_headers() -> None:
    assert redact_key(b"4111111111111111") == b"xxxxxxxxxxxx1111"
    assert redact_key("ref 4111-1111-1111-1111") == "ref xxxxxxxxxxxx1111"
    assert redact_key(None) is None
    key = b"1000123"
    assert redact_key(key) is key
    assert redact_key(b"\xff4111111111111111") == b"\xffxxxxxxxxxxxx1111"  # not UTF-8
    headers = [("note", b"cvv 739"), ("cvv", b"739"), ("4111111111111111", None)]
    assert redact_headers(headers) == [("note", b"cvv xxx"), ("xxxxxxxxxxxx1111", None)]
    assert redact_headers({"Note": "card 4111111111111111", "CSC": "1"}) == {
        "Note": "card xxxxxxxxxxxx1111"
    }
    assert redact_headers(None) is None


def test_a_salesforce_change_keeps_its_ids_and_position() -> None:
    opportunity = make_id("006", 1)
    change = SalesforceChange(
        topic="/data/OpportunityChangeEvent",
        entity="Opportunity",
        change_type="UPDATE",
        record_ids=[opportunity, "4111111111111111"],
        changed_fields=["Description", "NextStep", "CVV__c"],
        values={
            "Description": NOTE,
            "NextStep": "call back, card 5454-5454-5454-5454",
            "Card_Note__c": "4000 7700 0000 0307",
            "CVV__c": "739",
            "LastModifiedDate": 1720109700000,
        },
        commit_timestamp=1720109700000,
        change_origin="com/salesforce/api/rest/62.0;client=4111111111111111",
        replay_id="0000000000000018",  # Luhn-valid digits, but a position: kept
        event_id="e-1",
    )
    redacted = redact_change(change)
    assert redacted.record_ids == [opportunity, "xxxxxxxxxxxx1111"]
    assert redacted.replay_id == "0000000000000018"
    assert redacted.values == {
        "Description": "customer read card xxxxxxxxxxxx0307 cvv xxx",
        "NextStep": "call back, card xxxxxxxxxxxx5454",
        "Card_Note__c": "xxxxxxxxxxxx0307",
        "LastModifiedDate": 1720109700000,
    }
    assert redacted.commit_timestamp == change.commit_timestamp
    assert "4111111111111111" not in redacted.model_dump_json()
    dumped = redacted.model_dump_json().replace("0000000000000018", "")
    assert find_card_numbers(dumped) == [] and find_card_codes(dumped) == []


def test_datetimes_pass_through_a_change_unchanged() -> None:
    when = datetime(2024, 7, 4, tzinfo=UTC).timestamp() * 1000
    change = SalesforceChange(
        topic="t", entity="Order", change_type="CREATE", record_ids=[], values={"At": int(when)}
    )
    assert redact_change(change) == change


def test_luhn_helper_agrees_with_the_scanner() -> None:
    for digits in ("4111111111111111", "4000770000000307", "371449635398431"):
        assert luhn_valid(digits) and find_card_numbers(digits) == [digits]
    assert re.fullmatch(r"x+1111", redact_text("4111111111111111"))


def test_kept_last_fours_that_start_a_new_card_number_are_masked_too() -> None:
    # "4075 909 8 300 791657" passes Luhn once the first card's last four are all that is
    # left of it: that span goes whole.
    run = "877 24 38328 73904075 909 8 300 791657 99479531 2000614"
    assert find_card_numbers(run) == ["3832873904075", "243832873904075"]
    assert redact_text(run) == "877 xx xxxxx xxxxxxxx xxx x xxx xxxxxx 99479531 2000614"
