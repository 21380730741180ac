"""The headers a replay puts on records, and what a sink reads from them (no topology here:
the runtime's sinks import this, and the topology imports the sinks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SINK_HEADER = "paystream-replay-sink"
REPLAY_ID_HEADER = "paystream-replay-id"
ALL_SINKS = "all"  # a replay for every sink

Headers = Mapping[str, bytes] | Sequence[tuple[str, bytes]]


def header(headers: Headers | None, name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in items:
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return None


def sink_skips(sink: str, headers: Headers | None, sinks: Sequence[str]) -> bool:
    """True for a record replayed for another of ``sinks`` only; without the header, or with
    one naming no known sink: handle it (never drop what a replay may have meant for us)."""
    target = header(headers, SINK_HEADER)
    return target in sinks and target != sink


def replay_headers(original: Headers | None, replay_id: str, sink: str) -> list[tuple[str, bytes]]:
    """The original headers without an earlier replay's, plus this run's."""
    items = original.items() if isinstance(original, Mapping) else (original or ())
    kept = [(k, bytes(v)) for k, v in items if k not in (SINK_HEADER, REPLAY_ID_HEADER)]
    return [*kept, (SINK_HEADER, sink.encode()), (REPLAY_ID_HEADER, replay_id.encode())]
