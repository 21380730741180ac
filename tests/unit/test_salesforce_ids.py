from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.ids import KEY_PREFIXES, checksum, is_valid_id, make_id, to_18

# 18-character ids printed in the public REST API documentation.
DOCUMENTED_IDS = [
    "001D000000IRFmaIAH",
    "0016g00000Wqu1EAAR",
    "0036g00000WKnfLAAT",
    "001R00000033I6AIAU",
    "003RO0000035WQgYAM",
    "00190000001pPvHAAU",
]


def test_checksum_matches_documented_ids() -> None:
    for record_id in DOCUMENTED_IDS:
        assert to_18(record_id[:15]) == record_id
        assert is_valid_id(record_id)
        assert is_valid_id(record_id[:15])


def test_tampered_checksum_is_rejected() -> None:
    assert not is_valid_id("001D000000IRFmaAAA")
    assert not is_valid_id("not-an-id")
    assert not is_valid_id(None)


def test_an_id_with_a_trailing_newline_is_not_an_id() -> None:
    for record_id in DOCUMENTED_IDS:
        assert not is_valid_id(record_id + "\n")
        assert not is_valid_id(record_id[:15] + "\n")


@given(st.sampled_from(sorted(KEY_PREFIXES.values())), st.integers(min_value=0, max_value=62**9))
def test_minted_ids_are_valid_and_distinct_case_insensitively(prefix: str, number: int) -> None:
    record_id = make_id(prefix, number)
    assert len(record_id) == 18 and record_id.startswith(prefix)
    assert is_valid_id(record_id)
    other = make_id(prefix, number + 1)
    assert other.lower() != record_id.lower() or other == record_id


@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=15,
        max_size=15,
    )
)
def test_checksum_encodes_case(id15: str) -> None:
    flipped = id15.swapcase()
    if any(c.isalpha() for c in id15):
        assert checksum(id15) != checksum(flipped)
