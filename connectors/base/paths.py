"""Ids in URL paths: one escaped segment each, or refused before any request is made.

An id comes from records (a payment reference, a Salesforce external id) and so from people;
``a/../../admin`` must never become a path outside the resource, and a control character
must never reach httpx (which would raise InvalidURL, a crash instead of a dead letter).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from connectors.base.errors import RecordError

MAX_ID_LENGTH = 255


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value)


def path_segment(value: object, *, system: str) -> str:
    """``value`` as one escaped path segment; ``RecordError`` (``<system>:invalid_id``) when
    it is empty, ``.``/``..``, longer than ``MAX_ID_LENGTH`` or holds control characters."""
    text = value if isinstance(value, str) else str(value)
    problem = None
    if text in ("", ".", ".."):
        problem = f"{text!r} is not an id"
    elif len(text) > MAX_ID_LENGTH:
        problem = f"id longer than {MAX_ID_LENGTH} characters"
    elif _has_control(text):
        problem = "id holds control characters"
    if problem is not None:
        raise RecordError(problem, system=system, code="invalid_id")
    return quote(text, safe="")
