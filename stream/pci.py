"""Keeping card data out of everything we write.

Whatever crosses a topic, a key, a header, a log, a dead letter or an outbound API passes
through ``redact`` (JSON-like structures) or ``redact_text`` (strings):
- a run of 13-19 digits, with or without single spaces/dashes between them, that passes the
  Luhn check keeps only its last four digits, also when other numbers are joined to it;
- 3-4 digits just after a card-code word ("cvv 739", "CSC=1234") are masked, the word kept;
- values under card-secret keys (CVV/CSC, track data) are dropped, card-number keys masked.
``find_card_numbers`` is the matching scanner, for tests that search what was written.

Everything here takes hostile input: no recursion, and time linear in the input's size.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeVar, overload

from connectors.salesforce.ids import is_valid_id
from schemas.collection import SalesforceChange

MASK = "x"
# Digits joined by single spaces/dashes; a card number may be any span of its groups.
# ASCII digits only, as bytes read and as every scanner of bytes sees them: a digit of another
# script ("\u0664") counts in neither, so no reading of the same text finds other runs.
_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}")
_SEPARATOR = re.compile(r"[ -]")
_DIGIT = re.compile(r"\d")
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))
_CODE_WORD = (
    r"cvv2|cvc2|cvv|cvc|csc|cvn|security[ _-]?code|card[ _-]?code"
    r"|card[ _-]?verification(?:[ _-]?(?:value|code|number))?"
)
# "cvv 739", "CVV2: 1234", '"csc": "123"', "cvc 12 3", "security code is 123", "cvv%3D739".
_CARD_CODE = re.compile(
    rf"(?i)(?<![a-z])(?:{_CODE_WORD})(?:[ _-]?(?:number|num|no|value))?(?![a-z])"
    r"(?:[^a-z0-9\n]|%[0-9a-f]{2}){0,6}(?:(?:is|was|of)[^a-z0-9\n]{1,3})?"
    r"(\d(?: ?\d){2,3})(?!\d)"
)
_JSON_ESCAPE = re.compile(r"\\+u00(3[0-9]|2[0dD])")
_ESCAPED = {f"3{d}": str(d) for d in range(10)} | {"20": " ", "2d": "-", "2D": "-"}

_SECRET_NAMES = frozenset(
    {
        "csc", "cvv", "cvv2", "cvc", "cvc2", "cvn", "cardcode", "securitycode",
        "cardverificationvalue", "cardverificationcode", "cardverificationnumber",
        "trackdata", "track1", "track2", "pin", "pinblock",
    }
)  # fmt: skip
_NUMBER_KEYS = frozenset({"number", "card_number", "cc", "cc_number", "pan", "account_number"})
_PLAIN_KEY, _SECRET_KEY, _NUMBER_KEY = 0, 1, 2
# 13-digit ints below this are epoch milliseconds (2001-2096), e.g. Salesforce DateTime
# values; no card scheme issues 13-digit numbers that do not start with 4.
_EPOCH_MS_LIMIT = 4 * 10**12

M = TypeVar("M")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _reduce(out: list[str]) -> bool:
    """Undoes the escapes (``\\u0034``, any number of backslashes) ending ``out``."""
    reduced = False
    while len(out) >= 6 and out[-6] == "\\" and out[-5] == "u" and out[-4] == out[-3] == "0":
        char = _ESCAPED.get(out[-2] + out[-1])
        if char is None:
            break
        del out[-5:]
        while out and out[-1] == "\\":
            out.pop()
        out.append(char)
        reduced = True
    return reduced


def _push(out: list[str], text: str, start: int, end: int) -> None:
    # An escape undone may make one with the next few characters ("\\u00\\u00334"): those
    # go one by one; the rest holds no escape, and every character is pushed and popped once.
    pending = 4
    while start < end and pending:
        out.append(text[start])
        start += 1
        pending = 4 if _reduce(out) else pending - 1
    out.extend(text[start:end])


def json_unescaped(text: str) -> str:
    """``text`` with JSON's ``\\u0034``-style escapes of digits, spaces and dashes undone, those
    of JSON inside JSON (``\\\\u0034``) and those that undoing others forms too: in linear time."""
    if "\\u00" not in text:
        return text
    out: list[str] = []
    position = 0
    for match in _JSON_ESCAPE.finditer(text):
        _push(out, text, position, match.start())
        out.append(_ESCAPED[match.group(1)])
        _reduce(out)
        position = match.end()
    _push(out, text, position, len(text))
    return "".join(out)


def mask_pan(digits: str) -> str:
    return MASK * (len(digits) - 4) + digits[-4:]


def _pan_spans(groups: list[str]) -> list[tuple[int, int]]:
    """(start, end) digit offsets of each span of whole ``groups`` that reads as a PAN."""
    digits = "".join(groups).encode()
    plain, doubled = digits.translate(_PLAIN), digits.translate(_DOUBLED)
    # Which digits Luhn doubles depends only on where the span ends (every second one from
    # its end), so two prefix sums give any span's checksum in O(1): linear in the run.
    even, odd = bytearray(plain), bytearray(plain)
    even[0::2] = doubled[0::2]
    odd[1::2] = doubled[1::2]
    sums = (list(accumulate(even, initial=0)), list(accumulate(odd, initial=0)))
    starts = bytearray(len(digits) + 1)
    ends: list[int] = []
    offset = 0
    for group in groups:
        starts[offset] = 1
        offset += len(group)
        ends.append(offset)
    spans: list[tuple[int, int]] = []
    for end in ends:
        prefix = sums[end % 2]
        total = prefix[end]
        for first in range(end - 13, max(end - 20, -1), -1):
            if starts[first] and (total - prefix[first]) % 10 == 0:
                spans.append((first, end))
    return spans


def _mask_spans(run: str, keep: int) -> str:
    """``run`` with every PAN span masked but for its last ``keep`` digits."""
    spans = _pan_spans(_SEPARATOR.split(run))
    if not spans:
        return run
    hidden = bytearray(len(run))  # by digit offset, which is never more than len(run)
    for first, end in spans:
        hidden[first : end - keep] = b"\x01" * (end - keep - first)
    out: list[str] = []
    offset = 0
    for char in run:
        if char == " " or char == "-":
            out.append(char)
        else:
            out.append(MASK if hidden[offset] else char)
            offset += 1
    return "".join(out)


def _mask_whole(match: re.Match[str]) -> str:
    return _mask_spans(match.group(0), keep=0)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) > 19 and " " not in run and "-" not in run:
        return run  # one group of 20 or more digits: no card number, nor a part of one
    digits = _SEPARATOR.sub("", run)
    if len(digits) <= 19 and luhn_valid(digits):  # the usual case: the run is one card
        return mask_pan(digits)
    masked = _mask_spans(run, keep=4)
    if masked is run:
        return run
    # A kept last four plus the digits after it may read as another card number: any such
    # span is masked whole, which leaves no partial group behind to start a new one.
    return _RUN.sub(_mask_whole, masked)


def _mask_code(match: re.Match[str]) -> str:
    cut = match.start(1) - match.start()
    return match.group(0)[:cut] + _DIGIT.sub(MASK, match.group(1))


def redact_text(text: str) -> str:
    """``text`` with card numbers and card codes masked; the same object if it had none.

    Digits, spaces and dashes written as JSON escapes count as what they stand for (as
    ``find_card_numbers`` reads them): when that shows card data, the text comes back with
    those escapes undone and the card data masked."""
    if "\\u00" in text:
        plain = json_unescaped(text)
        if plain != text:
            cleaned = _redact_plain(plain)
            return text if cleaned == plain else cleaned
    return _redact_plain(text)


def _redact_plain(text: str) -> str:
    # Cheap checks first: most strings are short ids or names with no card word.
    if len(text) >= 13:
        text = _RUN.sub(_mask_run, text)
    if len(text) >= 6:
        lowered = text.lower()
        if "cv" in lowered or "cs" in lowered or "code" in lowered or "verif" in lowered:
            return _CARD_CODE.sub(_mask_code, text)
    return text


def redact_bytes(data: bytes | bytearray) -> bytes:
    text = bytes(data).decode("utf-8", "surrogateescape")
    cleaned = redact_text(text)
    return bytes(data) if cleaned is text else cleaned.encode("utf-8", "surrogateescape")


@overload
def redact_key(key: str) -> str: ...
@overload
def redact_key(key: bytes | bytearray) -> bytes: ...
@overload
def redact_key(key: None) -> None: ...
def redact_key(key: str | bytes | bytearray | None) -> str | bytes | None:
    """A Kafka key (bytes, str or None) with card data masked; unchanged if it had none."""
    if isinstance(key, str):
        return redact_text(key)
    if isinstance(key, bytes | bytearray):
        return redact_bytes(key)
    return key


def redact_headers(headers: M) -> M:
    """Kafka headers, as a list of (name, value) pairs or a dict: card data masked in names
    and values, and headers named for a card secret (``cvv``...) dropped."""
    if headers is None:
        return headers
    if isinstance(headers, Mapping):
        return {  # type: ignore[return-value]
            redact_text(name): redact_key(value)
            for name, value in headers.items()
            if _key_kind(str(name)) != _SECRET_KEY
        }
    return [  # type: ignore[return-value]
        (redact_text(name), redact_key(value))
        for name, value in headers  # type: ignore[attr-defined]
        if _key_kind(str(name)) != _SECRET_KEY
    ]


@lru_cache(maxsize=4096)  # keys repeat from record to record
def _key_kind(key: str) -> int:
    name = key.lower()
    if name in _NUMBER_KEYS:
        return _NUMBER_KEY
    # "CVV__c", "ns__Card_Code__c", "cvv-2": Salesforce custom fields and other spellings.
    name = name.removesuffix("__c").rsplit("__", 1)[-1]
    if re.sub(r"[^a-z0-9]", "", name) in _SECRET_NAMES:
        return _SECRET_KEY
    return _PLAIN_KEY


def _redact_int(value: int) -> int | str:
    if -(10**12) < value < 10**12 or 10**12 <= value < _EPOCH_MS_LIMIT:
        return value
    text = str(value)
    masked = redact_text(text)
    return value if masked == text else masked


def _redact_leaf(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _redact_int(value)
    if isinstance(value, float):
        # An integral float prints with all its digits ("4111111111111111.0") below 1e16.
        if value.is_integer() and 10**12 <= abs(value) < 10**16:
            masked = _redact_int(int(value))
            return value if isinstance(masked, int) else masked
        return value
    if isinstance(value, bytes | bytearray):
        return redact_bytes(value)
    return value


def _number_field(value: str | int) -> str:
    digits = re.sub(r"\D", "", str(value))
    return mask_pan(digits) if len(digits) >= 4 else MASK * len(digits)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with card numbers masked and card secrets removed.

    Keys are redacted like values. Tuples come back as lists. Walked with an explicit stack
    (JSON nested thousands deep is fine); a container met twice is copied once.
    """
    if not isinstance(value, dict | list | tuple):
        return _redact_leaf(value)
    root: list[Any] = [None]
    copies: dict[int, Any] = {}
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, slot = stack.pop()
        if id(item) in copies:
            parent[slot] = copies[id(item)]
            continue
        if isinstance(item, dict):
            cleaned: dict[Any, Any] = {}
            copies[id(item)] = parent[slot] = cleaned
            for key, child in item.items():
                kind = _key_kind(key if isinstance(key, str) else str(key))
                if kind == _SECRET_KEY:
                    continue
                name = _redact_leaf(key)
                if kind == _NUMBER_KEY and isinstance(child, str | int):
                    cleaned[name] = _number_field(child)
                elif isinstance(child, dict | list | tuple):
                    cleaned[name] = None  # keeps the key order; filled when popped
                    stack.append((child, cleaned, name))
                else:
                    cleaned[name] = _redact_leaf(child)
        else:
            items: list[Any] = [None] * len(item)
            copies[id(item)] = parent[slot] = items
            for index, child in enumerate(item):
                if isinstance(child, dict | list | tuple):
                    stack.append((child, items, index))
                else:
                    items[index] = _redact_leaf(child)
    return root[0]


