"""Card data never survives ``redact``; everything that is not card data does, unchanged."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.pci import (
    find_card_codes,
    luhn_valid,
    mask_pan,
    redact,
    redact_text,
)

DOCUMENTED_TEST_CARDS = (
    "4111111111111111",  # Visa, PayTrace's documented sandbox card
    "5454545454545454",  # MasterCard
    "371449635398431",  # Amex (15)
    "6011000990139424",  # Discover
    "4222222222222",  # Visa (13)
)
SECRET_KEYS = ("csc", "cvv", "cvv2", "cvc", "card_code", "security_code", "track_data", "pin")


def _check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return digit
    raise AssertionError("some check digit always fits")


@st.composite
def pans(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return body + _check_digit(body)


@st.composite
def written(draw: st.DrawFn, pan: str) -> str:
    """The PAN as people type it: digits with single spaces or dashes anywhere between."""
    gaps = draw(st.lists(st.sampled_from(["", "", "", " ", "-"]), min_size=len(pan) - 1))
    return pan[0] + "".join(gap + digit for gap, digit in zip(gaps, pan[1:], strict=False))


def _digits_only(text: str) -> str:
    return re.sub(r"[ -]", "", text)


# Text around a PAN: anything, as long as it does not glue more digits straight onto it
# (a PAN inside a longer unbroken digit string is not a PAN any more).
surrounding = st.text(max_size=30)
before = surrounding.filter(lambda s: not re.search(r"\d$", s))
after = surrounding.filter(lambda s: not re.match(r"\d", s))
# Other numbers joined to the PAN by one space or dash: "qty 3 4111 1111 1111 1111".
digit_neighbour = st.from_regex(r"\A[0-9]{1,6}\Z").flatmap(
    lambda n: st.sampled_from([n + " ", n + "-"])
)


@st.composite
def texts_with_pan(draw: st.DrawFn) -> tuple[str, str]:
    pan = draw(pans())
    head = draw(before)
    if draw(st.booleans()):
        head += draw(digit_neighbour)
    tail = draw(after)
    if draw(st.booleans()):
        tail = draw(st.sampled_from([" ", "-"])) + draw(st.from_regex(r"\A[0-9]{1,6}\Z")) + tail
    return pan, head + draw(written(pan)) + tail


def test_documented_test_cards_pass_luhn_and_near_misses_do_not() -> None:
    for card in DOCUMENTED_TEST_CARDS:
        assert luhn_valid(card)
        last = int(card[-1])
        assert not luhn_valid(card[:-1] + str((last + 1) % 10))


def test_mask_pan_keeps_only_the_last_four() -> None:
    assert mask_pan("4111111111111111") == "xxxxxxxxxxxx1111"
    assert mask_pan("371449635398431") == "xxxxxxxxxxx8431"


@given(texts_with_pan())
def test_a_pan_anywhere_in_text_is_masked(case: tuple[str, str]) -> None:
    pan, text = case
    redacted = redact_text(text)
    assert pan not in _digits_only(redacted)
    # What is left of it: masking characters and at most its last four digits.
    assert redacted.count("x") - text.count("x") >= len(pan) - 4


@given(pans(), before, after)
def test_a_delimited_pan_becomes_its_masked_form(pan: str, head: str, tail: str) -> None:
    assert redact_text(f"{head}{pan}{tail}") == f"{head}{mask_pan(pan)}{tail}"


@given(pans())
def test_grouped_pans_are_masked_whole(pan: str) -> None:
    grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    dashed = grouped.replace(" ", "-")
    assert redact_text(f"card {grouped}.") == f"card {mask_pan(pan)}."
    assert redact_text(f"card {dashed}.") == f"card {mask_pan(pan)}."


def test_a_pan_next_to_another_number_is_still_masked() -> None:
    assert redact_text("qty 3 4111111111111111") == "qty 3 xxxxxxxxxxxx1111"
    # The 16 digits before it happen to pass Luhn too: neither card may be read back.
    redacted = redact_text("1111 1111 1111 4111 1111 1111 1111")
    assert "4111111111111111" not in _digits_only(redacted)
    assert _digits_only(redacted).endswith("1111")


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**11), max_value=10**11),
    st.floats(min_value=-(10**11), max_value=10**11),  # larger integral floats: see below
    st.text(alphabet="abcdefghij ;=.-/", max_size=20),
)
plain_keys = st.text(alphabet="abcdefghijklm_", min_size=1, max_size=12).filter(
    lambda k: k not in SECRET_KEYS and k not in {"pin", "cc", "pan", "number"}
)


def json_like(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(plain_keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


def _plant(tree: Any, leaf: Any, path: list[int]) -> Any:
    """``tree`` with ``leaf`` put somewhere inside it (``path`` picks where)."""
    if not path:
        return [tree, leaf]
    if isinstance(tree, list) and tree:
        index = path[0] % len(tree)
        return [*tree[:index], _plant(tree[index], leaf, path[1:]), *tree[index + 1 :]]
    if isinstance(tree, dict) and tree:
        key = sorted(tree)[path[0] % len(tree)]
        return {**tree, key: _plant(tree[key], leaf, path[1:])}
    return {"note": leaf, "other": tree}


@settings(max_examples=60)  # nested documents are slow to draw; the text test goes wider
@given(
    json_like(json_leaves),
    texts_with_pan(),
    st.lists(st.integers(min_value=0, max_value=5), max_size=4),
    st.booleans(),
)
def test_a_pan_anywhere_in_a_document_is_masked(
    tree: Any, case: tuple[str, str], path: list[int], as_int: bool
) -> None:
    pan, text = case
    # 13-digit ints below 4 * 10^12 are epoch milliseconds, which stay numbers.
    is_time = len(pan) == 13 and pan < "4"
    leaf: Any = int(pan) if as_int and pan[0] != "0" and not is_time else text
    document = _plant(tree, leaf, path)
    original = copy.deepcopy(document)
    redacted = redact(document)
    assert pan not in _digits_only(json.dumps(redacted))
    assert document == original  # a copy: the input is left as it was


@settings(max_examples=60)
@given(json_like(json_leaves))
def test_documents_without_card_data_come_back_unchanged(tree: Any) -> None:
    assert redact(tree) == tree
    assert json.dumps(redact(tree)) == json.dumps(tree)  # ints stay ints, floats floats


@given(st.sampled_from(SECRET_KEYS), st.data())
def test_card_secret_keys_are_dropped_whatever_their_case(key: str, data: st.DataObject) -> None:
    spelled = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in key)
    value = data.draw(st.one_of(st.from_regex(r"\A[0-9]{3,4}\Z"), st.integers(0, 9999)))
    document = {"amount": "1.00", spelled: value, "nested": [{spelled: value, "keep": 1}]}
    assert redact(document) == {"amount": "1.00", "nested": [{"keep": 1}]}


def test_card_number_fields_are_masked_even_when_not_luhn_valid() -> None:
    record = {"credit_card": {"number": "1234-5678-9012-3456", "expiration_month": 12}}
    assert redact(record) == {"credit_card": {"number": "xxxxxxxxxxxx3456", "expiration_month": 12}}
    assert redact({"cc": 4111111111111111}) == {"cc": "xxxxxxxxxxxx1111"}


@given(st.integers(min_value=1, max_value=10**8 - 1))
def test_transaction_ids_are_left_alone(transaction_id: int) -> None:
    text = f"refund of transaction {transaction_id}"
    assert redact_text(text) == text
    assert redact({"transaction_id": transaction_id}) == {"transaction_id": transaction_id}


@given(st.decimals(min_value=0, max_value=10**11, places=2))
def test_amounts_are_left_alone(amount: Any) -> None:
    text = f"amount {amount:.2f} USD"
    assert redact_text(text) == text
    assert redact({"amount": float(amount)}) == {"amount": float(amount)}


@given(st.integers(min_value=10**11, max_value=10**12 - 1))
def test_twelve_digit_numbers_are_left_alone(number: int) -> None:
    assert redact(number) == number and isinstance(redact(number), int)
    grouped = f"{str(number)[:4]} {str(number)[4:8]} {str(number)[8:]}"
    assert redact_text(f"ref {number} / {grouped}") == f"ref {number} / {grouped}"


@given(st.from_regex(r"\A[1-9][0-9]{15}\Z").filter(lambda n: not luhn_valid(n)))
def test_luhn_invalid_sixteen_digit_numbers_are_left_alone(number: str) -> None:
    grouped = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    text = f"order {number}, batch {grouped}"
    assert redact_text(text) == text
    assert redact(int(number)) == int(number)
    assert redact({"order": int(number)}) == {"order": int(number)}


@given(pans().filter(lambda pan: pan[0] != "0" and (len(pan) > 13 or pan[0] >= "4")).map(int))
def test_luhn_valid_ints_become_masked_strings(number: int) -> None:
    assert redact(number) == mask_pan(str(number))
    assert redact({"amount": 1, "ref": number}) == {"amount": 1, "ref": mask_pan(str(number))}


@given(
    st.text(max_size=60).filter(
        lambda s: not re.search(r"\d(?:[ -]?\d){12,}", s) and not find_card_codes(s)
    )
)
def test_text_without_long_digit_runs_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


def test_booleans_and_tuples() -> None:
    assert redact(True) is True
    assert redact(("4111111111111111", 7)) == ["xxxxxxxxxxxx1111", 7]
