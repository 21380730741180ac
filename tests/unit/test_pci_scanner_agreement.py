"""Redaction and the scanner agree: whatever ``find_card_numbers`` flags, ``redact_text`` masks,
in any text and in the dead letter built from any record (as it is written to the topic)."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.pci import find_card_numbers, fingerprint, json_unescaped, redact_text
from stream.runtime.dead_letters import build
from stream.runtime.records import Incoming
from tests.unit.test_pci import pans, written

# What makes digits hard to see: JSON escapes of digits, spaces and dashes (also halves of
# them, and JSON inside JSON), digits of other scripts (which must break a run in the text as
# they do in its bytes), separators, and plain digit runs.
PIECES = st.sampled_from(
    [
        *"0123456789",
        " ", "-", "x", "a", ".", '"', "\\", "u", "00", "\\u00", "\\u003", "\\\\u00",
        "\\u0034", "\\u0031", "\\u0020", "\\u002d", "\\u002D", "\\u0000",
        "\u0664", "\u0661", "\uff14", "\uff11", "\u09ea",  # Arabic-Indic, fullwidth, Bengali
        "4111", "1111", "4111111111111111", "5454545454545454", "371449635398431",
    ]
)  # fmt: skip
TRICKY = st.lists(PIECES, max_size=40).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=120), TRICKY)


@st.composite
def hidden_pans(draw: st.DrawFn) -> str:
    """A card number with some digits JSON-escaped (once, or as JSON inside JSON) or in another
    script: runs are ASCII digits for every reading (text or bytes), so such a digit breaks one."""
    typed = draw(written(draw(pans())))
    out = []
    for char in typed:
        how = draw(st.sampled_from(["plain", "plain", "escaped", "double", "arabic"]))
        if how == "escaped":
            out.append(f"\\u{ord(char):04x}")
        elif how == "double":
            out.append(f"\\\\u{ord(char):04X}")
        elif how == "arabic" and char.isdigit():
            out.append(chr(0x0660 + int(char)))
        else:
            out.append(char)
    return "".join(out)


@settings(max_examples=400)
@given(ANY_TEXT)
def test_nothing_the_scanner_flags_survives_redaction(text: str) -> None:
    redacted = redact_text(text)
    assert find_card_numbers(redacted) == []
    assert redact_text(redacted) == redacted


@settings(max_examples=200)
@given(st.text(max_size=20), hidden_pans(), st.text(max_size=20))
def test_escaped_and_foreign_digit_card_numbers_are_masked(head: str, pan: str, tail: str) -> None:
    text = f"{head} {pan} {tail}"
    assert find_card_numbers(redact_text(text)) == []


def _letter_json(key: bytes | None, value: bytes, limit: int) -> str:
    record = Incoming(key=key, value=value, headers=(), topic="t", partition=0, offset=7)
    letter = build(record, agent="a", reason="malformed", error=value.decode("utf-8", "replace"),
                   payload_limit=limit)  # fmt: skip
    return letter.model_dump_json()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), ANY_TEXT.map(str.encode)),
    st.one_of(st.none(), st.binary(max_size=40), ANY_TEXT.map(str.encode)),
    st.sampled_from([8, 40, 65536]),
)
def test_a_dead_letter_as_written_holds_no_card_number(
    value: bytes, key: bytes | None, limit: int
) -> None:
    written_letter = _letter_json(key, value, limit)
    assert find_card_numbers(written_letter) == []
    assert find_card_numbers(written_letter.encode()) == []


def test_the_payload_fingerprint_never_reads_as_a_card_number() -> None:
    # This value's hex digest holds "44777269118890", 14 Luhn-valid digits in a row.
    assert fingerprint(b"x").count(":") == 31
    for n in range(3000):
        print_ = fingerprint(str(n).encode())
        assert find_card_numbers(print_) == [] and len(print_.replace(":", "")) == 64


def test_a_cut_keeps_no_head_of_a_long_run() -> None:
    # 25 digits in one group are no card number; their first 16 are one.
    run = "4111111111111111" + "123456789"
    letter = _letter_json(None, run.encode(), 16)
    assert find_card_numbers(letter) == []
    record = Incoming(key=None, value=b"{}", headers=(), topic="t")
    error = "x" * 1984 + run
    built = build(record, agent="a", reason=run, error=error, payload_limit=10)
    assert find_card_numbers(built.model_dump_json()) == []


def test_undoing_escapes_is_linear_and_reaches_a_fixed_point() -> None:
    assert json_unescaped("\\u00\\u00334") == "4"  # undoing one escape makes another
    assert json_unescaped("\\\\\\u0034\\u002D1") == "4-1"
    assert json_unescaped("\\u00zz") == "\\u00zz"
    nested = "\\u00" * 100_000 + "3" * 100_000 + "4"
    started = time.perf_counter()
    assert json_unescaped(nested) == "4"
    assert find_card_numbers(redact_text("\\u0000 4111 " * 50_000)) == []
    assert time.perf_counter() - started < 10