def redact_change(change: SalesforceChange) -> SalesforceChange:
    """A Salesforce change with every value, field name and id redacted.

    Kept: the replay id (Salesforce's position, which masking would lose) and record ids in
    Salesforce's 18-character checksummed form, which Salesforce makes and nobody types.
    """
    data = change.model_dump(mode="python")
    cleaned = redact({k: v for k, v in data.items() if k not in ("replay_id", "record_ids")})
    cleaned["replay_id"] = data["replay_id"]
    cleaned["record_ids"] = [
        record_id if len(record_id) == 18 and is_valid_id(record_id) else redact_text(record_id)
        for record_id in change.record_ids
    ]
    return SalesforceChange.model_validate(cleaned)


def find_card_numbers(data: str | bytes) -> list[str]:
    """Every card number written in ``data``, as its digits: what ``redact_text`` masks.

    For tests scanning what was written (topics, logs, files): bytes are read as Latin-1,
    and JSON's ``\\u0034``-style escapes of digits, spaces and dashes are undone first.
    """
    text = json_unescaped(data.decode("latin-1") if isinstance(data, bytes | bytearray) else data)
    found: list[str] = []
    for match in _RUN.finditer(text):
        groups = _SEPARATOR.split(match.group(0))
        digits = "".join(groups)
        found.extend(digits[first:end] for first, end in _pan_spans(groups))
    return found


def find_card_codes(data: str | bytes) -> list[str]:
    """Every card code written next to a card-code word in ``data`` (digits only)."""
    text = data.decode("latin-1") if isinstance(data, bytes | bytearray) else data
    return [_SEPARATOR.sub("", m.group(1)) for m in _CARD_CODE.finditer(text)]


def fingerprint(data: bytes) -> str:
    """SHA-256 of ``data`` as colon-separated hex bytes (``3f:a0:...``, as openssl prints
    fingerprints), for hashes written where a card scan looks (keys, dead letters): a plain
    hex digest may hold 13+ Luhn-valid digits in a row; two between colons never read as one."""
    return hashlib.sha256(data).digest().hex(":")
