"""The scorer's fast reader of the keyer's record against the model it stands in for."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.risk import RiskEvent
from stream.risk_event import read_event
from stream.runtime.outcomes import Rejected

FIELDS: tuple[str, ...] = ("id", "customer", "type", "status", "amount", "at", "occurred_at")
FIELDS += ("currency", "avs", "csc", "hour")
GOOD: dict[str, Any] = {
    "id": "5002013",
    "customer": "v:cust-1",
    "type": "sale",
    "status": "approved",
    "amount": 55.18,
    "at": 1772460050,
    "occurred_at": "2026-03-02T14:00:50+00:00",
    "currency": "USD",
    "avs": "Full Exact Match",
    "csc": "Match",
    "hour": 7,
}
ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=200),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["sale", "refund", "declined", "123", "", "NaN", "1e400"]),
)


def test_a_keyer_record_reads_as_the_model_does() -> None:
    event, model = read_event(orjson.dumps(GOOD)), RiskEvent.model_validate(GOOD)
    assert {f: getattr(event, f) for f in FIELDS} == {f: getattr(model, f) for f in FIELDS}
    minimal = {k: GOOD[k] for k in ("id", "customer", "type", "status", "amount", "at")}
    event = read_event(orjson.dumps(minimal | {"occurred_at": "x", "amount": 3}))
    assert (event.currency, event.avs, event.csc, event.hour, event.amount) == (
        "",
        None,
        None,
        None,
        3.0,
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b"{}", b'{"id": "1"}', orjson.dumps(GOOD)[:-1]],
)
def test_what_is_not_a_record_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(Rejected) as refused:
        read_event(raw)
    assert refused.value.reason == "malformed" and refused.value.detail


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from([*FIELDS, "extra"]), value=ANY_JSON, drop=st.booleans())
def test_a_record_it_accepts_the_model_accepts_the_same(field: str, value: Any, drop: bool) -> None:
    """Any one field broken or missing: refused with a reason, or read exactly as the model
    reads it (the reader is stricter than pydantic's lax coercions, never looser)."""
    record = dict(GOOD)
    if drop:
        record.pop(field, None)
    else:
        record[field] = value
    raw = json.dumps(record).encode()  # stdlib: it writes any int and Infinity too
    try:
        event = read_event(raw)
    except Rejected as refused:
        assert refused.reason == "malformed"
        return
    try:
        model = RiskEvent.model_validate_json(raw)
    except ValidationError as exc:
        pytest.fail(f"read {record} that the model refuses: {exc}")
    assert {f: getattr(event, f) for f in FIELDS} == {f: getattr(model, f) for f in FIELDS}
