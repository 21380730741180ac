"""The stream processor's per-record guarantees and the door limits (no broker)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from stream.runtime.dead_letters import build as build_dead_letter
from stream.runtime.limits import RecordLimits, json_depth_exceeds
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming
from stream.runtime.spec import FlowSpec
from tests.unit.flow_fakes import context, dead_letters, incoming, sent

CARD = "4000 7700 0000 0307"


class Change(BaseModel):
    id: str
    note: str = ""


class Echo(StreamProcessor[Change]):
    model = Change

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.done: list[list[str]] = []
        self._batch: list[str] = []

    def batch_started(self) -> None:
        self._batch = []

    async def process(self, record: Incoming, value: Change) -> Sequence[Emit]:
        if value.id == "reject":
            raise Rejected("no_good", "rejected by the flow")
        if value.id == "skip":
            raise Ignored("own_write")
        if value.id == "crash":
            raise ZeroDivisionError("a value the code did not expect")
        self._batch.append(value.id)
        return [Emit("payments", value.id.encode(), value.model_dump_json().encode())]

    def batch_done(self) -> None:
        self.done.append(self._batch)


def build() -> tuple[Echo, object]:
    ctx = context()
    return Echo(ctx, FlowSpec("echo", Echo, reads=("salesforce_cdc",), writes=("payments",))), ctx


async def test_each_record_settles_alone_and_the_table_hook_runs_after_the_batch() -> None:
    flow, ctx = build()
    records = [
        incoming(Change(id="a")),
        incoming(b"\x00\xff binary", offset=1),
        incoming(Change(id="reject"), offset=2),
        incoming(Change(id="skip"), offset=3),
        incoming(Change(id="crash"), offset=4),
        incoming(b"x" * 300_000, offset=5),
        incoming(Change(id="b"), offset=6),
    ]
    await flow.handle(records)
    assert [s.key for s in sent(ctx, "payments")] == [b"a", b"b"]  # type: ignore[arg-type]
    reasons = {d.source_offset: d.reason for d in dead_letters(ctx)}  # type: ignore[arg-type]
    assert reasons == {
        1: "malformed",
        2: "no_good",
        4: "unexpected:ZeroDivisionError",
        5: "record_too_large",
    }
    assert flow.done == [["a", "b"]]


async def test_an_output_the_broker_refuses_dead_letters_that_record_only() -> None:
    flow, ctx = build()
    ctx.topics["payments"].refuse.add(b"a")  # type: ignore[attr-defined]
    await flow.handle([incoming(Change(id="a")), incoming(Change(id="b"), offset=1)])
    assert [s.key for s in sent(ctx, "payments")] == [b"b"]  # type: ignore[arg-type]
    assert [d.reason for d in dead_letters(ctx)] == ["output_refused"]  # type: ignore[arg-type]


def test_depth_is_measured_without_parsing_and_ignores_brackets_in_strings() -> None:
    assert json_depth_exceeds(b"[" * 40 + b"]" * 40, 32)
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 100 + b'"}', 32)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[", "b": [[1]]}', 3)
    assert json_depth_exceeds(b'{"a": "\\"", "b": [[[1]]]}', 3)


@settings(max_examples=200, deadline=None)
@given(
    value=st.binary(max_size=5000),
    key=st.one_of(st.none(), st.binary(max_size=2000)),
    reason=st.text(max_size=300),
)
def test_a_dead_letter_is_always_built_and_bounded(
    value: bytes, key: bytes | None, reason: str
) -> None:
    record = Incoming(key, value, (), "t", 0, 0)
    letter = build_dead_letter(
        record, agent="a", reason=reason, error=reason * 20, payload_limit=1024
    )
    assert len(letter.model_dump_json()) < 1024 * 6 + 20_000
    assert letter.payload_bytes == len(value)


def test_a_dead_letter_carries_no_card_number_in_key_payload_or_error() -> None:
    record = Incoming(CARD.encode(), f'{{"note": "card {CARD}"}}'.encode(), (), "t", 0, 0)
    letter = build_dead_letter(
        record, agent="a", reason="malformed", error=f"bad {CARD}", payload_limit=1024
    )
    text = letter.model_dump_json()
    assert "0307" in text and CARD not in text and CARD.replace(" ", "") not in text


def test_limits_have_production_sized_defaults() -> None:
    limits = RecordLimits()
    assert limits.max_bytes < 1_000_000 and limits.dead_letter_payload_bytes < limits.max_bytes
