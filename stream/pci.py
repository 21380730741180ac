"""Keeping card data out of everything we write.

Whatever crosses a topic, a log or a dead letter passes through ``redact``: any run of
13-19 digits that passes the Luhn check is masked to its last four, and values under
card-secret keys (CVV/CSC, full numbers) are dropped.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEYS = frozenset(
    {"csc", "cvv", "cvv2", "cvc", "card_code", "security_code", "track_data", "pin"}
)
_NUMBER_KEYS = frozenset({"number", "card_number", "cc", "cc_number", "pan", "account_number"})
# A whole run of digits joined by single spaces/dashes; the PAN may be any part of it.
_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,}")
_GROUP = re.compile(r"\d+")
MASK = "x"


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


def mask_pan(digits: str) -> str:
    return MASK * (len(digits) - 4) + digits[-4:]


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return mask_pan(digits)
    # "qty 3 4111 1111 1111 1111": the run is not a PAN, but a span of its groups may be.
    # Every Luhn-valid span of whole groups loses all but its last four digits.
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(text)]
    hidden: set[int] = set()
    for first, (start, _) in enumerate(groups):
        for _, end in groups[first:]:
            span = [i for i in range(start, end) if text[i].isdigit()]
            if len(span) > 19:
                break
            if len(span) >= 13 and luhn_valid("".join(text[i] for i in span)):
                hidden.update(span[:-4])
    return "".join(MASK if i in hidden else char for i, char in enumerate(text))


def redact_text(text: str) -> str:
    return _CANDIDATE.sub(_mask_match, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with card numbers masked and card secrets removed."""
    if isinstance(value, dict):
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key).lower()
            if name in _SECRET_KEYS:
                continue
            if name in _NUMBER_KEYS and isinstance(item, str | int):
                digits = re.sub(r"\D", "", str(item))
                cleaned[key] = mask_pan(digits) if len(digits) >= 4 else MASK * len(digits)
                continue
            cleaned[key] = redact(item)
        return cleaned
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 13:
        text = str(value)
        masked = redact_text(text)
        return value if masked == text else masked
    return value
