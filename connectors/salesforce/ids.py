"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

The 18-character form appends a checksum of the letter case so ids survive case-insensitive
systems; the emulator mints ids in that form and both sides validate lookups with it.
"""

from __future__ import annotations

import re

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Organization": "00D",
    "Task": "00T",
    "Case": "500",
    "Order": "801",
    "Payment__c": "a0P",
    "Settlement__c": "a0S",
    "Subscription__c": "a0U",
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?\Z")  # \Z: "$" allows a final newline
_POD = "5g"  # the two characters after the key prefix; real orgs vary them by instance


def checksum(id15: str) -> str:
    """Three characters encoding which of the 15 characters are upper-case letters."""
    if len(id15) != 15:
        raise ValueError(f"expected 15 characters, got {len(id15)}")
    out = []
    for start in (0, 5, 10):
        flags = 0
        for bit, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        out.append(_CHECKSUM_CHARS[flags])
    return "".join(out)


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (case-insensitive safe)."""
    if len(record_id) == 18:
        return record_id[:15] + checksum(record_id[:15])
    return record_id + checksum(record_id)


def is_valid_id(value: object) -> bool:
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError("id space exhausted")
    return text.rjust(width, "0")


def make_id(prefix: str, number: int) -> str:
    """A realistic 18-character id: key prefix, pod, base-62 serial, case checksum."""
    if len(prefix) != 3:
        raise ValueError("key prefix must have 3 characters")
    return to_18(prefix + _POD + _base62(number, 10))


def key_prefix(record_id: str) -> str:
    return record_id[:3]
