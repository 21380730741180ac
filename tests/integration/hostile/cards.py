"""A PCI auditor's scan: card numbers anywhere in bytes or text.

A card number here is a run of 13-19 digits, optionally split by single spaces or dashes,
that passes the Luhn check and starts with a card-brand digit (2-6). Within a longer run of
groups, every span of whole groups is tried (``qty 3 4111 1111 1111 1111``). Digits that are
part of a decimal number (``0.4111...``) or a longer bare digit run are not card numbers:
epoch-millisecond timestamps start with 1 and are skipped by the brand rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

_RUN = re.compile(rb"(?<![\d.])\d(?:[ -]?\d){12,}(?![\d])")
_GROUP = re.compile(rb"\d+")
BRAND_DIGITS = b"23456"


def luhn_valid(digits: bytes) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = char - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card(digits: bytes) -> bool:
    return (
        13 <= len(digits) <= 19
        and digits[:1] in (bytes([d]) for d in BRAND_DIGITS)
        and luhn_valid(digits)
    )


def find_card_numbers(data: bytes | str) -> list[str]:
    """Every card number in ``data`` (digits only, each once per occurrence)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    found: list[str] = []
    for match in _RUN.finditer(raw):
        text = match.group(0)
        groups = [g.group(0) for g in _GROUP.finditer(text)]
        whole = b"".join(groups)
        if _is_card(whole):
            found.append(whole.decode())
            continue
        for first in range(len(groups)):
            span = b""
            for group in groups[first:]:
                span += group
                if len(span) > 19:
                    break
                if _is_card(span):
                    found.append(span.decode())
    return found


def scan_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, card number) for every card number in the files' bytes."""
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        for number in find_card_numbers(data):
            yield path, number


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def masked(number: str) -> str:
    """How a finding is reported: never the full number again."""
    return f"{number[:6]}...{number[-4:]} ({len(number)} digits)"
